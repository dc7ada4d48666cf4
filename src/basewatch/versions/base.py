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


NumberKey = tuple[int, str]


def number_key(digits: str) -> NumberKey:
    """A key that orders a run of ASCII digits by its value, for any length.

    Never int(): CPython refuses to convert more than 4,300 digits (and converting is
    quadratic), and one absurd version in an advisory must not break every scan. Without
    leading zeros, a longer run is a larger number, and runs of one length order as strings.
    """
    stripped = digits.lstrip("0")
    return len(stripped), stripped


def bounded_int(digits: str, maximum: int) -> int | None:
    """The value of a run of ASCII digits when it is at most `maximum`, else None: int() is
    only ever given a few digits (leading zeros count against CPython's limit too)."""
    stripped = digits.lstrip("0")
    if len(stripped) > len(str(maximum)):
        return None
    value = int(stripped or "0")
    return value if value <= maximum else None


def quoted(version: str) -> str:
    """`version` for an error message: repr() of it, cut short when it is absurdly long."""
    if len(version) <= _SHOWN:
        return repr(version)
    return f"{version[:60]!r}... ({len(version)} characters)"


def shortened(version: str) -> str:
    """`version` for a warning, cut short when it is absurdly long."""
    if len(version) <= _SHOWN:
        return version
    return f"{version[:60]}... ({len(version)} characters)"


_SHOWN = 100
