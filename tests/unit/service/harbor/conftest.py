"""The service with Harbor's scanner adapter, in this process: the app (FastAPI's test client, so
its lifespan runs the scan workers) over a fresh database, a watcher that indexes what Harbor
asks for (its poll loop is not started), and the adapter's token."""

from __future__ import annotations

import base64
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from basewatch.clock import FixedClock
from basewatch.service.app import create_app
from basewatch.service.auth import bootstrap
from basewatch.service.config import ServeSettings
from basewatch.service.db import open_engine, sessions, upgrade
from basewatch.service.harbor.scans import HarborScans
from basewatch.service.harbor.sealing import sealer_for
from basewatch.service.http import ServiceState
from basewatch.service.watcher import Watcher
from basewatch.settings import Settings
from tests.fixtures import shared_fixture
from tests.integration import images as built
from tests.integration import registry_server as rs
from tests.service_support.server import serving

HARBOR_TOKEN = "harbor-adapter-token-0123456789"
SCAN_REQUEST = "application/vnd.scanner.adapter.scan.request+json; version=1.1"


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@dataclass
class Harbor:
    client: TestClient | httpx.Client
    state: ServiceState
    scans: HarborScans
    admin: str  # the service's own admin token
    core: Settings
    home: Path
    url: str = ""  # over HTTP: the service's base URL

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {HARBOR_TOKEN}"}

    def scan(self, body: dict[str, Any] | bytes, **headers: str) -> Any:
        content = body if isinstance(body, bytes) else None
        return self.client.post(
            "/harbor/api/v1/scan",
            content=content,
            json=None if content is not None else body,
            headers={"Content-Type": SCAN_REQUEST, **self.auth, **headers},
        )


def request_body(
    registry: str, repository: str, digest: str, authorization: str = "", **artifact: str
) -> dict[str, Any]:
    return {
        "registry": {"url": f"http://{registry}", "authorization": authorization},
        "artifact": {"repository": repository, "digest": digest, **artifact},
    }


@pytest.fixture
def harbor_service(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Harbor]:
    """`running_harbor` on SQLite."""
    with running_harbor(f"sqlite+pysqlite:///{tmp_path}/service.db", tmp_path, request) as found:
        yield found


@contextmanager
def running_harbor(
    database_url: str, tmp_path: Path, request: pytest.FixtureRequest, *, over_http: bool = False
) -> Iterator[Harbor]:
    """The service with the adapter at /harbor. The test's `harbor` marker may set `allowed`
    (allowed_registries; else 127.0.0.1:9, where nothing answers) and `token` (the adapter's,
    "" for none; else HARBOR_TOKEN) and `concurrency` (3)."""
    marker = request.node.get_closest_marker("harbor")
    options = dict(marker.kwargs) if marker else {}
    allowed = str(options.get("allowed", "127.0.0.1:9"))
    token = str(options.get("token", HARBOR_TOKEN))
    home = tmp_path / "home"
    settings = ServeSettings.load(
        environ={
            "HOME": str(home),
            "BASEWATCH_HARBOR_CONCURRENCY": str(options.get("concurrency", 3)),
            **({"BASEWATCH_HARBOR_TOKEN": token} if token else {}),
        },
        default_vulndb=tmp_path / "vuln.db",
        flags={"database": database_url, "allowed_registries": allowed},
    )
    core = Settings.load(environ={}, cache_dir=tmp_path / "cache", read_config=False)
    engine = open_engine(database_url)
    upgrade(engine)
    make = sessions(engine)
    clock = FixedClock(datetime(2026, 12, 2, 9, 0, tzinfo=UTC))
    with make() as session:
        admin = bootstrap(session, "", clock)
        session.commit()
    assert admin is not None
    watcher = Watcher(make, settings, core, clock)
    scans = HarborScans(
        make, settings, watcher, sealer_for(settings.harbor), clock, transient_wait=0.05
    )
    state = ServiceState(settings, engine, make, clock, harbor=scans)
    app = create_app(state)
    try:
        if over_http:  # a real server (its lifespan runs the workers), at `Harbor.url`
            with serving(app) as url, httpx.Client(base_url=url, timeout=60) as client:
                yield Harbor(client, state, scans, admin, core, home, url)
        else:
            with TestClient(app) as test_client:
                yield Harbor(test_client, state, scans, admin, core, home)
    finally:
        engine.dispose()


ALPINE = "images/alpine-minirootfs-3.20.3-x86_64.tar.gz"


class Pushed:
    """A registry with htpasswd auth holding the Alpine fixture and bookworm-pip."""

    def __init__(self, registry: rs.RunningRegistry, work: Path) -> None:
        self.registry = registry
        alpine = rs.layout_from_rootfs(shared_fixture(ALPINE), work / "alpine", "3.20.3")
        registry.push(f"oci:{alpine}:3.20.3", "library/alpine:3.20.3")
        self.pip_archive = built.build(built.BOOKWORM_PIP).ref("docker-archive")
        registry.push(self.pip_archive, "library/pip:1")
        self.alpine = self.digest("library/alpine:3.20.3")
        self.pip = self.digest("library/pip:1")

    def digest(self, repo_tag: str) -> str:
        return self.digest_in(self.registry, repo_tag)

    @staticmethod
    def digest_in(registry: rs.RunningRegistry, repo_tag: str) -> str:
        """The digest `repo_tag` points to in `registry` (asked with skopeo, with the test's
        credentials)."""
        done = subprocess.run(
            [
                *("skopeo", "inspect", "--tls-verify=false", "--format", "{{.Digest}}"),
                *("--creds", f"{rs.USERNAME}:{rs.PASSWORD}"),
                f"docker://{registry.host}/{repo_tag}",
            ],
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
        return done.stdout.strip()


@pytest.fixture(scope="session")
def pushed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pushed]:
    missing = rs.missing_tools()
    if missing:
        pytest.skip(f"registry tests need {', '.join(missing)}")
    work = tmp_path_factory.mktemp("harbor-registry")
    with rs.run_registry(work / "registry", auth="htpasswd") as registry:
        yield Pushed(registry, work)
