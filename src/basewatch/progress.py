"""Progress reporting: an observer the library calls and the CLI renders."""

from __future__ import annotations

from typing import Protocol


class Progress(Protocol):
    def begin(self, description: str, total: int) -> None: ...

    def advance(self, description: str, amount: int = 1) -> None: ...

    def end(self) -> None: ...


class _NullProgress:
    def begin(self, description: str, total: int) -> None:
        pass

    def advance(self, description: str, amount: int = 1) -> None:
        pass

    def end(self) -> None:
        pass


NULL_PROGRESS: Progress = _NullProgress()
