"""Harbor's flow against a real registry: Debian's docker-registry on loopback with htpasswd
auth, real images pushed with skopeo, a scan request with `Basic base64(user:pass)` as Harbor
sends its robot account, reports polled until they are ready, and the same report id answering
with new findings after `db import`, all without the password reaching a log line, a response
or the store."""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from sqlalchemy import MetaData, select

from basewatch.jobs.db import import_files
from basewatch.jobs.scan import ScanRequest, scan
from basewatch.jobs.seams import Seams
from basewatch.service.models import Event, HarborScan, Image
from basewatch.service.reevaluate import Reevaluator
from basewatch.settings import Settings
from tests.fixtures import shared_fixture
from tests.integration import registry_server as rs
from tests.service_support.process import wait_for
from tests.service_support.scenario import ADVISORY, record
from tests.unit.report.test_spdx import schema_errors as spdx_errors
from tests.unit.service.harbor.conftest import Harbor, Pushed, basic, request_body

pytestmark = pytest.mark.integration


def validate_cyclonedx(document: dict[str, Any]) -> None:
    from cyclonedx.schema import SchemaVersion
    from cyclonedx.validation.json import JsonStrictValidator

    version = {"1.6": SchemaVersion.V1_6, "1.5": SchemaVersion.V1_5}[document["specVersion"]]
    assert JsonStrictValidator(version).validate_str(json.dumps(document)) is None


def validate_spdx(document: dict[str, Any]) -> None:
    assert spdx_errors(document) == []


ALPINE = "images/alpine-minirootfs-3.20.3-x86_64.tar.gz"
PYPI = "osv/PyPI.zip"
VULN = "application/vnd.scanner.adapter.vuln.report.harbor+json; version=1.0"
SECURITY = "application/vnd.security.vulnerability.report; version=1.1"
SBOM = "application/vnd.security.sbom.report+json; version=1.0"


def _report(harbor: Harbor, scan_id: str, accept: str, query: str = "") -> Any:
    def ready() -> Any:
        answer = harbor.client.get(
            f"/harbor/api/v1/scan/{scan_id}/report{query}",
            headers={**harbor.auth, "Accept": accept},
            follow_redirects=False,
        )
        if answer.status_code == 302:
            assert answer.headers["Refresh-After"].isdigit()
            return None
        return answer

    answer = wait_for(ready, 300, "the report")
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == accept
    return answer


def _everything_stored(harbor: Harbor) -> str:
    """Every value of every table, as text."""
    engine = harbor.state.engine
    metadata = MetaData()
    metadata.reflect(engine)
    rows: list[str] = []
    with engine.connect() as connection:
        for table in metadata.sorted_tables:
            rows.extend(repr(tuple(r)) for r in connection.execute(select(table)))
    return "\n".join(rows)


