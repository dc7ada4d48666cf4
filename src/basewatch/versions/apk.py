"""Alpine, Wolfi and Chainguard versions, ordered exactly as apk-tools 2 orders them.

Every Alpine release to date ships apk-tools 2 (2.14 from Alpine 3.18 on), so this is a port of
apk-tools 2.14's src/version.c, checked against `apk version -t` of the real apk 2.14.4
(tests/integration/test_versions_real.py). The grammar it was written for is
`digits{.digits}...{letter}{_suffix{digits}}...{-rdigits}`, but apk does not parse by grammar:
it reads one token at a time, and the kind of the next token is decided by the character after
the current one, given the current kind. Numbers compare numerically; a dotted number with
leading zeros yields first a token worth minus (the number of zeros - 1), then the rest
from the last zero ("1.0" > "1.00", "1.09" < "1.1"); a digit may follow a letter ("6.6p1-r1"
< "6.6p1-r2"); suffixes rank _alpha < _beta < _pre < _rc < (none) < _cvs < _svn < _git < _hg <
_p, matched by prefix ("_prefoo" is "_pre" followed by an invalid rest). A number of more than
17 digits is an invalid token, so no number is ever converted whole.

Where the versions have tokens of different kinds at the same place (or one has ended), the
token that comes earlier in apk's list (invalid, dotted number, number, letter, suffix, suffix
number, revision, end) makes the newer version, except that a pre-release suffix (or an
unknown one) is older: "1.0_rc1" < "1.0" < "1.0-r0" < "1.0_p1" < "1.0a" < "1.0.1" < "1.0-x".
apk-tools 3's `~hash` does not exist in apk 2: "~" is an invalid character there.

apk orders anything, valid or not; so does this comparator, with one exception: a version that
does not start with a digit (apk reads the missing number as 0, so "" = "0" and "x" = "0x")
raises InvalidVersion, since no advisory or package means that. `is_valid()` is apk's own
check (apk_version_validate), which `apk version -c` applies.
"""

from __future__ import annotations

import re
from functools import lru_cache

from basewatch.errors import InvalidVersion
from basewatch.versions.base import KeyedComparator, quoted

__all__ = ["ApkComparator", "ApkKey", "is_valid"]

# apk-tools 2's enum PARTS, with its values: they decide the order of mismatched kinds.
_INVALID, _DIGIT_OR_ZERO, _DIGIT, _LETTER, _SUFFIX, _SUFFIX_NO, _REVISION_NO, _END = range(-1, 7)
_TERMINAL = (_END, _INVALID)
# Pre-release suffixes are worth -4..-1 (older than none), the others 0..4; "pre" is tried
# before "p", and a suffix matches as a prefix of the letters that follow.
_SUFFIX_VALUES = (
    *((s, v) for v, s in enumerate(("alpha", "beta", "pre", "rc"), -4)),
    *((s, v) for v, s in enumerate(("cvs", "svn", "git", "hg", "p"))),
)
# apk 2.14 refuses a number of 18 digits or more as an invalid token (its value is a 64-bit
# integer); this is also why no digit run is ever given to int() whole.
_MAX_DIGITS = 17
_DIGITS = re.compile(r"[0-9]*")
_ZEROS = re.compile(r"0+")

# One get_token() call: the value of the token read, and the kind of the token after it.
Step = tuple[int, int]


def _next_token(kind: int, version: str, pos: int) -> tuple[int, int]:
    """next_token(): the kind of the token at `pos`, after one of kind `kind`; and where the
    token's value starts (apk skips ".", "_" and "-r", and one character of anything else)."""
    char = version[pos]
    if char == "\0":  # apk reads C strings
        return _END, pos
    if kind in (_DIGIT, _DIGIT_OR_ZERO) and "a" <= char <= "z":
        following = _LETTER
    elif kind == _LETTER and "0" <= char <= "9":
        following = _DIGIT
    elif kind == _SUFFIX and "0" <= char <= "9":
        following = _SUFFIX_NO
    else:
        following = _INVALID
        if char == ".":
            following = _DIGIT_OR_ZERO
        elif char == "_":
            following = _SUFFIX
        elif char == "-" and version.startswith("r", pos + 1):
            following = _REVISION_NO
            pos += 1
        pos += 1
    if following < kind and not (
        (following == _DIGIT_OR_ZERO and kind == _DIGIT)
        or (following == _SUFFIX and kind == _SUFFIX_NO)
        or (following == _DIGIT and kind == _LETTER)
    ):
        following = _INVALID
    return following, pos


def _suffix(version: str, pos: int) -> tuple[int, int] | None:
    """(value, end) of the suffix at `pos`, tried in apk's order (pre-releases first)."""
    for suffix, value in _SUFFIX_VALUES:
        if version.startswith(suffix, pos):
            return value, pos + len(suffix)
    return None


