"""apk ordering: apk-tools' own test data, cases checked against the real `apk version -t` of
apk-tools 2.14.4 (Alpine 3.20.3), and a property test against a literal port of apk-tools 2's
src/version.c (get_token/next_token over a moving blob). The same comparator is checked against
the real binary on every version pair of the shared Alpine data in
tests/integration/test_versions_real.py."""

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


# Every expectation below is what `apk version -t A B` of apk-tools 2.14.4 prints.
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
        ("01.0", "1.0", 0),  # the first number is always numeric
        ("1.0_rc1", "1.0_rc1_p2", -1),
        ("1.0_alpha_pre2", "1.0_alpha", -1),
        ("1.0", "1.0bc", -1),  # invalid from "c": the valid prefix is longer
        ("1.0bc", "1.0bd", 0),  # apk ignores everything from the first invalid token
        ("1.0-foo", "1.0-bar", 0),
        ("1.0_foo", "1.0", -1),  # an unknown suffix reads as a pre-release
        ("1.0_foo", "1.0_alpha", 1),
        ("23_foo", "4_beta", 1),
        ("1.0-r1-r2", "1.0-r1-r3", -1),  # apk 2 reads a second revision
        ("1.0.", "1.0", 1),
        ("1.0", "1.0-r", -1),
        ("1.0-x", "1.0.1", 1),  # an invalid rest is newer than anything that is valid
        # apk-tools 2 orders these unlike apk-tools 3 (which the previous tests encoded):
        ("1.02", "1.1", -1),  # leading zeros: a token worth -(zeros - 1), then the number
        ("1.010", "1.02", 1),  # (apk 3 compares the digits as strings: "010" < "02")
        ("1.0", "1.00", 1),  # (apk 3: "0" < "00")
        ("1.09", "1.1", -1),
        ("1.0~abc", "1.0", 1),  # "~" is invalid in apk 2 (apk 3 reads a commit hash)
        ("1.0~abc", "1.0~abd", 0),
        ("1.0_prefoo", "1.0_pre", 1),  # suffixes match by prefix: "_pre", then invalid
        ("1.0_pr", "1.0_p", 1),  # "_p", then an invalid "r"
    ],
)
def test_known_orderings(a: str, b: str, expected: int) -> None:
    assert APK.compare(a, b) == expected
    assert APK.compare(b, a) == -expected


@pytest.mark.parametrize(
    ("low", "high"),
    [
        # real Alpine secfixes versions: a digit after the letter, then the revision
        ("6.6.1p1-r1", "6.6.1p1-r2"),  # openssh
        ("6.0.2p1-r3", "6.0.2p1-r8"),  # openssh
        ("1.8.28p1-r0", "1.8.28p1-r1"),  # sudo
        ("1.9.5p1-r0", "1.9.5p2-r0"),  # sudo
        ("1.8.28-r0", "1.8.28p1-r0"),
        ("8.1p1-r0", "8.1p1-r10"),
        ("1.0a1", "1.0a2"),
        ("1.0a", "1.0a1"),
        ("1.0a1", "1.0a1.1"),
        ("1.0a1.2", "1.0a1.3"),
    ],
)
def test_the_revision_counts_after_a_letter_and_digits(low: str, high: str) -> None:
    assert APK.compare(low, high) == -1
    assert APK.compare(high, low) == 1
    assert APK.key(low) < APK.key(high)


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ("99999999999999999", "1", 1),  # 17 digits: a number
        ("100000000000000000", "1", -1),  # 18 digits: an invalid token, worth -1
        ("100000000000000000", "200000000000000000", 0),
        ("1.100000000000000000", "1.0", -1),
        ("1.100000000000000000", "1.00", 1),
        ("1-r100000000000000000", "1-r0", -1),
        ("18446744073709551616", "0", -1),  # no wrapping at 2**64 either
    ],
)
def test_long_numbers_are_invalid_tokens_as_in_apk(a: str, b: str, expected: int) -> None:
    assert APK.compare(a, b) == expected
    assert APK.compare(b, a) == -expected


