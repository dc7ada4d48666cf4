"""The scenario of the service's tests, as a user runs it: a real docker-registry on loopback
whose notifications go to `basewatch serve` (a process), real images pushed with skopeo, OSV
records imported by another process, and a webhook receiver that checks signatures.

`running_world(tmp, database)` starts the registry and the receiver and prepares the service
(not started: `world.serve.start()`); the tests push the base (`push_base`), the app built on it
(`push_app`), import records (`import_records(record())`) and watch the app (`start_watching`).
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from basewatch.service.models import Event
from tests.fixtures import shared_fixture
from tests.integration import registry_server as rs
from tests.service_support import images
from tests.service_support.process import ServeProcess
from tests.service_support.webhook import Receiver, reserve_port

OLD, NEW = "1.36.1-r29", "1.36.1-r30"
SECRET = "whsec_" + base64.b64encode(b"a shared secret of 32 bytes long").decode()
ADMIN = "bw_" + "a" * 43  # BASEWATCH_ADMIN_TOKEN: the first admin token
ADVISORY = "ALPINE-TEST-0300"
ALIAS = "CVE-2099-0300"


def record(modified: str = "2026-11-01T00:00:00Z") -> dict[str, Any]:
    return {
        "id": ADVISORY,
        "aliases": [ALIAS],
        "modified": modified,
        "affected": [
            {
                "package": {"ecosystem": "Alpine:v3.20", "name": "busybox"},
                "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": NEW}]}],
            }
        ],
        "database_specific": {"severity": "CRITICAL"},
    }


def import_records(vulndb: Path, work: Path, *records: dict[str, Any]) -> None:
    """`basewatch db import` of `records` (OSV JSON) into `vulndb`, as another process (a
    service's or a worker's own update) would; the record files go under `work`."""
    directory = work / f"records-{time.monotonic_ns()}"
    directory.mkdir(parents=True)
    for item in records:
        (directory / f"{item['id']}.json").write_text(json.dumps(item))
    command = [sys.executable, "-m", "basewatch", "db", "import", str(directory), "-q"]
    command += ["--db", str(vulndb)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr


@dataclass
class World:
    registry: rs.RunningRegistry
    serve: ServeProcess
    receiver: Receiver
    work: Path

    def push_base(self, upgraded: bool) -> None:
        rootfs = shared_fixture(images.ALPINE)
        extra = [images.upgraded(rootfs, OLD, NEW)] if upgraded else []
        layout = images.stacked_layout(self.work / f"base-{upgraded}", "3.20", rootfs, extra)
        self.registry.push(f"oci:{layout}:3.20", "base:3.20")

    def push_app(self, tag: str) -> None:
        rootfs = shared_fixture(images.ALPINE)
        layout = images.stacked_layout(
            self.work / f"app-{tag}",
            tag,
            rootfs,
            [images.app_layer()],
            labels={"org.opencontainers.image.base.name": f"{self.registry.host}/base:3.20"},
        )
        self.registry.push(f"oci:{layout}:{tag}", f"app:{tag}")

    def import_records(self, *records: dict[str, Any]) -> None:
        """`basewatch db import`, run as another process on the service's database file."""
        import_records(self.serve.vulndb, self.work, *records)

    def events(self, kind: str = "") -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        cursor = None
        while True:
            params: dict[str, Any] = {"limit": 500}
            if kind:
                params["type"] = kind
            if cursor:
                params["cursor"] = cursor
            page = self.serve.get("/api/v1/events", **params)
            found.extend(page["items"])
            cursor = page["next_cursor"]
            if not cursor:
                return found

    def events_in_database(self, kind: str) -> int:
        """Events of `kind` in the outbox, read from the database (the service may be down)."""
        engine = create_engine(self.serve.database)
        try:
            with Session(engine) as session:
                found = session.scalars(select(Event.id).where(Event.type == kind)).all()
                return len(found)
        finally:
            engine.dispose()

    def start_watching(self) -> None:
        self.serve.post(
            "/api/v1/notifiers",
            {"name": "hook", "kind": "webhook", "url": self.receiver.url, "secret": SECRET},
        )
        self.serve.post("/api/v1/watches", {"repository": f"{self.registry.host}/app"})


@contextmanager
def running_world(tmp_path: Path, database_url: str, **config: Any) -> Iterator[World]:
    """The registry, the receiver and the (not yet started) service; `config` adds to or
    overrides the `[serve]` section."""
    port = reserve_port()
    receiver = Receiver(SECRET)
    receiver.start()
    with rs.run_registry(
        tmp_path / "registry",
        notify=(f"http://127.0.0.1:{port}/api/v1/events/registry", ADMIN),
    ) as registry:
        serve = ServeProcess(
            workdir=tmp_path / "serve",
            port=port,
            database=database_url,
            vulndb=tmp_path / "vuln.db",
            config={
                "allowed_registries": [registry.host],
                "allowed_notifier_hosts": ["127.0.0.1"],
                # pushes are noticed by notification; the poll is only the backstop
                "poll_interval": "1h",
                "vulndb_check_interval": "500ms",
                "delivery_retry_max": "1s",
                **config,
            },
            admin_token=ADMIN,
        )
        try:
            yield World(registry, serve, receiver, tmp_path / "work")
        finally:
            serve.close()
            receiver.stop()
