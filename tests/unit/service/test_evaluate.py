"""Evaluating stored inventories: only changed findings are written, the lookups of a batch are
shared, and the inventories holding any changed package are found in a few queries. On the
embedded SQLite and a real PostgreSQL, with advisories imported into a real vulnerability
database."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from basewatch.clock import FixedClock
from basewatch.jobs.db import import_files
from basewatch.jobs.seams import SqliteVulnData
from basewatch.matching.matcher import MatchCache, match_inventory
from basewatch.models import Inventory, Package, PackageType
from basewatch.service.config import ServeSettings
from basewatch.service.db import open_engine, sessions, upgrade
from basewatch.service.evaluate import Matcher, evaluate_image
from basewatch.service.inventories import SqlInventoryStore
from basewatch.service.models import Event, FindingCounts, FindingId, ImageFinding
from basewatch.service.reevaluate import Reevaluator
from basewatch.service.watcher import image_row
from basewatch.settings import Settings
from tests.unit.report.conftest import make_inventory

D1 = "sha256:" + "1" * 64
D2 = "sha256:" + "2" * 64
DAY = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
CURL = Package("curl", "7.88.1-10", PackageType.DEB, source_name="curl", ecosystem="Debian:12")
LIBCURL = Package(
    "libcurl4", "7.88.1-10", PackageType.DEB, source_name="curl", ecosystem="Debian:12"
)
REQUESTS = Package("requests", "2.31.0", PackageType.PYPI, ecosystem="PyPI")
ZOPE = Package("zope.interface", "6.0", PackageType.PYPI, ecosystem="PyPI")


def inventory_with(*packages: Package) -> Inventory:
    return dataclasses.replace(make_inventory(), packages=packages)


@dataclass
class Store:
    engine: Engine
    make: sessionmaker[Session]
    core: Settings
    osv: Path

    def publish(self, *records: dict[str, Any]) -> None:
        """Write `records` as OSV files and import them (what `basewatch db import` does)."""
        self.osv.mkdir(parents=True, exist_ok=True)
        for record in records:
            (self.osv / f"{record['id']}.json").write_text(json.dumps(record))
        import_files([self.osv], self.core)

    def evaluate(self, digest: str, inventory: Inventory, when: datetime) -> Any:
        vulns = SqliteVulnData(self.core.db_path, self.core.osv_url)
        with self.make() as session, Matcher(vulns) as matcher:
            change = evaluate_image(session, digest, inventory, matcher, FixedClock(when))
            session.commit()
        return change

    def rows(self, digest: str) -> dict[tuple[str, str], ImageFinding]:
        with self.make() as session:
            found = session.scalars(select(ImageFinding).where(ImageFinding.digest == digest))
            return {(row.advisory, row.package): row for row in found}

    def ids(self, digest: str) -> set[tuple[str, str]]:
        with self.make() as session:
            found = session.execute(
                select(FindingId.id, FindingId.advisory).where(FindingId.digest == digest)
            )
            return {(str(i), str(a)) for i, a in found}

    def history(self, digest: str) -> list[tuple[datetime, int, int, int]]:
        """(when, medium, high, fixable) of each row of the image's findings over time."""
        with self.make() as session:
            rows = session.scalars(
                select(FindingCounts)
                .where(FindingCounts.digest == digest)
                .order_by(FindingCounts.at)
            )
            return [(r.at, r.medium, r.high, r.fixable) for r in rows]

    def events(self) -> list[Event]:
        with self.make() as session:
            return list(session.scalars(select(Event).order_by(Event.id)))


@pytest.fixture
def store(database_url: str, tmp_path: Path) -> Iterator[Store]:
    engine = open_engine(database_url)
    upgrade(engine)
    core = Settings.load(environ={}, cache_dir=tmp_path / "cache", read_config=False)
    try:
        yield Store(engine, sessions(engine), core, tmp_path / "osv")
    finally:
        engine.dispose()


