"""The service's API on a real database: tokens and roles, watches, problem+json errors, the
OpenAPI document."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from basewatch.clock import FixedClock
from basewatch.service.app import create_app
from basewatch.service.auth import bootstrap, create_token
from basewatch.service.config import ServeSettings
from basewatch.service.db import open_engine, sessions, upgrade
from basewatch.service.http import MAX_BODY_BYTES, PROBLEM, ServiceState
from basewatch.service.models import Role

REGISTRY = "127.0.0.1:5000"


@dataclass
class Api:
    client: TestClient
    admin: dict[str, str]
    viewer: dict[str, str]


@pytest.fixture
def api(database_url: str) -> Iterator[Api]:
    settings = ServeSettings.load(
        environ={"HOME": "/nonexistent"},
        default_vulndb=Path("/nonexistent/vuln.db"),
        flags={"database": database_url, "allowed_registries": f"{REGISTRY},ghcr.io"},
    )
    engine = open_engine(settings.database)
    upgrade(engine)
    make = sessions(engine)
    clock = FixedClock(datetime(2026, 12, 1, 12, 0, tzinfo=UTC))
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
        )
    engine.dispose()


def is_problem(response: object, status: int) -> dict[str, object]:
    from httpx import Response

    assert isinstance(response, Response)
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    body = response.json()
    assert body["status"] == status and body["title"]
    return dict(body)


def test_healthz_needs_no_token_and_everything_else_does(api: Api) -> None:
    assert api.client.get("/healthz").json()["status"] == "ok"
    for path in ("/readyz", "/api/openapi.json", "/api/v1/watches"):
        body = is_problem(api.client.get(path), 401)
        assert "Bearer" in str(body["detail"])
        is_problem(
            api.client.get(path, headers={"Authorization": "Bearer bw_wrong" + "x" * 40}), 401
        )
        is_problem(api.client.get(path, headers={"Authorization": "Basic abc"}), 401)
    assert api.client.get("/readyz", headers=api.viewer).json()["status"] == "ready"
    assert api.client.get("/api/v1/watches", headers=api.viewer).status_code == 200


def test_watches_are_added_listed_paged_and_removed(api: Api) -> None:
    made = []
    for name in ("app", "base", "tools"):
        response = api.client.post(
            "/api/v1/watches",
            json={"repository": f"{REGISTRY}/{name}", "tags": ["1.*", "latest", "1.*"]},
            headers=api.admin,
        )
        assert response.status_code == 201, response.text
        made.append(response.json())
    assert made[0]["repository"] == f"{REGISTRY}/app"
    assert made[0]["tags"] == ["1.*", "latest"]  # duplicates dropped, order kept
    assert made[0]["created_at"].startswith("2026-12-01T12:00:00")
    default = api.client.post(
        "/api/v1/watches", json={"repository": "ghcr.io/org/app"}, headers=api.admin
    )
    assert default.json()["tags"] == ["*"]

    first = api.client.get("/api/v1/watches?limit=2", headers=api.viewer).json()
    assert [w["repository"] for w in first["items"]] == [f"{REGISTRY}/app", f"{REGISTRY}/base"]
    rest = api.client.get(
        f"/api/v1/watches?limit=2&cursor={first['next_cursor']}", headers=api.viewer
    ).json()
    assert [w["repository"] for w in rest["items"]] == [f"{REGISTRY}/tools", "ghcr.io/org/app"]
    assert rest["next_cursor"] is None

    one = api.client.get(f"/api/v1/watches/{made[1]['id']}", headers=api.viewer)
    assert one.json() == made[1]
    assert (
        api.client.delete(f"/api/v1/watches/{made[1]['id']}", headers=api.admin).status_code == 204
    )
    is_problem(api.client.get(f"/api/v1/watches/{made[1]['id']}", headers=api.viewer), 404)
    is_problem(api.client.delete(f"/api/v1/watches/{made[1]['id']}", headers=api.admin), 404)


def test_a_viewer_cannot_change_anything(api: Api) -> None:
    body = {"repository": f"{REGISTRY}/app"}
    is_problem(api.client.post("/api/v1/watches", json=body, headers=api.viewer), 403)
    made = api.client.post("/api/v1/watches", json=body, headers=api.admin).json()
    is_problem(api.client.delete(f"/api/v1/watches/{made['id']}", headers=api.viewer), 403)
    assert len(api.client.get("/api/v1/watches", headers=api.viewer).json()["items"]) == 1


@pytest.mark.parametrize(
    ("body", "status", "detail"),
    [
        ({"repository": "quay.io/org/app"}, 422, "not in allowed_registries"),
        ({"repository": f"{REGISTRY}/app:1.2"}, 422, "not a tag or digest"),
        ({"repository": f"{REGISTRY}/App"}, 422, "repository"),
        ({"repository": f"{REGISTRY}/app", "tags": []}, 422, "tags"),
        ({"repository": f"{REGISTRY}/app", "tags": "*"}, 422, "tags"),
        ({"repository": f"{REGISTRY}/app", "extra": 1}, 422, "extra"),
        ({"repository": 5}, 422, "repository"),
        ({}, 422, "repository"),
    ],
)
def test_malformed_watches_are_refused_and_change_nothing(
    api: Api, body: dict[str, object], status: int, detail: str
) -> None:
    problem = is_problem(api.client.post("/api/v1/watches", json=body, headers=api.admin), status)
    assert detail in str(problem["detail"])
    assert api.client.get("/api/v1/watches", headers=api.admin).json()["items"] == []


def test_bad_json_duplicates_oversized_bodies_and_cursors(api: Api) -> None:
    headers = {**api.admin, "Content-Type": "application/json"}
    is_problem(api.client.post("/api/v1/watches", content=b"{not json", headers=headers), 422)
    body = {"repository": f"{REGISTRY}/app"}
    assert api.client.post("/api/v1/watches", json=body, headers=api.admin).status_code == 201
    conflict = is_problem(api.client.post("/api/v1/watches", json=body, headers=api.admin), 409)
    assert "watched already" in str(conflict["detail"])
    huge = b'{"repository": "' + b"a" * (MAX_BODY_BYTES + 1) + b'"}'
    is_problem(api.client.post("/api/v1/watches", content=huge, headers=headers), 413)
    is_problem(api.client.get("/api/v1/watches?cursor=bm9wZQ", headers=api.admin), 400)
    is_problem(api.client.get("/api/v1/watches?limit=0", headers=api.admin), 422)
    assert len(api.client.get("/api/v1/watches", headers=api.admin).json()["items"]) == 1


def test_the_openapi_document_describes_the_api(api: Api) -> None:
    document = api.client.get("/api/openapi.json", headers=api.viewer).json()
    assert document["openapi"].startswith("3.")
    assert {"/healthz", "/readyz", "/api/v1/watches", "/api/v1/watches/{watch_id}"} <= set(
        document["paths"]
    )
    assert document["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    assert document["paths"]["/healthz"]["get"]["security"] == []
    post = document["paths"]["/api/v1/watches"]["post"]
    assert PROBLEM in post["responses"]["422"]["content"]


def test_secrets_never_come_back(api: Api) -> None:
    token = api.admin["Authorization"].split()[1]
    for path in ("/api/v1/watches", "/api/openapi.json", "/readyz"):
        assert token not in api.client.get(path, headers=api.admin).text


@pytest.mark.parametrize(
    "content",
    [
        pytest.param(b"", id="empty"),
        pytest.param(b"not a database\n" * 300, id="garbage"),
        pytest.param(b"SQLite format 3\x00" + b"\xff" * 4080, id="truncated-header"),
    ],
)
def test_an_unusable_vulnerability_database_is_a_503_not_a_crash(
    tmp_path: Path, content: bytes
) -> None:
    vulndb = tmp_path / "vuln.db"
    vulndb.write_bytes(content)
    settings = ServeSettings.load(
        environ={"HOME": str(tmp_path)},
        default_vulndb=vulndb,
        flags={"database": f"sqlite+pysqlite:///{tmp_path}/service.db"},
    )
    engine = open_engine(settings.database)
    upgrade(engine)
    make = sessions(engine)
    with make() as session:
        token = bootstrap(session, "")
        session.commit()
    try:
        with TestClient(create_app(ServiceState(settings, engine, make))) as client:
            headers = {"Authorization": f"Bearer {token}"}
            body = is_problem(client.get("/api/v1/vulndb", headers=headers), 503)
            assert "unusable" in str(body["title"])
            assert client.get("/readyz", headers=headers).status_code == 200  # still serving
    finally:
        engine.dispose()
    assert vulndb.read_bytes() == content  # looked at, never repaired or replaced
