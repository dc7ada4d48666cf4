"""The browser harness itself (tests/e2e/browser.py, conftest.py), against tiny pages served
from a thread on loopback: the guard catches console errors, uncaught exceptions and requests
to other hosts; a clean page passes; screenshots at both widths."""

from __future__ import annotations

import http.server
import struct
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.e2e.browser import (
    DESKTOP,
    PHONE,
    VIEWPORTS,
    PageOpener,
    guard_of,
    origin,
    screenshot,
)

if TYPE_CHECKING:
    from playwright.sync_api import Browser

    from tests.e2e.conftest import OpenPage

pytestmark = pytest.mark.e2e

_HEAD = '<meta charset="utf-8"><meta name="viewport" content="width=device-width">'
PAGES = {
    "/clean": f"<!doctype html>{_HEAD}<title>clean</title><h1>Clean</h1><p>nothing wrong</p>",
    "/console-error": f"{_HEAD}<h1>Broken</h1><script>console.error('dashboard broke')</script>",
    "/uncaught": f"{_HEAD}<h1>Broken</h1><script>throw new Error('uncaught boom')</script>",
    "/external": (
        f"{_HEAD}<h1>Leaky</h1><img id=leak src='http://192.0.2.1/x.png'>"
        "<script>fetch('http://192.0.2.2/api').catch(() => {})</script>"
    ),
    "/tall": f"{_HEAD}<h1>Tall</h1><div style='height: 2000px'>long</div>",
}


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = PAGES.get(self.path)
        if body is None:
            self.send_response(404 if self.path != "/favicon.ico" else 204)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        data = body.encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:  # quiet
        pass


@pytest.fixture(scope="module")
def site() -> Iterator[str]:
    """The base URL of PAGES served on 127.0.0.1 and a free port, from a thread."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


@pytest.fixture
def opener(chromium: Browser) -> Iterator[PageOpener]:
    """A PageOpener whose problems the test inspects (open_page would fail the test on them)."""
    opener = PageOpener(chromium)
    try:
        yield opener
    finally:
        opener.close()


def test_a_console_error_is_reported(opener: PageOpener, site: str) -> None:
    page = opener(site)
    page.goto("/console-error")
    problems = opener.close()
    guard = guard_of(page)
    assert guard.console_errors == [f"dashboard broke (at {site}/console-error:0)"]
    assert guard.page_errors == []
    assert guard.blocked_requests == []
    assert problems == [f"[desktop {origin(site)}] console error: {guard.console_errors[0]}"]
    with pytest.raises(AssertionError, match=r"(?s)1 problem.*dashboard broke"):
        guard.check()


def test_an_uncaught_exception_is_reported(opener: PageOpener, site: str) -> None:
    page = opener(site, "phone")
    page.goto("/uncaught")
    problems = opener.close()
    [error] = guard_of(page).page_errors
    assert error.startswith("Error: uncaught boom")
    assert problems[0].startswith(
        f"[phone {origin(site)}] uncaught exception: Error: uncaught boom"
    )


def test_requests_to_other_hosts_are_aborted_and_recorded(opener: PageOpener, site: str) -> None:
    page = opener(site)
    page.goto("/external")
    page.wait_for_function("document.getElementById('leak').complete")
    assert page.evaluate("document.getElementById('leak').naturalWidth") == 0
    # Wait for the fetch() too, which the load event does not.
    page.wait_for_function("performance.getEntriesByType('resource').length >= 2")
    opener.close()
    guard = guard_of(page)
    assert sorted(guard.blocked_requests) == ["http://192.0.2.1/x.png", "http://192.0.2.2/api"]
    assert all("ERR_BLOCKED_BY_CLIENT" in text for text in guard.console_errors)
    assert any("http://192.0.2.1/x.png" in problem for problem in guard.problems())


def test_a_clean_page_passes(open_page: OpenPage, site: str, viewport: str) -> None:
    page = open_page(site, viewport)
    page.goto("/clean")
    assert page.locator("h1").inner_text() == "Clean"
    expected = VIEWPORTS[viewport]
    assert page.evaluate("[window.innerWidth, window.innerHeight]") == [
        expected.width,
        expected.height,
    ]
    assert page.evaluate("'ontouchstart' in window") is expected.has_touch
    assert guard_of(page).problems() == []
    # The fixture checks the guard again at teardown.


def test_only_the_service_origin_is_allowed() -> None:
    assert origin("http://127.0.0.1:8080/login?next=/") == "http://127.0.0.1:8080"
    assert origin("http://127.0.0.1/") == "http://127.0.0.1:80"
    assert origin("http://localhost:8080/") != origin("http://127.0.0.1:8080/")
    with pytest.raises(ValueError, match="not an absolute URL"):
        origin("/relative")


def _png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def test_screenshots_at_both_widths(
    opener: PageOpener, site: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BASEWATCH_SCREENSHOTS", "1")
    monkeypatch.setenv("BASEWATCH_SCREENSHOT_DIR", str(tmp_path / "shots"))
    for size in (DESKTOP, PHONE):
        page = opener(site, size.name)
        page.goto("/tall")
        path = screenshot(page, "tall")
        assert path == tmp_path / "shots" / f"tall-{size.name}.png"
        width, height = _png_size(path)
        assert width == size.width
        assert height > 2000  # the full page, not the viewport
    assert opener.close() == []


def test_no_screenshot_when_turned_off(
    opener: PageOpener, site: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BASEWATCH_SCREENSHOTS", "0")
    monkeypatch.setenv("BASEWATCH_SCREENSHOT_DIR", str(tmp_path / "shots"))
    page = opener(site)
    page.goto("/clean")
    assert screenshot(page, "clean") is None
    assert not (tmp_path / "shots").exists()
    with pytest.raises(ValueError, match="screenshot name"):
        screenshot(page, "../escape")
