"""`basewatch db update` refreshes the end-of-life table from a (local) endoflife.date API."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from basewatch.cli.main import main
from basewatch.lint.eol import CACHE_FILE, PRODUCTS, load_eol_table

FAIL = {"on": False}


class _Api(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        product = self.path.rsplit("/", 1)[-1].removesuffix(".json")
        if FAIL["on"] or product not in PRODUCTS:
            self.send_response(500)
            self.end_headers()
            return
        body = json.dumps(
            [{"cycle": "99", "eol": "2030-01-01", "codename": f"{product}-x"}]
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        del format, args


@pytest.fixture
def api() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Api)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/api"
    finally:
        httpd.shutdown()
        httpd.server_close()
        FAIL["on"] = False


def test_refresh_then_a_failed_refresh_keeps_the_table(
    api: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert main(["db", "update", "--eol-only", "--eol-base-url", api]) == 0
    saved = tmp_path / "basewatch" / CACHE_FILE
    table = load_eol_table(saved)
    assert {c.product for c in table.cycles} == set(PRODUCTS)
    assert table.find("debian", "99") is not None
    before = saved.read_bytes()
    FAIL["on"] = True
    assert main(["db", "update", "--eol-only", "--eol-base-url", api]) == 0
    assert "end-of-life dates not refreshed" in capsys.readouterr().err
    assert saved.read_bytes() == before