def test_the_harbor_flow_with_a_robot_account(
    pushed: Pushed,
    tmp_path: Path,
    database_url: str,
    request: pytest.FixtureRequest,
    caplog: pytest.LogCaptureFixture,
) -> None:
    from tests.unit.service.harbor.conftest import running_harbor

    caplog.set_level(logging.DEBUG)
    request.node.add_marker(pytest.mark.harbor(allowed=pushed.registry.host))
    import_files(
        [shared_fixture(PYPI)],
        Settings.load(
            environ={}, cache_dir=tmp_path / "cli-cache", db=tmp_path / "vuln.db", read_config=False
        ),
    )
    authorization = basic(rs.USERNAME, rs.PASSWORD)
    secrets = (rs.PASSWORD, authorization.split()[1])
    with running_harbor(database_url, tmp_path, request) as harbor:
        answers: list[str] = []
        properties = harbor.client.get("/harbor/api/v1/metadata", headers=harbor.auth).json()[
            "properties"
        ]
        updated = properties["harbor.scanner-adapter/vulnerability-database-updated-at"]
        assert datetime.fromisoformat(updated.replace("Z", "+00:00")).tzinfo is not None
        accepted = harbor.scan(
            request_body(
                pushed.registry.host,
                "library/pip",
                pushed.pip,
                authorization,
                tag="1",
                mime_type="application/vnd.docker.distribution.manifest.v2+json",
            )
        )
        assert accepted.status_code == 202, accepted.text
        scan_id = accepted.json()["id"]
        vulnerabilities = _report(harbor, scan_id, VULN)
        answers.append(vulnerabilities.text)
        report = vulnerabilities.json()

        # exactly what `basewatch scan` lists for the same image and database
        cli = Settings.load(
            environ={}, cache_dir=tmp_path / "cli-cache", db=tmp_path / "vuln.db", read_config=False
        )
        with Seams.default(cli, offline=True) as seams:
            expected = scan(ScanRequest(image=pushed.pip_archive, fetch=False), seams).result
        assert expected.findings, "the image has findings in the PyPI data"
        assert sorted(
            (v["id"], v["package"], v["version"]) for v in report["vulnerabilities"]
        ) == sorted((f.id, f.package.name, f.installed_version) for f in expected.findings)
        assert report["artifact"]["digest"] == pushed.pip
        assert report["scanner"]["name"] == "basewatch"

        raw = _report(harbor, scan_id, "application/vnd.scanner.adapter.vuln.report.raw")
        answers.append(raw.text)
        assert len(json.loads(raw.text)["findings"]) == len(report["vulnerabilities"])

        security = _report(harbor, scan_id, SECURITY)
        answers.append(security.text)
        assert len(security.json()["vulnerabilities"]) == len(report["vulnerabilities"])

        for media, validate in (
            ("application/vnd.cyclonedx+json", validate_cyclonedx),
            ("application/spdx+json", validate_spdx),
        ):
            sbom = _report(harbor, scan_id, SBOM, "?sbom_media_type=" + quote(media, safe=""))
            answers.append(sbom.text)
            document = sbom.json()
            assert document["media_type"] == media
            validate(document["sbom"])

        # the artifact is an indexed image of the service, under Harbor's registry
        listed = harbor.client.get(
            "/api/v1/images", headers={"Authorization": f"Bearer {harbor.admin}"}
        ).json()["items"]
        assert [(i["digest"], i["repository"]) for i in listed] == [
            (pushed.pip, f"{pushed.registry.host}/library/pip")
        ]
        with harbor.state.sessions() as session:
            job = session.get(HarborScan, scan_id)
            assert job is not None
            assert job.state == "done" and job.credential is None and not job.reused
        # and on the dashboard, like a watched image
        login = harbor.client.post(
            "/login", data={"token": harbor.admin, "next": "/images"}, follow_redirects=False
        )
        assert login.status_code == 303
        cookie = login.headers["set-cookie"].split(";", 1)[0]
        page = harbor.client.get("/images", headers={"Cookie": cookie})
        assert page.status_code == 200
        assert f"{pushed.registry.host}/library/pip" in page.text

        stored = _everything_stored(harbor)
        for secret in secrets:
            assert secret not in caplog.text
            assert all(secret not in text for text in answers)
            assert secret not in stored
        if database_url.startswith("sqlite"):
            raw = Path(database_url.split("///", 1)[1]).read_bytes()
            assert all(s.encode() not in raw for s in secrets)


