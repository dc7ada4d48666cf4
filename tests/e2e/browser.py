"""What the browser tests share: a headless Chromium, guarded pages, screenshots.

The browser is Debian's `chromium` (/usr/bin/chromium) driven by Playwright; Playwright's own
browser downloads are not used. `unavailable()` says why no browser can run here, for a skip.

`PageOpener(browser)(base_url, viewport)` opens a page in a fresh browser context (nothing shared
between pages: cookies, storage, cache) whose `Guard` records every console error, every
uncaught exception and every request to an origin other than `base_url`'s (aborted, so the
browser talks to the service alone); `PageOpener.close()` closes the contexts and returns what
the guards recorded. Viewports: `desktop` (1280x800) and `phone` (390x844, mobile, touch).

`screenshot(page, name)` writes build/screenshots/<name>-<viewport>.png (the directory from
BASEWATCH_SCREENSHOT_DIR when set) on every run, CI's included, unless BASEWATCH_SCREENSHOTS=0;
`./dev screenshots` runs the browser tests alone for them.

Nothing here imports Playwright at import time, so a conftest can import this module and skip
when Playwright is not installed.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import re
import weakref
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from playwright.sync_api import Browser, ConsoleMessage, Page, Request, Route, WebError

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOT_DIR = ROOT / "build" / "screenshots"
# Every wait (navigation, locator, expect) gives up after this, so a broken page fails quickly.
TIMEOUT_MS = 10_000
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


def in_ci() -> bool:
    """Whether this is a CI run, where a browser that cannot run is a broken setup."""
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


def _enabled(variable: str) -> bool:
    return os.environ.get(variable, "").strip().lower() in {"1", "true", "yes"}


def unavailable() -> str:
    """Why the browser tests cannot run here ("" when they can)."""
    if importlib.util.find_spec("playwright") is None:
        return "playwright is not installed (it is in the dev extras; ./dev test installs it)"
    if not os.access(CHROMIUM, os.X_OK):
        return f"Debian's chromium package is not installed (no {CHROMIUM}; ./dev test installs it)"
    return ""


@contextlib.contextmanager
def launched_chromium() -> Iterator[Browser]:
    """Debian's Chromium, headless, for as long as the block runs."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        # No sandbox: the tests run as root (in CI and the VMs), where Chromium's sandbox
        # refuses to start. Playwright then passes --no-sandbox; no other flag is needed.
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, chromium_sandbox=False
        )
        try:
            yield browser
        finally:
            browser.close()


@dataclass(frozen=True)
class Viewport:
    name: str
    width: int
    height: int
    is_mobile: bool = False
    has_touch: bool = False


DESKTOP = Viewport("desktop", 1280, 800)
PHONE = Viewport("phone", 390, 844, is_mobile=True, has_touch=True)
VIEWPORTS = {viewport.name: viewport for viewport in (DESKTOP, PHONE)}


def origin(url: str) -> str:
    """scheme://host:port of `url`, the port spelled out even when it is the default."""
    parts = urlsplit(url)
    if not parts.scheme or not parts.hostname:
        raise ValueError(f"not an absolute URL: {url!r}")
    port = parts.port or {"http": 80, "https": 443}.get(parts.scheme, 0)
    return f"{parts.scheme}://{parts.hostname}:{port}"


@dataclass
class Guard:
    """What went wrong on a page: console errors, uncaught exceptions, requests to other hosts."""

    origin: str
    viewport: Viewport
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    blocked_requests: list[str] = field(default_factory=list)

    def on_console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            where = message.location
            at = f" (at {where['url']}:{where['lineNumber']})" if where.get("url") else ""
            self.console_errors.append(f"{message.text}{at}")

    def on_web_error(self, error: WebError) -> None:
        self.page_errors.append(error.error.stack or error.error.message)

    def on_request(self, route: Route, request: Request) -> None:
        try:
            allowed = origin(request.url) == self.origin
        except ValueError:
            allowed = False
        if allowed:
            route.continue_()
        else:
            self.blocked_requests.append(request.url)
            route.abort("blockedbyclient")

    def problems(self) -> list[str]:
        return (
            [f"console error: {text}" for text in self.console_errors]
            + [f"uncaught exception: {text}" for text in self.page_errors]
            + [
                f"request to a host other than {self.origin}: {url}"
                for url in self.blocked_requests
            ]
        )

    def check(self) -> None:
        """Raises AssertionError listing the problems, if there are any."""
        problems = self.problems()
        if problems:
            raise AssertionError(report(problems))


