"""`/api/v1/notifiers` on a real database: create, list, get, delete, test; secrets never come
back; malformed bodies and unsafe destinations are refused and change nothing."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from basewatch.clock import FixedClock
from basewatch.service.api_notifiers import deliveries_of
from basewatch.service.app import create_app
from basewatch.service.auth import bootstrap, create_token
from basewatch.service.config import ServeSettings
from basewatch.service.db import open_engine, sessions, upgrade
from basewatch.service.http import PROBLEM, ServiceState
from basewatch.service.models import Delivery, Event, Role
from tests.unit.service.test_notify import SECRET, Receiver, closed_port

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
SLACK_PATH = "/services/T000/B000/slack-token-in-the-path"


@dataclass
class Api:
    client: TestClient
    admin: dict[str, str]
    viewer: dict[str, str]
    make: sessionmaker[Session]


@pytest.fixture
def api(database_url: str) -> Iterator[Api]:
    settings = ServeSettings.load(
        environ={"HOME": "/nonexistent"},
        default_vulndb=Path("/nonexistent/vuln.db"),
        flags={"database": database_url, "allowed_notifier_hosts": "127.0.0.1"},
    )
    engine = open_engine(settings.database)
    upgrade(engine)
    make = sessions(engine)
    clock = FixedClock(NOW)
    with make() as session:
        admin = bootstrap(session, "", clock)
        viewer = create_token(session, Role.VIEWER, "dashboard", clock=clock)
        session.commit()
    assert admin is not None
    app = create_app(ServiceState(settings, engine, make, clock))
    with TestClient(app) as client:
        yield Api(
            client,
            {"Authorization": f"Bearer {admin}"},
            {"Authorization": f"Bearer {viewer}"},
            make,
        )
    engine.dispose()


def problem_of(response: Any, status: int) -> str:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    return str(response.json()["detail"])


def webhook(url: str | None = "http://127.0.0.1:9/hook", **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"name": "ci", "kind": "webhook", "url": url, "secret": SECRET}
    body.update(changes)
    return body


def email(**changes: Any) -> dict[str, Any]:
    server: dict[str, Any] = {
        "host": "127.0.0.1",
        "port": 2525,
        "username": "alerts",
        "password": "smtp-password-123",
        "from": "basewatch@example.com",
        "to": ["sec@example.com"],
    }
    server.update(changes)
    return {"name": "mail", "kind": "email", "email": server}


def test_notifiers_are_created_listed_got_and_deleted(api: Api) -> None:
    made = api.client.post(
        "/api/v1/notifiers",
        json=webhook(
            event_types=["findings.new", "kev.added", "findings.new"],
            min_severity="high",
            repositories=["127.0.0.1:5000/*"],
        ),
        headers=api.admin,
    )
    assert made.status_code == 201, made.text
    hook = made.json()
    assert hook["kind"] == "webhook" and hook["target"] == "http://127.0.0.1:9/hook"
    assert hook["secret_set"] is True and hook["email"] is None
    assert hook["event_types"] == ["findings.new", "kev.added"]
    assert hook["min_severity"] == "high" and hook["repositories"] == ["127.0.0.1:5000/*"]
    assert hook["created_at"].startswith("2026-12-01T12:00:00")
    slack = api.client.post(
        "/api/v1/notifiers",
        json={"name": "chat", "kind": "slack", "url": f"http://127.0.0.1:9{SLACK_PATH}"},
        headers=api.admin,
    ).json()
    assert slack["target"] == "http://127.0.0.1:9/…" and slack["secret_set"] is False
    mail = api.client.post("/api/v1/notifiers", json=email(), headers=api.admin).json()
    assert mail["target"] == "smtp://127.0.0.1:2525"
    assert mail["email"] == {
        "host": "127.0.0.1",
        "port": 2525,
        "starttls": True,
        "username": "alerts",
        "from": "basewatch@example.com",
        "to": ["sec@example.com"],
    }

    page = api.client.get("/api/v1/notifiers?limit=2", headers=api.viewer).json()
    assert [n["id"] for n in page["items"]] == [hook["id"], slack["id"]]
    rest = api.client.get(
        f"/api/v1/notifiers?limit=2&cursor={page['next_cursor']}", headers=api.viewer
    ).json()
    assert [n["id"] for n in rest["items"]] == [mail["id"]] and rest["next_cursor"] is None
    assert api.client.get(f"/api/v1/notifiers/{hook['id']}", headers=api.viewer).json() == hook

    gone = api.client.delete(f"/api/v1/notifiers/{hook['id']}", headers=api.admin)
    assert gone.status_code == 204
    problem_of(api.client.get(f"/api/v1/notifiers/{hook['id']}", headers=api.viewer), 404)
    problem_of(api.client.delete(f"/api/v1/notifiers/{hook['id']}", headers=api.admin), 404)


def test_secrets_never_come_back(api: Api) -> None:
    bodies = []
    for body in (
        webhook(),
        email(),
        {"name": "chat", "kind": "slack", "url": f"http://127.0.0.1:9{SLACK_PATH}"},
    ):
        made = api.client.post("/api/v1/notifiers", json=body, headers=api.admin)
        assert made.status_code == 201, made.text
        bodies.append(made.text)
        bodies.append(
            api.client.get(f"/api/v1/notifiers/{made.json()['id']}", headers=api.admin).text
        )
        tried = api.client.post(f"/api/v1/notifiers/{made.json()['id']}/test", headers=api.admin)
        bodies.append(tried.text)
    bodies.append(api.client.get("/api/v1/notifiers", headers=api.admin).text)
    for text in bodies:
        assert SECRET not in text
        assert "smtp-password-123" not in text
        assert "slack-token-in-the-path" not in text


def test_a_viewer_cannot_change_notifiers(api: Api) -> None:
    made = api.client.post("/api/v1/notifiers", json=webhook(), headers=api.admin).json()
    problem_of(api.client.post("/api/v1/notifiers", json=webhook(), headers=api.viewer), 403)
    problem_of(api.client.delete(f"/api/v1/notifiers/{made['id']}", headers=api.viewer), 403)
    problem_of(api.client.post(f"/api/v1/notifiers/{made['id']}/test", headers=api.viewer), 403)
    problem_of(api.client.get("/api/v1/notifiers"), 401)
    assert len(api.client.get("/api/v1/notifiers", headers=api.viewer).json()["items"]) == 1


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (webhook(secret="short"), "at least 16"),
        (webhook(secret=""), "at least 16"),
        (webhook(secret="whsec_not base64 at all!!"), "base64"),
        (webhook(event_types=["findings.nope"]), "event_types"),
        (webhook(min_severity="dire"), "min_severity"),
        (webhook(colour="red"), "colour"),
        (webhook(url=None), "url"),
        (webhook(repositories=[""]), "repositories"),
        (
            {"name": "chat", "kind": "slack", "url": "http://127.0.0.1:9/x", "secret": SECRET},
            "no secret",
        ),
        ({"name": "x", "kind": "pager", "url": "http://127.0.0.1:9/x"}, "kind"),
        (email(to=[]), "to"),
        (email(to=["ops@example.com\r\nBcc: evil@example.com"]), "to"),
        (email(starttls=False), "STARTTLS"),
        (email(password="p", username=""), "username"),
        ({**email(), "url": "http://127.0.0.1:9/x"}, "not `url`"),
        ({"name": "", "kind": "webhook", "url": "http://127.0.0.1:9/x", "secret": SECRET}, "name"),
    ],
)
def test_malformed_notifiers_are_refused_and_change_nothing(
    api: Api, body: dict[str, Any], says: str
) -> None:
    detail = problem_of(api.client.post("/api/v1/notifiers", json=body, headers=api.admin), 422)
    assert says in detail
    assert api.client.get("/api/v1/notifiers", headers=api.admin).json()["items"] == []


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("http://10.0.0.5/hook", "10.0.0.5, a private address"),
        ("http://169.254.169.254/latest/", "the cloud metadata address"),
        ("http://[::1]:8080/hook", "::1, a loopback address"),
        ("http://localhost:8080/hook", "localhost resolves to"),
        ("ftp://127.0.0.1/hook", "not http or https"),
        ("http://127.0.0.1:99999/hook", "port"),
    ],
)
def test_unsafe_destinations_are_refused_naming_the_setting(api: Api, url: str, says: str) -> None:
    detail = problem_of(
        api.client.post("/api/v1/notifiers", json=webhook(url=url), headers=api.admin), 422
    )
    assert says in detail
    if "port" not in says:
        assert "allowed_notifier_hosts" in detail
    refused_mail = api.client.post(
        "/api/v1/notifiers", json=email(host="10.0.0.5"), headers=api.admin
    )
    assert "allowed_notifier_hosts" in problem_of(refused_mail, 422)
    assert api.client.get("/api/v1/notifiers", headers=api.admin).json()["items"] == []


def test_a_test_message_reports_whether_it_arrived(api: Api) -> None:
    receiver = Receiver().start()
    try:
        up = api.client.post("/api/v1/notifiers", json=webhook(receiver.url), headers=api.admin)
        down_url = f"http://127.0.0.1:{closed_port()}/hook"
        down = api.client.post("/api/v1/notifiers", json=webhook(down_url), headers=api.admin)
        ok = api.client.post(f"/api/v1/notifiers/{up.json()['id']}/test", headers=api.admin)
        failed = api.client.post(f"/api/v1/notifiers/{down.json()['id']}/test", headers=api.admin)
    finally:
        receiver.stop()
    assert ok.json() == {"ok": True, "error": ""}
    assert failed.json() == {"ok": False, "error": "connection refused"}
    (got,) = receiver.received
    assert got.verified and got.headers["webhook-id"].startswith("msg_")
    problem_of(api.client.post("/api/v1/notifiers/999/test", headers=api.admin), 404)


def test_deliveries_of_events_say_where_each_stands(api: Api) -> None:
    made = api.client.post("/api/v1/notifiers", json=webhook(), headers=api.admin).json()
    other = api.client.post("/api/v1/notifiers", json=webhook(), headers=api.admin).json()
    later = NOW + timedelta(seconds=30)
    with api.make() as session:
        events = [
            Event(type="findings.new", digest="d", repository="r", payload={}, created_at=NOW)
            for _ in range(3)
        ]
        session.add_all(events)
        session.flush()
        for notifier, state, delivered in ((made, "delivered", NOW), (other, "pending", None)):
            session.add(
                Delivery(
                    event_id=events[0].id,
                    notifier_id=notifier["id"],
                    state=state,
                    attempts=2 if delivered else 3,
                    next_attempt_at=later,
                    last_error="" if delivered else "HTTP 500",
                    delivered_at=delivered,
                    created_at=NOW,
                )
            )
        session.commit()
        found = deliveries_of(session, [e.id for e in events])
        assert deliveries_of(session, []) == {}
    assert list(found) == [events[0].id]
    done, waiting = found[events[0].id]
    assert (done.notifier_id, done.state, done.attempts, done.delivered_at) == (
        made["id"],
        "delivered",
        2,
        NOW,
    )
    assert done.next_attempt_at is None
    assert (waiting.state, waiting.last_error, waiting.next_attempt_at) == (
        "pending",
        "HTTP 500",
        later,
    )


def test_the_openapi_document_describes_notifiers(api: Api) -> None:
    document = api.client.get("/api/openapi.json", headers=api.viewer).json()
    paths = document["paths"]
    assert {"/api/v1/notifiers", "/api/v1/notifiers/{notifier_id}"} <= set(paths)
    assert "/api/v1/notifiers/{notifier_id}/test" in paths
    assert paths["/api/v1/notifiers"]["post"]["tags"] == ["notifiers"]
    assert "422" in paths["/api/v1/notifiers"]["post"]["responses"]
    schemas = document["components"]["schemas"]
    assert "secret" not in schemas["NotifierOut"]["properties"]
    assert "password" not in schemas["EmailOut"]["properties"]
