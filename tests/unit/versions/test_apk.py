"""apk ordering: apk-tools' own test data, hand-picked cases, and a property test against a
port of apk-tools' src/version.c (token_first/token_next/token_cmp)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from basewatch.errors import InvalidVersion
from basewatch.versions.apk import ApkComparator, is_valid

APK = ApkComparator("Alpine:v3.20")
# apk-tools' test/version.data, kept in ../shared beside the repository
VERSION_DATA = (
    Path(__file__).parents[3] / ".." / "shared" / "fixtures" / "versions" / "apk-version.data"
)
OPS = {"<": -1, "=": 0, ">": 1}


def test_apk_tools_version_data() -> None:
    if not VERSION_DATA.exists():
        pytest.skip(
            f"apk-tools version data missing: {VERSION_DATA} (../shared is not beside the repo)"
        )
    rows: list[tuple[int, str, str, str]] = []
    for number, line in enumerate(VERSION_DATA.read_text().splitlines(), 1):
        fields = line.split("#", 1)[0].split()
        if not fields:
            continue
        assert len(fields) == 3, f"line {number}: not 'a op b': {line!r}"
        a, op, b = fields
        rows.append((number, a, op, b))
    assert len(rows) > 700
    wrong = [
        f"line {number}: {a} {op} {b}, basewatch says {APK.compare(a, b)}"
        for number, a, op, b in rows
        if APK.compare(a, b) != OPS[op]
    ]
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ("1.0_alpha", "1.0_beta", -1),
        ("1.0_beta", "1.0_pre", -1),
        ("1.0_pre", "1.0_rc", -1),
        ("1.0_rc1", "1.0", -1),
        ("1.0", "1.0_cvs", -1),
        ("1.0_cvs", "1.0_svn", -1),
        ("1.0_svn", "1.0_git", -1),
        ("1.0_git", "1.0_hg", -1),
        ("1.0_hg", "1.0_p", -1),
        ("1.0_p1", "1.0_p1-r1", -1),
        ("1.0", "1.0-r0", -1),  # an explicit revision is newer than none
        ("1.0-r0", "1.0-r1", -1),
        ("1.0-r9", "1.0-r10", -1),
        ("1.0", "1.0a", -1),
        ("1.0a", "1.0b", -1),
        ("1.0z", "1.0.1", -1),
        ("1.02", "1.1", -1),  # a leading zero: string comparison, as in Gentoo
        ("1.010", "1.02", -1),
        ("1.0", "1.00", -1),
        ("01.0", "1.0", 0),  # the first number is always numeric
        ("1.0_rc1", "1.0_rc1_p2", -1),
        ("1.0_alpha_pre2", "1.0_alpha", -1),
        ("1.0~abc", "1.0", 1),  # a commit hash is newer than none
        ("1.0~abc", "1.0~abd", -1),
        ("1.0~abc-r1", "1.0~abc-r2", -1),
        ("1.0~abc-r1", "1.0-r1", 1),
        ("1.0~abc-r1", "1.0-r2", 1),  # the hash is compared before the revision
        ("1.0_p1~abc", "1.0_p1", 1),
        ("1.0_rc1~abc", "1.0", -1),
        ("1.0", "1.0bc", -1),  # invalid from "c": the valid prefix is longer
        ("1.0bc", "1.0bd", 0),  # apk ignores everything from the first invalid token
        ("1.0-foo", "1.0-bar", 0),
        ("1.0_foo", "1.0", -1),  # an invalid rest sorts before the end
        ("1.0_foo", "1.0_alpha", 1),  # ... but after a pre-release
        ("23_foo", "4_beta", 1),
        ("18446744073709551616", "0", 0),  # numbers wrap at 2**64, as in apk
    ],
)
def test_known_orderings(a: str, b: str, expected: int) -> None:
    assert APK.compare(a, b) == expected
    assert APK.compare(b, a) == -expected


@pytest.mark.parametrize("version", ["", "abc", "r1", ".1", "-r1", "_p1", "~1", " 1.0"])
def test_versions_without_a_leading_number_are_invalid(version: str) -> None:
    with pytest.raises(InvalidVersion) as err:
        APK.key(version)
    assert repr(version) in str(err.value)
    assert "Alpine:v3.20" in str(err.value)


@pytest.mark.parametrize(
    ("version", "valid"),
    [
        ("1.2.3", True),
        ("1.2.3a_rc1_p2~0a1b-r5", True),
        ("1.0_p", True),
        ("1.0bc", False),
        ("1.0-r", False),
        ("1.0-1", False),
        ("1.0_foo", False),
        ("1.0~", False),
        ("1.0~xyz", False),
        ("1.0.", False),
        ("1.0a1", False),  # a digit after the letter
        ("1.0-r1.2", False),
        ("1.0~ab~cd", False),
        ("1.0A", False),
        ("", False),
    ],
)
def test_is_valid(version: str, valid: bool) -> None:
    assert is_valid(version) is valid


# --- a port of apk-tools' version.c, as the oracle -------------------------------------------

INITIAL, DIGIT, LETTER, SUFFIX, SUFFIX_NO, HASH, REVISION, END, INVALID = range(9)
SUFFIX_VALUES = {
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
SUFFIX_NONE = 5


class Token:
    def __init__(self) -> None:
        self.token = INITIAL
        self.suffix = 0
        self.number = 0
        self.value = ""


def _span(s: str, pos: int, chars: str) -> int:
    while pos < len(s) and s[pos] in chars:
        pos += 1
    return pos


def _parse_digits(t: Token, s: str, pos: int) -> int:
    end = _span(s, pos, "0123456789")
    t.value = s[pos:end]
    t.number = int(t.value or "0") % 2**64
    if not t.value:
        t.token = INVALID
    return end


def _token_next(t: Token, s: str, pos: int) -> int:
    if pos >= len(s):
        t.token = END
        return pos
    c = s[pos]
    if "a" <= c <= "z":
        if t.token > DIGIT:
            t.token = INVALID
            return pos
        t.value, t.token = c, LETTER
        return pos + 1
    if c == "." or "0" <= c <= "9":
        if c == ".":
            if t.token > DIGIT:
                t.token = INVALID
                return pos
            pos += 1
        if t.token in (INITIAL, DIGIT):
            t.token = DIGIT
        elif t.token == SUFFIX:
            t.token = SUFFIX_NO
        else:
            t.token = INVALID
            return pos
        return _parse_digits(t, s, pos)
    if c == "_":
        if t.token > SUFFIX_NO:
            t.token = INVALID
            return pos
        end = _span(s, pos + 1, "abcdefghijklmnopqrstuvwxyz")
        t.value = s[pos + 1 : end]
        t.suffix = SUFFIX_VALUES.get(t.value, 0)
        t.token = SUFFIX if t.suffix else INVALID
        return end
    if c == "~":
        if t.token >= HASH:
            t.token = INVALID
            return pos
        end = _span(s, pos + 1, "0123456789abcdef")
        t.value = s[pos + 1 : end]
        t.token = HASH if t.value else INVALID
        return end
    if c == "-":
        if t.token >= REVISION or not s.startswith("-r", pos):
            t.token = INVALID
            return pos
        t.token = REVISION
        return _parse_digits(t, s, pos + 2)
    t.token = INVALID
    return pos


def _sign(x: int | str, y: int | str) -> int:
    return (x > y) - (x < y)  # type: ignore[operator]


def _token_cmp(ta: Token, tb: Token) -> int:
    if ta.token == DIGIT and (ta.value[0] == "0" or tb.value[0] == "0"):
        return _sign(ta.value, tb.value)
    if ta.token in (DIGIT, INITIAL, SUFFIX_NO, REVISION):
        return _sign(ta.number, tb.number)
    if ta.token == LETTER:
        return _sign(ta.value, tb.value)
    if ta.token == SUFFIX:
        return _sign(ta.suffix, tb.suffix)
    return _sign(ta.value, tb.value)


def _oracle(a: str, b: str) -> int:
    ta, tb = Token(), Token()
    pa, pb = _parse_digits(ta, a, 0), _parse_digits(tb, b, 0)
    while ta.token == tb.token and ta.token < END:
        result = _token_cmp(ta, tb)
        if result:
            return result
        pa, pb = _token_next(ta, a, pa), _token_next(tb, b, pb)
    if ta.token == tb.token:
        return 0
    if ta.token == SUFFIX and ta.suffix < SUFFIX_NONE:
        return -1
    if tb.token == SUFFIX and tb.suffix < SUFFIX_NONE:
        return 1
    return -1 if ta.token > tb.token else 1


_PIECES = st.sampled_from(
    [".0", ".1", ".01", ".10", ".2", "a", "b", "z", "_alpha", "_beta", "_pre", "_rc", "_p",
     "_cvs", "_git", "_hg", "_svn", "1", "2", "~0a", "~ab", "~b", "-r0", "-r1", "-r10", "_foo",
     "A", ".", "-", "~", "_"]
)  # fmt: skip
VERSIONS = st.builds(
    lambda first, rest: first + "".join(rest),
    st.sampled_from(["0", "1", "01", "2", "10"]),
    st.lists(_PIECES, max_size=6),
)


@settings(max_examples=2000, deadline=None)
@given(VERSIONS, VERSIONS)
def test_matches_apk_tools(a: str, b: str) -> None:
    assert APK.compare(a, b) == _oracle(a, b)


@settings(max_examples=500, deadline=None)
@given(VERSIONS, VERSIONS, VERSIONS)
def test_total_order(a: str, b: str, c: str) -> None:
    ab = APK.compare(a, b)
    assert APK.compare(b, a) == -ab
    assert APK.compare(a, a) == 0
    ka, kb = APK.key(a), APK.key(b)
    assert ((ka > kb) - (ka < kb)) == ab
    assert (ka == kb) == (ab == 0)
    low, mid, high = sorted((a, b, c), key=APK.key)
    assert _oracle(low, mid) <= 0
    assert _oracle(mid, high) <= 0
    assert _oracle(low, high) <= 0
