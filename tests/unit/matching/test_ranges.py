"""OSV range semantics, on the real comparators."""

from __future__ import annotations

import pytest

from basewatch.matching.ranges import evaluate
from basewatch.versions.base import Comparator
from basewatch.versions.registry import comparator_for
from basewatch.vulndb.model import Affected, AffectedRange, EventKind, RangeEvent

INTRO, FIX, LAST, LIMIT = (
    EventKind.INTRODUCED,
    EventKind.FIXED,
    EventKind.LAST_AFFECTED,
    EventKind.LIMIT,
)


def comparator(ecosystem: str) -> Comparator:
    found = comparator_for(ecosystem)
    assert found is not None
    return found


def entry(
    *events: tuple[EventKind, str], versions: tuple[str, ...] = (), kind: str = "ECOSYSTEM"
) -> Affected:
    return Affected(
        "PyPI",
        "demo",
        ranges=(AffectedRange(kind, tuple(RangeEvent(k, v) for k, v in events)),),
        versions=versions,
    )


PYPI_CASES = [
    # (events, installed, affected, fixed)
    (((INTRO, "0"), (FIX, "1.5")), "1.0", True, "1.5"),
    (((INTRO, "0"), (FIX, "1.5")), "1.5", False, ""),
    (((INTRO, "0"), (FIX, "1.5")), "2.0", False, ""),
    (((INTRO, "1.2"), (FIX, "1.5")), "1.1", False, ""),
    (((INTRO, "1.2"), (FIX, "1.5")), "1.2", True, "1.5"),
    (((INTRO, "0"), (LAST, "1.4")), "1.4", True, ""),
    (((INTRO, "0"), (LAST, "1.4")), "1.4.1", False, ""),
    (((INTRO, "0"), (FIX, "1.5"), (INTRO, "2.0"), (FIX, "2.3")), "1.9", False, ""),
    (((INTRO, "0"), (FIX, "1.5"), (INTRO, "2.0"), (FIX, "2.3")), "2.1", True, "2.3"),
    (((INTRO, "0"), (FIX, "1.5"), (INTRO, "2.0"), (FIX, "2.3")), "1.0", True, "1.5"),
    (((INTRO, "0"), (LIMIT, "2.0")), "2.0", False, ""),
    (((INTRO, "0"), (LIMIT, "2.0")), "1.99", True, ""),
    (((INTRO, "0"),), "99.0", True, ""),
    (((INTRO, "1.0rc1"), (FIX, "1.0")), "1.0rc2", True, "1.0"),
]


@pytest.mark.parametrize(("events", "installed", "affected", "fixed"), PYPI_CASES)
def test_osv_events_on_pep440(
    events: tuple[tuple[EventKind, str], ...], installed: str, affected: bool, fixed: str
) -> None:
    verdict = evaluate(installed, entry(*events), comparator("PyPI"))
    assert (verdict.affected, verdict.fixed) == (affected, fixed)


def test_unsorted_events_are_ordered_by_version() -> None:
    shuffled = entry((FIX, "2.3"), (INTRO, "2.0"), (FIX, "1.5"), (INTRO, "0"))
    assert evaluate("2.1", shuffled, comparator("PyPI")).fixed == "2.3"


def test_versions_list_matches_exactly_and_git_ranges_are_ignored() -> None:
    listed = entry((INTRO, "abc123"), (FIX, "def456"), versions=("0.9",), kind="GIT")
    assert evaluate("0.9", listed, comparator("PyPI")).affected
    assert not evaluate("0.9.1", listed, comparator("PyPI")).affected


def test_dpkg_tilde_and_epochs() -> None:
    debian = comparator("Debian:12")
    fixed_in = entry((INTRO, "0"), (FIX, "3.0.11-1~deb12u1"))
    assert evaluate("3.0.9-1", fixed_in, debian).affected
    assert not evaluate("3.0.11-1~deb12u1", fixed_in, debian).affected
    assert not evaluate("3.0.11-1", fixed_in, debian).affected
    assert evaluate("3.0.11-1~deb12u0", fixed_in, debian).affected
    epoch = entry((INTRO, "0"), (FIX, "1:2.0-1"))
    assert evaluate("9.9-1", epoch, debian).affected  # no epoch is epoch 0


def test_unreadable_versions_in_a_range_do_not_match() -> None:
    verdict = evaluate("1.0", entry((INTRO, "0"), (FIX, "not a version!")), comparator("PyPI"))
    assert not verdict.affected
    assert verdict.unreadable
