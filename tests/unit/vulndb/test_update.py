"""`update` end to end against a real HTTP server on 127.0.0.1 serving the real OSV dumps."""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import threading
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import httpx
import pytest

from basewatch.defaults import OSV_BASE_URL
from basewatch.errors import DownloadError
from basewatch.models import ImageInfo, Inventory, Package, PackageType, SourceType
from basewatch.progress import Unit
from basewatch.vulndb.importer import import_paths
from basewatch.vulndb.sqlite import SqliteStore, rebuilding
from basewatch.vulndb.update import (
    dump_url,
    dumps_for,
    needed_ecosystems,
    updatable_ecosystems,
    update,
)
from tests.fixtures import shared_fixture

T1 = datetime(2025, 9, 1, 8, 0, tzinfo=UTC)
T2 = datetime(2025, 9, 2, 8, 0, tzinfo=UTC)
LAST_MODIFIED = "Mon, 01 Sep 2025 06:00:00 GMT"


@dataclass
class Served:
    body: bytes
    # ok | drop (Content-Length, connection closed half way) | truncate (no length, closed
    # half way) | corrupt (bytes flipped in the middle) | error (HTTP 500)
    mode: str = "ok"

    @property
    def etag(self) -> str:
        return '"' + hashlib.sha256(self.body).hexdigest()[:24] + '"'


@dataclass
class Feed:
    files: dict[str, Served] = field(default_factory=dict)
    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)


