"""Progress reporting: an observer the library calls and the CLI renders."""

from __future__ import annotations

from enum import StrEnum
from typing import Protocol


class Unit(StrEnum):
    """What a task's total and advances count: so a download can be shown in bytes."""

    ITEMS = "items"
    BYTES = "bytes"


class Progress(Protocol):
    def begin(self, description: str, total: int, unit: Unit = Unit.ITEMS) -> None:
        """Start a task of `total` units (0: the total is not known)."""
        ...

    def advance(self, description: str, amount: int = 1) -> None: ...

    def end(self) -> None: ...


class _NullProgress:
    def begin(self, description: str, total: int, unit: Unit = Unit.ITEMS) -> None:
        pass

    def advance(self, description: str, amount: int = 1) -> None:
        pass

    def end(self) -> None:
        pass


NULL_PROGRESS: Progress = _NullProgress()
