"""What `compare`, `advise` and `scan` say of packages no advisory source covers (rpm on Fedora):
not "no packages identified", and no hint that a database update would check them."""

from __future__ import annotations

import pytest

from basewatch.advice.compare import NO_PACKAGES, Coverage, coverage, unchecked_of, why_unchecked
from basewatch.cli.scan import wants_newer_data
from basewatch.matching.evaluate import is_sourceless, scan_inventory
from basewatch.models import OSInfo
from basewatch.vulndb.sqlite import SqliteStore
from tests.unit.matching.test_evaluate import image_inventory, real_pypi_store

FEDORA = OSInfo(id="fedora", version_id="39", pretty_name="Fedora Linux 39")


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> SqliteStore:
    return real_pypi_store(tmp_path_factory)


def test_only_fedora_rpms_are_said_as_such(store: SqliteStore) -> None:
    scan = scan_inventory(image_inventory(FEDORA, pypi={}), store)
    unchecked = unchecked_of(scan)
    assert unchecked == ("fedora 39 (rpm)",)  # not "no packages identified": 129 rpms are there
    assert why_unchecked(unchecked) == "no advisory source for fedora 39 (rpm)"
    assert coverage(scan) is Coverage.NONE


def test_beside_checked_packages(store: SqliteStore) -> None:
    scan = scan_inventory(image_inventory(FEDORA), store)
    assert coverage(scan) is Coverage.PARTIAL
    assert why_unchecked(unchecked_of(scan)) == "no advisory source for fedora 39 (rpm)"


def test_reasons_of_every_kind_together() -> None:
    entries = ("Alpine:v3.20", "fedora 39 (rpm)", NO_PACKAGES)
    assert why_unchecked(entries) == (
        "no advisories for Alpine:v3.20; no advisory source for fedora 39 (rpm); "
        "no packages identified"
    )


@pytest.mark.parametrize(
    ("entry", "sourceless"),
    [
        ("fedora 39 (rpm)", True),
        ("unknown distribution (deb)", True),
        ("postmarketos (apk)", True),
        ("Debian (release unknown)", False),
        ("Alpine:v3.20", False),
        ("PyPI requests", False),
    ],
)
def test_sourceless_entries_are_told_apart(entry: str, sourceless: bool) -> None:
    assert is_sourceless(entry) is sourceless


def test_a_database_update_is_suggested_only_when_it_can_help() -> None:
    assert not wants_newer_data(())
    assert not wants_newer_data(("fedora 39 (rpm)",))
    assert wants_newer_data(("fedora 39 (rpm)", "Alpine:v3.20"))
    assert wants_newer_data(("PyPI requests",))
