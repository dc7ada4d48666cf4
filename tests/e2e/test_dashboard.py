"""The dashboard in a real headless Chromium, on a service holding real indexed images.

The scenario of the `serve` tests (tests/service_support/scenario.py): `basewatch serve` as a
process, a real docker-registry on loopback, base v1 pushed as `base:3.20`, an app built on it
as `app:1`, the app watched, an advisory for the base's busybox imported by another process,
then base v2 (busybox fixed) pushed under the same tag: the app needs a rebuild, and the
refresh fixes that advisory. The tests log in with a token, read every page at desktop and
phone widths (saving screenshots: `./dev screenshots`), click from the overview to the image,
its advisory and its base, add a watch as an admin and are refused as a viewer. Every page is
guarded: a console error, an uncaught exception or a request to any other host fails the test.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pytest

from tests.e2e.browser import guard_of, screenshot
from tests.e2e.conftest import OpenPage
from tests.integration import registry_server as rs
from tests.service_support.process import wait_for
from tests.service_support.scenario import ADMIN, ADVISORY, ALIAS, World, record, running_world

if TYPE_CHECKING:
    from playwright.sync_api import Page

pytestmark = pytest.mark.integration


@dataclass
class Fleet:
    world: World
    app: dict[str, Any]  # the app as the API shows it, after the base moved
    base_id: int
    viewer: str  # a viewer token

    @property
    def url(self) -> str:
        return self.world.serve.url


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    missing = rs.missing_tools()
    if missing:
        pytest.skip(f"the dashboard's scenario needs {', '.join(missing)}")
    tmp = tmp_path_factory.mktemp("dashboard")
    with running_world(tmp, f"sqlite+pysqlite:///{tmp}/service.db") as world:
        world.push_base(upgraded=False)
        world.push_app("1")
        world.import_records()
        world.serve.start()
        world.start_watching()
        wait_for(lambda: world.serve.get("/api/v1/images")["items"], what="the app")
        world.import_records(record())
        wait_for(lambda: world.events("findings.new"), what="findings.new")
        world.push_base(upgraded=True)
        wait_for(lambda: world.events("base.moved"), what="base.moved")
        (app,) = world.serve.get("/api/v1/images")["items"]
        assert app["rebuild_needed"]
        (base,) = [
            b
            for b in world.serve.get("/api/v1/bases")["items"]
            if b["reference"].endswith("/base:3.20")
        ]
        command = [sys.executable, "-m", "basewatch", "serve", "--database", world.serve.database]
        command += ["token", "create", "--role", "viewer", "--name", "a viewer"]
        made = subprocess.run(
            command, capture_output=True, text=True, timeout=120, check=False, cwd=tmp
        )
        assert made.returncode == 0, made.stderr
        yield Fleet(world, app, base["id"], made.stdout.strip())


def log_in(page: Page, token: str, next_path: str = "/") -> None:
    page.goto(f"/login?next={next_path}")
    page.get_by_label("Token").fill(token)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(re.compile(re.escape(next_path) + "$"))


def main_text(page: Page) -> str:
    return page.locator("main").inner_text()


def chart_points(page: Page, section: str) -> tuple[int, int, int]:
    """(points drawn, series in the legend, rows of the chart's table) in a section."""
    figure = page.locator(f"section[aria-labelledby={section}]")
    points = figure.locator("svg circle.point").count()
    series = len(
        {
            c
            for c in figure.locator("svg circle.point").evaluate_all(
                "(nodes) => nodes.map((n) => [...n.classList].find((c) => c.startsWith('series-')))"
            )
        }
    )
    rows = figure.locator("details table tbody tr").count()
    return points, series, rows


def test_every_page_reads_right_at_each_width(
    fleet: Fleet, open_page: OpenPage, viewport: str
) -> None:
    page = open_page(fleet.url, viewport)
    page.goto("/images")  # not logged in: the login page, then back here
    assert page.url.endswith("/login?next=%2Fimages")
    screenshot(page, "login")
    page.get_by_label("Token").fill(ADMIN)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(re.compile(r"/images$"))

    page.goto("/")
    assert page.get_by_role("heading", level=1).inner_text() == "Overview"
    tiles = page.locator("dl.tiles")
    assert tiles.get_by_role("link", name="1").count() >= 2  # one image, one needing a rebuild
    assert "base.moved" in main_text(page) and "findings.new" in main_text(page)
    points, series, rows = chart_points(page, "trend-heading")
    assert (series, rows) == (4, 30) and points == 4 * 30  # four lines, a point a day
    # the fail gap: a line for each policy the app fails, a point a day
    points, series, rows = chart_points(page, "policy-trend-heading")
    assert series >= 2 and rows == 30 and points == series * 30
    fail_gap = page.locator("section[aria-labelledby=policy-trend-heading]")
    assert fail_gap.locator("svg [data-series=base-up-to-date]").count() >= 1
    screenshot(page, "overview")

    page.goto("/images")
    row = page.locator("tbody tr", has_text="/app")
    assert row.count() == 1
    assert "rebuild needed" in row.inner_text() and "critical" in row.inner_text()
    assert "fails" in row.inner_text() and "base-up-to-date" in row.inner_text()
    screenshot(page, "images")
    page.goto("/images?policy=failed")
    assert page.locator("tbody tr", has_text="/app").count() == 1

    page.goto(f"/images/{fleet.app['digest']}")
    text = main_text(page)
    assert "rebuild needed" in text and "base:3.20 moved to" in text
    # its finding under the advisory's CVE alias, fixed in the upgraded busybox by a refresh
    busybox = page.locator("table.findings", has_text="busybox 1.36.1-r29")
    assert "fix by base refresh" in busybox.inner_text()
    assert ALIAS in busybox.inner_text() and "1.36.1-r30" in busybox.inner_text()
    advice = page.locator("table.advice tbody tr", has_text="refresh")
    assert advice.count() == 1 and f"{ALIAS} (busybox)" in advice.inner_text()
    assert page.locator("#unchecked-heading").count() == 0  # everything was checked
    assert "Every one of its" in text and "musl" in text  # the binaries load on its base
    # its policies: what was not evaluated first, then every verdict; the base moved under it
    policies = page.locator("section[aria-labelledby=policies-heading]")
    assert policies.inner_text().index("Not evaluated (") < policies.inner_text().index("pass")
    assert "approved-base: no approved bases configured" in policies.inner_text()
    up_to_date = policies.locator("tbody tr", has_text="(base-up-to-date)")
    assert "fail" in up_to_date.inner_text() and "the base has moved" in up_to_date.inner_text()
    severe = policies.locator("tbody tr", has_text="(no-fixable-severe)")
    assert ALIAS in severe.inner_text() and "fail" in severe.inner_text()
    points, series, rows = chart_points(page, "trend-heading")
    assert series == 4 and points == 4 * rows and rows >= 1
    screenshot(page, "image")

    page.goto(f"/advisories/{ADVISORY}")  # the record's own id finds the CVE's findings
    assert page.get_by_role("heading", level=1).inner_text() == ADVISORY
    assert ALIAS in main_text(page) and "critical" in main_text(page)
    held = page.locator("tbody tr", has_text="/app")  # the three busybox packages of the app
    assert held.count() == 3 and "busybox-binsh 1.36.1-r29" in held.all_inner_texts()[1]
    bases = page.locator("section[aria-labelledby=bases-heading]")
    assert bases.get_by_role("link", name=f"{fleet.world.registry.host}/base:3.20").count() == 1
    screenshot(page, "advisory")

    page.goto("/bases")
    base_row = page.locator("tbody tr", has_text="base:3.20")
    assert base_row.count() == 1 and "1" in base_row.inner_text()
    screenshot(page, "bases")

    page.goto(f"/bases/{fleet.base_id}")
    text = main_text(page)
    assert "What refreshing fixes" in text and f"busybox: {ALIAS}" in text
    assert page.locator("tbody tr", has_text="/app").count() == 1  # its dependent
    screenshot(page, "base")

    page.goto("/events")
    events = page.locator("tbody tr")
    assert events.count() >= 2 and "delivered" in page.locator("tbody").inner_text()
    page.goto("/events?type=base.moved")
    assert page.locator("tbody tr").count() == 1
    page.goto("/events?type=policy.failed")  # base-up-to-date among them, after the move
    assert page.locator("tbody tr", has_text="fails base-up-to-date").count() == 1
    screenshot(page, "events")

    page.goto("/watches")
    assert page.locator("tbody tr", has_text="/app").count() == 1
    screenshot(page, "watches")
    assert guard_of(page).problems() == []


def test_click_from_the_overview_to_the_image_its_advisory_and_its_base(
    fleet: Fleet, open_page: OpenPage
) -> None:
    page = open_page(fleet.url)
    log_in(page, ADMIN)
    page.locator("dl.tiles").get_by_role("link").nth(1).click()  # "Need a rebuild"
    page.wait_for_url(re.compile(r"/images\?rebuild=yes$"))
    host = fleet.world.registry.host
    page.get_by_role("link", name=f"{host}/app", exact=True).click()
    page.wait_for_url(re.compile(re.escape(fleet.app["digest"]) + "$"))
    page.locator("table.findings").get_by_role("link", name=ALIAS).first.click()
    page.wait_for_url(re.compile(f"/advisories/{ALIAS}$"))
    page.get_by_role("link", name=f"{host}/base:3.20", exact=True).click()
    page.wait_for_url(re.compile(f"/bases/{fleet.base_id}$"))
    assert page.get_by_role("heading", level=1).inner_text().endswith("/base:3.20")


def test_the_keyboard_reaches_the_content_first(fleet: Fleet, open_page: OpenPage) -> None:
    page = open_page(fleet.url)
    log_in(page, ADMIN)
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"


def test_an_admin_adds_a_watch_from_the_page(fleet: Fleet, open_page: OpenPage) -> None:
    page = open_page(fleet.url)
    log_in(page, ADMIN, "/watches")
    repository = f"{fleet.world.registry.host}/other"
    page.get_by_role("textbox", name=re.compile(r"^Repository \(host")).fill(repository)
    page.get_by_label("Tag globs, space separated").fill("1 2")
    page.get_by_role("button", name="Watch", exact=True).click()
    page.wait_for_load_state()
    assert page.locator("tbody tr", has_text=repository).count() == 1
    watches = fleet.world.serve.get("/api/v1/watches")["items"]
    assert [w["tags"] for w in watches if w["repository"] == repository] == [["1", "2"]]
    page.get_by_role("button", name=f"Stop watching {repository}").click()
    page.wait_for_load_state()
    assert page.locator("tbody tr", has_text=repository).count() == 0


def test_a_viewer_looks_and_is_refused_changes(fleet: Fleet, open_page: OpenPage) -> None:
    page = open_page(fleet.url)
    log_in(page, fleet.viewer, "/watches")
    assert page.locator("form.add").count() == 0  # no form to add a watch
    assert page.get_by_role("button", name=re.compile("^Stop watching")).count() == 0
    csrf = page.locator("form.logout input[name=csrf]").input_value()
    refused = page.request.post(
        "/watches", form={"csrf": csrf, "repository": f"{fleet.world.registry.host}/x"}
    )
    assert refused.status == 403
    assert "admin" in refused.text()
    assert not [
        w
        for w in fleet.world.serve.get("/api/v1/watches")["items"]
        if w["repository"].endswith("/x")
    ]
    page.goto(f"/images/{fleet.app['digest']}")  # looking is allowed
    assert ALIAS in main_text(page)


# the rules axe-core runs: WCAG 2.0 and 2.1, levels A and AA (contrast, labels, names, roles),
# and its best practices (landmarks, one main, headings in order)
AXE_RULES = {
    "runOnly": {
        "type": "tag",
        "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"],
    },
    "resultTypes": ["violations"],
}


