"""Alpine, Wolfi and Chainguard versions, ordered as apk-tools orders them (src/version.c).

A version is `digits{.digits}...{letter}{_suffix{digits}}...{~hash}{-rdigits}`. Tokens compare
in turn: numbers numerically, except that a dotted number with a leading zero compares as a
string ("1.02" < "1.1", as in Gentoo); the letter by its character; suffixes in the order
_alpha < _beta < _pre < _rc < (none) < _cvs < _svn < _git < _hg < _p; the commit hash as a
string. Where the two versions have tokens of different kinds (or one has ended), the token
that comes earlier in the grammar is the newer version, except that a pre-release suffix is
older than anything: "1.0_rc1" < "1.0" < "1.0-r1" < "1.0~ab12" < "1.0_p1" < "1.0a" < "1.0.1".
Numbers are unsigned 64-bit and wrap, as in apk.

apk compares versions that do not follow this grammar instead of rejecting them: from the
first bad character on, the rest of the version is ignored and the version sorts below any
longer valid one ("1.0bc" > "1.0", and "1.0bc" = "1.0bd"). This comparator does the same, so
that it orders exactly as `apk version -t` does, but raises InvalidVersion for a version with
no leading number at all (empty, or not starting with a digit), which apk cannot order either.
`is_valid()` is apk's own strict check (apk_version_validate).
"""

from __future__ import annotations

import re
from functools import lru_cache

from basewatch.errors import InvalidVersion
from basewatch.versions.base import KeyedComparator

__all__ = ["ApkComparator", "ApkKey", "is_valid"]

# Token kinds in apk's enum order: a later kind at the same position is an older version.
_INITIAL_DIGIT, _DIGIT, _LETTER, _SUFFIX, _SUFFIX_NO, _COMMIT_HASH, _REVISION_NO = range(7)

# suffix value -> rank; below _SUFFIX_NONE is a pre-release
_SUFFIXES = {
    "alpha": 1,
    "beta": 2,
    "pre": 3,
    "rc": 4,
    "cvs": 6,
    "svn": 7,
    "git": 8,
    "hg": 9,
    "p": 10,
}
_SUFFIX_NONE = 5

# Where each token kind sorts against a token of another kind at the same position (lowest
# first): pre-release suffix, invalid rest, end, revision, hash, suffix number, post-release
# suffix, letter, dotted number, leading number.
_R_PRE, _R_INVALID, _R_END, _R_REVISION, _R_HASH, _R_SUFFIX_NO, _R_POST = range(7)
_R_LETTER, _R_DIGIT, _R_INITIAL = 7, 8, 9

_WRAP = 2**64
_NUMBER = re.compile(r"[0-9]*")
_SUFFIX_CHARS = re.compile(r"[a-z]*")
_HEX = re.compile(r"[0-9a-f]*")

Token = tuple[int] | tuple[int, int] | tuple[int, str] | tuple[int, int, int | str]
ApkKey = tuple[Token, ...]


def _tokens(version: str) -> ApkKey:
    """The tokens of `version` as comparable tuples, ending with an end or invalid marker."""
    match = _NUMBER.match(version)
    assert match is not None  # the pattern matches the empty string
    if not match.group():
        return ((_R_INVALID,),)
    out: list[Token] = [(_R_INITIAL, int(match.group()) % _WRAP)]
    kind = _INITIAL_DIGIT
    pos = match.end()
    size = len(version)
    while pos < size:
        char = version[pos]
        if "a" <= char <= "z":
            if kind > _DIGIT:
                break
            out.append((_R_LETTER, char))
            kind = _LETTER
            pos += 1
        elif char == "." or "0" <= char <= "9":
            if char == ".":
                if kind > _DIGIT:
                    break
                pos += 1
            match = _NUMBER.match(version, pos)
            assert match is not None
            digits = match.group()
            if not digits or kind not in (_INITIAL_DIGIT, _DIGIT, _SUFFIX):
                break
            pos = match.end()
            number = int(digits) % _WRAP
            if kind == _SUFFIX:
                out.append((_R_SUFFIX_NO, number))
                kind = _SUFFIX_NO
            else:
                # a leading zero makes apk compare the digits as a string; "0..." sorts first
                out.append((_R_DIGIT, 0, digits) if digits[0] == "0" else (_R_DIGIT, 1, number))
                kind = _DIGIT
        elif char == "_":
            if kind > _SUFFIX_NO:
                break
            match = _SUFFIX_CHARS.match(version, pos + 1)
            assert match is not None
            value = _SUFFIXES.get(match.group())
            if value is None:
                break
            out.append((_R_PRE if value < _SUFFIX_NONE else _R_POST, value))
            kind = _SUFFIX
            pos = match.end()
        elif char == "~":
            if kind >= _COMMIT_HASH:
                break
            match = _HEX.match(version, pos + 1)
            assert match is not None
            if not match.group():
                break
            out.append((_R_HASH, match.group()))
            kind = _COMMIT_HASH
            pos = match.end()
        elif char == "-":
            if kind >= _REVISION_NO or not version.startswith("-r", pos):
                break
            match = _NUMBER.match(version, pos + 2)
            assert match is not None
            if not match.group():
                break
            out.append((_R_REVISION, int(match.group()) % _WRAP))
            kind = _REVISION_NO
            pos = match.end()
        else:
            break
    else:
        out.append((_R_END,))
        return tuple(out)
    out.append((_R_INVALID,))  # apk stops at the first bad token and ignores the rest
    return tuple(out)


@lru_cache(maxsize=65536)
def _key(version: str) -> ApkKey:
    return _tokens(version)


def is_valid(version: str) -> bool:
    """Whether apk itself accepts `version` (apk_version_validate)."""
    return _key(version)[-1] == (_R_END,)


class ApkComparator(KeyedComparator):
    """The version order of apk-tools (Alpine, Wolfi, Chainguard...)."""

    __slots__ = ("ecosystem", "name")

    def __init__(self, ecosystem: str = "Alpine") -> None:
        self.name = "apk"
        self.ecosystem = ecosystem

    def key(self, version: str) -> ApkKey:
        """A tuple that sorts as apk sorts. Raises InvalidVersion without a leading number."""
        key = _key(version)
        if key[0] == (_R_INVALID,):
            raise InvalidVersion(
                f"{version!r} is not a valid {self.ecosystem} version (apk rules):"
                " it does not start with a number"
            )
        return key