def curl_record(
    record_id: str, fixed: str | None, aliases: list[str], severity: str = "medium"
) -> dict[str, Any]:
    events: list[dict[str, str]] = [{"introduced": "0"}]
    if fixed:
        events.append({"fixed": fixed})
    return {
        "id": record_id,
        "aliases": aliases,
        "modified": "2026-11-01T00:00:00Z",
        "affected": [
            {
                "package": {"ecosystem": "Debian:12", "name": "curl"},
                "ranges": [{"type": "ECOSYSTEM", "events": events}],
                "ecosystem_specific": {"urgency": severity},
            }
        ],
    }


def stored_image(store: Store, digest: str, inventory: Inventory) -> None:
    SqlInventoryStore(store.make).put(digest, inventory)
    with store.make.begin() as session:
        session.add(image_row(digest, digest, "127.0.0.1:5000/app", inventory, FixedClock(DAY)))


def test_by_packages_finds_every_inventory_holding_any_of_the_packages(store: Store) -> None:
    inventories = SqlInventoryStore(store.make)
    inventories.put(D1, inventory_with(LIBCURL, REQUESTS))
    inventories.put(D2, inventory_with(ZOPE))
    assert inventories.by_packages([("Debian:12", "curl")]) == {D1}  # advisories name sources
    assert inventories.by_packages([("PyPI", "Zope.Interface"), ("PyPI", "requests")]) == {
        D1,
        D2,
    }
    assert inventories.by_packages([("Debian:11", "curl"), ("PyPI", "flask")]) == set()
    assert inventories.by_packages([]) == set()
    # more names than one IN list holds: still every match
    many = [("PyPI", f"package-{n}") for n in range(1200)] + [("PyPI", "zope-interface")]
    assert inventories.by_packages(many) == {D2}


def test_only_what_changed_is_written_and_a_finding_keeps_when_it_was_first_seen(
    store: Store,
) -> None:
    inventory = inventory_with(CURL, LIBCURL)
    stored_image(store, D1, inventory)
    store.publish(curl_record("DEBIAN-CVE-2099-0001", None, ["CVE-2099-0001"]))
    first = store.evaluate(D1, inventory, DAY)
    assert first.baseline and first.new == sorted(
        [("CVE-2099-0001", "curl", "7.88.1-10"), ("CVE-2099-0001", "libcurl4", "7.88.1-10")]
    )
    rows = store.rows(D1)
    assert set(rows) == {("CVE-2099-0001", "curl"), ("CVE-2099-0001", "libcurl4")}
    assert {r.fixed_version for r in rows.values()} == {""}
    assert {r.severity for r in rows.values()} == {"medium"}
    assert store.ids(D1) == {
        ("CVE-2099-0001", "CVE-2099-0001"),
        ("DEBIAN-CVE-2099-0001", "CVE-2099-0001"),
    }
    assert store.events() == []  # the first evaluation is the baseline

    # the fix becomes known, the urgency rises and an alias is replaced by another
    later = DAY + timedelta(days=1)
    store.publish(
        curl_record("DEBIAN-CVE-2099-0001", "7.88.1-11", ["CVE-2099-0001", "GHSA-test"], "high")
    )
    change = store.evaluate(D1, inventory, later)
    assert change.new == [] and change.fixed == [] and len(change.fixable) == 2
    rows = store.rows(D1)
    assert {r.fixed_version for r in rows.values()} == {"7.88.1-11"}
    assert {r.severity for r in rows.values()} == {"high"}
    assert {tuple(r.aliases) for r in rows.values()} == {("DEBIAN-CVE-2099-0001", "GHSA-test")}
    assert {r.first_seen for r in rows.values()} == {DAY}  # updated in place, not replaced
    assert ("GHSA-test", "CVE-2099-0001") in store.ids(D1)
    (fixable,) = store.events()
    assert fixable.type == "findings.fixable" and fixable.severity == "high"

    # a second advisory arrives and the first is fixed in the installed version
    store.publish(
        curl_record("DEBIAN-CVE-2099-0001", "7.88.1-10", ["CVE-2099-0001"]),
        curl_record("DEBIAN-CVE-2099-0002", None, ["CVE-2099-0002"]),
    )
    change = store.evaluate(D1, inventory, later + timedelta(days=1))
    assert {k[0] for k in change.new} == {"CVE-2099-0002"}
    assert {k[0] for k in change.fixed} == {"CVE-2099-0001"}
    assert set(store.rows(D1)) == {("CVE-2099-0002", "curl"), ("CVE-2099-0002", "libcurl4")}
    assert {i for i, _ in store.ids(D1)} == {"CVE-2099-0002", "DEBIAN-CVE-2099-0002"}
    assert [e.type for e in store.events()] == [
        "findings.fixable",
        "findings.new",
        "findings.fixed",
    ]

    again = store.evaluate(D1, inventory, later + timedelta(days=2))  # nothing changed
    assert (again.new, again.fixed, again.fixable, again.kev) == ([], [], [], [])
    assert len(store.events()) == 3
    # the counts over time: a row for each evaluation that changed them, none for the last
    assert store.history(D1) == [
        (DAY, 2, 0, 0),
        (later, 0, 2, 2),
        (later + timedelta(days=1), 2, 0, 0),
    ]


