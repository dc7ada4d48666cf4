"""The PostgreSQL side: the throwaway cluster itself, and the service carrying on when the
server restarts under it."""

from __future__ import annotations

import socket
import subprocess
import uuid
from pathlib import Path

import psycopg
import pytest
from fastapi.testclient import TestClient

from basewatch.service.app import ServiceState, create_app
from basewatch.service.auth import bootstrap
from basewatch.service.config import ServeSettings
from basewatch.service.db import open_engine, sessions, upgrade
from tests.service_support.postgres import PostgresCluster

pytestmark = pytest.mark.postgres


def test_databases_are_isolated_and_survive_a_restart(postgres_cluster: PostgresCluster) -> None:
    one, two = f"t_{uuid.uuid4().hex}", f"t_{uuid.uuid4().hex}"
    postgres_cluster.create_database(one)
    postgres_cluster.create_database(two)
    try:
        with psycopg.connect(postgres_cluster.dsn(one), autocommit=True) as connection:
            connection.execute("CREATE TABLE kept (v TEXT)")
            connection.execute("INSERT INTO kept VALUES ('x')")
        with psycopg.connect(postgres_cluster.dsn(two)) as connection:
            tables = connection.execute("SELECT count(*) FROM pg_tables WHERE tablename = 'kept'")
            assert tables.fetchone() == (0,)
        postgres_cluster.restart()
        with psycopg.connect(postgres_cluster.dsn(one)) as connection:
            assert connection.execute("SELECT v FROM kept").fetchall() == [("x",)]
    finally:
        postgres_cluster.drop_database(one)
        postgres_cluster.drop_database(two)


def test_the_cluster_listens_on_loopback_only(postgres_cluster: PostgresCluster) -> None:
    with psycopg.connect(postgres_cluster.dsn("postgres")) as connection:
        row = connection.execute("SHOW listen_addresses").fetchone()
    assert row == ("127.0.0.1",)
    with socket.socket() as sock:
        assert sock.connect_ex(("127.0.0.1", postgres_cluster.port)) == 0


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


def test_nothing_of_a_cluster_is_left_after_it(tmp_path: Path) -> None:
    from tests.service_support.postgres import throwaway_cluster, unavailable

    if unavailable():
        pytest.skip(unavailable())
    with throwaway_cluster(tmp_path) as cluster:
        data = cluster.data
        assert cluster.running()
    assert not data.exists()
    leftover = subprocess.run(
        ["pgrep", "-f", str(data)], capture_output=True, text=True, check=False
    )
    assert leftover.stdout.strip() == ""