def report(problems: list[str]) -> str:
    return f"{len(problems)} problem(s) in the browser:\n" + "\n".join(
        f"  - {problem}" for problem in problems
    )


_GUARDS: weakref.WeakKeyDictionary[Page, Guard] = weakref.WeakKeyDictionary()


def guard_of(page: Page) -> Guard:
    """The guard of a page opened by `PageOpener` (KeyError for any other page)."""
    return _GUARDS[page]


class PageOpener:
    """Opens guarded pages, each in a context of its own; `close()` closes them all and returns
    what their guards recorded (the `open_page` fixture fails the test with it)."""

    def __init__(self, browser: Browser) -> None:
        self.browser = browser
        self.guards: list[Guard] = []
        self._stack = contextlib.ExitStack()

    def __call__(self, base_url: str, viewport: str | Viewport = "desktop") -> Page:
        """A new page whose relative URLs (`page.goto("/")`) resolve against `base_url`,
        an `http://127.0.0.1:PORT`; requests to any other origin are aborted and recorded."""
        size = VIEWPORTS[viewport] if isinstance(viewport, str) else viewport
        guard = Guard(origin(base_url), size)
        context = self.browser.new_context(
            base_url=base_url,
            viewport={"width": size.width, "height": size.height},
            is_mobile=size.is_mobile,
            has_touch=size.has_touch,
            locale="en-US",
            timezone_id="UTC",
            color_scheme="light",
            reduced_motion="reduce",
            service_workers="block",  # so that every request passes the route below
        )
        self._stack.callback(context.close)
        self.guards.append(guard)
        context.set_default_timeout(TIMEOUT_MS)
        context.on("console", guard.on_console)
        context.on("weberror", guard.on_web_error)
        context.route("**/*", guard.on_request)
        page = context.new_page()
        _GUARDS[page] = guard
        return page

    def close(self) -> list[str]:
        """Closes every context (events still in flight are delivered) and returns the problems
        the guards recorded, each prefixed with the page's origin and viewport."""
        self._stack.close()
        return [
            f"[{guard.viewport.name} {guard.origin}] {problem}"
            for guard in self.guards
            for problem in guard.problems()
        ]


def screenshot(page: Page, name: str) -> Path | None:
    """A full-page PNG of `page` as <dir>/<name>-<viewport>.png (its path), or nothing (None)
    when BASEWATCH_SCREENSHOTS=0. <dir>: BASEWATCH_SCREENSHOT_DIR, else build/screenshots."""
    if not _NAME.fullmatch(name):
        raise ValueError(f"screenshot name {name!r}: letters, digits, '.', '_' and '-' only")
    if os.environ.get("BASEWATCH_SCREENSHOTS", "").strip().lower() in {"0", "false", "no"}:
        return None
    guard = _GUARDS.get(page)
    if guard is not None:
        suffix = guard.viewport.name
    else:
        size = page.viewport_size or {"width": 0, "height": 0}
        known = [v.name for v in VIEWPORTS.values() if v.width == size["width"]]
        suffix = known[0] if known else f"{size['width']}x{size['height']}"
    directory = Path(os.environ.get("BASEWATCH_SCREENSHOT_DIR") or SCREENSHOT_DIR)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}-{suffix}.png"
    page.screenshot(path=path, full_page=True, animations="disabled", caret="hide")
    return path
