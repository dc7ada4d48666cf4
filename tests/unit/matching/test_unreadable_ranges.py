"""Versions that cannot be ordered: counted and skipped, never a crash, and the package is
reported as not fully checked. Hostile versions are built here, in memory or in tmp_path.

The importer refuses advisory versions longer than 256 characters, so advisories with huge
versions reach the matcher here through a small in-memory VulnStore (records from any other
store, or from an older database, are not filtered that way); huge installed versions go
through the real database and, once, through the real CLI."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path

import pytest

from basewatch.matching.matcher import MatchOutcome, match_inventory
from basewatch.models import ImageInfo, Inventory, Package, PackageType, SourceType
from basewatch.vulndb.importer import import_paths
from basewatch.vulndb.model import (
    Advisory,
    Affected,
    AffectedRange,
    Enrichment,
    EventKind,
    RangeEvent,
    SourceStatus,
)
from basewatch.vulndb.sqlite import SqliteStore, rebuilding
from basewatch.vulndb.store import VulnStore
from tests.bounded import run_bounded
from tests.imagebuild import build_image, file, write_oci_layout

HUGE = "1" + "0" * 4999  # 5,000 digits: beyond CPython's int() string-conversion limit


class RecordsStore(VulnStore):
    """A VulnStore over advisories held in memory, keyed by exact ecosystem and name."""

    def __init__(self, advisories: Iterable[Advisory]) -> None:
        self._advisories = tuple(advisories)

    def affected(self, ecosystem: str, name: str) -> Sequence[tuple[Advisory, Affected]]:
        return [
            (a, entry)
            for a in self._advisories
            for entry in a.affected
            if (entry.ecosystem, entry.name) == (ecosystem, name)
        ]

    def enrichment(self, cves: Iterable[str]) -> dict[str, Enrichment]:
        return {}

    def sources(self) -> Sequence[SourceStatus]:
        return ()

    def ecosystems(self) -> Sequence[str]:
        return sorted({e.ecosystem for a in self._advisories for e in a.affected})

    def refused(self, ecosystem: str, name: str) -> Sequence[str]:
        return ()


def advisory(id_: str, ecosystem: str, *ranges: tuple[str, ...]) -> Advisory:
    """An advisory for package "demo": each range is introduced at 0 and fixed at its versions."""
    built = tuple(
        AffectedRange(
            "ECOSYSTEM",
            (RangeEvent(EventKind.INTRODUCED, "0"), *(RangeEvent(EventKind.FIXED, v) for v in r)),
        )
        for r in ranges or ((),)
    )
    return Advisory(id_, affected=(Affected(ecosystem, "demo", ranges=built),))


def inventory(*packages: Package) -> Inventory:
    return Inventory(ImageInfo("test", SourceType.DIR), None, packages)


def match(store: RecordsStore | SqliteStore, *packages: Package) -> MatchOutcome:
    return match_inventory(inventory(*packages), store)


# (ecosystem, package type, installed, a fixed version with a 5,000-digit number in it); the
# matcher goes by ecosystem, so crates and NuGet packages borrow a type basewatch has
ECOSYSTEMS = [
    ("Debian:12", PackageType.DEB, "1.0-1", f"1.0-{HUGE}"),
    ("Alpine:v3.20", PackageType.APK, "1.0-r0", f"1.{HUGE}-r0"),
    ("AlmaLinux:9", PackageType.RPM, "1.0-1.el9", f"1.{HUGE}-1.el9"),
    ("PyPI", PackageType.PYPI, "1.0", f"1.{HUGE}"),
    ("crates.io", PackageType.NPM, "1.0.0", f"{HUGE}.0.0"),
    ("npm", PackageType.NPM, "1.0.0", f"{HUGE}.0.0"),
    ("Go", PackageType.GOLANG, "v1.0.0", f"v1.{HUGE}.0"),
    ("Maven", PackageType.MAVEN, "1.0", f"1.{HUGE}"),
    ("NuGet", PackageType.NPM, "1.0.0", f"1.{HUGE}"),
]
# Where the ecosystem's own tool orders such a number, it is ordered: the installed version is
# below the fix. apk reads a number of 18 digits or more as an invalid token, worth less than 1.
# PEP 440 (pip), npm and NuGet cannot order it: the advisory is skipped and counted.
ORDERED = {"Debian:12", "AlmaLinux:9", "crates.io", "Go", "Maven"}
BELOW = {"Alpine:v3.20"}


@pytest.mark.parametrize(("ecosystem", "kind", "installed", "fixed"), ECOSYSTEMS)
def test_a_five_thousand_digit_fixed_version_never_breaks_the_scan(
    ecosystem: str, kind: PackageType, installed: str, fixed: str
) -> None:
    store = RecordsStore(
        [advisory("TEST-HUGE", ecosystem, (fixed,)), advisory("TEST-ALL", ecosystem)]
    )
    outcome = match(store, Package("demo", installed, kind, ecosystem=ecosystem))
    ids = {f.id for f in outcome.findings}
    assert "TEST-ALL" in ids  # the package's other advisories are matched all the same
    if ecosystem in ORDERED | BELOW:
        assert ("TEST-HUGE" in ids) is (ecosystem in ORDERED)
        assert outcome.unchecked == [] and outcome.unreadable_ranges == 0
        return
    assert "TEST-HUGE" not in ids
    assert outcome.unreadable_ranges == 1
    assert outcome.unchecked == [f"{ecosystem} demo"]
    (warning,) = [w for w in outcome.warnings if "not fully checked" in w]
    assert warning.startswith(f"demo {installed}: not fully checked: 1 advisory has versions")
    assert "TEST-HUGE" in warning
    assert len(warning) < 400  # the version is not repeated in full


def test_an_unreadable_range_does_not_hide_a_readable_one() -> None:
    store = RecordsStore([advisory("PYSEC-TWO-RANGES", "PyPI", (f"2.{HUGE}",), ("1.5",))])
    affected = match(store, Package("demo", "1.0", PackageType.PYPI, ecosystem="PyPI"))
    assert [(f.id, f.fixed_version) for f in affected.findings] == [("PYSEC-TWO-RANGES", "1.5")]
    assert affected.unchecked == []  # one range says affected: that is the answer
    fixed = match(store, Package("demo", "1.5", PackageType.PYPI, ecosystem="PyPI"))
    assert fixed.findings == []
    assert fixed.unchecked == ["PyPI demo"]  # the other range could still apply
    assert fixed.unreadable_ranges == 1


def test_an_unreadable_fix_does_not_hide_the_fix_of_a_listed_version() -> None:
    entry = Affected(
        "PyPI",
        "demo",
        ranges=(
            AffectedRange(
                "ECOSYSTEM",
                (
                    RangeEvent(EventKind.INTRODUCED, "0"),
                    RangeEvent(EventKind.FIXED, f"9.{HUGE}"),
                    RangeEvent(EventKind.FIXED, "1.5"),
                ),
            ),
        ),
        versions=("1.0",),
    )
    store = RecordsStore([Advisory("PYSEC-LISTED", affected=(entry,))])
    (finding,) = match(store, Package("demo", "1.0", PackageType.PYPI, ecosystem="PyPI")).findings
    assert finding.fixed_version == "1.5"


@pytest.fixture
def real_store(tmp_path: Path) -> SqliteStore:
    record = {
        "id": "PYSEC-X",
        "modified": "2024-01-01T00:00:00Z",
        "affected": [
            {
                "package": {"ecosystem": "PyPI", "name": "demo"},
                "ranges": [
                    {"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "1.5"}]}
                ],
            },
            {
                "package": {"ecosystem": "Debian:12", "name": "demo"},
                "ranges": [
                    {"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "2.0"}]}
                ],
            },
        ],
    }
    (tmp_path / "PYSEC-X.json").write_text(json.dumps(record))
    with rebuilding(tmp_path / "vuln.db") as writable:
        import_paths(writable, [tmp_path / "PYSEC-X.json"])
    return SqliteStore.open(tmp_path / "vuln.db")


def test_an_installed_version_that_cannot_be_ordered_is_unchecked(real_store: SqliteStore) -> None:
    outcome = match(real_store, Package("demo", f"1.{HUGE}", PackageType.PYPI, ecosystem="PyPI"))
    assert outcome.findings == []
    assert outcome.unchecked == ["PyPI demo"]
    (warning,) = outcome.warnings
    assert "not matched" in warning and len(warning) < 600


def test_a_huge_installed_version_is_ordered_where_the_tool_orders_it(
    real_store: SqliteStore,
) -> None:
    below = Package("demo", f"1.{HUGE}", PackageType.DEB, ecosystem="Debian:12")
    above = Package("demo", f"{HUGE}.0", PackageType.DEB, ecosystem="Debian:12")
    assert [f.id for f in match(real_store, below).findings] == ["PYSEC-X"]
    assert match(real_store, above).findings == []


APK_DB = f"P:demo\nV:{HUGE}.0-r0\nA:x86_64\no:demo\n\n"
ALPINE_RELEASE = 'ID=alpine\nVERSION_ID=3.20.3\nPRETTY_NAME="Alpine Linux v3.20"\n'


def test_scanning_a_package_with_a_huge_version_ends_cleanly(tmp_path: Path) -> None:
    image = build_image(
        [[file("etc/os-release", ALPINE_RELEASE), file("lib/apk/db/installed", APK_DB)]]
    )
    layout = write_oci_layout(tmp_path / "layout", [(image, "")])
    record = {
        "id": "ALPINE-CVE-2024-0001",
        "modified": "2024-01-01T00:00:00Z",
        "affected": [
            {
                "package": {"ecosystem": "Alpine:v3.20", "name": "demo"},
                "ranges": [
                    {"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "1.0-r1"}]}
                ],
            }
        ],
    }
    (tmp_path / "record.json").write_text(json.dumps(record))
    with rebuilding(tmp_path / "vuln.db") as writable:
        import_paths(writable, [tmp_path / "record.json"])
    result = run_bounded(
        ["scan", f"oci:{layout}", "--db", str(tmp_path / "vuln.db"), "--offline", "--no-cache"],
        timeout=60,
        memory_mb=1024,
    )
    result.check_refused(0)
    # as apk orders it: a first number of 5,000 digits is an invalid token, below 1.0-r1
    assert "ALPINE-CVE-2024-0001" in result.stdout
