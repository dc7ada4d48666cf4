"""dpkg ordering: Policy 5.6.12 cases, dpkg's parse errors and warnings, and a property test
against a line-by-line port of dpkg's verrevcmp() (lib/dpkg/version.c)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from basewatch.errors import InvalidVersion
from basewatch.versions.dpkg import DebianVersion, DpkgComparator, parse

DPKG = DpkgComparator("Debian:12")


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ("1.0", "1.0", 0),
        ("1.0", "1.0-0", 0),  # a missing revision is "0"
        ("1.0-0", "1.0-00", 0),
        ("0:1.0", "1.0", 0),
        ("1.002", "1.2", 0),  # digit runs compare as numbers
        ("1.0", "1.00", 0),
        ("1.0.", "1.0.0", 0),  # an empty digit run is 0
        ("1.2.3", "1.2.10", -1),
        ("1:0.1", "2.0", 1),
        ("1.0~rc1", "1.0", -1),  # ~ sorts before the end
        ("1.0~~", "1.0~", -1),
        ("1.0~~a", "1.0~", -1),
        ("1.0~", "1.0", -1),
        ("1.0", "1.0+b1", -1),  # binNMU
        ("1.0-1", "1.0-1+b1", -1),
        ("1.0-1+deb12u1", "1.0-1+deb12u2", -1),
        ("1.0-1~bpo11+1", "1.0-1", -1),
        ("2.36-9+deb12u4", "2.36-9+deb12u10", -1),
        ("1.0a", "1.0", 1),
        ("1.0a", "1.0.", -1),  # letters sort before other characters
        ("1.0a", "1.0+", -1),
        ("1.0A", "1.0a", -1),  # ASCII order among letters
        ("1.0+", "1.0.", -1),  # "+" < "." in ASCII
        ("1.0-1ubuntu1", "1.0-1", 1),
        ("1.0-1ubuntu0.1", "1.0-1ubuntu1", -1),
        ("7.88.1-10+deb12u5", "7.88.1-10+deb12u12", -1),
        ("1.0-1", "1.0-1.1", -1),
        ("10", "9", 1),
        ("1.0-a-b", "1.0-a-c", -1),  # the revision follows the last hyphen
    ],
)
def test_known_orderings(a: str, b: str, expected: int) -> None:
    assert DPKG.compare(a, b) == expected
    assert DPKG.compare(b, a) == -expected


@pytest.mark.parametrize(
    "version",
    [
        "",
        "   ",
        "1.0-",
        "1:",
        ":1.0",
        "a:1.0",
        "1a:1.0",
        "-1:1.0",
        "2147483648:1.0",
        "1.0 1",
        "1:-1",
        "-1",
        "1\x00",
        "<unknown>x y",
        "1-1:2",  # a colon makes dpkg read an epoch, and "1-1" is not a number
    ],
)
def test_what_dpkg_refuses_is_invalid(version: str) -> None:
    with pytest.raises(InvalidVersion) as err:
        DPKG.key(version)
    assert repr(version) in str(err.value)
    assert "Debian:12" in str(err.value)


@pytest.mark.parametrize(
    ("version", "expected"),
    [
        ("1:2.3-4", DebianVersion(1, "2.3", "4")),
        ("2.3", DebianVersion(0, "2.3", "")),
        ("  1.0-1\t", DebianVersion(0, "1.0", "1")),  # dpkg trims blanks
        ("+1:2", DebianVersion(1, "2", "")),  # strtol() takes a sign
        ("-0:2", DebianVersion(0, "2", "")),
        ("00:2", DebianVersion(0, "2", "")),
        ("2147483647:1", DebianVersion(2147483647, "1", "")),
        ("1:2:3-4-5", DebianVersion(1, "2:3-4", "5")),
        ("A1", DebianVersion(0, "A1", "", "version number does not start with digit")),
        ("1_2", DebianVersion(0, "1_2", "", "invalid character in version number")),
        ("1-1_2", DebianVersion(0, "1", "1_2", "invalid character in revision number")),
        ("1-1+b1", DebianVersion(0, "1", "1+b1")),
    ],
)
def test_parse_mirrors_dpkg(version: str, expected: DebianVersion) -> None:
    assert parse(version) == expected


def test_warned_versions_still_compare() -> None:
    assert DPKG.compare("abc", "abd") == -1
    assert DPKG.compare("1_2", "1.2") == 1  # neither is a letter: ASCII order, "_" > "."
    assert DPKG.compare("1.0é", "1.0.") == -1  # bytes > 0x7f sort before ASCII punctuation


def test_parse_error_names_the_reason() -> None:
    with pytest.raises(InvalidVersion, match="revision number is empty"):
        parse("1.0-")


# --- a port of dpkg's verrevcmp(), character for character, as the oracle -------------------


def _is_digit(c: int) -> bool:
    return 0x30 <= c <= 0x39


def _order(c: int) -> int:
    if _is_digit(c):
        return 0
    if 0x41 <= c <= 0x5A or 0x61 <= c <= 0x7A:
        return c
    if c == 0x7E:
        return -1
    if c:
        return (c - 256 if c > 0x7F else c) + 256  # char is signed on amd64
    return 0


def _verrevcmp(a: bytes, b: bytes) -> int:
    def at(s: bytes, i: int) -> int:
        return s[i] if i < len(s) else 0

    i = j = 0
    while at(a, i) or at(b, j):
        first_diff = 0
        while (at(a, i) and not _is_digit(at(a, i))) or (at(b, j) and not _is_digit(at(b, j))):
            ac, bc = _order(at(a, i)), _order(at(b, j))
            if ac != bc:
                return ac - bc
            i += 1
            j += 1
        while at(a, i) == 0x30:
            i += 1
        while at(b, j) == 0x30:
            j += 1
        while _is_digit(at(a, i)) and _is_digit(at(b, j)):
            if not first_diff:
                first_diff = at(a, i) - at(b, j)
            i += 1
            j += 1
        if _is_digit(at(a, i)):
            return 1
        if _is_digit(at(b, j)):
            return -1
        if first_diff:
            return first_diff
    return 0


def _oracle(a: str, b: str) -> int:
    va, vb = parse(a), parse(b)
    result = (va.epoch > vb.epoch) - (va.epoch < vb.epoch)
    if not result:
        result = _verrevcmp(va.upstream.encode(), vb.upstream.encode())
    if not result:
        result = _verrevcmp(va.revision.encode(), vb.revision.encode())
    return (result > 0) - (result < 0)


def _valid(version: str) -> bool:
    try:
        parse(version)
    except InvalidVersion:
        return False
    return True


_PART = st.text(alphabet="0001239.+~~aAzZ:-_é", min_size=0, max_size=8)
VERSIONS = st.builds(
    lambda epoch, up, rev: epoch + "1" + up + rev,
    st.sampled_from(["", "", "1:", "0:", "12:"]),
    _PART,
    st.one_of(st.just(""), _PART.map(lambda r: "-0" + r.replace("-", "").replace(":", ""))),
).filter(_valid)


@settings(max_examples=2000, deadline=None)
@given(VERSIONS, VERSIONS)
def test_matches_verrevcmp(a: str, b: str) -> None:
    assert DPKG.compare(a, b) == _oracle(a, b)


@settings(max_examples=500, deadline=None)
@given(VERSIONS, VERSIONS, VERSIONS)
def test_total_order(a: str, b: str, c: str) -> None:
    ab = DPKG.compare(a, b)
    assert DPKG.compare(b, a) == -ab
    assert DPKG.compare(a, a) == 0
    ka, kb = DPKG.key(a), DPKG.key(b)
    assert ((ka > kb) - (ka < kb)) == ab
    assert (ka == kb) == (ab == 0)
    low, mid, high = sorted((a, b, c), key=DPKG.key)
    assert DPKG.compare(low, mid) <= 0
    assert DPKG.compare(mid, high) <= 0
    assert DPKG.compare(low, high) <= 0
    assert _oracle(low, high) <= 0
