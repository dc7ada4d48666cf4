"""Debian and Ubuntu versions, ordered as dpkg orders them (deb-version(7), Policy 5.6.12).

A version is `[epoch:]upstream[-revision]`. Epochs compare as integers; upstream and revision
compare as alternating non-digit and digit runs: non-digit runs character by character, where
`~` sorts before everything (even the end of the run), then the end, then letters, then every
other character; digit runs numerically. A missing revision equals "0" (as in dpkg).

Validity is dpkg's own `parseversion()`, the function behind `dpkg --compare-versions`:
what dpkg refuses with an error (empty version, embedded blanks, an epoch that is empty, not a
number, negative or above INT_MAX, nothing after the colon, an empty revision or upstream part)
raises InvalidVersion. What dpkg only warns about (an upstream part that does not start with a
digit, characters outside `[A-Za-z0-9.+~-:]`, or outside `[A-Za-z0-9.+~]` in the revision) is
compared anyway, as dpkg does; `parse()` reports the warning. Leading and trailing blanks are
ignored like dpkg ignores them. `dpkg --compare-versions` also takes "" and "<unknown>" as the
blank version: that is a command-line convenience, and both are invalid here.

Bytes above 0x7f (never seen in real versions, which dpkg warns about) sort as dpkg on amd64
sorts them, where `char` is signed: after letters, before the other ASCII characters.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from basewatch.errors import InvalidVersion
from basewatch.versions.base import KeyedComparator, NumberKey, bounded_int, number_key, quoted

__all__ = ["DebianVersion", "DpkgComparator", "DpkgKey", "parse"]

_INT_MAX = 2**31 - 1
_BLANKS = " \t"
# strtol() skips C isspace() before the number, and takes one optional sign.
_STRTOL = re.compile(r"[ \t\n\v\f\r]*([+-]?)([0-9]*)")
_UPSTREAM_OK = re.compile(r"[A-Za-z0-9.+~:-]*")
_REVISION_OK = re.compile(r"[A-Za-z0-9.+~]*")
_RUN = re.compile(rb"([^0-9]*)([0-9]*)")


def _order(byte: int) -> int:
    """dpkg's order(): the weight of one character of a non-digit run (0 is the run's end)."""
    if 0x41 <= byte <= 0x5A or 0x61 <= byte <= 0x7A:
        return byte
    if byte == 0x7E:  # ~
        return -1
    signed = byte - 256 if byte > 0x7F else byte
    return signed + 256


_ORDER = tuple(_order(b) for b in range(256))

# One part (upstream or revision): non-digit run weights, digit run value, ..., end marker.
# A digit run is a NumberKey (length, digits), so that any length compares as dpkg compares it.
PartKey = tuple[tuple[int, ...] | NumberKey, ...]
DpkgKey = tuple[int, PartKey, PartKey]


@dataclass(frozen=True, slots=True)
class DebianVersion:
    """A version as dpkg parses it; `warning` is what dpkg would warn about, or ""."""

    epoch: int
    upstream: str
    revision: str
    warning: str = ""


class _Malformed(ValueError):
    """A version dpkg refuses; the message is dpkg's reason."""


def _parse(version: str) -> DebianVersion:
    if "\0" in version:
        raise _Malformed("version string contains a NUL character")
    string = version.strip(_BLANKS)
    if not string:
        raise _Malformed("version string is empty")
    if any(c in _BLANKS for c in string):
        raise _Malformed("version string has embedded spaces")
    colon = string.find(":")
    epoch = 0
    if colon >= 0:
        match = _STRTOL.match(string)
        assert match is not None  # the pattern matches the empty string
        sign, digits = match.groups()
        if not digits:
            raise _Malformed("epoch in version is empty")
        if match.end() != colon:
            raise _Malformed("epoch in version is not number")
        value = bounded_int(digits, _INT_MAX)
        if sign == "-" and value != 0:  # strtol() makes it negative, or LONG_MIN
            raise _Malformed("epoch in version is negative")
        if value is None:
            raise _Malformed("epoch in version is too big")
        epoch = value
        string = string[colon + 1 :]
        if not string:
            raise _Malformed("nothing after colon in version number")
    upstream, hyphen, revision = string.rpartition("-")
    if not hyphen:
        upstream, revision = string, ""
    elif not revision:
        raise _Malformed("revision number is empty")
    if not upstream:
        raise _Malformed("version number is empty")
    warning = ""
    if not ("0" <= upstream[0] <= "9"):
        warning = "version number does not start with digit"
    elif not _UPSTREAM_OK.fullmatch(upstream):
        warning = "invalid character in version number"
    elif not _REVISION_OK.fullmatch(revision):
        warning = "invalid character in revision number"
    return DebianVersion(epoch, upstream, revision, warning)


def _part_key(part: str) -> PartKey:
    try:
        raw = part.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError as exc:
        raise _Malformed(f"cannot be encoded: {exc.reason}") from None
    items: list[tuple[int, ...] | NumberKey] = []
    pos = 0
    while True:  # at least one (run, number) pair, so "" and "0" compare equal as in dpkg
        match = _RUN.match(raw, pos)
        assert match is not None  # the pattern matches the empty string
        text, digits = match.groups()
        # The 0 closes the run: a shorter run sorts as if followed by the end (weight 0).
        items.append((*(_ORDER[b] for b in text), 0))
        items.append(number_key(digits.decode("ascii")))
        pos = match.end()
        if pos >= len(raw):
            break
    items.append((0,))  # the end of the string, which still sorts after a "~"
    return tuple(items)


@lru_cache(maxsize=65536)
def _key(version: str) -> DpkgKey:
    parsed = _parse(version)
    return parsed.epoch, _part_key(parsed.upstream), _part_key(parsed.revision)


def parse(version: str) -> DebianVersion:
    """Split a version as dpkg does. Raises InvalidVersion where dpkg reports an error."""
    try:
        return _parse(version)
    except _Malformed as exc:
        raise InvalidVersion(f"{quoted(version)} is not a valid Debian version: {exc}") from None


class DpkgComparator(KeyedComparator):
    """The version order of dpkg (Debian, Ubuntu and their derivatives)."""

    __slots__ = ("ecosystem", "name")

    def __init__(self, ecosystem: str = "Debian") -> None:
        self.name = "dpkg"
        self.ecosystem = ecosystem

    def key(self, version: str) -> DpkgKey:
        """A tuple that sorts as dpkg sorts. Raises InvalidVersion where dpkg errors out."""
        try:
            return _key(version)
        except _Malformed as exc:
            raise InvalidVersion(
                f"{quoted(version)} is not a valid {self.ecosystem} version (dpkg rules): {exc}"
            ) from None
