"""Incremental updates (`modified_id.csv` + `<id>.json`) against a real HTTP server on 127.0.0.1
serving the real PyPI records of ../shared/fixtures/osv/PyPI.zip, laid out as OSV's bucket is."""

from __future__ import annotations

import io
import json
import sqlite3
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from basewatch.errors import DownloadError
from basewatch.vulndb import incremental
from basewatch.vulndb.osv import modified_key
from basewatch.vulndb.update import update
from tests.fixtures import shared_fixture
from tests.unit.vulndb.test_update import T1, T2, Feed, Served, digest, serve

NEW = 3  # the newest records, missing from the first dump


@dataclass(frozen=True)
class Record:
    id: str
    modified: str
    body: bytes


@pytest.fixture(scope="module")
def records() -> list[Record]:
    """PyPI.zip's records, newest first, as the bucket's modified_id.csv lists them."""
    out = []
    with zipfile.ZipFile(shared_fixture("osv/PyPI.zip")) as archive:
        for info in archive.infolist():
            if info.filename.endswith(".json"):
                body = archive.read(info)
                data = json.loads(body)
                out.append(Record(data["id"], data["modified"], body))
    return sorted(out, key=lambda r: modified_key(r.modified), reverse=True)


def dump(records: list[Record]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for record in records:
            archive.writestr(f"{record.id}.json", record.body)
    return buffer.getvalue()


def bucket(records: list[Record], *, with_index: bool = True) -> Feed:
    """The PyPI directory of the bucket: all.zip, and modified_id.csv with every record."""
    files = {"/PyPI/all.zip": Served(dump(records))}
    if with_index:
        csv = "".join(f"{r.modified},{r.id}\n" for r in records)
        files["/PyPI/modified_id.csv"] = Served(csv.encode())
        files.update({f"/PyPI/{r.id}.json": Served(r.body) for r in records})
    return Feed(files=files)


def tables(db: Path) -> dict[str, list[tuple[object, ...]]]:
    """The advisory tables, sorted: what two databases must share to be the same data."""
    queries = {
        "advisories": "SELECT id, modified, record FROM advisories",
        "memberships": "SELECT source, advisory_id, modified FROM memberships",
        "affected": "SELECT advisory_id, source, ecosystem, name, entry FROM affected",
        "ids": "SELECT alias, advisory_id FROM ids",
    }
    with sqlite3.connect(db) as connection:
        result = {name: sorted(connection.execute(sql).fetchall()) for name, sql in queries.items()}
    connection.close()
    return result


def records_in(db: Path) -> int:
    with sqlite3.connect(db) as connection:
        (count,) = connection.execute("SELECT count(*) FROM memberships").fetchone()
    connection.close()
    return int(count)


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=10) as http:
        yield http


