"""The adapter's answers that need no registry: metadata, authentication, every kind of bad scan
request, report negotiation and errors, Harbor's webhooks, and its settings."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from basewatch.errors import ConfigError
from basewatch.service.config import ServeSettings
from basewatch.service.db import open_engine, sessions, upgrade
from basewatch.service.harbor.scans import Artifact, HarborScans
from basewatch.service.harbor.sealing import Sealer, fleet_key_warning, sealer_for
from basewatch.service.models import HarborScan, Watch
from basewatch.service.watcher import Watcher
from basewatch.settings import Settings
from tests.unit.service.harbor.conftest import (
    HARBOR_TOKEN,
    Harbor,
    basic,
    request_body,
)

ERROR = "application/vnd.scanner.adapter.error+json; version=1.0"
DIGEST = "sha256:" + "ab" * 32
UNREACHABLE = "127.0.0.1:9"


def test_metadata_names_the_capabilities(harbor_service: Harbor) -> None:
    answer = harbor_service.client.get("/harbor/api/v1/metadata", headers=harbor_service.auth)
    assert answer.status_code == 200
    assert answer.headers["content-type"] == (
        "application/vnd.scanner.adapter.metadata+json; version=1.1"
    )
    body = answer.json()
    assert body["scanner"]["name"] == "basewatch"
    kinds = {c["type"]: c for c in body["capabilities"]}
    assert kinds["vulnerability"]["produces_mime_types"] == [
        "application/vnd.scanner.adapter.vuln.report.harbor+json; version=1.0",
        "application/vnd.security.vulnerability.report; version=1.1",
        "application/vnd.scanner.adapter.vuln.report.raw",
    ]
    assert kinds["sbom"]["additional_attributes"]["sbom_media_types"] == [
        "application/spdx+json",
        "application/vnd.cyclonedx+json",
    ]
    for capability in kinds.values():
        assert capability["consumes_mime_types"] == [
            "application/vnd.oci.image.manifest.v1+json",
            "application/vnd.docker.distribution.manifest.v2+json",
        ]
    assert body["properties"]["harbor.scanner-adapter/scanner-type"] == "os-package-vulnerability"
    # no database yet: no date is claimed for it
    assert "harbor.scanner-adapter/vulnerability-database-updated-at" not in body["properties"]


@pytest.mark.parametrize(
    "header",
    [
        f"Bearer {HARBOR_TOKEN}",
        basic("harbor", HARBOR_TOKEN),  # Harbor's "Basic" authorization with the token
        f"Basic {HARBOR_TOKEN}",  # the credential pasted as it is
        f"bearer   {HARBOR_TOKEN}  ",
    ],
)
def test_the_adapter_token_is_accepted_as_harbor_sends_it(
    harbor_service: Harbor, header: str
) -> None:
    answer = harbor_service.client.get("/harbor/api/v1/metadata", headers={"Authorization": header})
    assert answer.status_code == 200, answer.text


@pytest.mark.parametrize(
    "header",
    ["", "Bearer", "Bearer wrong-token-0123456789", basic("harbor", "nope"), "Token x"],
)
def test_anything_else_is_refused(harbor_service: Harbor, header: str) -> None:
    headers = {"Authorization": header} if header else {}
    for method, path in (
        ("GET", "/harbor/api/v1/metadata"),
        ("POST", "/harbor/api/v1/scan"),
        ("GET", "/harbor/api/v1/scan/x/report"),
    ):
        answer = harbor_service.client.request(method, path, headers=headers)
        assert answer.status_code == 401, (method, path, answer.text)
        assert answer.headers["content-type"] == ERROR
        assert "WWW-Authenticate" in answer.headers
        assert HARBOR_TOKEN not in answer.text
    # nothing else is said before the caller is known: not even that a type is not produced
    answer = harbor_service.client.get(
        "/harbor/api/v1/scan/x/report", headers={**headers, "Accept": "text/html"}
    )
    assert answer.status_code == 401


@pytest.mark.harbor(token="")
def test_service_tokens_open_the_adapter_when_it_has_no_token_of_its_own(
    harbor_service: Harbor,
) -> None:
    client, admin = harbor_service.client, harbor_service.admin
    for header in (f"Bearer {admin}", basic("harbor", admin)):
        answer = client.get("/harbor/api/v1/metadata", headers={"Authorization": header})
        assert answer.status_code == 200, answer.text
    refused = client.get("/harbor/api/v1/metadata", headers={"Authorization": "Bearer bw_x"})
    assert refused.status_code == 401


# --- scan requests ---------------------------------------------------------------------------


def test_a_scan_request_is_accepted_and_stored_without_its_credential(
    harbor_service: Harbor,
) -> None:
    password = "robot-password-that-must-not-leak"
    body = request_body(
        UNREACHABLE, "library/app", DIGEST, basic("robot$scanner", password), tag="1.0"
    )
    body["artifact"]["mime_type"] = "application/vnd.oci.image.manifest.v1+json"
    answer = harbor_service.scan(body)
    assert answer.status_code == 202, answer.text
    assert answer.headers["content-type"] == (
        "application/vnd.scanner.adapter.scan.response+json; version=1.0"
    )
    scan_id = answer.json()["id"]
    with harbor_service.state.sessions() as session:
        job = session.get(HarborScan, scan_id)
        assert job is not None
        assert (job.repository, job.digest, job.tag) == ("library/app", DIGEST, "1.0")
        assert job.capabilities == {
            "vulnerability": [
                "application/vnd.scanner.adapter.vuln.report.harbor+json; version=1.0",
                "application/vnd.security.vulnerability.report; version=1.1",
                "application/vnd.scanner.adapter.vuln.report.raw",
            ],
            "sbom": ["application/spdx+json", "application/vnd.cyclonedx+json"],
        }
        stored = json.dumps([str(getattr(job, c.key)) for c in HarborScan.__table__.columns])
    assert password not in stored
    assert basic("robot$scanner", password).split()[1] not in stored


@pytest.mark.parametrize(
    ("body", "status", "says"),
    [
        (b"{not json", 400, "not JSON"),
        (b"[]", 400, "JSON object"),
        ({"registry": "x", "artifact": {}}, 400, "registry: expected an object"),
        ({"registry": {"url": 5}, "artifact": {}}, 400, "registry.url: expected a string"),
        ({"artifact": {"repository": "a", "digest": DIGEST}}, 422, "registry: missing"),
        ({"registry": {"url": f"http://{UNREACHABLE}"}}, 422, "artifact: missing"),
        (request_body(UNREACHABLE, "a", "sha256:12"), 422, "not a valid digest"),
        (request_body(UNREACHABLE, "Bad Name", DIGEST), 422, "artifact.repository"),
        (request_body(UNREACHABLE, "a", DIGEST, tag="no good"), 422, "artifact.tag"),
        (request_body("registry.example", "a", DIGEST), 422, "not in the service's allowed"),
        (
            {"registry": {"url": "ftp://127.0.0.1:9"}, "artifact": {"repository": "a"}},
            422,
            "base URL",
        ),
        (
            {"registry": {"url": "http://u:p@127.0.0.1:9"}, "artifact": {"repository": "a"}},
            422,
            "credentials",
        ),
        (request_body(UNREACHABLE, "a", DIGEST, "Basic !!!"), 422, "registry.authorization"),
        (request_body(UNREACHABLE, "a", DIGEST, "Digest xyz"), 422, "registry.authorization"),
        (
            request_body(UNREACHABLE, "a", DIGEST, mime_type="application/vnd.cncf.helm.v1"),
            501,
            "basewatch scans",
        ),
        (
            {**request_body(UNREACHABLE, "a", DIGEST), "enabled_capabilities": [{"type": "x"}]},
            501,
            "no 'x' capability",
        ),
        (
            {
                **request_body(UNREACHABLE, "a", DIGEST),
                "enabled_capabilities": [
                    {"type": "sbom", "parameters": {"sbom_media_types": ["text/plain"]}}
                ],
            },
            422,
            "does not produce text/plain",
        ),
        (
            {**request_body(UNREACHABLE, "a", DIGEST), "enabled_capabilities": "all"},
            400,
            "enabled_capabilities: expected an array",
        ),
    ],
)
def test_a_bad_scan_request_gets_the_error_the_spec_names(
    harbor_service: Harbor, body: Any, status: int, says: str
) -> None:
    answer = harbor_service.scan(body)
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == ERROR
    assert says in answer.json()["error"]["message"]
    with harbor_service.state.sessions() as session:
        assert session.scalars(select(HarborScan)).all() == []  # nothing half-stored


def test_a_bad_authorization_is_refused_without_echoing_it(harbor_service: Harbor) -> None:
    secret = "Basic " + "c2VjcmV0LW5vLWNvbG9u"  # base64 of "secret-no-colon"
    answer = harbor_service.scan(request_body(UNREACHABLE, "a", DIGEST, secret))
    assert answer.status_code == 422
    assert "c2VjcmV0" not in answer.text and "secret-no-colon" not in answer.text


def test_a_body_too_large_is_refused(harbor_service: Harbor) -> None:
    answer = harbor_service.scan(b"{" + b" " * (2 << 20) + b"}")
    assert answer.status_code == 413


# --- reports -----------------------------------------------------------------------------------


def test_an_unknown_report_is_404_with_no_body(harbor_service: Harbor) -> None:
    answer = harbor_service.client.get(
        "/harbor/api/v1/scan/3fa85f64-5717-4562-b3fc-2c963f66afa6/report",
        headers=harbor_service.auth,
    )
    assert answer.status_code == 404
    assert answer.content == b""


def _failed_job(harbor: Harbor) -> str:
    answer = harbor.scan(request_body(UNREACHABLE, "library/app", DIGEST))
    assert answer.status_code == 202
    scan_id = str(answer.json()["id"])
    from tests.service_support.process import wait_for

    def finished() -> bool:
        with harbor.state.sessions() as session:
            job = session.get(HarborScan, scan_id)
            return job is not None and job.state == "failed"

    wait_for(finished, 60, "the job to fail")
    return scan_id


def test_a_scan_that_fails_reports_500_with_why(harbor_service: Harbor) -> None:
    scan_id = _failed_job(harbor_service)
    answer = harbor_service.client.get(
        f"/harbor/api/v1/scan/{scan_id}/report", headers=harbor_service.auth
    )
    assert answer.status_code == 500
    assert answer.headers["content-type"] == ERROR
    assert "127.0.0.1:9" in answer.json()["error"]["message"]


@pytest.mark.parametrize(
    ("accept", "query", "status"),
    [
        ("application/vnd.security.sbom.report+json; version=1.0", "", 400),
        ("application/vnd.security.sbom.report+json; version=1.0", "?sbom_media_type=x", 400),
        ("text/html", "", 501),
    ],
)
def test_report_negotiation_errors(
    harbor_service: Harbor, accept: str, query: str, status: int
) -> None:
    scan_id = _failed_job(harbor_service)
    answer = harbor_service.client.get(
        f"/harbor/api/v1/scan/{scan_id}/report{query}",
        headers={**harbor_service.auth, "Accept": accept},
    )
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == ERROR


def test_a_pending_report_asks_to_come_back(harbor_service: Harbor) -> None:
    harbor_service.scans.stop()  # no worker takes it
    answer = harbor_service.scan(request_body(UNREACHABLE, "library/app", DIGEST))
    scan_id = answer.json()["id"]
    pending = harbor_service.client.get(
        f"/harbor/api/v1/scan/{scan_id}/report",
        headers=harbor_service.auth,
        follow_redirects=False,
    )
    assert pending.status_code == 302
    assert pending.headers["Refresh-After"] == "5"


# --- webhooks ----------------------------------------------------------------------------------


def _push(kind: str, repository: str, host: str) -> dict[str, Any]:
    data = {
        "resources": [
            {
                "digest": DIGEST,
                "tag": "1.0",
                "resource_url": f"{host}/{repository}:1.0",
            }
        ],
        "repository": {
            "date_created": 1700000000,
            "name": repository.rsplit("/", maxsplit=1)[-1],
            "namespace": repository.split("/", maxsplit=1)[0],
            "repo_full_name": repository,
            "repo_type": "private",
        },
    }
    if kind == "cloudevents":
        return {
            "specversion": "1.0",
            "id": "4b2f89a4-1a6e-4e0c-9d6e-2b1f1c1d2e3f",
            "source": "/projects/1/webhook/policies/1",
            "type": "harbor.artifact.pushed",
            "datacontenttype": "application/json",
            "time": "2026-12-02T09:00:00Z",
            "requestid": "2eedfab8-61d3-4f3c-8ec3-8f82d1ec4c84",
            "operator": "admin",
            "data": data,
        }
    return {
        "type": "PUSH_ARTIFACT",
        "occur_at": 1700000000,
        "operator": "admin",
        "event_data": data,
    }


@pytest.mark.parametrize("kind", ["default", "cloudevents"])
def test_a_harbor_push_to_a_watched_repository_is_polled(harbor_service: Harbor, kind: str) -> None:
    from datetime import UTC, datetime

    with harbor_service.state.sessions() as session:
        session.add(
            Watch(
                repository="harbor.example/library/app",
                tags=["*"],
                created_at=datetime(2026, 12, 1, tzinfo=UTC),
            )
        )
        session.commit()
    client = harbor_service.client
    # as Harbor sends them: CloudEvents in structured mode
    media = "application/cloudevents+json" if kind == "cloudevents" else "application/json"
    answer = client.post(
        "/harbor/webhook",
        content=json.dumps(_push(kind, "library/app", "harbor.example")),
        headers={**harbor_service.auth, "Content-Type": media},
    )
    assert answer.status_code == 202, answer.text
    assert answer.json() == {"pushes": 1, "watched": ["harbor.example/library/app"]}
    other = client.post(
        "/harbor/webhook", json=_push(kind, "library/other", "h"), headers=harbor_service.auth
    )
    assert other.json() == {"pushes": 1, "watched": []}
    deleted = _push(kind, "library/app", "harbor.example")
    deleted["type"] = "DELETE_ARTIFACT" if kind == "default" else "harbor.artifact.deleted"
    assert client.post("/harbor/webhook", json=deleted, headers=harbor_service.auth).json() == {
        "pushes": 0,
        "watched": [],
    }


@pytest.mark.parametrize("body", [b"nope", b"{}", b'{"type": "PUSH_ARTIFACT"}', b"[1]"])
def test_a_webhook_that_is_not_harbors_is_refused(harbor_service: Harbor, body: bytes) -> None:
    answer = harbor_service.client.post(
        "/harbor/webhook",
        content=body,
        headers={**harbor_service.auth, "Content-Type": "application/json"},
    )
    assert answer.status_code == 422
    assert answer.headers["content-type"] == "application/problem+json"


def test_a_webhook_needs_the_token(harbor_service: Harbor) -> None:
    answer = harbor_service.client.post(
        "/harbor/webhook", json=_push("default", "library/app", "h")
    )
    assert answer.status_code == 401


# --- settings and sealing ----------------------------------------------------------------------


def _settings(tmp_path: Path, text: str, **environ: str) -> ServeSettings:
    config = tmp_path / "serve.toml"
    config.write_text(text)
    return ServeSettings.load(
        environ={"HOME": str(tmp_path), **environ},
        default_vulndb=tmp_path / "v.db",
        config=config,
    )


def test_the_harbor_table_is_read(tmp_path: Path) -> None:
    settings = _settings(
        tmp_path,
        '[serve.harbor]\nprefix = "/scanners/basewatch/"\ntoken = "0123456789abcdef"\n'
        "concurrency = 5\n",
    )
    assert settings.harbor.prefix == "/scanners/basewatch"
    assert settings.harbor.token == "0123456789abcdef" and settings.harbor.concurrency == 5
    assert "0123456789abcdef" not in repr(settings)
    environment = _settings(tmp_path, "", BASEWATCH_HARBOR_CONCURRENCY="2")
    assert environment.harbor.concurrency == 2
    off = _settings(tmp_path, '[serve.harbor]\nprefix = "off"\n')
    assert not off.harbor.enabled


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ('[serve.harbor]\nprefix = "harbor"\n', "not a path prefix"),
        ('[serve.harbor]\nprefix = "/api"\n', "the service's own paths"),
        ("[serve.harbor]\nconcurrency = 0\n", "between 1 and 64"),
        ('[serve.harbor]\nconcurrency = "many"\n', "whole number"),
        ('[serve.harbor]\ntoken = "short"\n', "at least 16"),
        ("[serve.harbor]\nport = 1\n", "unknown setting(s) port"),
        ("[serve]\nharbor = 3\n", "must be a table"),
    ],
)
def test_bad_harbor_settings_say_where(tmp_path: Path, text: str, says: str) -> None:
    with pytest.raises(ConfigError, match=says.replace("(", r"\(").replace(")", r"\)")):
        _settings(tmp_path, text)


def test_the_key_file_is_made_once_and_private(tmp_path: Path) -> None:
    settings = _settings(tmp_path, "")
    assert settings.harbor.key_file is not None
    first = sealer_for(settings.harbor)
    path = settings.harbor.key_file
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    sealed = first.seal("Basic dXNlcjpwYXNz")
    assert "dXNlcjpwYXNz" not in sealed
    assert sealer_for(settings.harbor).open(sealed) == "Basic dXNlcjpwYXNz"  # read back
    assert Sealer(_new_key()).open(sealed) is None  # another key opens nothing
    assert first.open("garbage") is None


def _new_key() -> bytes:
    from cryptography.fernet import Fernet

    return Fernet.generate_key()


def test_a_key_readable_by_others_or_not_a_key_is_refused(tmp_path: Path) -> None:
    settings = _settings(tmp_path, "")
    assert settings.harbor.key_file is not None
    sealer_for(settings.harbor)
    os.chmod(settings.harbor.key_file, 0o644)
    with pytest.raises(ConfigError, match="chmod 600"):
        sealer_for(settings.harbor)
    given = _settings(tmp_path, "", BASEWATCH_HARBOR_KEY="not-a-key")
    with pytest.raises(ConfigError, match="not a Fernet key"):
        sealer_for(given.harbor)
    fifo = tmp_path / "fifo-home"
    (fifo / ".local" / "share" / "basewatch").mkdir(parents=True)
    os.mkfifo(fifo / ".local" / "share" / "basewatch" / "harbor.key")
    in_fifo = ServeSettings.load(environ={"HOME": str(fifo)}, default_vulndb=tmp_path / "v.db")
    with pytest.raises(ConfigError, match="not a regular file"):
        sealer_for(in_fifo.harbor)


def test_a_fleet_process_with_only_its_own_key_file_is_warned(tmp_path: Path) -> None:
    own_file = _settings(tmp_path, "")
    said = fleet_key_warning(own_file.harbor)
    assert "BASEWATCH_HARBOR_KEY" in said and str(own_file.harbor.key_file) in said
    key = _new_key().decode()
    assert fleet_key_warning(_settings(tmp_path, "", BASEWATCH_HARBOR_KEY=key).harbor) == ""
    assert fleet_key_warning(_settings(tmp_path, '[serve.harbor]\nprefix = "off"\n').harbor) == ""


def test_a_credential_sealed_under_another_key_fails_its_job_saying_why(tmp_path: Path) -> None:
    """A fleet's worker whose key is not the service's: the job fails with the reason, and the
    sealed credential is dropped all the same."""
    settings = ServeSettings.load(
        environ={"HOME": str(tmp_path / "home")},
        default_vulndb=tmp_path / "v.db",
        flags={
            "database": f"sqlite+pysqlite:///{tmp_path}/service.db",
            "allowed_registries": UNREACHABLE,
        },
    )
    engine = open_engine(settings.database)
    upgrade(engine)
    make = sessions(engine)
    core = Settings.load(environ={}, cache_dir=tmp_path / "cache", read_config=False)
    watcher = Watcher(make, settings, core)
    service = HarborScans(make, settings, watcher, Sealer(_new_key()))
    worker = HarborScans(make, settings, watcher, Sealer(_new_key()))
    artifact = Artifact(
        f"http://{UNREACHABLE}", "library/app", DIGEST, "1.0", authorization=basic("robot", "pw")
    )
    with make() as session:
        job_id = service.submit(session, artifact)
        session.commit()
    worker.run_job(job_id)
    with make() as session:
        job = session.get(HarborScan, job_id)
        assert job is not None
        assert (job.state, job.credential, job.image_digest) == ("failed", None, None)
        assert "this worker's [serve.harbor] key is not the service's" in job.error
    engine.dispose()