@pytest.mark.parametrize(
    "template",
    ["{}", "1.{}", "1.0{}", "1_p{}", "1-r{}", "1a{}", "1.0_rc{}-r1", "1.0.{}.1", "1.{}{}"],
)
def test_five_thousand_digits_compare_without_error(template: str) -> None:
    huge = template.format("1" + "0" * 4999, "9" * 5000)
    assert len(huge) > 4300  # beyond CPython's int() string-conversion limit
    assert APK.compare(huge, huge) == 0
    assert APK.compare(huge, "1.0") in (-1, 1)
    assert APK.compare(huge + "1", huge) in (-1, 0, 1)
    assert not is_valid(huge)  # apk refuses a number of 18 digits or more


@pytest.mark.parametrize("version", ["", "abc", "r1", ".1", "-r1", "_p1", "~1", " 1.0", "\u0661.0"])
def test_versions_without_a_leading_number_are_invalid(version: str) -> None:
    with pytest.raises(InvalidVersion) as err:
        APK.key(version)
    assert repr(version) in str(err.value)
    assert "Alpine:v3.20" in str(err.value)


# What `apk version -c` (apk_version_validate) of apk-tools 2.14.4 accepts.
@pytest.mark.parametrize(
    ("version", "valid"),
    [
        ("1.2.3", True),
        ("1.2.3a_rc1_p2-r5", True),
        ("1.0_p", True),
        ("1.0a1", True),  # a digit after the letter
        ("6.6.1p1-r1", True),
        ("1.0-r1-r2", True),
        ("1.0_p1_p2", True),
        ("1.0-r", True),
        ("1.0.", True),
        ("", True),  # apk reads it as "0" (basewatch refuses it, above)
        ("x", True),
        ("1.0bc", False),
        ("abc", False),
        ("1.0-r1_p", False),
        ("1.0-1", False),
        ("1.0_foo", False),
        ("1.0~", False),
        ("1.2.3a_rc1_p2~0a1b-r5", False),  # no commit hashes in apk 2
        ("1.0-r1.2", False),
        ("1.0A", False),
        ("1" + "0" * 17, False),
    ],
)
def test_is_valid(version: str, valid: bool) -> None:
    assert is_valid(version) is valid


# --- a literal port of apk-tools 2.14's version.c, as the oracle -----------------------------

T_INVALID, T_DIGIT_OR_ZERO, T_DIGIT, T_LETTER, T_SUFFIX, T_SUFFIX_NO, T_REVISION_NO, T_END = range(
    -1, 7
)
PRE_SUFFIXES = ["alpha", "beta", "pre", "rc"]
POST_SUFFIXES = ["cvs", "svn", "git", "hg", "p"]


class Blob:
    def __init__(self, text: str) -> None:
        self.text, self.ptr = text, 0

    @property
    def len(self) -> int:
        return len(self.text) - self.ptr

    def at(self, i: int) -> str:
        return self.text[self.ptr + i]


def next_token(kind: int, blob: Blob) -> int:
    n = T_INVALID
    c = blob.at(0)
    if blob.len == 0 or c == "\0":
        n = T_END
    elif kind in (T_DIGIT, T_DIGIT_OR_ZERO) and c.islower() and c.isascii():
        n = T_LETTER
    elif kind == T_LETTER and c in "0123456789":
        n = T_DIGIT
    elif kind == T_SUFFIX and c in "0123456789":
        n = T_SUFFIX_NO
    else:
        if c == ".":
            n = T_DIGIT_OR_ZERO
        elif c == "_":
            n = T_SUFFIX
        elif c == "-" and blob.len > 1 and blob.at(1) == "r":
            n = T_REVISION_NO
            blob.ptr += 1
        blob.ptr += 1
    if n < kind and not (
        (n == T_DIGIT_OR_ZERO and kind == T_DIGIT)
        or (n == T_SUFFIX and kind == T_SUFFIX_NO)
        or (n == T_DIGIT and kind == T_LETTER)
    ):
        n = T_INVALID
    return n


