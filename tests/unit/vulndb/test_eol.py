"""The end-of-life table: the shipped snapshot, tag parsing, and refreshing from a local server
that serves JSON shaped like the end-of-life API's."""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from basewatch.clock import FixedClock
from basewatch.errors import EolError
from basewatch.lint.reference import parse_reference
from basewatch.vulndb.eol import (
    PRODUCTS,
    EolStatus,
    EolTable,
    cycles_in,
    eol_status,
    load_eol_table,
    refresh_eol_table,
    save_eol_table,
)

# Late on 2 January (UTC): the refreshed table is dated by the clock's UTC day.
LATE = datetime(2026, 1, 2, 23, 30, tzinfo=UTC)

API = {
    "debian": [
        {
            "cycle": "12",
            "codename": "Bookworm",
            "eol": "2026-06-10",
            "extendedSupport": "2028-06-30",
        },
        {
            "cycle": "10",
            "codename": "Buster",
            "eol": "2022-09-10",
            "extendedSupport": "2024-06-30",
        },
    ],
    "ubuntu": [
        {
            "cycle": "24.04",
            "codename": "Noble Numbat",
            "eol": "2029-05-31",
            "extendedSupport": "2034-04-25",
        }
    ],
    "python": [{"cycle": "3.8", "eol": "2024-10-07"}, {"cycle": "3.14", "eol": False}, "junk"],
    "nodejs": [{"cycle": "16", "eol": True, "codename": "Gallium"}],
}


# What the local endoflife.date API answers for a product: (HTTP status, JSON body).
Answer = Callable[[str], tuple[int, object]]


@contextlib.contextmanager
def eol_api(answer: Answer) -> Iterator[str]:
    """A local endoflife.date API (`<base>/<product>.json`) on 127.0.0.1; yields its base URL."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            status, document = answer(self.path.rsplit("/", 1)[-1].removesuffix(".json"))
            body = json.dumps(document).encode() if status == 200 else b""
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            del format, args

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/api"
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture
def server() -> Iterator[str]:
    with eol_api(lambda product: (200, API[product]) if product in API else (404, None)) as url:
        yield url


def test_shipped_table_covers_the_products() -> None:
    table = load_eol_table()
    assert {c.product for c in table.cycles} == set(PRODUCTS)
    assert table.find("debian", "buster") == table.find("debian", "10")
    assert table.find("nodejs", "hydrogen") is not None


def test_refresh_from_a_local_server(server: str, tmp_path: Path) -> None:
    with httpx.Client() as client:
        table = refresh_eol_table(
            client, base_url=server, products=list(API), clock=FixedClock(LATE)
        )
    assert table.updated == "2026-01-02"
    buster = table.find("debian", "buster")
    assert buster is not None and buster.eol == date(2024, 6, 30)  # LTS end for Debian
    noble = table.find("ubuntu", "noble")
    assert noble is not None and noble.eol == date(2029, 5, 31)  # standard support, not ESM
    future = table.find("python", "3.14")
    assert future is not None and future.eol is None
    ended = table.find("nodejs", "gallium")
    assert ended is not None and ended.eol == date.min
    path = tmp_path / "eol.json"
    save_eol_table(table, path)
    assert load_eol_table(path) == table


def test_refresh_fails_cleanly(server: str) -> None:
    with httpx.Client() as client, pytest.raises(EolError, match="golang"):
        refresh_eol_table(client, base_url=server, products=["golang"])


def test_refresh_with_an_injected_transport() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/api/go.json"
        return httpx.Response(200, json=[{"cycle": "1.20", "eol": "2024-02-06"}])

    with httpx.Client(transport=httpx.MockTransport(handler)) as client:
        table = refresh_eol_table(client, base_url="http://127.0.0.1/api", products=["go"])
    assert table.find("go", "1.20") is not None


def test_malformed_tables(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{}")
    with pytest.raises(EolError):
        load_eol_table(bad)
    bad.write_text("not json")
    with pytest.raises(EolError):
        load_eol_table(bad)
    with pytest.raises(EolError):
        load_eol_table(tmp_path / "missing.json")
    with pytest.raises(EolError, match="schema_version"):
        EolTable.from_json({"schema_version": 99, "products": {}})


@pytest.mark.parametrize(
    ("reference", "expected"),
    [
        ("python:3.8.18-slim-bookworm", ["python 3.8", "debian 12"]),
        ("node:16-alpine3.15", ["nodejs 16", "alpine 3.15"]),
        ("eclipse-temurin:17.0.9_9-jre-jammy", ["eclipse-temurin 17", "ubuntu 22.04"]),
        ("openjdk:8u342-jre", ["eclipse-temurin 8"]),
        ("ruby:3.1-buster", ["debian 10"]),
        ("ubuntu:22.04", ["ubuntu 22.04"]),
        ("ubuntu:22", []),
        ("python:3", []),
        ("python", []),
        ("node:lts-slim", []),
    ],
)
def test_cycles_in(reference: str, expected: list[str]) -> None:
    ref = parse_reference(reference)
    assert ref is not None
    found = cycles_in(ref, load_eol_table())
    assert [f"{c.product} {c.cycle}" for c in found] == expected


@pytest.mark.parametrize(
    ("eol", "status"),
    [
        (None, EolStatus.UNKNOWN),
        (date(2026, 1, 1), EolStatus.ENDED),
        (date.min, EolStatus.ENDED),
        (date(2026, 1, 2), EolStatus.ENDING),  # the last day itself
        (date(2026, 4, 2), EolStatus.ENDING),  # 90 days on
        (date(2026, 4, 3), EolStatus.SUPPORTED),
    ],
)
def test_eol_status_on_a_given_day(eol: date | None, status: EolStatus) -> None:
    assert eol_status(eol, date(2026, 1, 2)) is status
    assert str(status) in ("supported", "ends within 90 days", "end of life", "unknown")
