"""rpm ordering: rpmvercmp cases of the kind rpm's own test suite checks, epoch/version/release
handling, and a property test against a port of rpm's rpmvercmp() (rpmio/rpmvercmp.c)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from basewatch.errors import InvalidVersion
from basewatch.versions.rpm import RpmComparator, parse_evr, rpmvercmp

RPM = RpmComparator("AlmaLinux:9")


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ("1.0", "1.0", 0),
        ("1.0", "2.0", -1),
        ("2.0.1", "2.0", 1),
        ("2.0.1a", "2.0.1", 1),
        ("5.5p1", "5.5p2", -1),
        ("5.5p1", "5.5p10", -1),
        ("10xyz", "10.1xyz", -1),
        ("xyz10", "xyz10.1", -1),
        ("xyz.4", "8", -1),  # letters are older than numbers
        ("xyz.4", "2", -1),
        ("5.6p1", "6.5p1", -1),
        ("6.0.rc1", "6.0", 1),
        ("10b2", "10a1", 1),
        ("1.0a", "1.0aa", -1),
        ("10.0001", "10.1", 0),
        ("10.0001", "10.0039", -1),
        ("4.999.9", "5.0", -1),
        ("20101121", "20101122", -1),
        ("2_0", "2.0", 0),  # separators only separate
        ("a+", "a_", 0),
        ("+a", "_a", 0),
        ("_+", "+_", 0),
        ("1.0.", "1.0", 0),
        ("1..0", "1.0", 0),
        ("1.0~rc1", "1.0", -1),
        ("1.0~rc1", "1.0~rc2", -1),
        ("1.0~rc1~git123", "1.0~rc1", -1),
        ("1.0^", "1.0", 1),
        ("1.0^git1", "1.0", 1),
        ("1.0^git1", "1.0^git2", -1),
        ("1.0^git1", "1.01", -1),
        ("1.0^20160101", "1.0.1", -1),
        ("1.0^20160102", "1.0^20160101^git1", 1),
        ("1.0~rc1^git1", "1.0~rc1", 1),
        ("1.0^git1~pre", "1.0^git1", -1),
        ("1.0~", "1.0", -1),
        ("1.0^", "1.0~", 1),
        ("A", "a", -1),  # strcmp: upper case first
        ("1.0é", "1.0", 0),  # non-ASCII characters are separators
    ],
)
def test_rpmvercmp(a: str, b: str, expected: int) -> None:
    assert rpmvercmp(a, b) == expected
    assert rpmvercmp(b, a) == -expected


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ("1:1.0-1", "2.0-1", 1),  # the epoch first
        ("0:1.0-1", "1.0-1", 0),  # a missing epoch is 0
        ("01:1.0-1", "1:1.0-1", 0),
        ("1.0-1.el9", "1.0-2.el9", -1),
        ("1.0-1.el8_4", "1.0-1.el8_10", -1),
        ("1.0", "1.0-1", -1),  # a missing release sorts first, as rpm.labelCompare does
        ("1.0", "1.0-0", -1),
        ("1.1", "1.0-1", 1),
        ("2.0.7-1.cm2", "2.0.7-10.cm2", -1),
        ("3.0.7-27.el9", "1:3.0.7-24.el9", -1),
        (":1.0-1", "0:1.0-1", 0),  # rpm reads an empty epoch as 0
    ],
)
def test_evr(a: str, b: str, expected: int) -> None:
    assert RPM.compare(a, b) == expected
    assert RPM.compare(b, a) == -expected


@pytest.mark.parametrize(
    ("evr", "expected"),
    [
        ("1:2.0-3.el9", (1, "2.0", "3.el9")),
        ("2.0", (0, "2.0", None)),
        ("2.0~rc1^git-1.el9_2", (0, "2.0~rc1^git", "1.el9_2")),
        ("12-3", (0, "12", "3")),
    ],
)
def test_parse_evr(evr: str, expected: tuple[int, str, str | None]) -> None:
    assert parse_evr(evr) == expected


@pytest.mark.parametrize(
    "evr",
    ["", "-1", "1:-1", "1.0-", "1.0-1-2", "a:1.0-1", "1:2:3", "1.0 -1", "1.0-1 ", "1.0/1", "1,0"],
)
def test_invalid(evr: str) -> None:
    with pytest.raises(InvalidVersion) as err:
        RPM.key(evr)
    assert repr(evr) in str(err.value)
    assert "AlmaLinux:9" in str(err.value)


# --- a port of rpm's rpmvercmp(), as the oracle ------------------------------------------------


def _isalnum(c: str) -> bool:
    return c.isascii() and c.isalnum()


def _oracle_vercmp(a: str, b: str) -> int:
    if a == b:
        return 0
    one, two = a + "\0", b + "\0"  # C strings
    i = j = 0
    while one[i] != "\0" or two[j] != "\0":
        while one[i] != "\0" and not _isalnum(one[i]) and one[i] not in "~^":
            i += 1
        while two[j] != "\0" and not _isalnum(two[j]) and two[j] not in "~^":
            j += 1
        if one[i] == "~" or two[j] == "~":
            if one[i] != "~":
                return 1
            if two[j] != "~":
                return -1
            i += 1
            j += 1
            continue
        if one[i] == "^" or two[j] == "^":
            if one[i] == "\0":
                return -1
            if two[j] == "\0":
                return 1
            if one[i] != "^":
                return 1
            if two[j] != "^":
                return -1
            i += 1
            j += 1
            continue
        if one[i] == "\0" or two[j] == "\0":
            break
        end1, end2 = i, j
        test = str.isdigit if one[i].isdigit() else str.isalpha
        isnum = one[i].isdigit()
        while one[end1] != "\0" and one[end1].isascii() and test(one[end1]):
            end1 += 1
        while two[end2] != "\0" and two[end2].isascii() and test(two[end2]):
            end2 += 1
        if end2 == j:
            return 1 if isnum else -1
        seg1, seg2 = one[i:end1], two[j:end2]
        if isnum:
            seg1, seg2 = seg1.lstrip("0"), seg2.lstrip("0")
            if len(seg1) != len(seg2):
                return 1 if len(seg1) > len(seg2) else -1
        if seg1 != seg2:
            return 1 if seg1 > seg2 else -1
        i, j = end1, end2
    if one[i] == "\0" and two[j] == "\0":
        return 0
    return 1 if one[i] != "\0" else -1


_SEGMENTS = st.text(alphabet="0012aAbz.._+~^^", max_size=10)


@settings(max_examples=3000, deadline=None)
@given(_SEGMENTS, _SEGMENTS)
def test_matches_rpmvercmp(a: str, b: str) -> None:
    assert rpmvercmp(a, b) == _oracle_vercmp(a, b)


VERSIONS = st.builds(
    lambda epoch, version, release: epoch + "1" + version + release,
    st.sampled_from(["", "", "0:", "1:", "2:"]),
    st.text(alphabet="0012aAz._+~^", max_size=8),
    st.one_of(st.just(""), st.text(alphabet="0129a.~^_", max_size=6).map(lambda r: "-1" + r)),
)


@settings(max_examples=500, deadline=None)
@given(VERSIONS, VERSIONS, VERSIONS)
def test_total_order(a: str, b: str, c: str) -> None:
    ab = RPM.compare(a, b)
    assert RPM.compare(b, a) == -ab
    assert RPM.compare(a, a) == 0
    ka, kb = RPM.key(a), RPM.key(b)
    assert ((ka > kb) - (ka < kb)) == ab
    assert (ka == kb) == (ab == 0)
    low, mid, high = sorted((a, b, c), key=RPM.key)
    for x, y in ((low, mid), (mid, high), (low, high)):
        ex, vx, rx = parse_evr(x)
        ey, vy, ry = parse_evr(y)
        result = (ex > ey) - (ex < ey) or _oracle_vercmp(vx, vy)
        if not result and (rx, ry) != (None, None):
            result = -1 if rx is None else 1 if ry is None else _oracle_vercmp(rx, ry)
        assert result <= 0
