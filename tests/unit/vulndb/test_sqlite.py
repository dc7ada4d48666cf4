from __future__ import annotations

import hashlib
import json
import sqlite3
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from basewatch.clock import FixedClock
from basewatch.errors import DatabaseError, Remedy
from basewatch.vulndb.importer import import_paths
from basewatch.vulndb.model import (
    Advisory,
    Affected,
    AffectedRange,
    EventKind,
    RangeEvent,
    SourceStatus,
)
from basewatch.vulndb.osv import Withdrawn
from basewatch.vulndb.sqlite import SCHEMA_VERSION, SqliteStore, rebuilding
from basewatch.vulndb.store import VulnStore
from tests.fixtures import shared_fixture


def fixed_range(fixed: str) -> AffectedRange:
    return AffectedRange(
        "ECOSYSTEM", (RangeEvent(EventKind.INTRODUCED, "0"), RangeEvent(EventKind.FIXED, fixed))
    )


def advisory(
    record_id: str = "PYSEC-1",
    modified: str = "2024-01-01T00:00:00Z",
    summary: str = "",
    ecosystem: str = "PyPI",
    name: str = "Demo_Pkg",
    fixed: str = "1.0",
    aliases: tuple[str, ...] = ("CVE-2024-0001",),
) -> Advisory:
    return Advisory(
        id=record_id,
        aliases=aliases,
        upstream=("UP-1",),
        summary=summary,
        details="details",
        severity=(("CVSS_V3", "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"),),
        database_severity="HIGH",
        published="2023-12-01T00:00:00Z",
        modified=modified,
        references=("https://example.invalid/a",),
        affected=(
            Affected(
                ecosystem=ecosystem,
                name=name,
                ranges=(fixed_range(fixed),),
                versions=("0.9",),
                severity=(("Debian", "low"),),
                status="",
            ),
        ),
    )


@pytest.fixture
def store(tmp_path: Path) -> SqliteStore:
    return SqliteStore.open(tmp_path / "vuln.db", readonly=False)


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_is_a_vulnstore(store: SqliteStore) -> None:
    seam: VulnStore = store
    assert seam.sources() == []


def test_missing_database_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(DatabaseError) as caught:
        SqliteStore.open(tmp_path / "absent.db")
    message = str(caught.value)
    assert "no vulnerability database at" in message
    # what to do is a remedy, phrased by the CLI or the API, not a command in the message
    assert caught.value.remedy is Remedy.CREATE_DATABASE
    assert caught.value.path == str(tmp_path / "absent.db")
    assert "basewatch" not in message


def test_not_a_database(tmp_path: Path) -> None:
    path = tmp_path / "vuln.db"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(DatabaseError, match="is not a basewatch vulnerability database"):
        SqliteStore.open(path)


def test_foreign_sqlite_file(tmp_path: Path) -> None:
    path = tmp_path / "vuln.db"
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE other (x)")
    connection.close()
    with pytest.raises(DatabaseError, match="is not a basewatch vulnerability database"):
        SqliteStore.open(path)


def test_other_schema_version(tmp_path: Path) -> None:
    path = tmp_path / "vuln.db"
    SqliteStore.open(path, readonly=False).close()
    with sqlite3.connect(path) as connection:
        connection.execute("UPDATE meta SET value = '999' WHERE key = 'schema_version'")
    connection.close()
    with pytest.raises(DatabaseError, match=f"schema 999, this basewatch uses {SCHEMA_VERSION}"):
        SqliteStore.open(path)


def test_round_trip(store: SqliteStore) -> None:
    original = advisory()
    counts = store.write_records([("osv:PyPI", original)])
    store.commit()
    assert (counts.written, counts.skipped, counts.withdrawn) == (1, 0, 0)
    # PEP 503: the store finds "Demo_Pkg" under any spelling of the name
    for spelling in ("demo-pkg", "DEMO.pkg", "Demo_Pkg", "demo__pkg"):
        ((found, entry),) = store.affected("PyPI", spelling)
        assert found == replace(original, affected=())
        assert entry == original.affected[0]
    assert store.affected("npm", "demo-pkg") == []
    assert store.advisory("PYSEC-1") == original
    assert store.ecosystems() == ["PyPI"]
    assert store.ids_for("CVE-2024-0001") == ("PYSEC-1",)
    assert store.ids_for("UP-1") == ("PYSEC-1",)
    assert store.ids_for("PYSEC-1") == ("PYSEC-1",)
    assert store.count_advisories() == 1


