"""A rich progress bar on stderr when it is a terminal; nothing otherwise."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from typing import Any

from basewatch.progress import NULL_PROGRESS, Progress


class _RichProgress:
    def __init__(self, bar: Any) -> None:
        self._bar = bar
        self._task: Any = None

    def begin(self, description: str, total: int) -> None:
        self._task = self._bar.add_task(description, total=total)

    def advance(self, description: str, amount: int = 1) -> None:
        if self._task is not None:
            self._bar.update(self._task, advance=amount, description=description)

    def end(self) -> None:
        if self._task is not None:
            self._bar.remove_task(self._task)
            self._task = None


@contextlib.contextmanager
def progress_for(quiet: bool) -> Iterator[Progress]:
    if quiet or not sys.stderr.isatty():
        yield NULL_PROGRESS
        return
    from rich.console import Console
    from rich.progress import BarColumn, TextColumn, TimeElapsedColumn
    from rich.progress import Progress as Bar

    with Bar(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=True,
    ) as bar:
        yield _RichProgress(bar)