def _get_token(kind: int, version: str, pos: int) -> tuple[int, int, int]:
    """get_token(): (value of the token of kind `kind` at `pos`, kind of the next, its start)."""
    if pos >= len(version):
        return 0, _END, pos
    then = _INVALID  # the next kind, when it is known without looking (after leading zeros)
    if kind == _DIGIT_OR_ZERO and version[pos] == "0":
        zeros = _ZEROS.match(version, pos)
        assert zeros is not None  # version[pos] is a zero
        end = zeros.end() - 1  # the last zero starts the number that follows
        value = pos - end  # minus the zeros before it
        then = _DIGIT
    elif kind in (_DIGIT_OR_ZERO, _DIGIT, _SUFFIX_NO, _REVISION_NO):
        match = _DIGITS.match(version, pos)
        assert match is not None  # the pattern matches the empty string
        end = match.end()
        if end - pos > _MAX_DIGITS:
            return -1, _INVALID, pos
        value = int(version[pos:end]) if end > pos else 0
    elif kind == _LETTER:
        value = ord(version[pos])
        end = pos + 1
    elif kind == _SUFFIX:
        found = _suffix(version, pos)
        if found is None:
            return -1, _INVALID, pos
        value, end = found
    else:  # pragma: no cover - the end and invalid kinds are never read
        return -1, _INVALID, pos
    if end >= len(version):
        return value, _END, end
    if then != _INVALID:
        return value, then, end
    following, start = _next_token(kind, version, end)
    return value, following, start


def _steps(version: str) -> tuple[Step, ...]:
    """Every get_token() result for `version`, as apk's comparison loop would read them; the
    last one ends in the end or invalid kind."""
    out: list[Step] = []
    kind, pos = _DIGIT, 0
    while kind not in _TERMINAL:
        value, kind, pos = _get_token(kind, version, pos)
        out.append((value, kind))
    return tuple(out)


def _compare(a: tuple[Step, ...], b: tuple[Step, ...]) -> int:
    """apk_version_compare_blob() over pre-read tokens: -1, 0 or 1."""
    i = 0
    while True:
        (av, at), (bv, bt) = a[i], b[i]
        if at != bt or at in _TERMINAL or av != bv:
            break
        i += 1
    if av != bv:
        return -1 if av < bv else 1
    if at == bt:
        return 0
    # A suffix that follows is read ahead: a pre-release (or unknown) suffix is older.
    if at == _SUFFIX and a[i + 1][0] < 0:
        return -1
    if bt == _SUFFIX and b[i + 1][0] < 0:
        return 1
    return -1 if at > bt else 1


class ApkKey:
    """Sorts as apk sorts. Two keys are equal exactly when apk reads the same tokens."""

    __slots__ = ("steps",)

    def __init__(self, steps: tuple[Step, ...]) -> None:
        self.steps = steps

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ApkKey):
            return NotImplemented
        return self.steps == other.steps

    def __hash__(self) -> int:
        return hash(self.steps)

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, ApkKey):
            return NotImplemented
        return _compare(self.steps, other.steps) < 0

    def __le__(self, other: object) -> bool:
        if not isinstance(other, ApkKey):
            return NotImplemented
        return _compare(self.steps, other.steps) <= 0

    def __gt__(self, other: object) -> bool:
        if not isinstance(other, ApkKey):
            return NotImplemented
        return _compare(self.steps, other.steps) > 0

    def __ge__(self, other: object) -> bool:
        if not isinstance(other, ApkKey):
            return NotImplemented
        return _compare(self.steps, other.steps) >= 0

    def __repr__(self) -> str:
        return f"ApkKey({self.steps!r})"


@lru_cache(maxsize=65536)
def _key(version: str) -> ApkKey:
    return ApkKey(_steps(version))


def is_valid(version: str) -> bool:
    """Whether apk itself accepts `version` (apk_version_validate, `apk version -c`)."""
    return _key(version).steps[-1][1] == _END


class ApkComparator(KeyedComparator):
    """The version order of apk-tools 2 (Alpine, Wolfi, Chainguard...)."""

    __slots__ = ("ecosystem", "name")

    def __init__(self, ecosystem: str = "Alpine") -> None:
        self.name = "apk"
        self.ecosystem = ecosystem

    def key(self, version: str) -> ApkKey:
        """An object that sorts as apk sorts. Raises InvalidVersion without a leading digit."""
        if not version[:1].isdigit() or not version[:1].isascii():
            raise InvalidVersion(
                f"{quoted(version)} is not a valid {self.ecosystem} version (apk rules):"
                " it does not start with a number"
            )
        return _key(version)

    def compare(self, a: str, b: str) -> int:
        """-1, 0 or 1 as `apk version -t a b` prints <, = or >. Raises InvalidVersion."""
        return _compare(self.key(a).steps, self.key(b).steps)
