"""PEP 440 ordering through `packaging`, and InvalidVersion for what PEP 440 rejects."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from basewatch.errors import InvalidVersion
from basewatch.versions.pep440 import Pep440Comparator

PEP440 = Pep440Comparator()

# PEP 440's own example of the full ordering, lowest first
ORDERED = [
    "1.dev0",
    "1.0.dev456",
    "1.0a1",
    "1.0a2.dev456",
    "1.0a12.dev456",
    "1.0a12",
    "1.0b1.dev456",
    "1.0b2",
    "1.0b2.post345.dev456",
    "1.0b2.post345",
    "1.0rc1.dev456",
    "1.0rc1",
    "1.0",
    "1.0+abc.5",
    "1.0+abc.7",
    "1.0+5",
    "1.0.post456.dev34",
    "1.0.post456",
    "1.0.15",
    "1.1.dev1",
    "1!0.1",
]


def test_pep440_example_order() -> None:
    for lower, higher in itertools.pairwise(ORDERED):
        assert PEP440.compare(lower, higher) == -1, (lower, higher)
        assert PEP440.compare(higher, lower) == 1
    assert sorted(reversed(ORDERED), key=PEP440.key) == ORDERED


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("1.0", "1.0.0"),
        ("1.0a1", "1.0alpha1"),
        ("1.0-1", "1.0.post1"),
        ("v1.0", "1.0"),
        (" 1.0 ", "1.0"),
        ("1.0RC1", "1.0rc1"),
    ],
)
def test_normalised_forms_are_equal(a: str, b: str) -> None:
    assert PEP440.compare(a, b) == 0
    assert PEP440.key(a) == PEP440.key(b)


@pytest.mark.parametrize("version", ["", "1.0-SNAPSHOT", "french toast", "1.0+", "2.7.x", "1..0"])
def test_invalid(version: str) -> None:
    with pytest.raises(InvalidVersion) as err:
        PEP440.key(version)
    assert repr(version) in str(err.value)
    assert "PyPI" in str(err.value)


VERSIONS = st.builds(
    lambda epoch, release, pre, post, dev, local: (
        epoch + ".".join(map(str, release)) + pre + post + dev + local
    ),
    st.sampled_from(["", "", "1!"]),
    st.lists(st.integers(0, 12), min_size=1, max_size=4),
    st.sampled_from(["", "a1", "b2", "rc1", "rc10"]),
    st.sampled_from(["", ".post1", ".post0"]),
    st.sampled_from(["", ".dev0", ".dev3"]),
    st.sampled_from(["", "+local.1", "+1"]),
)


@settings(max_examples=500, deadline=None)
@given(VERSIONS, VERSIONS, VERSIONS)
def test_total_order(a: str, b: str, c: str) -> None:
    ab = PEP440.compare(a, b)
    assert PEP440.compare(b, a) == -ab
    assert PEP440.compare(a, a) == 0
    ka, kb = PEP440.key(a), PEP440.key(b)
    assert ((ka > kb) - (ka < kb)) == ab
    assert (ka == kb) == (ab == 0)
    low, mid, high = sorted((a, b, c), key=PEP440.key)
    assert PEP440.compare(low, mid) <= 0
    assert PEP440.compare(mid, high) <= 0
    assert PEP440.compare(low, high) <= 0
