"""A rich progress bar on stderr when it is a terminal; nothing otherwise."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from typing import Any

from basewatch.progress import NULL_PROGRESS, Progress, Unit


class _RichProgress:
    def __init__(self, bar: Any) -> None:
        self._bar = bar
        self._task: Any = None

    def begin(self, description: str, total: int, unit: Unit = Unit.ITEMS) -> None:
        # total None: rich shows a pulsing bar instead of a full one for an unknown size
        self._task = self._bar.add_task(description, total=total or None, unit=unit.value)

    def advance(self, description: str, amount: int = 1) -> None:
        if self._task is not None:
            self._bar.update(self._task, advance=amount, description=description)

    def end(self) -> None:
        if self._task is not None:
            self._bar.remove_task(self._task)
            self._task = None


def _amount_column() -> Any:
    """Bytes as "1.2/3.4 MB" for downloads, counts as "12/34" for everything else."""
    from rich.progress import DownloadColumn, ProgressColumn, Task
    from rich.text import Text

    class Amount(ProgressColumn):
        def __init__(self) -> None:
            super().__init__()
            self._bytes = DownloadColumn()

        def render(self, task: Task) -> Text:
            if task.fields.get("unit") == Unit.BYTES.value:
                return self._bytes.render(task)
            total = "?" if task.total is None else f"{task.total:.0f}"
            return Text(f"{task.completed:.0f}/{total}")

    return Amount()


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
        _amount_column(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=True,
    ) as bar:
        yield _RichProgress(bar)
