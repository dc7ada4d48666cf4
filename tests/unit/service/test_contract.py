"""A property-based contract test of the API (schemathesis): requests generated from the
service's own OpenAPI document, sent to the real app on a real database, must never get a 5xx
and every response must match the document."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from basewatch.service.app import create_app
from basewatch.service.auth import bootstrap
from basewatch.service.config import ServeSettings
from basewatch.service.db import open_engine, sessions, upgrade
from basewatch.service.http import ServiceState

TOKEN = "bw_" + "c" * 43


@pytest.fixture
def api_schema(tmp_path: Path) -> Iterator[Any]:
    url = f"sqlite+pysqlite:///{tmp_path}/contract.db"
    engine = open_engine(url)
    upgrade(engine)
    make = sessions(engine)
    with make() as session:
        bootstrap(session, TOKEN)
        session.commit()
    service = ServeSettings.load(
        environ={"HOME": str(tmp_path)},
        default_vulndb=tmp_path / "vuln.db",
        flags={"database": url, "allowed_registries": "127.0.0.1:5000"},
    )
    app = create_app(ServiceState(service, engine, make))
    yield schemathesis.openapi.from_asgi(
        "/api/openapi.json", app, headers={"Authorization": f"Bearer {TOKEN}"}
    )
    engine.dispose()


def test_the_api_keeps_its_contract(api_schema: Any) -> None:
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert {op.path for op in operations} >= {"/api/v1/watches", "/api/v1/images", "/readyz"}
    headers = {"Authorization": f"Bearer {TOKEN}"}
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=60,
            deadline=None,
            derandomize=True,  # the same cases on every run: CI does not land on luck
            suppress_health_check=list(HealthCheck),
        )
        def check(case: Any) -> None:
            # positive_data_acceptance is left out: a well-formed repository of a registry that
            # is not allowed is refused by design, and the schema cannot say which are allowed
            response = case.call_and_validate(
                headers=headers, excluded_checks=[positive_data_acceptance]
            )
            assert response.status_code < 500, response.text

        check()
