"""Maven ordering: the cases of Maven's own ComparableVersionTest and the POM reference (all
checked against Maven's jar), and the total-order laws, which a recursive compare can break."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from basewatch.errors import InvalidVersion
from basewatch.versions.maven import MavenComparator, MavenKey

MAVEN = MavenComparator()

QUALIFIERS_ORDER = [
    "1-alpha2snapshot",
    "1-alpha2",
    "1-alpha-123",
    "1-beta-2",
    "1-beta123",
    "1-m2",
    "1-m11",
    "1-rc",
    "1-cr2",
    "1-rc123",
    "1-SNAPSHOT",
    "1",
    "1-sp",
    "1-sp2",
    "1-sp123",
    "1-abc",
    "1-def",
    "1-pom-1",
    "1-1-snapshot",
    "1-1",
    "1-2",
    "1-123",
]
NUMBERS_ORDER = [
    "2.0",
    "2.0.a",
    "2-1",
    "2.0.2",
    "2.0.123",
    "2.1.0",
    "2.1-a",
    "2.1b",
    "2.1-c",
    "2.1-1",
    "2.1.0.1",
    "2.2",
    "2.123",
    "11.a2",
    "11.a11",
    "11.b2",
    "11.b11",
    "11.m2",
    "11.m11",
    "11",
    "11.a",
    "11b",
    "11c",
    "11m",
]


@pytest.mark.parametrize("ordered", [QUALIFIERS_ORDER, NUMBERS_ORDER])
def test_maven_orderings(ordered: list[str]) -> None:
    for i, lower in enumerate(ordered):
        for higher in ordered[i + 1 :]:
            assert MAVEN.compare(lower, higher) == -1, (lower, higher)
            assert MAVEN.compare(higher, lower) == 1, (higher, lower)
    assert sorted(reversed(ordered), key=MAVEN.key) == ordered


@pytest.mark.parametrize(
    "same",
    [
        [
            "1",
            "1.0",
            "1.0.0",
            "1-0",
            "1.ga",
            "1-ga",
            "1.final",
            "1-FINAL",
            "1.release",
            "1-0.0",
            "1.0-0",
            "1.",
        ],
        ["1-a1", "1-alpha-1", "1-ALPHA1", "1alpha1"],
        ["1-cr1", "1-rc1", "1.RC1"],
        ["2-abc", "2.0.abc", "2.0.0.abc", "2.abc"],  # MNG-7644
        ["1.0.0-foo.0.0", "1-foo"],
    ],
)
def test_equal_spellings(same: list[str]) -> None:
    for version in same[1:]:
        assert MAVEN.compare(same[0], version) == 0, (same[0], version)
        assert MAVEN.key(same[0]) == MAVEN.key(version)


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ("1-0.alpha", "1", -1),  # MNG-6964
        ("1-0.alpha", "1-0.beta", -1),
        ("1.0.0.RC1", "1.0.0-RC2", -1),  # MNG-7644
        ("1.0.RC2", "1.0-RC3", -1),
        ("1.0-RC3", "1.0.1", -1),
        ("1-sp-1", "1-ga-1", -1),
        ("1-sp.1", "1-ga.1", 1),
        ("1-foo2", "1-foo10", -1),
        ("1.2147483648", "1.2147483647", 1),
        ("1.9223372036854775808", "1.9223372036854775807", 1),
        ("1.0000000000.1", "1.0.1", 1),  # a zero too long for an int is a long: Maven's quirk
        ("1.0.0-SNAPSHOT", "1.0.0", -1),
        ("2.0.Final", "2.0.0", 0),
        ("5.3.0.Final", "5.3.0.SP1", -1),
    ],
)
def test_known_orderings(a: str, b: str, expected: int) -> None:
    assert MAVEN.compare(a, b) == expected
    assert MAVEN.compare(b, a) == -expected


def test_key_is_an_ordered_unhashable_object() -> None:
    key = MAVEN.key("1.0")
    assert isinstance(key, MavenKey)
    assert key.__eq__(object()) is NotImplemented
    with pytest.raises(TypeError):
        hash(key)


@pytest.mark.parametrize("version", ["", "  "])
def test_empty_is_invalid(version: str) -> None:
    with pytest.raises(InvalidVersion, match="Maven"):
        MAVEN.key(version)


def test_maven_itself_is_not_transitive() -> None:
    """Maven's jar says 1 > 1.a1 > 1.b.0 > 1: basewatch mirrors it rather than inventing an
    order Maven does not have. Real version schemes do not mix these shapes."""
    assert MAVEN.compare("1", "1.a1") == 1
    assert MAVEN.compare("1.a1", "1.b.0") == 1
    assert MAVEN.compare("1.b.0", "1") == 1
    # Another cycle, as Maven 3.8.7's ComparableVersion prints it: a release alias ("ga")
    # followed by a qualifier. 0 < 0-a < 0-ga-SNAPSHOT, yet 0 > 0-ga-SNAPSHOT.
    assert MAVEN.compare("0", "0-a") == -1
    assert MAVEN.compare("0-a", "0-ga-SNAPSHOT") == -1
    assert MAVEN.compare("0", "0-ga-SNAPSHOT") == 1


_TOKENS = st.sampled_from(
    ["0", "1", "2", "10", "00", "1234567890", "a", "a1", "alpha", "b", "beta", "m", "rc", "cr",
     "snapshot", "ga", "final", "release", "sp", "foo", "bar", "RC", ""]
)  # fmt: skip
ANY_VERSIONS = st.builds(
    lambda first, rest: first + "".join(sep + tok for sep, tok in rest),
    st.sampled_from(["0", "1", "2"]),
    st.lists(st.tuples(st.sampled_from([".", "-", ""]), _TOKENS), max_size=5),
)
# Release aliases (ga, Final, RELEASE) only ever end a conventional version (see the last part
# below): followed by another qualifier they make Maven's own order cyclic (pinned above).
_QUALIFIER = st.sampled_from(
    ["alpha", "a", "beta", "b", "milestone", "M", "rc", "CR", "SNAPSHOT", "sp", "SP", "jre",
     "redhat", "foo"]
)  # fmt: skip
# What real projects publish: numbers, then qualifiers after "-" (or after "." at the end).
CONVENTIONAL_VERSIONS = st.builds(
    lambda numbers, qualifiers, last: ".".join(numbers) + "".join(qualifiers) + last,
    st.lists(st.sampled_from(["0", "1", "2", "10", "01"]), min_size=1, max_size=4),
    st.lists(
        st.builds(
            lambda sep, q, n: sep + q + n,
            st.sampled_from(["-", "-", ""]),
            _QUALIFIER,
            st.sampled_from(["", "1", "2", "10", "-1", ".1"]),
        ),
        max_size=2,
    ),
    st.sampled_from(["", "", ".Final", ".RELEASE", "-SNAPSHOT", "-1"]),
)


@settings(max_examples=1000, deadline=None)
@given(ANY_VERSIONS, ANY_VERSIONS)
def test_antisymmetric_and_key_consistent(a: str, b: str) -> None:
    ab = MAVEN.compare(a, b)
    assert MAVEN.compare(b, a) == -ab
    assert MAVEN.compare(a, a) == 0
    ka, kb = MAVEN.key(a), MAVEN.key(b)
    assert ((ka > kb) - (ka < kb)) == ab
    assert (ka == kb) == (ab == 0)


@settings(max_examples=1500, deadline=None)
@given(CONVENTIONAL_VERSIONS, CONVENTIONAL_VERSIONS, CONVENTIONAL_VERSIONS)
def test_total_order(a: str, b: str, c: str) -> None:
    ab = MAVEN.compare(a, b)
    assert MAVEN.compare(b, a) == -ab
    ka, kb = MAVEN.key(a), MAVEN.key(b)
    assert ((ka > kb) - (ka < kb)) == ab
    low, mid, high = sorted((a, b, c), key=MAVEN.key)
    assert MAVEN.compare(low, mid) <= 0
    assert MAVEN.compare(mid, high) <= 0
    assert MAVEN.compare(low, high) <= 0, "transitivity"
