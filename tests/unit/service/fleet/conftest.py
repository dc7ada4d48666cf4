"""A database of its own for each fleet test, on the session's throwaway PostgreSQL cluster,
made by the service's migrations (procrastinate's schema with them)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine

from basewatch.service.db import open_engine, upgrade
from tests.service_support.postgres import PostgresCluster


@pytest.fixture
def engine(postgres_cluster: PostgresCluster) -> Iterator[Engine]:
    name = f"f_{uuid.uuid4().hex}"
    postgres_cluster.create_database(name)
    found = open_engine(postgres_cluster.url(name))
    upgrade(found)
    try:
        yield found
    finally:
        found.dispose()
        postgres_cluster.drop_database(name)