def get_token(kind: int, blob: Blob) -> tuple[int, int]:
    """(value, next kind), as get_token(&type, &blob) returns and stores them."""
    v, i, nt = 0, 0, T_INVALID
    if blob.len <= 0:
        return 0, T_END
    if kind == T_DIGIT_OR_ZERO and blob.at(0) == "0":
        while i + 1 < blob.len and blob.at(i + 1) == "0":
            i += 1
        nt, v = T_DIGIT, -i
    elif kind in (T_DIGIT_OR_ZERO, T_DIGIT, T_SUFFIX_NO, T_REVISION_NO):
        while i < blob.len and blob.at(i) in "0123456789":
            v = v * 10 + int(blob.at(i))
            i += 1
            if i > 17:  # apk 2.14 gives up on the 18th digit
                return -1, T_INVALID
    elif kind == T_LETTER:
        v, i = ord(blob.at(0)), 1
    elif kind == T_SUFFIX:
        rest = blob.text[blob.ptr :]
        pre = [n for n, suffix in enumerate(PRE_SUFFIXES) if rest.startswith(suffix)]
        post = [n for n, suffix in enumerate(POST_SUFFIXES) if rest.startswith(suffix)]
        if pre:
            i, v = len(PRE_SUFFIXES[pre[0]]), pre[0] - len(PRE_SUFFIXES)
        elif post:
            i, v = len(POST_SUFFIXES[post[0]]), post[0]
        else:
            return -1, T_INVALID
    else:
        return -1, T_INVALID
    blob.ptr += i
    if blob.len == 0:
        return v, T_END
    if nt != T_INVALID:
        return v, nt
    return v, next_token(kind, blob)


def oracle(a_text: str, b_text: str) -> int:
    a, b = Blob(a_text), Blob(b_text)
    at = bt = T_DIGIT
    av = bv = 0
    while at == bt and at not in (T_END, T_INVALID) and av == bv:
        av, at = get_token(at, a)
        bv, bt = get_token(bt, b)
    if av != bv:
        return -1 if av < bv else 1
    if at == bt:
        return 0
    if at == T_SUFFIX and get_token(at, a)[0] < 0:
        return -1
    if bt == T_SUFFIX and get_token(bt, b)[0] < 0:
        return 1
    return -1 if at > bt else 1


def test_the_oracle_agrees_with_the_real_apk_on_the_cases_above() -> None:
    assert oracle("6.6.1p1-r1", "6.6.1p1-r2") == -1
    assert oracle("1.0", "1.00") == 1
    assert oracle("100000000000000000", "1") == -1
    assert oracle("1.0~abc", "1.0") == 1


_PIECES = st.sampled_from(
    [".0", ".1", ".01", ".00", ".10", ".2", "a", "b", "z", "p", "_alpha", "_beta", "_pre", "_rc",
     "_p", "_cvs", "_git", "_hg", "_svn", "_pr", "_prefoo", "1", "2", "0", "00", "~0a", "-r0",
     "-r1", "-r10", "-r", "-x", "_foo", "A", ".", "-", "~", "_", "99999999999999999",
     "100000000000000000", "\0"]
)  # fmt: skip
VERSIONS = st.builds(
    lambda first, rest: first + "".join(rest),
    st.sampled_from(["0", "1", "01", "00", "2", "10", "001"]),
    st.lists(_PIECES, max_size=6),
)


@settings(max_examples=2000, deadline=None)
@given(VERSIONS, VERSIONS)
def test_matches_apk_tools(a: str, b: str) -> None:
    assert APK.compare(a, b) == oracle(a, b)


@settings(max_examples=500, deadline=None)
@given(VERSIONS, VERSIONS, VERSIONS)
def test_total_order(a: str, b: str, c: str) -> None:
    ab = APK.compare(a, b)
    assert APK.compare(b, a) == -ab
    assert APK.compare(a, a) == 0
    ka, kb = APK.key(a), APK.key(b)
    assert ((ka > kb) - (ka < kb)) == ab
    assert (ka == kb) == (ab == 0)
    assert (ka == kb) <= (hash(ka) == hash(kb))
    low, mid, high = sorted((a, b, c), key=APK.key)
    assert oracle(low, mid) <= 0
    assert oracle(mid, high) <= 0
    assert oracle(low, high) <= 0