def test_the_same_report_id_has_the_new_findings_after_a_db_import(
    pushed: Pushed, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    from tests.unit.service.harbor.conftest import running_harbor

    request.node.add_marker(pytest.mark.harbor(allowed=pushed.registry.host))
    database = f"sqlite+pysqlite:///{tmp_path}/service.db"
    cli = Settings.load(
        environ={}, cache_dir=tmp_path / "cli-cache", db=tmp_path / "vuln.db", read_config=False
    )
    import_files([shared_fixture(PYPI)], cli)  # nothing for Alpine yet
    with running_harbor(database, tmp_path, request) as harbor:
        accepted = harbor.scan(
            request_body(
                pushed.registry.host,
                "library/alpine",
                pushed.alpine,
                basic(rs.USERNAME, rs.PASSWORD),
            )
        )
        scan_id = accepted.json()["id"]
        before = _report(harbor, scan_id, VULN).json()
        assert before["vulnerabilities"] == []
        # and it does not look clean: what was not checked comes first
        attributes = before["vendor_attributes"]
        first = next(iter(attributes))
        assert "Alpine" in json.dumps(attributes[first])

        directory = tmp_path / "records"
        directory.mkdir()
        (directory / f"{ADVISORY}.json").write_text(json.dumps(record()))
        import_files([directory], cli)

        after = _report(harbor, scan_id, VULN).json()
        # and the artifact is re-evaluated like a watched image: its findings, with events
        reevaluator = Reevaluator(
            harbor.state.sessions, harbor.state.settings, harbor.core, harbor.state.clock
        )
        assert list(reevaluator.check().images) == [pushed.alpine]
        with harbor.state.sessions() as session:
            new = session.scalars(
                select(Event).where(Event.type == "findings.new", Event.digest == pushed.alpine)
            ).all()
            assert len(new) == 1 and new[0].repository == f"{pushed.registry.host}/library/alpine"
        # busybox is the source package of three installed ones
        assert sorted((v["id"], v["package"]) for v in after["vulnerabilities"]) == [
            ("CVE-2099-0300", "busybox"),
            ("CVE-2099-0300", "busybox-binsh"),
            ("CVE-2099-0300", "ssl_client"),
        ]
        assert after["severity"] == "Critical"
        with harbor.state.sessions() as session:
            assert session.scalars(select(HarborScan.id)).all() == [scan_id]  # no new request
            assert session.get(Image, pushed.alpine) is not None


def test_a_wrong_password_fails_the_scan_without_showing_it(
    pushed: Pushed, tmp_path: Path, request: pytest.FixtureRequest, caplog: pytest.LogCaptureFixture
) -> None:
    from tests.unit.service.harbor.conftest import running_harbor

    caplog.set_level(logging.DEBUG)
    request.node.add_marker(pytest.mark.harbor(allowed=pushed.registry.host))
    wrong = "not-the-password-of-the-robot"
    with running_harbor(f"sqlite+pysqlite:///{tmp_path}/s.db", tmp_path, request) as harbor:
        accepted = harbor.scan(
            request_body(pushed.registry.host, "library/alpine", pushed.alpine, basic("x", wrong))
        )
        scan_id = accepted.json()["id"]

        def failed() -> Any:
            answer = harbor.client.get(
                f"/harbor/api/v1/scan/{scan_id}/report",
                headers=harbor.auth,
                follow_redirects=False,
            )
            return answer if answer.status_code != 302 else None

        answer = wait_for(failed, 120, "the scan to fail")
        assert answer.status_code == 500
        message = answer.json()["error"]["message"]
        assert "credentials" in message
        encoded = base64.b64encode(f"x:{wrong}".encode()).decode()
        for text in (message, caplog.text, _everything_stored(harbor)):
            assert wrong not in text and encoded not in text


@pytest.fixture(scope="module")
def token_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[rs.RunningRegistry]:
    """A registry with token auth (the Docker Hub flow): the Alpine fixture as library/alpine."""
    missing = rs.missing_tools()
    if missing:
        pytest.skip(f"registry tests need {', '.join(missing)}")
    work = tmp_path_factory.mktemp("harbor-token-registry")
    layout = rs.layout_from_rootfs(shared_fixture(ALPINE), work / "alpine", "3.20.3")
    with rs.run_registry(work / "registry", auth="token") as registry:
        registry.push(f"oci:{layout}:3.20.3", "library/alpine:3.20.3")
        yield registry


def test_a_bearer_token_is_used_as_harbor_gave_it(
    token_registry: rs.RunningRegistry, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    from tests.unit.service.harbor.conftest import running_harbor

    server = token_registry.token_server
    assert server is not None
    jwt = server.token_for("repository:library/alpine:pull")
    digest = Pushed.digest_in(token_registry, "library/alpine:3.20.3")
    request.node.add_marker(pytest.mark.harbor(allowed=token_registry.host))
    cli = Settings.load(
        environ={}, cache_dir=tmp_path / "cli-cache", db=tmp_path / "vuln.db", read_config=False
    )
    import_files([shared_fixture(PYPI)], cli)
    asked = server.received
    with running_harbor(f"sqlite+pysqlite:///{tmp_path}/s.db", tmp_path, request) as harbor:
        accepted = harbor.scan(
            request_body(token_registry.host, "library/alpine", digest, f"Bearer {jwt}")
        )
        scan_id = accepted.json()["id"]
        report = _report(harbor, scan_id, VULN).json()
        assert report["artifact"]["digest"] == digest
        with harbor.state.sessions() as session:
            job = session.get(HarborScan, scan_id)
            assert job is not None and job.state == "done" and job.credential is None
        assert jwt not in _everything_stored(harbor)
    assert server.received == asked  # the token went to the registry as it is: no exchange
