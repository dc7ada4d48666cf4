"""The service on PostgreSQL when the server restarts or stops under it (the harness itself is
tested in test_postgres_harness.py)."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from basewatch.service.app import create_app
from basewatch.service.auth import bootstrap
from basewatch.service.config import ServeSettings
from basewatch.service.db import open_engine, sessions, upgrade
from basewatch.service.http import ServiceState
from tests.service_support.postgres import PostgresCluster

pytestmark = pytest.mark.postgres


def test_the_api_carries_on_after_the_server_restarts(
    postgres_cluster: PostgresCluster, tmp_path: Path
) -> None:
    name = f"t_{uuid.uuid4().hex}"
    postgres_cluster.create_database(name)
    url = postgres_cluster.url(name)
    engine = open_engine(url)
    try:
        upgrade(engine)
        make = sessions(engine)
        with make() as session:
            token = bootstrap(session, "")
            session.commit()
        settings = ServeSettings.load(
            environ={"HOME": str(tmp_path)},
            default_vulndb=tmp_path / "vuln.db",
            flags={"database": url, "allowed_registries": "127.0.0.1:5000"},
        )
        headers = {"Authorization": f"Bearer {token}"}
        with TestClient(create_app(ServiceState(settings, engine, make))) as client:
            made = client.post(
                "/api/v1/watches", json={"repository": "127.0.0.1:5000/app"}, headers=headers
            )
            assert made.status_code == 201
            postgres_cluster.restart()  # every pooled connection is now dead
            listed = client.get("/api/v1/watches", headers=headers)
            assert listed.status_code == 200, listed.text
            assert [w["repository"] for w in listed.json()["items"]] == ["127.0.0.1:5000/app"]
            postgres_cluster.stop()
            down = client.get("/api/v1/watches", headers=headers)
            assert down.status_code == 503  # problem+json, not a traceback
            assert down.headers["content-type"].startswith("application/problem+json")
            postgres_cluster.start()
            assert client.get("/api/v1/watches", headers=headers).status_code == 200
    finally:
        engine.dispose()
        if not postgres_cluster.running():
            postgres_cluster.start()
        postgres_cluster.drop_database(name)
