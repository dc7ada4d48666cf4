"""Go versions: module versions as golang.org/x/mod/semver orders them, and Go toolchains.

Module versions are SemVer with a "v" prefix, which OSV omits ("1.2.3" and "v1.2.3" are the
same here). As in x/mod/semver, "v1" and "v1.2" are short for "v1.0.0" and "v1.2.0", build
metadata such as "+incompatible" is ignored, and pseudo-versions
("v0.0.0-20210101000000-abcdef123456", "v1.2.4-0.20210101000000-abcdef123456") are ordinary
pre-releases, so they sort below the release they precede.

Toolchain versions ("go1.22.5", "go1.21rc2", "go1.9beta1", or the same without "go" where they
are not SemVer) follow go/version: "1.21rc1" < "1.21.0", a missing patch is ".0" before Go
1.21, and the language version "go1.21" sorts below "go1.21rc1". They are placed among SemVer
versions the way OSV writes the standard library's versions: "go1.21rc2" is "1.21.0-rc.2",
"go1.21" is "1.21.0-0", "go1.20" is "1.20.0".
"""

from __future__ import annotations

import re
from functools import lru_cache

from basewatch.errors import InvalidVersion
from basewatch.versions.base import KeyedComparator, number_key, quoted
from basewatch.versions.semver import RELEASE, SemverKey, prerelease_key, semver_key

__all__ = ["GoComparator"]

# vMAJOR[.MINOR] shorthand; anything longer goes to the full SemVer grammar
_SHORT = re.compile(r"(0|[1-9][0-9]*)(?:\.(0|[1-9][0-9]*))?")
# go/version (internal/gover): no leading zeros; a pre-release only without a patch number
_TOOLCHAIN = re.compile(
    r"(0|[1-9][0-9]*)"
    r"(?:\.(0|[1-9][0-9]*)(?:\.(0|[1-9][0-9]*)|([a-z]+)(0|[1-9][0-9]*)?)?)?"
)
# from Go 1.21 on, "1.21" is the language version, before "1.21rc1"
_LANGUAGE_PATCH_FROM = number_key("21")
_ZERO = number_key("0")


class _Malformed(ValueError):
    pass


def _toolchain(text: str) -> SemverKey:
    match = _TOOLCHAIN.fullmatch(text)
    if match is None:
        raise _Malformed("not a Go toolchain version (go1.N[.N] or go1.NrcN)")
    major, minor, patch, kind, pre = match.groups()
    # numbers as go/version's cmpInt compares them: any length, by length then digits
    if minor is None:  # "go1" is 1.0.0
        return number_key(major), _ZERO, _ZERO, RELEASE
    if patch is not None:
        return number_key(major), number_key(minor), number_key(patch), RELEASE
    if kind is not None:  # a pre-release of x.y.0
        ids = [kind] if pre is None else [kind, pre]
        return number_key(major), number_key(minor), _ZERO, prerelease_key(ids)
    if number_key(minor) < _LANGUAGE_PATCH_FROM:  # go/version looks at the minor number only
        return number_key(major), number_key(minor), _ZERO, RELEASE
    return number_key(major), number_key(minor), _ZERO, prerelease_key(["0"])


@lru_cache(maxsize=65536)
def _key(version: str) -> SemverKey:
    if version.startswith("go"):
        return _toolchain(version[2:])
    prefixed = version.startswith("v")
    text = version[1:] if prefixed else version
    short = _SHORT.fullmatch(text)
    if short is not None:
        major, minor = short.groups()
        return number_key(major), number_key(minor or "0"), _ZERO, RELEASE
    try:
        return semver_key(text)
    except ValueError:  # semver_key's own refusal: it converts no number with int()
        if not prefixed:  # perhaps a toolchain version without "go", such as "1.21rc2"
            try:
                return _toolchain(text)
            except _Malformed:
                pass
        raise _Malformed(
            "not a Go module version (v1.2.3[-pre][+build]) or toolchain version (go1.22.5)"
        ) from None


class GoComparator(KeyedComparator):
    """The version order of Go modules and Go toolchains."""

    __slots__ = ("ecosystem", "name")

    def __init__(self, ecosystem: str = "Go") -> None:
        self.name = "go"
        self.ecosystem = ecosystem

    def key(self, version: str) -> SemverKey:
        """A tuple that sorts as Go sorts module or toolchain versions. Raises InvalidVersion."""
        try:
            return _key(version)
        except _Malformed as exc:
            raise InvalidVersion(
                f"{quoted(version)} is not a valid {self.ecosystem} version: {exc}"
            ) from None