def test_later_modified_wins(store: SqliteStore) -> None:
    store.write_records([("osv:PyPI", advisory(summary="first", fixed="1.0"))])
    counts = store.write_records(
        [("osv:PyPI", advisory(modified="2023-01-01T00:00:00Z", summary="older", fixed="0.5"))]
    )
    assert counts.skipped == 1
    assert store.advisory("PYSEC-1").summary == "first"  # type: ignore[union-attr]
    store.write_records(
        [("osv:PyPI", advisory(modified="2024-06-01T00:00:00.5Z", summary="newer", fixed="2.0"))]
    )
    stored = store.advisory("PYSEC-1")
    assert stored is not None
    assert stored.summary == "newer"
    assert stored.affected[0].ranges == (fixed_range("2.0"),)  # the old entry is gone
    # the same time replaces too: a re-import of the same file is idempotent
    store.write_records(
        [("osv:PyPI", advisory(modified="2024-06-01T00:00:00.500Z", summary="again", fixed="3"))]
    )
    assert store.advisory("PYSEC-1").summary == "again"  # type: ignore[union-attr]
    assert len(store.affected("PyPI", "demo-pkg")) == 1


def test_aliases_follow_the_newest_copy(store: SqliteStore) -> None:
    store.write_records([("osv:PyPI", advisory(aliases=("CVE-2024-0001", "GHSA-old")))])
    store.write_records(
        [("osv:PyPI", advisory(modified="2025-01-01T00:00:00Z", aliases=("GHSA-new",)))]
    )
    assert store.ids_for("GHSA-old") == ()
    assert store.ids_for("GHSA-new") == ("PYSEC-1",)


def test_duplicates_in_one_batch(store: SqliteStore) -> None:
    counts = store.write_records(
        [
            ("osv:PyPI", advisory(summary="a")),
            ("osv:PyPI", advisory(summary="b", modified="2024-02-01T00:00:00Z")),
            ("osv:PyPI", advisory(summary="c", modified="2023-02-01T00:00:00Z")),
        ]
    )
    assert (counts.written, counts.skipped) == (1, 1)
    assert store.advisory("PYSEC-1").summary == "b"  # type: ignore[union-attr]
    assert len(store.affected("PyPI", "demo-pkg")) == 1


def test_withdrawn_removes_an_older_copy_only(store: SqliteStore) -> None:
    store.write_records([("osv:PyPI", advisory())])
    counts = store.write_records([("osv:PyPI", Withdrawn("PYSEC-1", "2023-01-01T00:00:00Z"))])
    assert counts.withdrawn == 1
    assert store.advisory("PYSEC-1") is not None
    store.write_records([("osv:PyPI", Withdrawn("PYSEC-1", "2024-03-01T00:00:00Z"))])
    assert store.advisory("PYSEC-1") is None
    assert store.affected("PyPI", "demo-pkg") == []
    assert store.ids_for("CVE-2024-0001") == ()
    assert store.source_records("osv:PyPI") == 0


def test_sources_contribute_packages_to_one_id(store: SqliteStore) -> None:
    store.write_records(
        [
            ("secdb:Alpine:v3.10/main", advisory("ALPINE-CVE-1", "", ecosystem="Alpine:v3.10")),
            ("secdb:Alpine:v3.11/main", advisory("ALPINE-CVE-1", "", ecosystem="Alpine:v3.11")),
        ]
    )
    stored = store.advisory("ALPINE-CVE-1")
    assert stored is not None
    assert [a.ecosystem for a in stored.affected] == ["Alpine:v3.10", "Alpine:v3.11"]
    store.clear_source("secdb:Alpine:v3.10/main")
    stored = store.advisory("ALPINE-CVE-1")
    assert stored is not None
    assert [a.ecosystem for a in stored.affected] == ["Alpine:v3.11"]
    store.clear_source("secdb:Alpine:v3.11/main")
    assert store.advisory("ALPINE-CVE-1") is None
    assert store.ids_for("CVE-2024-0001") == ()


