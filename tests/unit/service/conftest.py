"""The service's tests run on both databases it supports: the embedded SQLite and a real
PostgreSQL (one throwaway cluster per session, started only when a test asks for it, and a fresh
database per test).

Where no cluster can be made (no postgresql package, no postgres user) the PostgreSQL tests are
skipped with the reason, except under CI (`CI=true`), where that is a broken setup and fails.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.service_support.postgres import PostgresCluster, throwaway_cluster, unavailable


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


@pytest.fixture(scope="session")
def postgres_available() -> None:
    """Skips (fails under CI) when no throwaway cluster can be made here."""
    why = unavailable()
    if why:
        if in_ci():
            pytest.fail(f"CI must test PostgreSQL, but {why}", pytrace=False)
        pytest.skip(why)


@pytest.fixture(scope="session")
def postgres_cluster(
    postgres_available: None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[PostgresCluster]:
    """A running throwaway cluster, shared by the session (its log stays in the session's tmp)."""
    with throwaway_cluster(tmp_path_factory.mktemp("postgres")) as cluster:
        yield cluster


@pytest.fixture(
    params=[
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres),
    ]
)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The SQLAlchemy URL of an empty database: a SQLite file, or a new PostgreSQL database
    dropped after the test (connections still open to it are terminated)."""
    if request.param == "sqlite":
        yield f"sqlite+pysqlite:///{tmp_path}/service.db"
        return
    # Looked up here, not declared, so a run of the SQLite tests alone starts no cluster.
    cluster: PostgresCluster = request.getfixturevalue("postgres_cluster")
    if not cluster.running():  # a test that stopped it and failed before starting it again
        cluster.start()
    name = f"t_{uuid.uuid4().hex}"
    cluster.create_database(name)
    try:
        yield cluster.url(name)
    finally:
        if not cluster.running():
            cluster.start()
        cluster.drop_database(name)