def pages_of(fleet: Fleet) -> list[str]:
    return [
        "/",
        "/images",
        "/images?q=busybox&severity=critical",
        "/images?policy=failed",
        f"/images/{fleet.app['digest']}",
        "/bases",
        f"/bases/{fleet.base_id}",
        f"/advisories/{ADVISORY}",
        "/events",
        "/watches",
        "/advisories?id=CVE-1999-0001",  # a page saying nothing has it
    ]


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_every_page_passes_wcag_aa_in_light_and_dark(
    fleet: Fleet, open_page: OpenPage, scheme: str
) -> None:
    from axe_playwright_python.sync_playwright import Axe

    axe = Axe()
    page = open_page(fleet.url)
    page.emulate_media(color_scheme="dark" if scheme == "dark" else "light")
    page.goto("/login")
    found: dict[str, list[str]] = {}
    login = axe.run(page, options=AXE_RULES).response["violations"]
    if login:
        found["/login"] = [v["id"] for v in login]
    log_in(page, ADMIN)
    for path in pages_of(fleet):
        page.goto(path)
        if scheme == "dark" and path in ("/", f"/images/{fleet.app['digest']}"):
            screenshot(page, "overview-dark" if path == "/" else "image-dark")
        violations = axe.run(page, options=AXE_RULES).response["violations"]
        if violations:
            found[path] = [
                f"{v['id']} ({v['impact']}): {v['help']}: "
                + "; ".join(n["target"][0] for n in v["nodes"][:3])
                for v in violations
            ]
    assert found == {}
