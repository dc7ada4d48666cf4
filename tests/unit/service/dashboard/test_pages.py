"""The dashboard's pages on a real database (SQLite and PostgreSQL) holding evaluated images:
logging in and out, the session cookie, CSRF and roles on forms, what each page says, and bad
input answered with a page, not a traceback. The browser itself is driven in tests/e2e."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import delete, select

from basewatch.clock import FixedClock
from basewatch.service.app import create_app
from basewatch.service.auth import bootstrap, create_token
from basewatch.service.config import ServeSettings
from basewatch.service.dashboard.sessions import COOKIE
from basewatch.service.http import ServiceState
from basewatch.service.models import ApiToken, Event, Notifier, Role, Watch
from tests.unit.service.test_evaluate import (
    CURL,
    D1,
    D2,
    LIBCURL,
    REQUESTS,
    Store,
    curl_record,
    inventory_with,
    stored_image,
)

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
REGISTRY = "127.0.0.1:5000"


@dataclass
class Dashboard:
    client: TestClient
    admin: str
    viewer: str
    store: Store

    def login(self, token: str, next_path: str = "/") -> httpx.Response:
        answer: httpx.Response = self.client.post(
            "/login", data={"token": token, "next": next_path}, follow_redirects=False
        )
        return answer

    def csrf(self, path: str = "/watches") -> str:
        found = re.search(r'name="csrf" value="([^"]+)"', self.client.get(path).text)
        assert found is not None, "the page has no form token"
        return found.group(1)


@pytest.fixture
def dashboard(store: Store, database_url: str, tmp_path: Path) -> Iterator[Dashboard]:
    settings = ServeSettings.load(
        environ={"HOME": str(tmp_path)},
        default_vulndb=store.core.db_path,
        flags={
            "database": database_url,
            "allowed_registries": REGISTRY,
            "allowed_notifier_hosts": "127.0.0.1:9",
        },
    )
    clock = FixedClock(NOW)
    with store.make() as session:
        admin = bootstrap(session, "", clock)
        viewer = create_token(session, Role.VIEWER, "wall screen", clock=clock)
        session.commit()
    assert admin is not None
    # two images: one with curl's advisories, one clean; evaluated a day apart
    store.publish(curl_record("DEBIAN-CVE-2099-0001", "7.88.1-11", ["CVE-2099-0001"], "high"))
    stored_image(store, D1, inventory_with(CURL, LIBCURL))
    stored_image(store, D2, inventory_with(REQUESTS))
    store.evaluate(D1, inventory_with(CURL, LIBCURL), NOW - timedelta(days=1))
    store.evaluate(D2, inventory_with(REQUESTS), NOW - timedelta(days=1))
    store.publish(curl_record("DEBIAN-CVE-2099-0002", None, ["CVE-2099-0002"], "low"))
    store.evaluate(D1, inventory_with(CURL, LIBCURL), NOW)  # one more finding today
    app = create_app(ServiceState(settings, store.engine, store.make, clock))
    with TestClient(app, base_url="https://testserver") as client:
        yield Dashboard(client, admin, viewer, store)


def test_every_page_needs_a_session_and_the_login_page_opens_one(dashboard: Dashboard) -> None:
    for path in ("/", "/images", f"/images/{D1}", "/bases", "/events", "/watches"):
        answer = dashboard.client.get(path, follow_redirects=False)
        assert answer.status_code == 303 and answer.headers["location"].startswith("/login?next=")
    refused = dashboard.login("bw_" + "x" * 43)
    assert refused.status_code == 401 and COOKIE not in refused.headers.get("set-cookie", "")
    assert "not known" in refused.text

    answer = dashboard.login(dashboard.admin, "/images?q=curl")
    assert answer.status_code == 303 and answer.headers["location"] == "/images?q=curl"
    cookie = answer.headers["set-cookie"]
    assert "HttpOnly" in cookie and "Secure" in cookie and "SameSite=strict" in cookie
    assert dashboard.admin not in cookie  # the cookie is a session, not the token
    page = dashboard.client.get("/")
    assert page.status_code == 200 and "Overview" in page.text
    assert "default-src 'none'" in page.headers["content-security-policy"]


@pytest.mark.parametrize("target", ["//evil.example/x", "https://evil.example/", "\\\\evil"])
def test_login_never_sends_the_browser_elsewhere(dashboard: Dashboard, target: str) -> None:
    answer = dashboard.login(dashboard.viewer, target)
    assert answer.status_code == 303 and answer.headers["location"] == "/"


def test_logging_out_ends_the_session_and_needs_the_form_token(dashboard: Dashboard) -> None:
    dashboard.login(dashboard.viewer)
    forged = dashboard.client.post("/logout", data={"csrf": "forged"}, follow_redirects=False)
    assert forged.status_code == 403
    assert dashboard.client.get("/", follow_redirects=False).status_code == 200
    token = dashboard.csrf("/")
    out = dashboard.client.post("/logout", data={"csrf": token}, follow_redirects=False)
    assert out.status_code == 303
    assert dashboard.client.get("/", follow_redirects=False).status_code == 303


def test_deleting_the_token_ends_its_sessions(dashboard: Dashboard) -> None:
    dashboard.login(dashboard.viewer)
    with dashboard.store.make() as session:
        session.execute(delete(ApiToken).where(ApiToken.role == Role.VIEWER.value))
        session.commit()
    assert dashboard.client.get("/", follow_redirects=False).status_code == 303


def watches(dashboard: Dashboard) -> list[str]:
    with dashboard.store.make() as session:
        return list(session.scalars(select(Watch.repository)))


def test_an_admin_adds_a_watch_with_the_form_a_viewer_cannot(dashboard: Dashboard) -> None:
    dashboard.login(dashboard.viewer)
    page = dashboard.client.get("/watches")
    assert 'action="/watches"' not in page.text and "only looks" in page.text
    token = dashboard.csrf("/")  # a viewer's own, valid form token
    refused = dashboard.client.post(
        "/watches", data={"repository": f"{REGISTRY}/app", "tags": "*", "csrf": token}
    )
    assert refused.status_code == 403 and "viewer" in refused.text
    assert watches(dashboard) == []

    dashboard.login(dashboard.admin)
    forged = dashboard.client.post(
        "/watches", data={"repository": f"{REGISTRY}/app", "tags": "*", "csrf": token}
    )
    assert forged.status_code == 403 and watches(dashboard) == []  # another session's token
    token = dashboard.csrf()
    outside = dashboard.client.post(
        "/watches", data={"repository": "ghcr.io/org/app", "tags": "*", "csrf": token}
    )
    assert outside.status_code == 422 and "allowed_registries" in outside.text
    added = dashboard.client.post(
        "/watches",
        data={"repository": f"{REGISTRY}/app", "tags": "1.* latest", "csrf": token},
        follow_redirects=False,
    )
    assert added.status_code == 303 and watches(dashboard) == [f"{REGISTRY}/app"]
    again = dashboard.client.post(
        "/watches", data={"repository": f"{REGISTRY}/app", "tags": "*", "csrf": token}
    )
    assert again.status_code == 409 and "watched already" in again.text
    listed = dashboard.client.get("/watches").text
    assert f"{REGISTRY}/app" in listed and "1.* latest" in listed
    with dashboard.store.make() as session:
        watch_id = session.scalar(select(Watch.id))
    dashboard.client.post(f"/watches/{watch_id}/delete", data={"csrf": token})
    assert watches(dashboard) == []


def test_the_pages_say_what_the_store_holds(dashboard: Dashboard) -> None:
    dashboard.login(dashboard.viewer)
    overview = dashboard.client.get("/").text
    assert re.search(r"<dt>Images</dt><dd><a [^>]*>2</a>", overview)
    points = re.findall(r'<circle class="point[^"]*"', overview)
    assert len(points) == 30 * 4  # 30 days, four series
    assert 'data-x="2026-12-03" data-y="4"' in overview  # today: 2 advisories x 2 packages
    assert 'data-x="2026-12-02" data-y="2"' in overview

    listed = dashboard.client.get("/images?q=CVE-2099-0002").text  # by advisory id
    assert D1 in listed and D2 not in listed
    assert D2 in dashboard.client.get("/images?q=requests").text  # by package
    assert D2 not in dashboard.client.get("/images?severity=high").text

    image = dashboard.client.get(f"/images/{D1}").text
    assert "CVE-2099-0001" in image and "7.88.1-11" in image and "no fix yet" in image
    assert image.count('<circle class="point') >= 2  # its own findings over time

    advisory = dashboard.client.get("/advisories/DEBIAN-CVE-2099-0001")  # an alias
    assert advisory.status_code == 200
    assert f'href="/images/{D1}"' in advisory.text and D2 not in advisory.text
    found = dashboard.client.get("/advisories?id=CVE-2099-0001", follow_redirects=False)
    assert found.headers["location"] == "/advisories/CVE-2099-0001"

    with dashboard.store.make() as session:
        events = list(session.scalars(select(Event)))
    assert [e.type for e in events] == ["findings.new"]
    page = dashboard.client.get("/events?type=findings.new").text
    assert "CVE-2099-0002" in page and "not yet sent" in page


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/images?page=0", 422),
        ("/images?page=abc", 422),
        ("/images/sha256:nothing", 404),
        ("/bases/0", 422),
        ("/bases/99999", 404),
        ("/advisories?id=", 400),
        ("/events?before=-1", 422),
        ("/nowhere", 404),
    ],
)
def test_bad_input_is_a_page_saying_so(dashboard: Dashboard, path: str, status: int) -> None:
    dashboard.login(dashboard.viewer)
    answer = dashboard.client.get(path)
    assert answer.status_code == status
    assert answer.headers["content-type"].startswith("text/html")
    assert "<h1>" in answer.text and "Traceback" not in answer.text


def test_hostile_text_is_escaped(dashboard: Dashboard) -> None:
    dashboard.login(dashboard.viewer)
    page = dashboard.client.get("/images?q=<script>alert(1)</script>").text
    assert "<script>" not in page and "&lt;script&gt;" in page


def test_the_image_list_sorts_by_what_the_evaluations_keep(dashboard: Dashboard) -> None:
    dashboard.login(dashboard.viewer)
    for sort in ("findings", "worst", "fixable"):
        most = dashboard.client.get(f"/images?sort={sort}&order=desc").text
        least = dashboard.client.get(f"/images?sort={sort}&order=asc").text
        assert most.index(D1) < most.index(D2), sort  # D1 has findings, D2 none
        assert least.index(D2) < least.index(D1), sort
        assert 'aria-sort="descending"' in most and 'aria-sort="ascending"' in least
    assert D1 not in dashboard.client.get("/images?kev=yes").text  # nothing is on KEV
    page = dashboard.client.get("/images?sort=nonsense&order=up")
    assert page.status_code == 200 and "by repository" in page.text  # unknown: the default


def test_an_admin_adds_and_removes_a_notifier_with_the_form(dashboard: Dashboard) -> None:
    dashboard.login(dashboard.admin)
    token = dashboard.csrf()
    form = {
        "name": "hooks",
        "kind": "webhook",
        "url": "http://127.0.0.1:9/hook",
        "secret": "s3cret-s3cret-s3cret",
        "event_types": ["findings.new", "base.moved"],
        "min_severity": "high",
        "repositories": "127.0.0.1:5000/*",
        "csrf": token,
    }
    short = dashboard.client.post("/notifiers", data={**form, "secret": "short"})
    assert short.status_code == 422 and "at least 16 characters" in short.text
    private = dashboard.client.post("/notifiers", data={**form, "url": "http://10.1.2.3/hook"})
    assert private.status_code == 422 and "allowed_notifier_hosts" in private.text
    added = dashboard.client.post("/notifiers", data=form, follow_redirects=False)
    assert added.status_code == 303
    page = dashboard.client.get("/watches").text
    assert "hooks" in page and "findings.new, base.moved" in page and "high" in page
    assert "s3cret" not in page  # a secret is taken, never shown
    with dashboard.store.make() as session:
        (notifier,) = session.scalars(select(Notifier))
        assert (notifier.kind, notifier.target) == ("webhook", "http://127.0.0.1:9/hook")
        notifier_id = notifier.id

    dashboard.login(dashboard.viewer)
    refused = dashboard.client.post(
        f"/notifiers/{notifier_id}/delete", data={"csrf": dashboard.csrf("/")}
    )
    assert refused.status_code == 403
    dashboard.login(dashboard.admin)
    dashboard.client.post(f"/notifiers/{notifier_id}/delete", data={"csrf": dashboard.csrf()})
    with dashboard.store.make() as session:
        assert list(session.scalars(select(Notifier))) == []


def test_what_was_not_checked_comes_first(dashboard: Dashboard) -> None:
    """An image never evaluated is not shown clean: the overview counts it first, the list
    says "not evaluated" where its worst severity would be, and its page lists it first."""
    d3 = "sha256:" + "3" * 64
    stored_image(dashboard.store, d3, inventory_with(REQUESTS))
    assert dashboard.login(dashboard.viewer).status_code == 303
    overview = dashboard.client.get("/").text
    assert overview.index('id="unchecked-heading"') < overview.index('id="counts-heading"')
    assert "1 image(s) not evaluated yet: their findings are unknown" in overview
    listed = dashboard.client.get("/images", params={"sort": "digest"}).text
    rows = listed.split("<tbody>", 1)[1].split("</tr>")
    assert "not evaluated" in rows[2] and "not evaluated" not in rows[0] + rows[1]
    page = dashboard.client.get(f"/images/{d3}").text
    assert page.index('id="unchecked-heading"') < page.index('id="trend-heading"')
    assert "<li>not evaluated yet</li>" in page
    assert "binary compatibility: not checked yet" in page


def test_no_database_is_said_on_the_overview(dashboard: Dashboard) -> None:
    dashboard.store.core.db_path.unlink()
    assert dashboard.login(dashboard.viewer).status_code == 303
    overview = dashboard.client.get("/").text
    assert "no vulnerability database at" in overview and "nothing is matched" in overview