@pytest.fixture
def reference(records: list[Record], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A database made from the whole dump in one go."""
    db = tmp_path_factory.mktemp("reference") / "vuln.db"
    with httpx.Client(timeout=10) as http, serve(bucket(records, with_index=False)) as base:
        update(db, ["PyPI"], base, http, now=T1)
    return db


def first_then_upstream_moves(
    tmp_path: Path, records: list[Record], client: httpx.Client
) -> tuple[Path, Feed]:
    """A database of the dump without its NEW newest records; the bucket then has them all."""
    db = tmp_path / "vuln.db"
    with serve(bucket(records[NEW:], with_index=False)) as base:
        update(db, ["PyPI"], base, client, now=T1)
    return db, bucket(records)


def test_only_the_changed_records_are_fetched(
    tmp_path: Path, records: list[Record], client: httpx.Client, reference: Path
) -> None:
    db, feed = first_then_upstream_moves(tmp_path, records, client)
    # Newer than the newest record held; those as new as it are held already, unchanged.
    changed = [r.id for r in records[:NEW]]
    with serve(feed) as base:
        report = update(db, ["PyPI"], base, client, now=T2)
    paths = [path for path, _ in feed.requests]
    assert paths[0] == "/PyPI/modified_id.csv"
    assert sorted(paths[1:]) == sorted(f"/PyPI/{i}.json" for i in changed)
    (result,) = report.results
    assert (result.changed, result.fetched) == (True, len(changed))
    assert result.records == records_in(reference)
    assert result.url == f"{base}/PyPI/modified_id.csv"
    # The same data as the whole dump imported at once.
    assert tables(db) == tables(reference)

    # Nothing newer: the index alone is read, and nothing changes.
    feed.requests.clear()
    before = digest(db)
    with serve(feed) as base:
        again = update(db, ["PyPI"], base, client, now=T2)
    assert [path for path, _ in feed.requests] == ["/PyPI/modified_id.csv"]
    assert [(r.changed, r.fetched) for r in again.results] == [(False, None)]
    assert digest(db) == before


def test_many_changes_download_the_whole_dump(
    tmp_path: Path,
    records: list[Record],
    client: httpx.Client,
    reference: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(incremental, "MAX_CHANGED", 2)
    db, feed = first_then_upstream_moves(tmp_path, records, client)
    with serve(feed) as base:
        report = update(db, ["PyPI"], base, client, now=T2)
    assert [path for path, _ in feed.requests] == ["/PyPI/modified_id.csv", "/PyPI/all.zip"]
    assert report.results[0].fetched is None
    assert tables(db) == tables(reference)


def test_without_incremental_the_whole_dump_is_downloaded(
    tmp_path: Path, records: list[Record], client: httpx.Client
) -> None:
    db, feed = first_then_upstream_moves(tmp_path, records, client)
    with serve(feed) as base:
        update(db, ["PyPI"], base, client, now=T2, incremental=False)
    assert [path for path, _ in feed.requests] == ["/PyPI/all.zip"]


def test_a_withdrawn_record_is_removed(
    tmp_path: Path, records: list[Record], client: httpx.Client, reference: Path
) -> None:
    db, feed = first_then_upstream_moves(tmp_path, records, client)
    victim = records[NEW + 5]
    data = json.loads(victim.body)
    data.update(modified="2030-01-01T00:00:00Z", withdrawn="2030-01-01T00:00:00Z")
    feed.files[f"/PyPI/{victim.id}.json"] = Served(json.dumps(data).encode())
    index = feed.files["/PyPI/modified_id.csv"].body
    feed.files["/PyPI/modified_id.csv"] = Served(
        f"{data['modified']},{victim.id}\n".encode() + index
    )
    with serve(feed) as base:
        report = update(db, ["PyPI"], base, client, now=T2)
    assert report.results[0].withdrawn == 1
    assert report.results[0].records == records_in(reference) - 1
    with sqlite3.connect(db) as connection:
        rows = connection.execute("SELECT 1 FROM advisories WHERE id = ?", (victim.id,)).fetchall()
    connection.close()
    assert rows == []


def test_a_record_that_cannot_be_fetched_changes_nothing(
    tmp_path: Path, records: list[Record], client: httpx.Client
) -> None:
    db, feed = first_then_upstream_moves(tmp_path, records, client)
    before = digest(db)
    feed.files[f"/PyPI/{records[0].id}.json"] = Served(b"", "error")
    with serve(feed) as base, pytest.raises(DownloadError, match=r"HTTP 500.*left unchanged"):
        update(db, ["PyPI"], base, client, now=T2)
    assert digest(db) == before


def test_a_malformed_record_is_counted_and_the_rest_applied(
    tmp_path: Path, records: list[Record], client: httpx.Client, reference: Path
) -> None:
    db, feed = first_then_upstream_moves(tmp_path, records, client)
    feed.files[f"/PyPI/{records[0].id}.json"] = Served(b"{not json")
    with serve(feed) as base:
        report = update(db, ["PyPI"], base, client, now=T2)
    (result,) = report.results
    assert result.malformed == 1
    assert result.problems[0].startswith(f"PyPI/{records[0].id}.json: not valid JSON")
    assert result.records == records_in(reference) - 1


@pytest.mark.parametrize(
    "line",
    [
        "2030-01-01T00:00:00Z,../../../etc/passwd",  # an id that would leave the directory
        "2030-01-01T00:00:00Z,PYSEC-1/../../x",
        "yesterday,PYSEC-2030-1",  # not a time
        "PYSEC-2030-1",  # not two fields
    ],
)
def test_an_index_it_cannot_trust_means_the_whole_dump(
    tmp_path: Path, records: list[Record], client: httpx.Client, line: str
) -> None:
    db, feed = first_then_upstream_moves(tmp_path, records, client)
    index = feed.files["/PyPI/modified_id.csv"].body
    feed.files["/PyPI/modified_id.csv"] = Served(line.encode() + b"\n" + index)
    with serve(feed) as base:
        update(db, ["PyPI"], base, client, now=T2)
    assert [path for path, _ in feed.requests] == ["/PyPI/modified_id.csv", "/PyPI/all.zip"]
