"""Python package versions, ordered by PEP 440 through `packaging` (what pip uses).

Versions are normalised as PEP 440 says ("1.0" = "1.0.0", "1.0a1" = "1.0.0-alpha1", a leading
"v" and surrounding whitespace are allowed). Anything PEP 440 rejects raises InvalidVersion:
`packaging` no longer orders legacy (non-PEP 440) versions, and neither does basewatch.
"""

from __future__ import annotations

from functools import lru_cache

from packaging.version import InvalidVersion as _PackagingInvalid
from packaging.version import Version

from basewatch.errors import InvalidVersion
from basewatch.versions.base import KeyedComparator

__all__ = ["Pep440Comparator"]


@lru_cache(maxsize=65536)
def _key(version: str) -> Version:
    return Version(version)


class Pep440Comparator(KeyedComparator):
    """The version order of PEP 440 (PyPI)."""

    __slots__ = ("ecosystem", "name")

    def __init__(self, ecosystem: str = "PyPI") -> None:
        self.name = "pep440"
        self.ecosystem = ecosystem

    def key(self, version: str) -> Version:
        """The parsed `packaging` Version, which sorts by PEP 440. Raises InvalidVersion."""
        try:
            return _key(version)
        except _PackagingInvalid:
            raise InvalidVersion(
                f"{version!r} is not a valid {self.ecosystem} version (PEP 440)"
            ) from None
