"""The `Comparator` seam."""

from __future__ import annotations

from typing import Any, Protocol


class Comparator(Protocol):
    """Orders the versions of one ecosystem."""

    name: str

    def key(self, version: str) -> Any:
        """A sort key: key(a) < key(b) exactly when a sorts before b. Raises InvalidVersion."""
        ...

    def compare(self, a: str, b: str) -> int:
        """-1, 0 or 1 as a is lower than, equal to, or higher than b. Raises InvalidVersion."""
        ...


class KeyedComparator:
    """`compare` derived from `key`, for comparators whose order is a sort key."""

    __slots__ = ()

    def key(self, version: str) -> Any:  # pragma: no cover - every subclass defines it
        raise NotImplementedError

    def compare(self, a: str, b: str) -> int:
        """-1, 0 or 1 as a sorts before, with, or after b. Raises InvalidVersion."""
        ka, kb = self.key(a), self.key(b)
        return int(ka > kb) - int(ka < kb)
