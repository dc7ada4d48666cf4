"""Go module versions (x/mod/semver, with OSV's v-less spelling) and Go toolchain versions."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from basewatch.errors import InvalidVersion
from basewatch.versions.golang import GoComparator

GO = GoComparator()


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ("v1.2.3", "1.2.3", 0),  # OSV writes Go versions without the "v"
        ("v1", "v1.0.0", 0),  # x/mod/semver shorthands
        ("v1.2", "v1.2.0", 0),
        ("v2.0.0+incompatible", "v2.0.0", 0),  # build metadata is ignored
        ("v2.0.1+incompatible", "v2.0.0+incompatible", 1),
        ("v1.2.3-pre", "v1.2.3", -1),
        ("v1.10.0", "v1.9.0", 1),
        # pseudo-versions sort as pre-releases of what they precede
        ("v0.0.0-20210101000000-abcdef123456", "v0.0.1", -1),
        ("v0.0.0-20210101000000-abcdef123456", "v0.0.0-20220101000000-0123456789ab", -1),
        ("v1.2.4-0.20210101000000-abcdef123456", "v1.2.3", 1),
        ("v1.2.4-0.20210101000000-abcdef123456", "v1.2.4", -1),
        ("v1.2.4-pre.0.20210101000000-abcdef123456", "v1.2.4-pre", 1),
        ("v0.0.0-20210101000000-abcdef123456+incompatible", "0.0.0-20210101000000-abcdef123456", 0),
        # toolchains
        ("go1.22.5", "1.22.5", 0),
        ("go1.22.5", "v1.22.5", 0),
        ("go1.21rc2", "go1.21.0", -1),
        ("go1.21rc2", "1.21.0-rc.2", 0),  # as OSV writes the standard library's versions
        ("go1.21rc1", "go1.21rc2", -1),
        ("go1.21rc", "go1.21rc1", -1),
        ("go1.21", "go1.21rc1", -1),  # the language version sorts before its first release
        ("go1.21", "1.21.0-0", 0),
        ("go1.20", "go1.20.0", 0),  # before 1.21, a missing patch is .0
        ("go1.20rc1", "go1.20", -1),
        ("go1.9beta1", "go1.9", -1),
        ("go1.9beta2", "go1.9rc1", -1),
        ("go1", "v1.0.0", 0),
        ("1.21rc2", "go1.21rc2", 0),  # a toolchain version without "go"
        ("go1.22.10", "go1.22.9", 1),
    ],
)
def test_known_orderings(a: str, b: str, expected: int) -> None:
    assert GO.compare(a, b) == expected
    assert GO.compare(b, a) == -expected


@pytest.mark.parametrize(
    "version",
    [
        "",
        "v",
        "vv1.0.0",
        "v01.0.0",
        "v1.0.0.0",
        "v1.2-pre",
        "v1-pre",
        "v1.0.0-01",
        "go1.21.0rc1",
        "go1.021",
        "go1.21-rc1",
        "go1.21RC1",
        "devel +abc",
        "V1.0.0",
    ],
)
def test_invalid(version: str) -> None:
    with pytest.raises(InvalidVersion) as err:
        GO.key(version)
    assert repr(version) in str(err.value)
    assert "Go" in str(err.value)


VERSIONS = st.one_of(
    st.builds(
        lambda prefix, core, pre, build: prefix + ".".join(map(str, core)) + pre + build,
        st.sampled_from(["v", ""]),
        st.tuples(st.integers(0, 2), st.integers(0, 22), st.integers(0, 2)),
        st.sampled_from(
            [
                "",
                "-0",
                "-pre",
                "-rc.1",
                "-0.20210101000000-abcdef123456",
                "-20210101000000-abcdef123456",
            ]
        ),
        st.sampled_from(["", "", "+incompatible"]),
    ),
    st.builds(
        lambda minor, tail: f"go1.{minor}{tail}",
        st.integers(19, 22),
        st.sampled_from(["", ".0", ".1", "rc1", "rc2", "beta1", "rc"]),
    ),
)


@settings(max_examples=500, deadline=None)
@given(VERSIONS, VERSIONS, VERSIONS)
def test_total_order(a: str, b: str, c: str) -> None:
    ab = GO.compare(a, b)
    assert GO.compare(b, a) == -ab
    assert GO.compare(a, a) == 0
    ka, kb = GO.key(a), GO.key(b)
    assert ((ka > kb) - (ka < kb)) == ab
    assert (ka == kb) == (ab == 0)
    low, mid, high = sorted((a, b, c), key=GO.key)
    assert GO.compare(low, mid) <= 0
    assert GO.compare(mid, high) <= 0
    assert GO.compare(low, high) <= 0
