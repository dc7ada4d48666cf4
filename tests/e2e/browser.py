"""What the browser tests share: a headless Chromium, guarded pages, screenshots, HTML goldens.

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

`structure(html)` reduces a page to its stable skeleton and `assert_golden(name, html)` compares
that with tests/e2e/golden/<name>.txt (the directory from BASEWATCH_GOLDEN_DIR when set), or
rewrites it when BASEWATCH_UPDATE_GOLDEN=1: `./dev golden`.

Nothing here imports Playwright at import time, so a conftest can import this module and skip
when Playwright is not installed.
"""

from __future__ import annotations

import contextlib
import difflib
import html.parser
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
GOLDEN_DIR = Path(__file__).resolve().parent / "golden"
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


# HTML structure -------------------------------------------------------------------------------

KEPT_ATTRIBUTES = (
    "id",
    "role",
    "aria-label",
    "aria-labelledby",
    "aria-current",
    "name",
    "type",
    "method",
    "action",
    "class",
)
TEXT_ELEMENTS = frozenset({"h1", "h2", "h3", "h4", "h5", "h6", "label", "legend", "th", "button"})
_VOID_ELEMENTS = frozenset(
    {
        "area",
        "base",
        "br",
        "col",
        "embed",
        "hr",
        "img",
        "input",
        "link",
        "meta",
        "param",
        "source",
        "track",
        "wbr",
    }
)
# Applied in order: what changes from run to run becomes a placeholder.
_MASKS = (
    (re.compile(r"\bsha(?:256|384|512):[0-9a-fA-F]{8,}"), "sha256:<digest>"),
    (
        re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b", re.I),
        "<uuid>",
    ),
    (re.compile(r"\b[0-9a-fA-F]{32,}\b"), "<digest>"),
    (
        re.compile(
            r"\b\d{4}-\d{2}-\d{2}[T ]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2}|\b)"
        ),
        "<datetime>",
    ),
    (re.compile(r"\b\d{4}-\d{2}-\d{2}\b"), "<date>"),
    (re.compile(r"\b\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?\b"), "<time>"),
    # Opaque tokens (CSRF, session, API keys): 20+ URL-safe or base64 characters mixing
    # digits, capitals and small letters (lower-case kebab-case ids stay).
    (
        re.compile(
            r"(?<![\w+/=-])(?=[\w+/=-]*\d)(?=[\w+/=-]*[A-Z])(?=[\w+/=-]*[a-z])[\w+/=-]{20,}"
        ),
        "<token>",
    ),
    (re.compile(r"(?<![\w.<])\d+(?:[.,]\d+)*"), "<n>"),
)


def mask(text: str) -> str:
    """`text` with its digests, UUIDs, dates, times, tokens and numbers as placeholders."""
    for pattern, placeholder in _MASKS:
        text = pattern.sub(placeholder, text)
    return text


@dataclass
class _Element:
    tag: str
    attributes: list[tuple[str, str | None]]
    children: list[_Element] = field(default_factory=list)
    text: list[str] = field(default_factory=list)


class _TreeBuilder(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = _Element("", [])
        self.open: list[_Element] = [self.root]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        element = _Element(tag, attrs)
        self.open[-1].children.append(element)
        if tag not in _VOID_ELEMENTS:
            self.open.append(element)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.open[-1].children.append(_Element(tag, attrs))

    def handle_endtag(self, tag: str) -> None:
        # An end tag closes the innermost open element of its name and what is open inside it;
        # a stray one closes nothing.
        for depth in range(len(self.open) - 1, 0, -1):
            if self.open[depth].tag == tag:
                del self.open[depth:]
                return

    def handle_data(self, data: str) -> None:
        for element in self.open:
            if element.tag in TEXT_ELEMENTS:
                element.text.append(data)


def _attribute(name: str, value: str | None) -> str:
    if value is None:
        return name
    value = " ".join(value.split())
    if name == "action":
        value = urlsplit(value).path
    elif name in {"method", "type"}:
        value = value.lower()
    return f'{name}="{mask(value)}"'


def _render(element: _Element, depth: int, lines: list[str]) -> None:
    values = dict(element.attributes)
    parts = [element.tag] + [
        _attribute(name, values[name]) for name in KEPT_ATTRIBUTES if name in values
    ]
    text = mask(" ".join("".join(element.text).split()))
    if text:
        parts.append(f'"{text}"')
    lines.append("  " * depth + " ".join(parts))
    for child in element.children:
        _render(child, depth + 1, lines)


def structure(html: str) -> str:
    """The stable skeleton of a page: one line per element, indented by depth, with only the
    attributes in KEPT_ATTRIBUTES (an action without its query) and only the text of headings,
    labels, legends, table headers and buttons; digests, UUIDs, dates, times, tokens and numbers
    are masked (see `mask`). Other text, comments and the doctype are dropped; a hidden input's
    value (the CSRF token) is never kept. Expects well-formed HTML (every element closed)."""
    builder = _TreeBuilder()
    builder.feed(html)
    builder.close()
    lines: list[str] = []
    for child in builder.root.children:
        _render(child, 0, lines)
    return "\n".join(lines) + "\n"


def golden_path(name: str) -> Path:
    if not _NAME.fullmatch(name):
        raise ValueError(f"golden name {name!r}: letters, digits, '.', '_' and '-' only")
    return Path(os.environ.get("BASEWATCH_GOLDEN_DIR") or GOLDEN_DIR) / f"{name}.txt"


def assert_golden(name: str, html: str) -> None:
    """`structure(html)` must equal the golden file <dir>/<name>.txt (<dir>:
    BASEWATCH_GOLDEN_DIR, else tests/e2e/golden); with BASEWATCH_UPDATE_GOLDEN=1 the file is
    (re)written instead."""
    path = golden_path(name)
    actual = structure(html)
    if _enabled("BASEWATCH_UPDATE_GOLDEN"):
        if not path.is_file() or path.read_text(encoding="utf-8") != actual:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(actual, encoding="utf-8")
        return
    if not path.is_file():
        raise AssertionError(
            f"no golden file {path}: `./dev golden` creates it (review it, then commit it)"
        )
    expected = path.read_text(encoding="utf-8")
    if actual != expected:
        diff = "".join(
            difflib.unified_diff(
                expected.splitlines(keepends=True),
                actual.splitlines(keepends=True),
                fromfile=str(path),
                tofile="this page",
            )
        )
        raise AssertionError(
            f"the page's structure differs from {path} (if the change is intended, "
            f"`./dev golden` rewrites it):\n{diff}"
        )