def test_identical_entries_from_two_sources_come_back_once(store: SqliteStore) -> None:
    store.write_records([("osv:PyPI", advisory()), ("local:PyPI", advisory())])
    assert len(store.affected("PyPI", "demo-pkg")) == 1
    assert len(store.advisory("PYSEC-1").affected) == 1  # type: ignore[union-attr]


def test_sources_and_enrichment(store: SqliteStore) -> None:
    status = SourceStatus("osv:PyPI", 1, "2024-01-01T00:00:00Z", "o", '"e"', "lm", 2)
    store.set_source(status)
    assert store.sources() == [status]
    assert store.source("osv:PyPI") == status
    assert store.source("nope") is None


def test_readonly_refuses_writes(tmp_path: Path) -> None:
    path = tmp_path / "vuln.db"
    SqliteStore.open(path, readonly=False).close()
    with SqliteStore.open(path) as store, pytest.raises(DatabaseError, match="read-only"):
        store.write_records([("osv:PyPI", advisory())])


def test_rebuilding_swaps_on_success(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "vuln.db"
    with rebuilding(path) as store:
        store.write_records([("osv:PyPI", advisory())])
        assert not path.exists()  # built beside, swapped in at the end
    with SqliteStore.open(path) as reopened:
        assert reopened.advisory("PYSEC-1") is not None
    with rebuilding(path) as store:
        store.write_records([("osv:Go", advisory("GO-1", ecosystem="Go", name="example.com/m"))])
    with SqliteStore.open(path) as reopened:
        assert reopened.ecosystems() == ["Go", "PyPI"]
    assert sorted(p.name for p in path.parent.iterdir()) == ["vuln.db", "vuln.db.lock"]


def test_rebuilding_failure_leaves_the_database_untouched(tmp_path: Path) -> None:
    path = tmp_path / "vuln.db"
    with rebuilding(path) as store:
        store.write_records([("osv:PyPI", advisory())])
    before = digest(path)

    def interrupted() -> None:
        with rebuilding(path) as store:
            store.clear_source("osv:PyPI")
            raise RuntimeError("interrupted")

    with pytest.raises(RuntimeError):
        interrupted()
    assert digest(path) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["vuln.db", "vuln.db.lock"]
    with SqliteStore.open(path) as reopened:
        assert reopened.advisory("PYSEC-1") is not None


def test_rebuilding_refuses_a_corrupt_database(tmp_path: Path) -> None:
    path = tmp_path / "vuln.db"
    path.write_bytes(b"garbage" * 1000)
    with (
        pytest.raises(DatabaseError, match="not a basewatch vulnerability database"),
        rebuilding(path),
    ):
        pass
    assert path.read_bytes() == b"garbage" * 1000
    assert sorted(p.name for p in tmp_path.iterdir()) == ["vuln.db", "vuln.db.lock"]


def test_a_database_from_before_data_dates_and_refusals(tmp_path: Path) -> None:
    """Schema 1 as first released (no `data_date`, no `refused`): read as it is, migrated by
    the next writer."""
    path = tmp_path / "vuln.db"
    with SqliteStore.open(path, readonly=False) as store:
        store.set_source(SourceStatus("osv:PyPI", 1, "2024-01-01T00:00:00Z"))
        store.commit()
    connection = sqlite3.connect(path)
    connection.execute("DROP TABLE refused")
    connection.execute("ALTER TABLE sources DROP COLUMN data_date")
    connection.commit()
    connection.close()
    with SqliteStore.open(path) as store:
        assert store.sources() == [SourceStatus("osv:PyPI", 1, "2024-01-01T00:00:00Z")]
        assert store.refused("PyPI", "demo") == []
    with rebuilding(path) as store:
        store.write_records([("osv:PyPI", advisory())])
        store.set_refused("osv:PyPI", [("PyPI", "Demo_Pkg", "PYSEC-9", "bad")])
    with SqliteStore.open(path) as store:
        assert store.refused("PyPI", "demo-pkg") == ["PYSEC-9"]
        assert store.data_date("osv:PyPI") == "2024-01-01T00:00:00Z"


@pytest.fixture(scope="module")
def go_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The real Go dump (../shared/fixtures/osv/Go.zip) with a refused record, imported."""
    db = tmp_path_factory.mktemp("go") / "vuln.db"
    broken = tmp_path_factory.mktemp("broken") / "broken.json"
    broken.write_text(
        '{"id": "GO-2099-1", "modified": "2030-01-01T00:00:00Z", "affected": [{"package": '
        '{"ecosystem": "Go", "name": "golang.org/x/net"}, "ranges": "not a list"}]}'
    )
    with rebuilding(db) as writer:
        import_paths(writer, [shared_fixture("osv/Go.zip"), broken])
    return db


def queries_of(store: SqliteStore) -> list[str]:
    """The SQL statements the store runs from now on."""
    seen: list[str] = []
    store._db.set_trace_callback(seen.append)
    return seen


def test_batch_lookups_answer_as_single_lookups_in_one_query(go_db: Path) -> None:
    with SqliteStore.open(go_db) as store:
        names = [str(row[0]) for row in store._read("SELECT DISTINCT name FROM affected")]
        wanted = [("Go", name) for name in names[:400]]
        wanted += [("Go", "example.com/none"), ("PyPI", "Django"), ("Go", "golang.org/x/net")]
        single = {pair: store.affected(*pair) for pair in wanted}
        refused = {pair: store.refused(*pair) for pair in wanted}
        seen = queries_of(store)
        many = store.affected_many(wanted)
        assert len(seen) == 1  # one query for 403 packages
        assert many == single
        assert list(many) == list(dict.fromkeys(wanted))  # keyed as asked, every one present
        assert many[("Go", "example.com/none")] == []
        assert sum(map(len, many.values())) > 1000
        assert store.refused_many(wanted) == refused
        assert refused[("Go", "golang.org/x/net")] == ["GO-2099-1"]


def test_batch_lookups_stay_under_the_variable_limit(go_db: Path) -> None:
    with SqliteStore.open(go_db, readonly=False) as store:
        names = [str(row[0]) for row in store._read("SELECT DISTINCT name FROM affected")]
        wanted = [("Go", name) for name in names[:50]] + [("Go", "golang.org/x/net")]
        single = {pair: store.affected(*pair) for pair in wanted}
        refused = {pair: store.refused(*pair) for pair in wanted}
        store._db.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, 20)  # ten packages a query
        seen = queries_of(store)
        assert store.affected_many(wanted) == single
        assert len(seen) == 6
        assert store.refused_many(wanted) == refused  # a writable store asks the table
        assert refused[("Go", "golang.org/x/net")] == ["GO-2099-1"]


def test_batch_lookups_normalise_names_as_single_ones(store: SqliteStore) -> None:
    store.write_records([("osv:PyPI", advisory())])
    spellings = [("PyPI", "demo-pkg"), ("PyPI", "DEMO.pkg"), ("PyPI", "Demo_Pkg"), ("npm", "x")]
    found = store.affected_many(spellings)
    assert [len(found[pair]) for pair in spellings] == [1, 1, 1, 0]
    assert found[("PyPI", "DEMO.pkg")] == store.affected("PyPI", "demo__pkg")


def _one_record_db(path: Path, fixed: str) -> None:
    with rebuilding(path) as writer:
        writer.clear_source("osv:PyPI")
        writer.write_records([("osv:PyPI", advisory(fixed=fixed))])


def _fixed(store: SqliteStore) -> list[str]:
    ((_, entry),) = store.affected("PyPI", "demo-pkg")
    return [e.version for r in entry.ranges for e in r.events if e.kind is EventKind.FIXED]


def test_a_long_lived_reader_follows_a_swapped_database(tmp_path: Path) -> None:
    db = tmp_path / "vuln.db"
    _one_record_db(db, "1.0")
    clock = FixedClock(datetime(2025, 9, 1, tzinfo=UTC))
    with SqliteStore.open(db, clock=clock, recheck_after=5.0) as reader:
        assert _fixed(reader) == ["1.0"]
        _one_record_db(db, "2.0")  # an update renames a new file over the old one
        clock.advance(1.0)
        assert _fixed(reader) == ["1.0"]  # not looked at yet: at most one stat per 5 s
        clock.advance(5.0)
        assert _fixed(reader) == ["2.0"]  # the next query after the swap sees the new data
        seen = queries_of(reader)
        clock.advance(10.0)
        assert _fixed(reader) == ["2.0"]  # unchanged file: not reopened (trace still on)
        assert len(seen) == 1


def test_a_reader_checks_every_batch_when_told_to(tmp_path: Path) -> None:
    db = tmp_path / "vuln.db"
    _one_record_db(db, "1.0")
    with SqliteStore.open(db, recheck_after=0.0) as reader:
        assert _fixed(reader) == ["1.0"]
        assert reader.refused("PyPI", "demo-pkg") == []
        with rebuilding(db) as writer:
            writer.set_refused("osv:PyPI", [("PyPI", "Demo_Pkg", "PYSEC-9", "malformed")])
        # the refusals a read-only store keeps in memory are read again from the new file
        assert reader.refused("PyPI", "demo-pkg") == ["PYSEC-9"]


def test_a_reader_keeps_its_file_while_the_path_is_gone(tmp_path: Path) -> None:
    db = tmp_path / "vuln.db"
    _one_record_db(db, "1.0")
    with SqliteStore.open(db, recheck_after=0.0) as reader:
        db.unlink()
        assert _fixed(reader) == ["1.0"]


GHSA_WITH_CWES = {
    "schema_version": "1.4.0",
    "id": "GHSA-9wx4-h78v-vm56",
    "modified": "2024-06-10T18:37:35Z",
    "published": "2024-05-20T20:15:00Z",
    "aliases": ["CVE-2024-35195"],
    "summary": "Requests `Session` object does not verify requests after making first request "
    "with verify=False",
    "affected": [
        {
            "package": {"ecosystem": "PyPI", "name": "requests", "purl": "pkg:pypi/requests"},
            "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "2.32.0"}]}],
        }
    ],
    "database_specific": {
        "cwe_ids": ["CWE-670", "cwe-20", "CWE-20", "NVD-CWE-noinfo", 670],
        "github_reviewed": True,
        "severity": "MODERATE",
    },
}


def test_cwe_ids_are_imported_stored_and_read_back(tmp_path: Path) -> None:
    feed = tmp_path / "GHSA-9wx4-h78v-vm56.json"
    feed.write_text(json.dumps(GHSA_WITH_CWES))
    path = tmp_path / "vuln.db"
    with rebuilding(path) as writer:
        import_paths(writer, [feed])
    with SqliteStore.open(path) as store:
        ((found, entry),) = store.affected("PyPI", "Requests")
        assert found.cwe_ids == ("CWE-20", "CWE-670")
        assert entry.name == "requests"
        stored = store.advisory("GHSA-9wx4-h78v-vm56")
        assert stored is not None
        assert stored.cwe_ids == ("CWE-20", "CWE-670")
        assert stored.database_severity == "MODERATE"
        (record,) = store._read("SELECT record FROM advisories")
        assert json.loads(record[0])["cwe_ids"] == ["CWE-20", "CWE-670"]


def test_a_record_stored_before_cwe_ids_reads_without_them(store: SqliteStore) -> None:
    store.write_records([("osv:PyPI", replace(advisory(), cwe_ids=("CWE-79",)))])
    store.commit()
    # the row as a basewatch without weaknesses wrote it: same JSON, no key
    store._db.execute("UPDATE advisories SET record = json_remove(record, '$.cwe_ids')")
    store._db.commit()
    (record,) = store._read("SELECT record FROM advisories")
    assert "cwe_ids" not in json.loads(record[0])
    stored = store.advisory("PYSEC-1")
    assert stored is not None
    assert stored == advisory()
    assert stored.cwe_ids == ()
    ((found, _),) = store.affected("PyPI", "demo-pkg")
    assert found.cwe_ids == ()


def test_records_without_cwe_ids_are_stored_as_before(store: SqliteStore) -> None:
    store.write_records([("osv:PyPI", advisory())])
    store.commit()
    (record,) = store._read("SELECT record FROM advisories")
    assert "cwe_ids" not in json.loads(record[0])
