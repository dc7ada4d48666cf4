"""Imports and updates say which (ecosystem, package) pairs they changed, on the real OSV dumps
of ../shared/fixtures/osv (Go) and the real Alpine secdb files: exactly those whose advisories or
refusals differ, so a caller re-evaluates only the inventories that hold them."""

from __future__ import annotations

import io
import json
import sqlite3
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from basewatch.clock import FixedClock
from basewatch.vulndb.importer import ImportKind, import_paths
from basewatch.vulndb.model import Advisory
from basewatch.vulndb.names import normalize_name
from basewatch.vulndb.osv import MalformedRecord, modified_key, parse_json
from basewatch.vulndb.sqlite import CHANGE_LOG_DAYS, SqliteStore, rebuilding
from basewatch.vulndb.store import EVERYTHING, PackageKey
from basewatch.vulndb.update import update
from tests.fixtures import shared_fixture
from tests.unit.vulndb.test_incremental import NEW, Record, bucket, first_then_upstream_moves
from tests.unit.vulndb.test_update import T1, T2, Feed, Served, serve

# Records of Go.zip naming two packages and three (their pairs are what changing them changes).
TWO = "GO-2020-0017"  # github.com/dgrijalva/jwt-go and .../jwt-go/v4
THREE = "GO-2020-0032"  # github.com/goadesign/goa, goa.design/goa, goa.design/goa/v3


def go_records() -> dict[str, dict[str, Any]]:
    """Go.zip's records by file name, as JSON documents."""
    with zipfile.ZipFile(shared_fixture("osv/Go.zip")) as archive:
        return {
            info.filename: json.loads(archive.read(info))
            for info in archive.infolist()
            if info.filename.endswith(".json")
        }


def zipped(records: dict[str, dict[str, Any]]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, record in records.items():
            archive.writestr(name, json.dumps(record))
    return buffer.getvalue()


def pairs_of(*documents: dict[str, Any]) -> frozenset[PackageKey]:
    """The packages records name, read by the OSV parser alone (the store plays no part)."""
    pairs: set[PackageKey] = set()
    for document in documents:
        try:
            record = parse_json(json.dumps(document))
        except MalformedRecord as exc:
            pairs.update((e, normalize_name(e, n)) for e, n in exc.packages)
            continue
        if isinstance(record, Advisory):
            pairs.update(
                (a.ecosystem, normalize_name(a.ecosystem, a.name)) for a in record.affected
            )
    return frozenset(pairs)


def held(db: Path) -> frozenset[PackageKey]:
    """Every package the database has advisories or refusals for."""
    with SqliteStore.open(db) as store:
        rows = store._read(
            "SELECT ecosystem, name FROM affected UNION SELECT ecosystem, name FROM refused"
        )
    return frozenset((str(e), str(n)) for e, n in rows)


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=10) as http:
        yield http


def test_import_reports_every_package_then_none_for_the_same_data(tmp_path: Path) -> None:
    db = tmp_path / "vuln.db"
    dump = shared_fixture("osv/Go.zip")
    with rebuilding(db) as store:
        (first,) = import_paths(store, [dump], now=T1)
    expected = pairs_of(*go_records().values())
    assert len(expected) > 1000
    assert first.changed == expected == held(db)

    with rebuilding(db) as store:
        (again,) = import_paths(store, [dump], now=T2)
    assert again.records == first.records  # every record was written again...
    assert again.changed == frozenset()  # ...and none differs


def test_import_of_a_modified_record_reports_its_packages(tmp_path: Path) -> None:
    db = tmp_path / "vuln.db"
    records = go_records()
    with rebuilding(db) as store:
        import_paths(store, [shared_fixture("osv/Go.zip")], now=T1)
    modified = {**records[f"{THREE}.json"], "modified": "2030-01-01T00:00:00Z", "summary": "new"}
    loose = tmp_path / f"{THREE}.json"
    loose.write_text(json.dumps(modified))
    with rebuilding(db) as store:
        (result,) = import_paths(store, [loose], now=T2)
    assert result.changed == pairs_of(modified)
    assert result.changed == {
        ("Go", "github.com/goadesign/goa"),
        ("Go", "goa.design/goa"),
        ("Go", "goa.design/goa/v3"),
    }


