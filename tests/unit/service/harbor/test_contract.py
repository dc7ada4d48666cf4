"""Harbor's own spec as the contract (schemathesis): requests generated from
`harbor-scanner-adapter-openapi-v1.2.yaml` (not from basewatch's OpenAPI document), valid and
invalid, sent over HTTP to the service on a real database, with real scans behind the report
ids; every answer must be one the spec documents (status, media type, headers, body schema)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from basewatch.jobs.db import import_files
from basewatch.service.models import HarborScan
from basewatch.settings import Settings
from tests.fixtures import shared_fixture
from tests.integration import registry_server as rs
from tests.service_support.process import wait_for
from tests.unit.service.harbor.conftest import (
    HARBOR_TOKEN,
    SCAN_REQUEST,
    Pushed,
    basic,
    request_body,
    running_harbor,
)

pytestmark = pytest.mark.integration

SPEC = shared_fixture("specs/harbor-scanner-adapter-openapi-v1.2.yaml")
CHECKS = [
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
REPORT_TYPES = (
    "application/vnd.scanner.adapter.vuln.report.harbor+json; version=1.0",
    "application/vnd.security.vulnerability.report; version=1.1",
    "application/vnd.scanner.adapter.vuln.report.raw",
    "application/vnd.security.sbom.report+json; version=1.0",
)


class Served:
    def __init__(self, url: str, done: str, failed: str, running: str) -> None:
        self.url, self.done, self.failed, self.running = url, done, failed, running
        self.headers = {"Authorization": f"Bearer {HARBOR_TOKEN}"}

    @property
    def base(self) -> str:
        return f"{self.url}/harbor/api/v1"


@pytest.fixture
def served(pushed: Pushed, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Served]:
    """The service over HTTP, with a scan that is done (the Alpine fixture), one that failed
    (a wrong password) and one still running."""
    request.node.add_marker(pytest.mark.harbor(allowed=pushed.registry.host))
    cli = Settings.load(
        environ={}, cache_dir=tmp_path / "cli-cache", db=tmp_path / "vuln.db", read_config=False
    )
    import_files([shared_fixture("alpine-secdb-2020/main.json")], cli)
    database = f"sqlite+pysqlite:///{tmp_path}/c.db"
    with running_harbor(database, tmp_path, request, over_http=True) as harbor:
        url = harbor.url
        headers = {"Authorization": f"Bearer {HARBOR_TOKEN}", "Content-Type": SCAN_REQUEST}
        ids = []
        for repository, digest, authorization in (
            ("library/alpine", pushed.alpine, basic(rs.USERNAME, rs.PASSWORD)),
            ("library/pip", pushed.pip, basic("x", "wrong")),
        ):
            body = request_body(pushed.registry.host, repository, digest, authorization)
            answer = httpx.post(f"{url}/harbor/api/v1/scan", json=body, headers=headers)
            assert answer.status_code == 202, answer.text
            ids.append(answer.json()["id"])

        def settled() -> bool:
            with harbor.state.sessions() as session:
                states = [session.get(HarborScan, i) for i in ids]
                return all(s is not None and s.state in ("done", "failed") for s in states)

        wait_for(settled, 120, "both scans to finish")
        with harbor.state.sessions() as session:
            now = datetime(2026, 12, 2, tzinfo=UTC)
            session.add(
                HarborScan(
                    id="running-" + "0" * 20,
                    state="running",  # what a worker holds: its report is not ready
                    registry_url=f"http://{pushed.registry.host}",
                    repository="library/alpine",
                    digest=pushed.alpine,
                    tag="",
                    mime_type="",
                    capabilities={},
                    credential=None,
                    image_digest=None,
                    reused=False,
                    attempts=1,
                    error="",
                    created_at=now,
                    updated_at=now,
                )
            )
            session.commit()
        yield Served(url, ids[0], ids[1], "running-" + "0" * 20)


def _schema(served: Served) -> Any:
    schema = schemathesis.openapi.from_path(SPEC)
    schema.config.update(base_url=served.base)
    return schema


def _run(operation: Any, served: Served, mode: GenerationMode, **fixed: Any) -> list[int]:
    """Up to 40 generated cases of `operation` (`fixed` pins some of their parts), each
    checked against the spec; the statuses seen."""
    seen: list[int] = []
    checks = list(CHECKS)
    if mode is GenerationMode.NEGATIVE:
        checks.append(negative_data_rejection)

    @given(case=operation.as_strategy(generation_mode=mode, **fixed))
    @settings(
        max_examples=40,
        deadline=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    def check(case: Any) -> None:
        case.headers = {**(case.headers or {}), **served.headers}
        response = case.call(base_url=served.base)
        case.validate_response(response, checks=checks)
        seen.append(response.status_code)

    check()
    return seen


def test_every_operation_keeps_harbors_contract(served: Served) -> None:
    schema = _schema(served)
    operations = {
        (o.method.upper(), o.path): o for o in (r.ok() for r in schema.get_all_operations())
    }
    assert set(operations) == {
        ("GET", "/metadata"),
        ("POST", "/scan"),
        ("GET", "/scan/{scan_request_id}/report"),
    }
    statuses: set[int] = set()
    for operation in operations.values():
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            statuses.update(_run(operation, served, mode))
    report = operations[("GET", "/scan/{scan_request_id}/report")]
    for scan_id in (served.done, served.failed, served.running):
        for accept in REPORT_TYPES:
            statuses.update(
                _run(
                    report,
                    served,
                    GenerationMode.POSITIVE,
                    path_parameters={"scan_request_id": scan_id},
                    headers={"Accept": accept},
                )
            )
    # the generated cases reached every documented kind of answer
    assert {200, 302, 400, 404, 422, 500, 501} <= statuses, statuses


@pytest.mark.parametrize("accept", REPORT_TYPES)
def test_each_report_type_of_a_done_scan_matches_its_schema(served: Served, accept: str) -> None:
    schema = _schema(served)
    report = schema["/scan/{scan_request_id}/report"]["GET"]
    query = {"sbom_media_type": "application/vnd.cyclonedx+json"} if "sbom" in accept else {}
    case = report.Case(
        path_parameters={"scan_request_id": served.done},
        headers={**served.headers, "Accept": accept},
        query=query,
    )
    response = case.call(base_url=served.base)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == [accept]
    case.validate_response(response, checks=CHECKS)


def test_scan_requests_in_both_request_versions(served: Served, pushed: Pushed) -> None:
    schema = _schema(served)
    scan = schema["/scan"]["POST"]
    for media in (SCAN_REQUEST, SCAN_REQUEST.replace("1.1", "1.0")):
        for registry, status in (("127.0.0.1:9", 422), (pushed.registry.host, 202)):
            case = scan.Case(
                body=request_body(
                    registry, "library/alpine", pushed.alpine, basic(rs.USERNAME, rs.PASSWORD)
                ),
                media_type=media,
                headers=served.headers,
            )
            response = case.call(base_url=served.base)
            # a registry that is not allowed is refused as the spec says
            assert response.status_code == status, response.text
            case.validate_response(response, checks=CHECKS)
