"""Python package versions, ordered by PEP 440 through `packaging` (what pip uses).

Versions are normalised as PEP 440 says ("1.0" = "1.0.0", "1.0a1" = "1.0.0-alpha1", a leading
"v" and surrounding whitespace are allowed). Anything PEP 440 rejects raises InvalidVersion:
`packaging` no longer orders legacy (non-PEP 440) versions, and neither does basewatch.
`packaging` (and so pip) converts each number with int(), which CPython refuses beyond 4,300
digits: a version with such a number cannot be ordered by pip either, and raises InvalidVersion
here rather than ValueError.
"""

from __future__ import annotations

import re
from functools import lru_cache

from packaging.version import InvalidVersion as _PackagingInvalid
from packaging.version import Version

from basewatch.errors import InvalidVersion
from basewatch.versions.base import KeyedComparator, quoted

__all__ = ["Pep440Comparator"]


# CPython's default int() limit (sys.int_info.default_max_str_digits), fixed here so that the
# answer does not depend on how the interpreter was configured.
_MAX_DIGITS = 4300
_TOO_LONG = re.compile(rf"[0-9]{{{_MAX_DIGITS + 1}}}")


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
        if _TOO_LONG.search(version):
            raise InvalidVersion(
                f"{quoted(version)} is not a valid {self.ecosystem} version (PEP 440): it has"
                f" a number of more than {_MAX_DIGITS} digits, which pip cannot compare either"
            )
        try:
            return _key(version)
        except _PackagingInvalid:
            raise InvalidVersion(
                f"{quoted(version)} is not a valid {self.ecosystem} version (PEP 440)"
            ) from None
        except ValueError as exc:  # int() under a lower limit set in this interpreter
            raise InvalidVersion(
                f"{quoted(version)} is not a valid {self.ecosystem} version (PEP 440): {exc}"
            ) from None
