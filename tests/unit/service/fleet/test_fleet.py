"""The fleet with real components: a throwaway PostgreSQL, a real docker-registry, `basewatch
serve --no-local-workers` and two `basewatch worker` processes, each in a network namespace of
its own (they share no files with the service; PostgreSQL, the registry and the webhook
receiver are reached over the network).

200 images (two real Alpine bases, one small layer of its own each) in 20 repositories: every
image is indexed exactly once (the store's rows, the workers' counts and the registry's access
log agree), each base layer is downloaded and analysed once for the whole fleet; a worker
killed with SIGKILL mid-way has its jobs handed back within the lease, and nothing is stored
or told twice; PostgreSQL restarted under the workers: they reconnect and finish; Harbor's scan
request is run by a worker, which opens the credential the service sealed under their shared key.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.orm import Session

from basewatch.service.models import Event, HarborScan, Image, ImageFinding, LayerAnalysisRow
from tests.integration import registry_server as rs
from tests.service_support.fleet import (
    FleetImage,
    FleetNetwork,
    WorkerProcess,
    blob_requests,
    fleet_layout,
    fleet_network,
    push_all,
)
from tests.service_support.postgres import PostgresCluster, throwaway_cluster
from tests.service_support.process import ServeProcess, wait_for
from tests.service_support.scenario import import_records
from tests.service_support.webhook import Receiver, reserve_port

pytestmark = [pytest.mark.postgres, pytest.mark.integration]

ADMIN = "bw_" + "f" * 43
SECRET = "whsec_" + "c2VjcmV0IG9mIGEgZmxlZXQncyB3ZWJob29rIHJlY2VpdmVy"
IMAGES, REPOSITORIES = 200, 20
LEASE = 6.0  # seconds: a worker silent this long is dead
ADVISORY, ALIAS = "ALPINE-FLEET-0001", "CVE-2099-4242"
DOING = "SELECT id FROM procrastinate_jobs WHERE status = 'doing'"
# Harbor's adapter: its token, and the key the service seals Harbor's credentials with and
# every worker opens them with (a worker on another machine has none of the service's files)
HARBOR_TOKEN = "harbor-adapter-token-of-a-fleet"
HARBOR = {
    "BASEWATCH_HARBOR_TOKEN": HARBOR_TOKEN,
    "BASEWATCH_HARBOR_KEY": base64.urlsafe_b64encode(b"32 bytes of a fleet's Harbor key").decode(),
}
ROBOT = "Basic " + base64.b64encode(b"robot$fleet:robot-password-never-shown").decode()
SCAN_REQUEST = "application/vnd.scanner.adapter.scan.request+json; version=1.1"
VULN_REPORT = "application/vnd.scanner.adapter.vuln.report.harbor+json; version=1.0"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"


def advisory(fixed: str, modified: str) -> dict[str, Any]:
    return {
        "id": ADVISORY,
        "aliases": [ALIAS],
        "modified": modified,
        "affected": [
            {
                "package": {"ecosystem": "Alpine:v3.20", "name": "busybox"},
                "ranges": [
                    {"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": fixed}]}
                ],
            }
        ],
        "database_specific": {"severity": "HIGH"},
    }


@dataclass
class Fleet:
    net: FleetNetwork
    cluster: PostgresCluster
    database: str  # as the service reaches it
    registry: rs.RunningRegistry
    serve: ServeProcess
    workers: list[WorkerProcess]
    receiver: Receiver
    images: list[FleetImage]
    tags: dict[str, list[str]]
    work: Path

    def engine_url(self) -> str:
        return self.database

    def query(self, statement: Any) -> Any:
        engine = create_engine(self.database)
        try:
            with Session(engine) as session:
                return session.execute(statement).all()
        finally:
            engine.dispose()

    def indexed(self) -> int:
        return int(self.query(select(func.count()).select_from(Image))[0][0])

    def events(self) -> list[tuple[str, str, str]]:
        """Every event as what it is about: (type, image, policy or "")."""
        rows = self.query(select(Event.type, Event.digest, Event.payload))
        return [
            (kind, digest, (payload.get("policy") or {}).get("id", ""))
            for kind, digest, payload in rows
        ]

    def workers_alive_on_the_dashboard(self) -> int:
        """The overview page's count of live workers (logged in with the admin token)."""
        login = httpx.post(
            f"{self.serve.url}/login", data={"token": ADMIN, "next": "/"}, timeout=30
        )
        assert login.status_code in (302, 303), login.text
        # the session cookie is Secure: sent by hand over this plain-HTTP loopback
        cookie = login.headers["set-cookie"].split(";", 1)[0]
        page = httpx.get(f"{self.serve.url}/", headers={"Cookie": cookie}, timeout=30).text
        assert "Workers and queue" in page and "Jobs by queue" in page
        found = re.search(r"<dt>Workers alive</dt><dd>(\d+)</dd>", page)
        assert found is not None, page
        return int(found.group(1))

    def watch(self, repositories: list[str]) -> None:
        for repository in repositories:
            self.serve.post("/api/v1/watches", {"repository": f"{self.registry.host}/{repository}"})


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    why = rs.namespace_unavailable() or ", ".join(rs.missing_tools())
    if why:
        pytest.skip(why)
    work = tmp_path_factory.mktemp("fleet")
    with (
        fleet_network(2) as net,
        throwaway_cluster(
            work / "postgres",
            listen=("127.0.0.1", net.address),
            clients=("127.0.0.1/32", f"{net.address}/32", "10.213.0.0/16"),
        ) as cluster,
    ):
        name = f"fleet_{uuid.uuid4().hex[:8]}"
        cluster.create_database(name)
        with rs.run_registry(work / "registry", address=net.address, access_log=True) as registry:
            layout = work / "layout"
            images = fleet_layout(layout, IMAGES, REPOSITORIES)
            tags = push_all(registry, layout, images)
            vulndb = work / "vuln.db"
            import_records(vulndb, work, advisory("1.36.1-r30", "2026-11-01T00:00:00Z"))
            receiver = Receiver(SECRET, host=net.address)
            receiver.start()
            database = cluster.url(name, host=net.address)
            serve_config: dict[str, Any] = {
                "allowed_registries": [registry.host],
                "insecure_registries": [registry.host],  # plain HTTP, not on loopback
                "allowed_notifier_hosts": [net.address],
                "poll_interval": "1h",  # the test says when: a watch added polls at once
                "vulndb_check_interval": "500ms",
                "vulndb_update_interval": "off",
                "delivery_retry_max": "1s",
            }
            # small re-evaluation batches: a database update is many jobs, for every worker
            fleet_env = {"BASEWATCH_FLEET_LEASE": f"{LEASE:g}s", "BASEWATCH_FLEET_BATCH": "10"}
            serve = ServeProcess(
                workdir=work / "serve",
                port=reserve_port(),
                database=database,
                vulndb=vulndb,
                config=serve_config,
                admin_token=ADMIN,
                env={**fleet_env, **HARBOR},
                args=["--no-local-workers"],
            )
            workers = [
                WorkerProcess(
                    workdir=work / f"worker-{n}",
                    namespace=space,
                    database=database,
                    vulndb=vulndb,
                    tables={"serve": serve_config, "serve.fleet": {"lease": f"{LEASE:g}s"}},
                    env=HARBOR,
                )
                for n, space in enumerate(net.namespaces)
            ]
            try:
                serve.start()
                for worker in workers:
                    worker.start()
                for worker in workers:
                    worker.wait_ready()
                serve.post(
                    "/api/v1/notifiers",
                    {"name": "hook", "kind": "webhook", "url": receiver.url, "secret": SECRET},
                )
                yield Fleet(
                    net,
                    cluster,
                    database,
                    registry,
                    serve,
                    workers,
                    receiver,
                    images,
                    tags,
                    work,
                )
            finally:
                for worker in workers:
                    worker.close()
                serve.close()
                receiver.stop()