def test_a_refusal_changes_the_packages_it_names(tmp_path: Path) -> None:
    db = tmp_path / "vuln.db"
    broken = {
        "id": "GO-2099-0001",
        "modified": "2030-01-01T00:00:00Z",
        "affected": [
            {
                "package": {"ecosystem": "Go", "name": "example.com/broken"},
                "ranges": [{"type": "SEMVER", "events": "not a list"}],
            }
        ],
    }
    path = tmp_path / "broken.json"
    path.write_text(json.dumps(broken))
    with rebuilding(db) as store:
        (refused,) = import_paths(store, [path], now=T1)
    assert refused.malformed == 1
    assert refused.changed == {("Go", "example.com/broken")} == pairs_of(broken)
    with rebuilding(db) as store:
        (again,) = import_paths(store, [path], now=T2)
    assert again.changed == frozenset()


def test_secdb_reimport_then_a_removed_package(tmp_path: Path) -> None:
    db = tmp_path / "vuln.db"
    main = shared_fixture("alpine-secdb-2020/main.json")
    with rebuilding(db) as store:
        (first,) = import_paths(store, [main], now=T1)
    assert first.kind is ImportKind.SECDB
    assert first.changed == held(db)
    with rebuilding(db) as store:
        (again,) = import_paths(store, [main], now=T2)
    assert again.changed == frozenset()

    document = json.loads(main.read_text())
    names = {name for _, name in first.changed}
    dropped = next(p["pkg"]["name"] for p in document["packages"] if p["pkg"]["name"] in names)
    document["packages"] = [p for p in document["packages"] if p["pkg"]["name"] != dropped]
    smaller = tmp_path / "main.json"
    smaller.write_text(json.dumps(document))
    with rebuilding(db) as store:
        (result,) = import_paths(store, [smaller], now=T2)
    assert result.changed == {(first.sources[0].removeprefix("secdb:").split("/")[0], dropped)}


def test_kev_changes_no_package(tmp_path: Path) -> None:
    with rebuilding(tmp_path / "vuln.db") as store:
        (result,) = import_paths(
            store, [shared_fixture("kev/known_exploited_vulnerabilities.json")], now=T1
        )
    assert (result.kind, result.changed) == (ImportKind.KEV, frozenset())


def test_update_reports_what_each_dump_changed(tmp_path: Path, client: httpx.Client) -> None:
    db = tmp_path / "vuln.db"
    records = go_records()
    feed = Feed(files={"/Go/all.zip": Served(shared_fixture("osv/Go.zip").read_bytes())})
    with serve(feed) as base:
        first = update(db, ["Go"], base, client, now=T1, incremental=False)
        assert first.changed == pairs_of(*records.values()) == held(db)

        # Not modified (304): nothing.
        assert update(db, ["Go"], base, client, now=T2, incremental=False).changed == frozenset()

        # The same records in another zip (another ETag): the source is rebuilt, none differs.
        feed.files["/Go/all.zip"] = Served(zipped(records))
        same = update(db, ["Go"], base, client, now=T2, incremental=False)
        assert [r.changed for r in same.results] == [True]
        assert same.changed == frozenset()

        # One record modified: its packages.
        modified = {**records[f"{THREE}.json"], "modified": "2030-01-01T00:00:00Z"}
        modified["details"] = "a new description"
        feed.files["/Go/all.zip"] = Served(zipped({**records, f"{THREE}.json": modified}))
        report = update(db, ["Go"], base, client, now=T2, incremental=False)
        assert report.changed == pairs_of(modified)
        assert len(report.changed) == 3

        # One record gone from the dump: the packages it named.
        remaining = {name: r for name, r in records.items() if name != f"{TWO}.json"}
        remaining[f"{THREE}.json"] = modified
        feed.files["/Go/all.zip"] = Served(zipped(remaining))
        report = update(db, ["Go"], base, client, now=T2, incremental=False)
    assert report.changed == pairs_of(records[f"{TWO}.json"])
    assert report.changed == {
        ("Go", "github.com/dgrijalva/jwt-go"),
        ("Go", "github.com/dgrijalva/jwt-go/v4"),
    }
    (result,) = report.results
    assert result.changed_packages == report.changed


