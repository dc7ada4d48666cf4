"""The browser tests' fixtures (tests/e2e/browser.py has the machinery).

Every test under tests/e2e is marked `e2e` (`./dev screenshots` runs those).
`chromium` is one headless Debian Chromium for all of tests/e2e; where it cannot run (no
chromium package, no playwright) the tests that need it are skipped with the reason, except
under CI (`CI=true`), where that is a broken setup and fails. `open_page(base_url, viewport)`
opens a guarded page and fails the test at teardown when the page logged a console error,
threw an uncaught exception or sent a request to any host but the service.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import pytest

from tests.e2e.browser import VIEWPORTS, PageOpener, Viewport, in_ci, launched_chromium, report
from tests.e2e.browser import unavailable as browser_unavailable

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

_HERE = Path(__file__).resolve().parent


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "e2e: drives the dashboard in a headless Chromium (Debian's chromium package)"
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.path.is_relative_to(_HERE):
            item.add_marker(pytest.mark.e2e)


class OpenPage(Protocol):
    def __call__(self, base_url: str, viewport: str | Viewport = "desktop") -> Page: ...


# Package scope: launched once for all of tests/e2e and stopped after its last test. The sync
# Playwright API marks the main thread's event loop as running while it is started, so a browser
# kept to the end of the session would break any later test calling asyncio.run().
@pytest.fixture(scope="package")
def chromium() -> Iterator[Browser]:
    """Debian's Chromium, headless (skipped, or failed under CI, when it cannot run here)."""
    why = browser_unavailable()
    if why:
        if in_ci():
            pytest.fail(f"CI must run the browser tests, but {why}", pytrace=False)
        pytest.skip(why)
    with launched_chromium() as browser:
        yield browser


@pytest.fixture
def open_page(chromium: Browser) -> Iterator[OpenPage]:
    """`open_page(base_url, viewport="desktop")`: a new page in a context of its own; the test
    fails at teardown if any such page had console errors, uncaught exceptions or requests to
    a host other than `base_url`'s (those are aborted)."""
    opener = PageOpener(chromium)
    yield opener
    problems = opener.close()
    if problems:
        pytest.fail(report(problems), pytrace=False)


@pytest.fixture(params=list(VIEWPORTS))
def viewport(request: pytest.FixtureRequest) -> str:
    """Each viewport in turn ("desktop", "phone"): a test asking for it runs once per width."""
    name: str = request.param
    return name