def _repositories(fleet: Fleet, half: int) -> list[str]:
    names = sorted(fleet.tags)
    return names[: len(names) // 2] if half == 0 else names[len(names) // 2 :]


def _images_of(fleet: Fleet, repositories: list[str]) -> list[FleetImage]:
    return [image for image in fleet.images if image.repository in repositories]


def test_every_image_is_indexed_once_and_each_base_layer_read_once_for_the_fleet(
    fleet: Fleet,
) -> None:
    first = _repositories(fleet, 0)
    fleet.watch(first)
    wanted = len(_images_of(fleet, first))
    wait_for(lambda: fleet.indexed() >= wanted, 240, f"{wanted} images indexed")
    time.sleep(1.0)  # nothing more arrives late
    assert fleet.indexed() == wanted
    # the registry's own access log: each image's layer pulled once, each base layer once
    pulled = blob_requests(fleet.registry)
    ours = _images_of(fleet, first)
    assert all(pulled.get(image.app_layer) == 1 for image in ours), {
        image.repository: pulled.get(image.app_layer) for image in ours
    }
    bases = {image.base_layer for image in ours}
    assert {layer: pulled.get(layer) for layer in bases} == dict.fromkeys(bases, 1)
    # both workers took part, and together indexed each image once
    counts = [w.metric("basewatch_fleet_images_indexed_total") for w in fleet.workers]
    assert sum(counts) == wanted and all(c > 0 for c in counts), counts
    # every layer's analyses are shared in PostgreSQL, the two bases' and each image's own,
    # the same kinds of analysis for every layer
    shared = fleet.query(
        select(LayerAnalysisRow.digest, func.count())
        .where(LayerAnalysisRow.kind == "layers", LayerAnalysisRow.detectors != "diff-id")
        .group_by(LayerAnalysisRow.digest)
    )
    assert len(shared) == len(bases) + wanted
    assert len({count for _, count in shared}) == 1
    # the outbox: each change told once (an image's new findings, each policy it fails...)
    events = fleet.events()
    assert events and max(Counter(events).values()) == 1
    assert fleet.workers_alive_on_the_dashboard() == 2
    # the 3.20 images carry the advisory, matched by whichever worker indexed them
    affected = fleet.query(select(ImageFinding.digest).distinct())
    assert len(affected) == len([image for image in ours if image.base == 1])


def test_a_killed_worker_s_jobs_are_recovered_within_the_lease_and_nothing_is_done_twice(
    fleet: Fleet,
) -> None:
    second = _repositories(fleet, 1)
    before = fleet.indexed()
    fleet.watch(second)
    victim = fleet.workers[0]
    wait_for(lambda: fleet.indexed() >= before + 20, 240, "the second half under way")
    victim.kill()
    killed_at = time.monotonic()
    # what was running then (the dead worker's jobs among them) is running no more within the
    # lease and one upkeep round (a third of it), plus the time a job takes
    running = {row[0] for row in fleet.query(text(DOING))}
    assert running, "the worker was killed with nothing in hand: the test shows nothing"
    wait_for(
        lambda: not running & {row[0] for row in fleet.query(text(DOING))},
        LEASE * 4 + 30,
        "the dead worker's jobs handed back",
    )
    recovered_in = time.monotonic() - killed_at
    assert recovered_in < LEASE * 4 + 30
    wait_for(lambda: fleet.indexed() >= IMAGES, 300, f"all {IMAGES} images indexed")
    wait_for(lambda: not fleet.query(text(DOING)), 60, "nothing left running")
    assert fleet.indexed() == IMAGES
    rows = fleet.query(select(Image.digest))
    assert len({r[0] for r in rows}) == IMAGES
    events = fleet.events()
    assert max(Counter(events).values()) == 1
    wait_for(lambda: fleet.workers_alive_on_the_dashboard() == 1, LEASE * 2, "one worker shown")
    victim.start()
    victim.wait_ready()


def test_postgresql_restarted_under_the_workers_they_reconnect_and_finish(
    fleet: Fleet, tmp_path: Path
) -> None:
    fleet.cluster.restart()
    # a database update: every 3.20 image is matched again, in batches, by the workers
    newer = advisory("1.36.1-r31", "2026-11-20T00:00:00Z")
    for worker in fleet.workers:
        import_records(worker.workdir / "vulndb.sqlite", tmp_path, newer)
    import_records(fleet.serve.vulndb, tmp_path, newer)
    wait_for(
        lambda: (
            fleet.query(
                text("SELECT count(*) FROM procrastinate_jobs WHERE queue_name = 'reevaluate'")
            )[0][0]
            > 0
        ),
        120,
        "re-evaluation jobs queued",
    )
    wait_for(
        lambda: (
            fleet.query(
                text(
                    "SELECT count(*) FROM procrastinate_jobs WHERE queue_name = 'reevaluate' "
                    "AND status IN ('todo', 'doing')"
                )
            )[0][0]
            == 0
        ),
        180,
        "re-evaluation finished",
    )
    assert all(w.process is not None and w.process.poll() is None for w in fleet.workers)
    # every affected image matched again, in batches of 10 (several jobs at once on one
    # worker's ImagePolicies)
    matched = [w.metric("basewatch_fleet_images_reevaluated_total") for w in fleet.workers]
    assert sum(matched) >= IMAGES // 2, matched
    # every event of the whole run (a worker killed, PostgreSQL restarted) reached the
    # webhook, each under its one message id however often it was sent
    uids = {row[0] for row in fleet.query(select(Event.uid))}
    wait_for(
        lambda: {d.webhook_id for d in fleet.receiver.accepted} >= uids,
        120,
        "every event delivered",
    )
    assert {d.webhook_id for d in fleet.receiver.accepted} == uids
    # Which worker took those few short batches is a race: one whose listening connection
    # is not back yet (procrastinate notices a dead one within 30s, and polls every 5s
    # meanwhile) may have taken none. Each, left alone, still runs the fleet's work.
    for alone in fleet.workers:
        others = [w for w in fleet.workers if w is not alone]
        for worker in others:
            worker.stop()
        before = alone.metric("basewatch_fleet_images_reevaluated_total")
        again = {**newer, "id": f"ALPINE-FLEET-{alone.namespace.name}", "aliases": []}
        for worker in fleet.workers:
            import_records(worker.workdir / "vulndb.sqlite", tmp_path, again)
        import_records(fleet.serve.vulndb, tmp_path, again)
        wait_for(
            lambda w=alone, b=before: (
                w.metric("basewatch_fleet_images_reevaluated_total") >= b + IMAGES // 2
            ),
            120,
            f"{alone.namespace.name} alone matching a database update",
        )
        for worker in others:
            worker.start()
            worker.wait_ready()


def _image_not_yet_seen(fleet: Fleet, like: FleetImage, repository: str) -> str:
    """A new digest in a new repository (`like`'s manifest with an annotation, its blobs
    mounted from `like`'s repository); no watch covers it."""
    earlier = [i for i in fleet.images if i.repository == like.repository]
    tag = f"v{earlier.index(like) + 1}"
    base = f"http://{fleet.registry.host}/v2"
    accept = "application/vnd.oci.image.manifest.v1+json, " + DOCKER_MANIFEST
    with httpx.Client(timeout=30) as client:
        got = client.get(f"{base}/{like.repository}/manifests/{tag}", headers={"Accept": accept})
        assert got.status_code == 200, got.text
        manifest = got.json()
        for blob in [manifest["config"], *manifest["layers"]]:
            mounted = client.post(
                f"{base}/{repository}/blobs/uploads/",
                params={"mount": blob["digest"], "from": like.repository},
            )
            assert mounted.status_code == 201, mounted.text
        manifest["annotations"] = {"org.example.pushed-for": "harbor"}
        body = json.dumps(manifest).encode()
        put = client.put(
            f"{base}/{repository}/manifests/h1",
            content=body,
            headers={"Content-Type": got.headers["content-type"]},
        )
        assert put.status_code == 201, put.text
    return "sha256:" + hashlib.sha256(body).hexdigest()


def _harbor_jobs(fleet: Fleet) -> float:
    return sum(
        w.metric("basewatch_fleet_jobs_total", kind="harbor", outcome="succeeded")
        for w in fleet.workers
    )


def test_harbor_s_scan_request_is_run_by_a_worker_with_the_credential_harbor_sent(
    fleet: Fleet,
) -> None:
    like = next(image for image in fleet.images if image.base == 1)  # on 3.20: the advisory
    digest = _image_not_yet_seen(fleet, like, "harbor-only")
    before = _harbor_jobs(fleet)
    harbor = {"Authorization": f"Bearer {HARBOR_TOKEN}"}
    accepted = httpx.post(
        f"{fleet.serve.url}/harbor/api/v1/scan",
        json={
            "registry": {"url": f"http://{fleet.registry.host}", "authorization": ROBOT},
            "artifact": {"repository": "harbor-only", "digest": digest, "tag": "h1"},
        },
        headers={**harbor, "Content-Type": SCAN_REQUEST},
        timeout=30,
    )
    assert accepted.status_code == 202, accepted.text
    scan_id = accepted.json()["id"]

    def report() -> httpx.Response | None:
        answer = httpx.get(
            f"{fleet.serve.url}/harbor/api/v1/scan/{scan_id}/report",
            headers={**harbor, "Accept": VULN_REPORT},
            timeout=30,
        )
        return None if answer.status_code == 302 else answer

    answer = wait_for(report, 120, "Harbor's report")
    assert answer.status_code == 200, answer.text
    found = {v["id"] for v in answer.json()["vulnerabilities"]}
    assert found & {ADVISORY, ALIAS}, found
    # a worker pulled it (the service has no local workers), opening the credential the
    # service sealed with the key they share, and dropped it
    rows = fleet.query(select(HarborScan.state, HarborScan.reused, HarborScan.credential))
    assert [tuple(row) for row in rows] == [("done", False, None)]
    after = _harbor_jobs(fleet)
    assert after == before + 1
    assert all(ROBOT.split()[1] not in worker.log() for worker in fleet.workers)