def test_a_shared_cache_gives_each_package_its_own_findings(store: Store) -> None:
    store.publish(
        curl_record("DEBIAN-CVE-2099-0001", "7.88.1-11", ["CVE-2099-0001"]),
        curl_record("DEBIAN-CVE-2099-0003", None, ["CVE-2099-0003"], "low"),
    )
    older = dataclasses.replace(LIBCURL, version="7.74.0-1", source_version="7.74.0-1")
    inventories = [inventory_with(CURL, LIBCURL), inventory_with(LIBCURL), inventory_with(older)]
    vulns = SqliteVulnData(store.core.db_path, store.core.osv_url)
    cache = MatchCache()
    with vulns.open() as opened:
        alone = [match_inventory(i, opened) for i in inventories]
        shared = [match_inventory(i, opened, cache) for i in inventories]
    assert [o.findings for o in shared] == [o.findings for o in alone]
    assert [len(o.findings) for o in shared] == [4, 2, 2]
    for outcome, inventory in zip(shared, inventories, strict=True):
        assert {id(f.package) for f in outcome.findings} <= {id(p) for p in inventory.packages}
    assert len(cache.affected) == 1  # one lookup of curl's advisories for all three
    assert len(cache.verdicts) == 2  # curl 7.88.1-10 (two packages, one verdict), 7.74.0-1


def test_a_database_replaced_by_another_one_re_matches_every_image(
    store: Store, database_url: str, tmp_path: Path
) -> None:
    """A log that went backwards is another database's (the file deleted and imported
    anew): what changed since the bookmark cannot be known, so every image is matched again."""
    settings = ServeSettings.load(
        environ={"HOME": str(tmp_path)},
        default_vulndb=store.core.db_path,
        flags={"database": database_url},
    )
    curl_only = inventory_with(CURL)
    stored_image(store, D1, curl_only)
    stored_image(store, D2, inventory_with(REQUESTS))  # holds no package ever changed
    store.publish(
        curl_record("DEBIAN-CVE-2099-0001", None, ["CVE-2099-0001"]),
        curl_record("DEBIAN-CVE-2099-0002", None, ["CVE-2099-0002"]),
    )
    reevaluator = Reevaluator(store.make, settings, store.core, FixedClock(DAY))
    first = reevaluator.check()
    assert set(first.images) == {D1}
    assert reevaluator.check().images == {}  # nothing new since

    store.core.db_path.unlink()
    for name in list(store.osv.iterdir()):
        name.unlink()
    store.publish(curl_record("DEBIAN-CVE-2099-0002", None, ["CVE-2099-0002"]))
    replaced = reevaluator.check()
    assert set(replaced.images) == {D1, D2}
    assert [k[0] for k in replaced.images[D1].fixed] == ["CVE-2099-0001"]
    assert reevaluator.check().images == {}