class _Server(ThreadingHTTPServer):
    feed: Feed


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        feed = self.server.feed
        feed.requests.append((unquote(self.path), dict(self.headers.items())))
        served = feed.files.get(unquote(self.path))
        if served is None:
            self.send_error(404)
            return
        if served.mode == "error":
            self.send_error(500)
            return
        match_etag = self.headers.get("If-None-Match")
        since = self.headers.get("If-Modified-Since")
        if match_etag == served.etag or (match_etag is None and since == LAST_MODIFIED):
            self.send_response(304)
            self.send_header("ETag", served.etag)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        body = served.body
        if served.mode == "corrupt":
            middle = len(body) // 2
            body = (
                body[:middle]
                + bytes(b ^ 0xFF for b in body[middle : middle + 64])
                + body[middle + 64 :]
            )
        self.send_response(200)
        self.send_header("Content-Type", "application/zip")
        self.send_header("ETag", served.etag)
        self.send_header("Last-Modified", LAST_MODIFIED)
        if served.mode == "truncate":
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(body[: len(body) // 2])
            self.close_connection = True
            return
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if served.mode == "drop":
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


def fixture_feed(*dumps: str) -> Feed:
    """The real OSV dumps of ../shared/fixtures/osv, served under their ecosystems' names."""
    return Feed(
        files={f"/{d}/all.zip": Served(shared_fixture(f"osv/{d}.zip").read_bytes()) for d in dumps}
    )


@contextlib.contextmanager
def serve(feed: Feed) -> Iterator[str]:
    """Serve `feed` on 127.0.0.1; yields the base URL."""
    server = _Server(("127.0.0.1", 0), _Handler)
    server.feed = feed
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def osv_zip(*records: dict[str, Any]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for record in records:
            archive.writestr(f"{record['id']}.json", json.dumps(record))
    return buffer.getvalue()


def go_record(
    record_id: str, modified: str = "2025-01-01T00:00:00Z", **extra: Any
) -> dict[str, Any]:
    return {
        "id": record_id,
        "modified": modified,
        "aliases": [f"CVE-{record_id}"],
        "affected": [
            {
                "package": {"ecosystem": "Go", "name": f"example.com/{record_id.lower()}"},
                "ranges": [{"type": "SEMVER", "events": [{"introduced": "0"}, {"fixed": "1.0.0"}]}],
            }
        ],
        **extra,
    }


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def only_the_database(directory: Path) -> None:
    """Nothing but the database (and its writer lock file, which stays by design)."""
    assert sorted(p.name for p in directory.iterdir()) == ["vuln.db", "vuln.db.lock"]


def nothing_but_the_lock(directory: Path) -> None:
    assert sorted(p.name for p in directory.iterdir()) in ([], ["vuln.db.lock"])


@pytest.fixture
def feed() -> Feed:
    return fixture_feed("Go", "crates.io")


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=10) as http:
        yield http


def test_first_update_then_not_modified(tmp_path: Path, feed: Feed, client: httpx.Client) -> None:
    db = tmp_path / "vuln.db"
    with serve(feed) as base:
        report = update(db, ["Go", "crates.io"], base, client, now=T1)
        assert [
            (r.ecosystem, r.source, r.changed, r.records, r.withdrawn) for r in report.results
        ] == [
            ("Go", "osv:Go", True, 4274, 17),
            ("crates.io", "osv:crates.io", True, 1193, 13),
        ]
        with SqliteStore.open(db) as store:
            sources = {s.name: s for s in store.sources()}
            go = sources["osv:Go"]
            assert (go.records, go.updated_at, go.origin) == (
                4274,
                "2025-09-01T08:00:00Z",
                f"{base}/Go/all.zip",
            )
            assert (go.etag, go.last_modified) == (feed.files["/Go/all.zip"].etag, LAST_MODIFIED)
            assert store.ids_for("GHSA-5844-q3fc-56rh") == ("GO-2023-2385",)
            assert store.ecosystems() == ["Go", "crates.io"]
        only_the_database(tmp_path)
        before = digest(db)

        feed.requests.clear()
        second = update(db, ["Go", "crates.io"], base, client, now=T2)
    assert [(r.changed, r.records) for r in second.results] == [(False, 4274), (False, 1193)]
    # No modified_id.csv on this server: the dump is asked for again, conditionally.
    assert [p for p, _ in feed.requests[:2]] == ["/Go/modified_id.csv", "/Go/all.zip"]
    _, headers = feed.requests[1]
    assert headers["If-None-Match"] == feed.files["/Go/all.zip"].etag
    assert headers["If-Modified-Since"] == LAST_MODIFIED
    assert digest(db) == before  # 304: nothing changes, not even the time
    only_the_database(tmp_path)


def test_last_modified_alone_is_enough(tmp_path: Path, client: httpx.Client) -> None:
    db = tmp_path / "vuln.db"
    feed = Feed(files={"/Go/all.zip": Served(osv_zip(go_record("GO-1")))})
    with serve(feed) as base:
        update(db, ["Go"], base, client, now=T1)
        with rebuilding(db) as store:  # as if the server had sent no ETag
            source = store.source("osv:Go")
            assert source is not None
            store.set_source(type(source)(**{**_as_dict(source), "etag": ""}))
        (result,) = update(db, ["Go"], base, client, now=T2).results
    assert not result.changed
    assert "If-None-Match" not in feed.requests[-1][1]


def _as_dict(value: Any) -> dict[str, Any]:
    return {name: getattr(value, name) for name in value.__slots__}


def test_an_update_replaces_the_ecosystem(tmp_path: Path, client: httpx.Client) -> None:
    db = tmp_path / "vuln.db"
    local = tmp_path / "mine.json"
    local.write_text(json.dumps(go_record("MINE-1")))
    with rebuilding(db) as store:
        import_paths(store, [local], now=T1)
    feed = Feed(
        files={
            "/Go/all.zip": Served(osv_zip(go_record("GO-A"), go_record("GO-B"), go_record("GO-C")))
        }
    )
    with serve(feed) as base:
        update(db, ["Go"], base, client, now=T1)
        feed.files["/Go/all.zip"] = Served(
            osv_zip(
                go_record("GO-A", "2025-02-01T00:00:00Z", summary="revised"),
                go_record("GO-C", "2025-02-01T00:00:00Z", withdrawn="2025-02-01T00:00:00Z"),
                go_record("GO-D"),
            )
        )
        (result,) = update(db, ["Go"], base, client, now=T2).results
    assert (result.changed, result.records, result.withdrawn) == (True, 2, 1)
    with SqliteStore.open(db) as store:
        assert store.advisory("GO-A").summary == "revised"  # type: ignore[union-attr]
        assert store.advisory("GO-B") is None  # gone from the dump
        assert store.advisory("GO-C") is None  # withdrawn
        assert store.ids_for("CVE-GO-C") == ()
        assert store.advisory("GO-D") is not None
        assert store.advisory("MINE-1") is not None  # local records are not the dump's
        assert {s.name: s.records for s in store.sources()} == {"osv:Go": 2, "local:Go": 1}


@pytest.mark.parametrize(
    ("mode", "reason"),
    [
        ("drop", "downloading .*/Go/all.zip failed: peer closed connection"),
        ("truncate", "did not download a valid zip archive"),
        ("corrupt", "(corrupt zip archive|did not download a valid zip archive)"),
        ("error", "HTTP 500 Internal Server Error"),
    ],
)
def test_a_failed_download_leaves_the_database_usable(
    tmp_path: Path, feed: Feed, client: httpx.Client, mode: str, reason: str
) -> None:
    db = tmp_path / "vuln.db"
    with serve(feed) as base:
        update(db, ["Go"], base, client, now=T1)
        before = digest(db)
        # a new dump (so the server does not answer 304), delivered badly
        feed.files["/Go/all.zip"] = Served(shared_fixture("osv/PyPI.zip").read_bytes(), mode)
        with pytest.raises(DownloadError, match=reason) as caught:
            update(db, ["Go"], base, client, now=T2)
    assert f"the database at {db} was left unchanged" in str(caught.value)
    assert digest(db) == before
    only_the_database(tmp_path)
    with SqliteStore.open(db) as store:
        assert store.source("osv:Go").records == 4274  # type: ignore[union-attr]
        assert store.ids_for("GHSA-5844-q3fc-56rh") == ("GO-2023-2385",)


def test_unknown_ecosystem(tmp_path: Path, feed: Feed, client: httpx.Client) -> None:
    with serve(feed) as base, pytest.raises(DownloadError, match=r"HTTP 404.*ecosystem name"):
        update(tmp_path / "vuln.db", ["NoSuchThing"], base, client, now=T1)
    nothing_but_the_lock(tmp_path)


def test_unknown_ecosystem_can_be_skipped(tmp_path: Path, feed: Feed, client: httpx.Client) -> None:
    db = tmp_path / "vuln.db"
    with serve(feed) as base:
        report = update(db, ["NoSuchThing", "Go"], base, client, now=T1, missing_ok=True)
    assert report.unavailable == ("NoSuchThing",)
    assert [(r.ecosystem, r.changed) for r in report.results] == [("Go", True)]
    only_the_database(tmp_path)  # no download left behind
    with SqliteStore.open(db, readonly=True) as store:
        assert [s.name for s in store.sources()] == ["osv:Go"]


def test_failure_without_a_previous_database(tmp_path: Path, client: httpx.Client) -> None:
    db = tmp_path / "cache" / "vuln.db"
    feed = Feed(files={"/Go/all.zip": Served(osv_zip(go_record("GO-1")), "drop")})
    with serve(feed) as base, pytest.raises(DownloadError, match="no database was written"):
        update(db, ["Go"], base, client, now=T1)
    nothing_but_the_lock(db.parent)


def test_a_zip_without_records(tmp_path: Path, client: httpx.Client) -> None:
    empty = io.BytesIO()
    with zipfile.ZipFile(empty, "w") as archive:
        archive.writestr("README.txt", "nothing here")
    feed = Feed(files={"/Go/all.zip": Served(empty.getvalue())})
    with serve(feed) as base, pytest.raises(DownloadError, match="zip without OSV records"):
        update(tmp_path / "vuln.db", ["Go"], base, client, now=T1)


def test_all_or_nothing(tmp_path: Path, feed: Feed, client: httpx.Client) -> None:
    db = tmp_path / "vuln.db"
    feed.files["/crates.io/all.zip"].mode = "error"
    with serve(feed) as base, pytest.raises(DownloadError, match=r"crates\.io"):
        update(db, ["Go", "crates.io"], base, client, now=T1)
    assert not db.exists()
    nothing_but_the_lock(tmp_path)


def test_release_ecosystems_use_the_ecosystem_dump(tmp_path: Path) -> None:
    record = {
        "id": "DSA-1-1",
        "modified": "2025-01-01T00:00:00Z",
        "affected": [{"package": {"ecosystem": "Debian:12", "name": "openssl"}}],
    }
    feed = Feed(files={"/Debian/all.zip": Served(osv_zip(record))})
    db = tmp_path / "vuln.db"
    with serve(feed) as base:
        # no client given: update makes (and closes) its own
        report = update(db, ["Debian:12", "Debian:11"], base, now=T1)
    assert [p for p, _ in feed.requests] == ["/Debian/all.zip"]
    assert [(r.ecosystem, r.source, r.records) for r in report.results] == [
        ("Debian", "osv:Debian", 1)
    ]
    assert updatable_ecosystems(db) == ["Debian"]
    with SqliteStore.open(db) as store:
        assert store.ecosystems() == ["Debian:12"]


def test_download_progress(tmp_path: Path, feed: Feed, client: httpx.Client) -> None:
    seen: list[tuple[str, str, int]] = []
    units: list[Unit] = []

    class Recorder:
        def begin(self, description: str, total: int, unit: Unit = Unit.ITEMS) -> None:
            seen.append(("begin", description, total))
            units.append(unit)

        def advance(self, description: str, amount: int = 1) -> None:
            seen.append(("advance", description, amount))

        def end(self) -> None:
            seen.append(("end", "", 0))

    size = len(feed.files["/crates.io/all.zip"].body)
    with serve(feed) as base:
        update(tmp_path / "vuln.db", ["crates.io"], base, client, Recorder(), now=T1)
    assert seen[0] == ("begin", "downloading crates.io", size)
    assert units == [Unit.BYTES, Unit.ITEMS]  # the download in bytes, the import in records
    downloaded = sum(n for kind, what, n in seen if kind == "advance" and what.startswith("down"))
    assert downloaded == size
    assert ("begin", "importing crates.io", 1206) in seen


def test_helpers() -> None:
    assert dumps_for(["Debian:12", "Debian:11", "PyPI", " ", "Alpine:v3.20"]) == [
        "Debian",
        "PyPI",
        "Alpine",
    ]
    assert dump_url(OSV_BASE_URL + "/", "GitHub Actions") == (
        f"{OSV_BASE_URL}/GitHub%20Actions/all.zip"
    )
    inventory = Inventory(
        image=ImageInfo(reference="x", source_type=SourceType.DIR),
        os=None,
        packages=(
            Package("openssl", "3.0.1", PackageType.DEB, ecosystem="Debian:12"),
            Package("requests", "2.0", PackageType.PYPI, ecosystem="PyPI"),
            Package("zlib1g", "1.2", PackageType.DEB, ecosystem="Debian:12"),
            Package("mystery", "1", PackageType.NPM),
        ),
    )
    assert needed_ecosystems(inventory) == ["Debian:12", "PyPI"]
    assert updatable_ecosystems(Path("/nonexistent/vuln.db")) == []


class CountingTransport(httpx.HTTPTransport):
    """The real transport, counting the requests it is asked to send."""

    def __init__(self) -> None:
        super().__init__()
        self.sent: list[str] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.sent.append(str(request.url))
        return super().handle_request(request)


def test_an_unreachable_server_fails_at_once(tmp_path: Path) -> None:
    """Connection refused (nothing listens), no such host, TLS spoken to a plain HTTP server:
    no retry, not even the fallback from the incremental index to the dump."""
    db = tmp_path / "vuln.db"
    with serve(fixture_feed("Go", "crates.io")) as base:
        update(db, ["Go", "crates.io"], base, now=T1)
        https = base.replace("http://", "https://")
        transport = CountingTransport()
        with (
            httpx.Client(transport=transport) as client,
            pytest.raises(DownloadError, match=r"TLS handshake with 127\.0\.0\.1:.* failed"),
        ):
            update(db, ["Go", "crates.io"], https, client, now=T2)
        assert transport.sent == [f"{https}/Go/modified_id.csv"]
    # The server is gone: its port refuses connections.
    transport = CountingTransport()
    with httpx.Client(transport=transport) as client:
        with pytest.raises(DownloadError, match=r"refused the connection.*check the OSV URL"):
            update(db, ["Go", "crates.io"], base, client, now=T2)
        assert transport.sent == [f"{base}/Go/modified_id.csv"]
        with pytest.raises(DownloadError, match=r"'nosuchhost\.invalid' does not resolve"):
            update(tmp_path / "new.db", ["Go", "PyPI"], "http://nosuchhost.invalid", client)
    with (
        serve(fixture_feed("Go")) as other,
        pytest.raises(DownloadError, match="not a URL basewatch can download from"),
    ):
        update(db, ["Go"], other.replace("http://", "ftp://"), now=T2)


def test_data_dates(tmp_path: Path, feed: Feed, client: httpx.Client) -> None:
    """A whole dump is as fresh as its export (Last-Modified) or its newest record."""
    db = tmp_path / "vuln.db"
    with serve(feed) as base:
        update(db, ["Go"], base, client, now=T1)
    with SqliteStore.open(db) as store:
        source = store.source("osv:Go")
        assert source is not None
        assert source.data_date == "2025-09-01T06:00:00Z"  # LAST_MODIFIED
