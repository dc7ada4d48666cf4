"""SemVer 2.0.0 precedence (crates.io), npm's reading of it, and NuGet's variant."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from basewatch.errors import InvalidVersion
from basewatch.versions.base import Comparator
from basewatch.versions.semver import NpmComparator, NuGetComparator, SemverComparator

SEMVER = SemverComparator()
NPM = NpmComparator()
NUGET = NuGetComparator()

# the example of SemVer 2.0.0 section 11, lowest first
PRECEDENCE = [
    "1.0.0-alpha",
    "1.0.0-alpha.1",
    "1.0.0-alpha.beta",
    "1.0.0-beta",
    "1.0.0-beta.2",
    "1.0.0-beta.11",
    "1.0.0-rc.1",
    "1.0.0",
    "1.0.1",
    "1.1.0",
    "2.0.0",
    "10.0.0",
]


@pytest.mark.parametrize("comparator", [SEMVER, NPM, NUGET])
def test_semver_precedence_example(comparator: Comparator) -> None:
    for lower, higher in itertools.pairwise(PRECEDENCE):
        assert comparator.compare(lower, higher) == -1, (lower, higher)
        assert comparator.compare(higher, lower) == 1


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ("1.0.0+build.1", "1.0.0+build.2", 0),  # build metadata is ignored
        ("1.0.0-rc.1+x", "1.0.0-rc.1", 0),
        ("1.0.0-1", "1.0.0-a", -1),  # numeric identifiers sort first
        ("1.0.0-2", "1.0.0-10", -1),
        ("1.0.0-B", "1.0.0-a", -1),  # ASCII order
        ("1.0.0-a-1", "1.0.0-a-2", -1),
        ("1.0.0-0a", "1.0.0-1", 1),  # "0a" is alphanumeric
        ("18446744073709551616.0.0", "18446744073709551615.0.0", 1),
    ],
)
def test_semver_cases(a: str, b: str, expected: int) -> None:
    assert SEMVER.compare(a, b) == expected
    assert SEMVER.compare(b, a) == -expected


@pytest.mark.parametrize(
    "version",
    [
        "",
        "1",
        "1.0",
        "1.0.0.0",
        "01.0.0",
        "1.00.0",
        "1.0.0-01",
        "1.0.0-",
        "1.0.0+",
        "1.0.0-a..b",
        "v1.0.0",
        " 1.0.0",
        "1.0.0-é",
        "\uff11.0.0",  # a fullwidth digit one
    ],
)
def test_semver_invalid(version: str) -> None:
    with pytest.raises(InvalidVersion) as err:
        SEMVER.key(version)
    assert repr(version) in str(err.value)
    assert "crates.io" in str(err.value)


@pytest.mark.parametrize("version", ["v1.2.3", "=1.2.3", "=v1.2.3", " 1.2.3 ", "= v1.2.3", "1.2.3"])
def test_npm_prefixes(version: str) -> None:
    assert NPM.compare(version, "1.2.3") == 0


@pytest.mark.parametrize(
    "version", ["1.2", "vv1.2.3", "1.2.3.4", "9007199254740992.0.0", "1.0.0-" + "a" * 260]
)
def test_npm_invalid(version: str) -> None:
    with pytest.raises(InvalidVersion, match="npm"):
        NPM.key(version)


def test_npm_largest_safe_number() -> None:
    assert NPM.compare("9007199254740991.0.0", "1.0.0") == 1


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ("1.0", "1.0.0", 0),
        ("1", "1.0.0.0", 0),
        ("1.0.0.1", "1.0.0", 1),
        ("1.01", "1.1", 0),  # System.Version numbers take leading zeros
        ("1.0.0-RC.1", "1.0.0-rc.1", 0),  # labels compare case-insensitively
        ("1.0.0-alpha", "1.0.0-Beta", -1),
        ("1.0.0-beta.2", "1.0.0-beta.10", -1),
        ("1.0.0-1", "1.0.0-a", -1),
        ("1.0.0-beta", "1.0.0", -1),
        ("1.0.0+meta", "1.0.0", 0),
        ("4.0.0.0", "4.0.0.1", -1),
        (" 1.0.0 ", "1.0.0", 0),
    ],
)
def test_nuget_cases(a: str, b: str, expected: int) -> None:
    assert NUGET.compare(a, b) == expected
    assert NUGET.compare(b, a) == -expected


@pytest.mark.parametrize(
    "version", ["", "a", "1.0.0.0.0", "1.0.0-01", "1.0.0-", "2147483648.0", "1.0-a..b", "v1.0"]
)
def test_nuget_invalid(version: str) -> None:
    with pytest.raises(InvalidVersion, match="NuGet"):
        NUGET.key(version)


_ID = st.sampled_from(["0", "1", "2", "10", "alpha", "beta", "rc", "a-b", "0a", "B"])
VERSIONS = st.builds(
    lambda core, pre, build: ".".join(map(str, core)) + pre + build,
    st.tuples(st.integers(0, 3), st.integers(0, 3), st.integers(0, 3)),
    st.one_of(
        st.just(""), st.lists(_ID, min_size=1, max_size=3).map(lambda ids: "-" + ".".join(ids))
    ),
    st.sampled_from(["", "", "+b.1", "+007"]),
)


@pytest.mark.parametrize("comparator", [SEMVER, NPM, NUGET])
@settings(max_examples=300, deadline=None)
@given(a=VERSIONS, b=VERSIONS, c=VERSIONS)
def test_total_order(comparator: Comparator, a: str, b: str, c: str) -> None:
    ab = comparator.compare(a, b)
    assert comparator.compare(b, a) == -ab
    assert comparator.compare(a, a) == 0
    ka, kb = comparator.key(a), comparator.key(b)
    assert ((ka > kb) - (ka < kb)) == ab
    assert (ka == kb) == (ab == 0)
    low, mid, high = sorted((a, b, c), key=comparator.key)
    assert comparator.compare(low, mid) <= 0
    assert comparator.compare(mid, high) <= 0
    assert comparator.compare(low, high) <= 0
