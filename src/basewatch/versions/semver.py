"""Semantic Versioning 2.0.0 precedence (crates.io, npm) and NuGet's variant of it.

SemVer: `MAJOR.MINOR.PATCH[-PRERELEASE][+BUILD]`, numbers without leading zeros. Precedence
compares the three numbers, then a pre-release sorts before its release, and pre-releases
compare identifier by identifier: numeric ones numerically and before alphanumeric ones, which
compare in ASCII order; a shorter list of equal identifiers sorts first. Build metadata is
ignored, so "1.0.0+a" and "1.0.0+b" are equal. (Cargo's `Version` ordering breaks that tie on
build metadata; OSV and this module follow the SemVer specification.)

npm (node-semver) also accepts surrounding whitespace and a leading "=" and/or "v", and
refuses versions longer than 256 characters or numbers above 2**53 - 1.

NuGet (NuGet.Versioning): one to four numbers, missing ones are 0 ("1.0" = "1.0.0.0"), leading
zeros allowed in them; release labels compare like SemVer identifiers but letters compare
case-insensitively ("1.0.0-RC" = "1.0.0-rc"); metadata is ignored.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache

from basewatch.errors import InvalidVersion
from basewatch.versions.base import KeyedComparator, NumberKey, bounded_int, number_key, quoted

__all__ = [
    "NpmComparator",
    "NuGetComparator",
    "SemverComparator",
    "SemverKey",
    "prerelease_key",
    "semver_key",
]

_NUM = r"0|[1-9][0-9]*"
_PRE_ID = r"0|[1-9][0-9]*|[0-9]*[A-Za-z-][0-9A-Za-z-]*"
_BUILD_ID = r"[0-9A-Za-z-]+"
_SEMVER = re.compile(
    rf"({_NUM})\.({_NUM})\.({_NUM})"
    rf"(?:-((?:{_PRE_ID})(?:\.(?:{_PRE_ID}))*))?"
    rf"(?:\+(?:{_BUILD_ID})(?:\.(?:{_BUILD_ID}))*)?"
)
_NPM_PREFIX = re.compile(r"=?\s*v?")
_NPM_MAX_LENGTH = 256
_NPM_MAX_SAFE_INTEGER = number_key(str(2**53 - 1))

# Numbers are NumberKeys, so that any number of digits compares (SemVer sets no limit);
# NuGet's numeric labels are 32-bit ints.
Identifier = tuple[int, NumberKey] | tuple[int, int] | tuple[int, str]
# (1,) for a release; (0, identifiers) for a pre-release, which sorts first
PrereleaseKey = tuple[int] | tuple[int, tuple[Identifier, ...]]
SemverKey = tuple[NumberKey, NumberKey, NumberKey, PrereleaseKey]

RELEASE: PrereleaseKey = (1,)


def prerelease_key(identifiers: Iterable[str]) -> PrereleaseKey:
    """The sort key of a SemVer pre-release given as its dot-separated identifiers."""
    return (
        0,
        tuple((0, number_key(i)) if i.isdigit() and i.isascii() else (1, i) for i in identifiers),
    )


class _Malformed(ValueError):
    pass


def semver_key(version: str) -> SemverKey:
    """The precedence key of a strict SemVer 2.0.0 version. Raises ValueError if malformed."""
    match = _SEMVER.fullmatch(version)
    if match is None:
        raise _Malformed("not MAJOR.MINOR.PATCH[-PRERELEASE][+BUILD] (SemVer 2.0.0)")
    major, minor, patch, pre = match.groups()
    return (
        number_key(major),
        number_key(minor),
        number_key(patch),
        RELEASE if pre is None else prerelease_key(pre.split(".")),
    )


@lru_cache(maxsize=65536)
def _semver(version: str) -> SemverKey:
    return semver_key(version)


@lru_cache(maxsize=65536)
def _npm(version: str) -> SemverKey:
    if len(version) > _NPM_MAX_LENGTH:
        raise _Malformed(f"longer than {_NPM_MAX_LENGTH} characters")
    text = version.strip()
    prefix = _NPM_PREFIX.match(text)
    assert prefix is not None  # the pattern matches the empty string
    key = semver_key(text[prefix.end() :])
    if max(key[0], key[1], key[2]) > _NPM_MAX_SAFE_INTEGER:
        raise _Malformed("a number is above Number.MAX_SAFE_INTEGER")
    return key


class SemverComparator(KeyedComparator):
    """Strict SemVer 2.0.0 precedence (crates.io)."""

    __slots__ = ("ecosystem", "name")

    def __init__(self, ecosystem: str = "crates.io") -> None:
        self.name = "semver"
        self.ecosystem = ecosystem

    def _parse(self, version: str) -> SemverKey:
        return _semver(version)

    def key(self, version: str) -> SemverKey:
        """A tuple that sorts by SemVer precedence. Raises InvalidVersion."""
        try:
            return self._parse(version)
        except _Malformed as exc:
            raise InvalidVersion(
                f"{quoted(version)} is not a valid {self.ecosystem} version ({self.name}): {exc}"
            ) from None


class NpmComparator(SemverComparator):
    """SemVer as node-semver reads it: a leading "=" or "v" and surrounding spaces allowed."""

    __slots__ = ()

    def __init__(self, ecosystem: str = "npm") -> None:
        super().__init__(ecosystem)
        self.name = "npm"

    def _parse(self, version: str) -> SemverKey:
        return _npm(version)


_INT32_MAX = 2**31 - 1
_NUGET = re.compile(
    r"([0-9]+)(?:\.([0-9]+))?(?:\.([0-9]+))?(?:\.([0-9]+))?"
    r"(?:-([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?"
    r"(?:\+[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?"
)
_NUGET_NUMERIC_LABEL = re.compile(r"-?[0-9]+")

NuGetKey = tuple[int, int, int, int, PrereleaseKey]


def _nuget_label(label: str) -> Identifier:
    # Int32.TryParse decides what is numeric: it takes a sign, and fails past 32 bits.
    if _NUGET_NUMERIC_LABEL.fullmatch(label):
        negative = label.startswith("-")
        magnitude = bounded_int(label.removeprefix("-"), 2**31 if negative else _INT32_MAX)
        if magnitude is not None:
            return 0, -magnitude if negative else magnitude
    return 1, label.upper()  # StringComparer.OrdinalIgnoreCase compares upper-cased


@lru_cache(maxsize=65536)
def _nuget(version: str) -> NuGetKey:
    match = _NUGET.fullmatch(version.strip())
    if match is None:
        raise _Malformed("not N[.N[.N[.N]]][-LABELS][+METADATA]")
    *numbers, pre = match.groups()
    parts: list[int] = []
    for number in numbers:
        value = bounded_int(number, _INT32_MAX) if number is not None else 0
        if value is None:
            raise _Malformed("a number is above 2147483647")
        parts.append(value)
    labels = pre.split(".") if pre is not None else []
    if any(len(label) > 1 and label[0] == "0" and label.isdigit() for label in labels):
        raise _Malformed("a numeric release label has a leading zero")
    return (
        parts[0],
        parts[1],
        parts[2],
        parts[3],
        RELEASE if pre is None else (0, tuple(_nuget_label(label) for label in labels)),
    )


class NuGetComparator(KeyedComparator):
    """The version order of NuGet.Versioning's default comparer."""

    __slots__ = ("ecosystem", "name")

    def __init__(self, ecosystem: str = "NuGet") -> None:
        self.name = "nuget"
        self.ecosystem = ecosystem

    def key(self, version: str) -> NuGetKey:
        """A tuple that sorts as NuGet sorts. Raises InvalidVersion."""
        try:
            return _nuget(version)
        except _Malformed as exc:
            raise InvalidVersion(
                f"{quoted(version)} is not a valid {self.ecosystem} version: {exc}"
            ) from None