def test_incremental_update_reports_only_what_it_touched(tmp_path: Path) -> None:
    with zipfile.ZipFile(shared_fixture("osv/PyPI.zip")) as archive:
        records = sorted(
            (
                Record(data["id"], data["modified"], body)
                for info in archive.infolist()
                if info.filename.endswith(".json")
                for body in [archive.read(info)]
                for data in [json.loads(body)]
            ),
            key=lambda r: modified_key(r.modified),
            reverse=True,
        )
    with httpx.Client(timeout=10) as client:
        db, feed = first_then_upstream_moves(tmp_path, records, client)
        with serve(feed) as base:
            report = update(db, ["PyPI"], base, client, now=T2)
    (result,) = report.results
    assert result.fetched is not None  # incremental
    expected = pairs_of(*(json.loads(r.body) for r in records[:NEW]))
    assert expected
    assert report.changed == expected
    with serve(bucket(records)) as base, httpx.Client(timeout=10) as client:
        assert update(db, ["PyPI"], base, client, now=T2).changed == frozenset()


def test_the_change_log_tells_another_process_what_changed_since_it_looked(
    tmp_path: Path,
) -> None:
    """What each import changed is appended to the database's own log, in the same
    transaction: a reader that remembers the last entry it saw learns exactly the packages
    changed since, across the file swaps of `rebuilding`."""
    db = tmp_path / "vuln.db"
    records = go_records()
    with rebuilding(db) as store:
        import_paths(store, [shared_fixture("osv/Go.zip")], now=T1)
    with SqliteStore.open(db, readonly=True) as reader:
        seen, everything = reader.changes_since(0)
    assert seen > 0 and everything == pairs_of(*records.values())

    with rebuilding(db) as store:  # the same data again: nothing new in the log
        import_paths(store, [shared_fixture("osv/Go.zip")], now=T2)
    with SqliteStore.open(db, readonly=True) as reader:
        assert reader.changes_since(seen) == (seen, frozenset())

    modified = {**records[f"{THREE}.json"], "modified": "2030-01-01T00:00:00Z", "summary": "new"}
    loose = tmp_path / f"{THREE}.json"
    loose.write_text(json.dumps(modified))
    with rebuilding(db) as store:
        import_paths(store, [loose], now=T2)
    with SqliteStore.open(db, readonly=True) as reader:
        newest, changed = reader.changes_since(seen)
    assert newest == seen + 3
    assert changed == pairs_of(modified)


def test_the_change_log_forgets_old_entries_and_a_reader_that_missed_them_is_told(
    tmp_path: Path,
) -> None:
    """Entries older than `CHANGE_LOG_DAYS` go when the next change is logged, so the log stays
    bounded; a reader whose last entry is older than what was dropped gets `{EVERYTHING}` (it
    must re-evaluate all it holds), one that saw them gets exactly what changed since."""
    db = tmp_path / "vuln.db"
    records = go_records()
    clock = FixedClock(datetime(2026, 1, 1, tzinfo=UTC))
    with SqliteStore.open(db, readonly=False, clock=clock) as store:
        import_paths(store, [shared_fixture("osv/Go.zip")], now=T1)
        store.commit()
        seen, _ = store.changes_since(0)
        clock.advance(timedelta(days=CHANGE_LOG_DAYS - 1).total_seconds())
        modified = {**records[f"{TWO}.json"], "modified": "2030-01-01T00:00:00Z", "summary": "x"}
        (tmp_path / "two.json").write_text(json.dumps(modified))
        import_paths(store, [tmp_path / "two.json"], now=T2)
        store.commit()
        assert store.changes_since(0)[1] == pairs_of(*records.values())  # nothing dropped yet
        middle, _ = store.changes_since(0)

        clock.advance(timedelta(days=2).total_seconds())  # the first import is now too old
        modified = {**records[f"{THREE}.json"], "modified": "2030-01-01T00:00:00Z", "summary": "y"}
        (tmp_path / "three.json").write_text(json.dumps(modified))
        import_paths(store, [tmp_path / "three.json"], now=T2)
        store.commit()
        newest, changed = store.changes_since(middle)
        assert changed == pairs_of(modified)
        assert store.changes_since(0) == (newest, frozenset({EVERYTHING}))
        assert store.changes_since(seen - 1) == (newest, frozenset({EVERYTHING}))
        # the reader that had seen the whole first import missed nothing that was dropped
        assert store.changes_since(seen)[1] == pairs_of(records[f"{TWO}.json"], modified)
    with sqlite3.connect(db) as raw:
        (kept,) = raw.execute("SELECT count(*) FROM changes").fetchone()
    assert kept == len(pairs_of(records[f"{TWO}.json"])) + len(pairs_of(modified))
