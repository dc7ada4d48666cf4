"""Watching a real registry (Debian's docker-registry on loopback, the Alpine fixture pushed
with skopeo): the tags of a watch are indexed once per digest, and a cycle in which nothing
changed costs one HEAD per tag and no manifest body."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from prometheus_client import generate_latest
from sqlalchemy import select

from basewatch.clock import FixedClock
from basewatch.jobs.db import import_files
from basewatch.service.app import create_app
from basewatch.service.auth import bootstrap
from basewatch.service.config import ServeSettings
from basewatch.service.db import open_engine, sessions, upgrade
from basewatch.service.http import ServiceState
from basewatch.service.metrics import metrics_registry
from basewatch.service.models import ImageFinding, Watch
from basewatch.service.reevaluate import Reevaluator
from basewatch.service.watcher import Watcher
from basewatch.settings import Settings
from tests.fixtures import shared_fixture
from tests.integration import registry_server as rs

pytestmark = pytest.mark.integration

ALPINE = "images/alpine-minirootfs-3.20.3-x86_64.tar.gz"


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[rs.FaultProxy]:
    """The registry behind a proxy that counts the requests it forwards."""
    missing = rs.missing_tools()
    if missing:
        pytest.skip(f"registry tests need {', '.join(missing)}")
    work = tmp_path_factory.mktemp("watch-registry")
    alpine = rs.layout_from_rootfs(shared_fixture(ALPINE), work / "alpine", "3.20.3")
    with rs.run_registry(work / "registry") as running:
        running.push(f"oci:{alpine}:3.20.3", "alpine:3.20.3")
        running.push(f"oci:{alpine}:3.20.3", "alpine:latest")
        running.push(f"oci:{alpine}:3.20.3", "alpine:edge-unwatched")
        proxy = rs.FaultProxy(running.host)
        try:
            yield proxy
        finally:
            proxy.close()


def test_a_watch_is_indexed_once_and_then_polled_with_heads(
    registry: rs.FaultProxy, database_url: str, tmp_path: Path
) -> None:
    settings = ServeSettings.load(
        environ={"HOME": str(tmp_path)},
        default_vulndb=tmp_path / "vuln.db",
        flags={"database": database_url, "allowed_registries": registry.host},
    )
    core = Settings.load(environ={}, cache_dir=tmp_path / "cache", read_config=False)
    engine = open_engine(database_url)
    upgrade(engine)
    make = sessions(engine)
    clock = FixedClock(datetime(2026, 12, 2, 9, 0, tzinfo=UTC))
    with make() as session:
        token = bootstrap(session, "", clock)
        session.commit()
    watcher = Watcher(make, settings, core, clock)
    app = create_app(ServiceState(settings, engine, make, clock))  # polled by hand here
    admin = {"Authorization": f"Bearer {token}"}
    try:
        with TestClient(app) as client:
            made = client.post(
                "/api/v1/watches",
                json={"repository": f"{registry.host}/alpine", "tags": ["3.*", "latest"]},
                headers=admin,
            )
            assert made.status_code == 201, made.text

            first = watcher.poll_once()
            assert first.errors == []
            assert first.tags == 2  # edge-unwatched matches no glob
            assert sorted(tag for _, tag, _ in first.moved) == ["3.20.3", "latest"]
            assert len(first.indexed) == 1  # both tags: one digest, pulled once

            images = client.get("/api/v1/images", headers=admin).json()["items"]
            assert [i["tags"] for i in images] == [["3.20.3", "latest"]]
            (image,) = images
            assert image["digest"] == first.indexed[0]
            assert image["repository"] == f"{registry.host}/alpine"
            assert image["packages"] == 14 and image["partial"] is False
            assert image["platform"] == "linux/amd64"
            detail = client.get(f"/api/v1/images/{image['digest']}", headers=admin).json()
            assert {"musl", "busybox", "apk-tools"} <= {p["name"] for p in detail["package_list"]}
            assert len(detail["layers"]) == 1 and detail["layers"][0].startswith("sha256:")
            assert [(m["tag"], m["digest"]) for m in detail["tag_history"]] == [
                ("3.20.3", image["digest"]),
                ("latest", image["digest"]),
            ]

            registry.reset()
            second = watcher.poll_once()
            assert (second.errors, second.moved, second.indexed, second.tags) == ([], [], [], 2)
            manifests = [(m, p) for m, p, _ in registry.requests if "/manifests/" in p]
            assert sorted(manifests) == [
                ("HEAD", "/v2/alpine/manifests/3.20.3"),
                ("HEAD", "/v2/alpine/manifests/latest"),
            ]
            assert not any("/blobs/" in p for _, p, _ in registry.requests)
    finally:
        engine.dispose()


def test_a_registry_no_longer_allowed_is_not_contacted(
    registry: rs.FaultProxy, database_url: str, tmp_path: Path
) -> None:
    engine = open_engine(database_url)
    upgrade(engine)
    make = sessions(engine)
    allowed = ServeSettings.load(
        environ={"HOME": str(tmp_path)},
        default_vulndb=tmp_path / "vuln.db",
        flags={"database": database_url, "allowed_registries": registry.host},
    )
    with make() as session:
        token = bootstrap(session, "")
        session.commit()
    try:
        with TestClient(create_app(ServiceState(allowed, engine, make))) as client:
            response = client.post(
                "/api/v1/watches",
                json={"repository": f"{registry.host}/alpine"},
                headers={"Authorization": f"Bearer {token}"},
            )
            assert response.status_code == 201
        narrowed = ServeSettings.load(
            environ={"HOME": str(tmp_path)},
            default_vulndb=tmp_path / "vuln.db",
            flags={"database": database_url, "allowed_registries": "127.0.0.1:1"},
        )
        core = Settings.load(environ={}, cache_dir=tmp_path / "cache", read_config=False)
        registry.reset()
        report = Watcher(make, narrowed, core).poll_once()
        assert report.tags == 0 and report.indexed == []
        assert "no longer in allowed_registries" in report.errors[0]
        assert registry.requests == []
    finally:
        engine.dispose()


def test_an_indexed_image_is_evaluated_and_found_by_advisory(
    registry: rs.FaultProxy, database_url: str, tmp_path: Path
) -> None:
    """OSV records written for the fixture's real busybox version (an id and an alias), imported
    the way `db import` does: the image's snapshot holds the finding, counted and found."""
    records = tmp_path / "records"
    records.mkdir()
    record = {
        "id": "ALPINE-TEST-0001",
        "aliases": ["CVE-2099-0001"],
        "modified": "2026-11-01T00:00:00Z",
        "affected": [
            {
                "package": {"ecosystem": "Alpine:v3.20", "name": "busybox"},
                "ranges": [
                    {"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "9.9.9-r0"}]}
                ],
            }
        ],
    }
    (records / "ALPINE-TEST-0001.json").write_text(json.dumps(record))
    core = Settings.load(environ={}, cache_dir=tmp_path / "cache", read_config=False)
    import_files([records], core)
    settings = ServeSettings.load(
        environ={"HOME": str(tmp_path)},
        default_vulndb=core.db_path,
        flags={"database": database_url, "allowed_registries": registry.host},
    )
    engine = open_engine(database_url)
    upgrade(engine)
    make = sessions(engine)
    with make() as session:
        token = bootstrap(session, "")
        session.commit()
    admin = {"Authorization": f"Bearer {token}"}
    try:
        with TestClient(create_app(ServiceState(settings, engine, make))) as client:
            client.post(
                "/api/v1/watches",
                json={"repository": f"{registry.host}/alpine", "tags": ["latest"]},
                headers=admin,
            )
            watcher = Watcher(make, settings, core)
            registry_metrics, timings = metrics_registry(make)
            watcher.timings = timings
            report = watcher.poll_once()
            assert report.errors == [] and len(report.indexed) == 1
            exposed = generate_latest(registry_metrics).decode()
            assert "basewatch_poll_seconds_count 1.0" in exposed
            assert "basewatch_index_seconds_count 1.0" in exposed
            scraped = client.get("/metrics", headers=admin)
            assert scraped.status_code == 200
            assert "basewatch_images 1.0" in scraped.text
            assert "basewatch_watches 1.0" in scraped.text
            assert 'basewatch_findings{severity="unknown"}' in scraped.text
            assert client.get("/metrics").status_code == 401
            (image,) = client.get("/api/v1/images", headers=admin).json()["items"]
            assert sum(image["findings"].values()) >= 1
            assert image["fixable"] == sum(image["findings"].values())
            assert image["evaluated_at"] is not None
            by_alias = client.get("/api/v1/findings?id=CVE-2099-0001", headers=admin).json()
            by_id = client.get("/api/v1/findings?id=ALPINE-TEST-0001", headers=admin).json()
            assert by_alias == by_id
            # busybox's source package builds more than one binary package of the image
            assert {i["digest"] for i in by_alias["items"]} == {image["digest"]}
            assert "busybox" in {i["finding"]["package"] for i in by_alias["items"]}
            assert len(by_alias["items"]) == sum(image["findings"].values())
            assert by_alias["items"][0]["tags"] == ["latest"]
            assert by_alias["items"][0]["finding"]["fixed_version"] == "9.9.9-r0"
            none = client.get("/api/v1/findings?id=CVE-1999-0000", headers=admin).json()
            assert none == {"items": []}
    finally:
        engine.dispose()


def test_a_database_change_by_another_process_re_evaluates_only_the_affected_images(
    registry: rs.FaultProxy, database_url: str, tmp_path: Path
) -> None:
    """The image is indexed against a database without its advisory; `basewatch db import`,
    run as another process, brings one: the next check re-matches that image from the store,
    without a registry request, and a re-import of the same records changes nothing."""
    core = Settings.load(environ={}, cache_dir=tmp_path / "cache", read_config=False)
    unrelated = tmp_path / "unrelated"
    unrelated.mkdir()
    (unrelated / "X-1.json").write_text(json.dumps(osv_record("X-1", "npm", "left-pad", "2.0.0")))
    import_files([unrelated], core)
    settings = ServeSettings.load(
        environ={"HOME": str(tmp_path)},
        default_vulndb=core.db_path,
        flags={"database": database_url, "allowed_registries": registry.host},
    )
    engine = open_engine(database_url)
    upgrade(engine)
    make = sessions(engine)
    try:
        with make() as session:
            session.add(
                Watch(
                    repository=f"{registry.host}/alpine",
                    tags=["latest"],
                    created_at=datetime.now(UTC),
                )
            )
            session.commit()
        (digest,) = Watcher(make, settings, core).poll_once().indexed
        reevaluator = Reevaluator(make, settings, core)
        assert reevaluator.check().images == {}  # npm's change touches no stored image

        records = tmp_path / "records"
        records.mkdir()
        record = osv_record("ALPINE-TEST-0002", "Alpine:v3.20", "busybox", "9.9.9-r0")
        (records / "ALPINE-TEST-0002.json").write_text(json.dumps(record))
        command = [sys.executable, "-m", "basewatch", "db", "import", str(records), "-q"]
        command += ["--db", str(core.db_path)]
        done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
        assert done.returncode == 0, done.stderr

        registry.reset()
        report = reevaluator.check()
        assert set(report.images) == {digest}
        (change,) = report.images.values()
        assert {(advisory, package) for advisory, package, _ in change.new} >= {
            ("ALPINE-TEST-0002", "busybox")
        }
        assert change.fixed == []
        assert registry.requests == []  # from the store, not the registry
        with make() as session:
            found = session.scalars(
                select(ImageFinding.advisory).where(ImageFinding.digest == digest)
            ).all()
        assert "ALPINE-TEST-0002" in found

        assert reevaluator.check().images == {}  # nothing new since
        again = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
        assert again.returncode == 0
        assert reevaluator.check().images == {}  # the same records: no change, no work

        # the outbox: exactly one findings.new, naming the image and the advisory
        with make() as session:
            token = bootstrap(session, "")
            session.commit()
        headers = {"Authorization": f"Bearer {token}"}
        with TestClient(create_app(ServiceState(settings, engine, make))) as client:
            listed = client.get("/api/v1/events", headers=headers).json()["items"]
            # (the policies the image fails were told when it was indexed: test_policies.py)
            events = [e for e in listed if not e["type"].startswith("policy.")]
            # Alpine 3.20 reached its end of life on 2026-04-01: said once, at indexing
            assert [e["type"] for e in events] == ["eol.reached", "findings.new"]
            event = events[1]
            assert event["type"] == "findings.new"
            assert event["digest"] == digest
            assert event["repository"] == f"{registry.host}/alpine"
            assert "ALPINE-TEST-0002" in {f["id"] for f in event["payload"]["findings"]}

            # the advisory is corrected upstream: fixed long before the installed version
            record = osv_record("ALPINE-TEST-0002", "Alpine:v3.20", "busybox", "0.0.1-r0")
            record["modified"] = "2026-11-02T00:00:00Z"
            (records / "ALPINE-TEST-0002.json").write_text(json.dumps(record))
            fixed = subprocess.run(
                command, capture_output=True, text=True, timeout=120, check=False
            )
            assert fixed.returncode == 0, fixed.stderr
            (change,) = reevaluator.check().images.values()
            assert change.new == [] and change.fixed
            later = client.get("/api/v1/events?type=findings.fixed", headers=headers).json()
            (gone,) = later["items"]
            assert gone["digest"] == digest
            assert {f["id"] for f in gone["payload"]["findings"]} == {"ALPINE-TEST-0002"}
            kinds = [
                e["type"]
                for e in client.get("/api/v1/events", headers=headers).json()["items"]
                if not e["type"].startswith("policy.")
            ]
            assert kinds == ["eol.reached", "findings.new", "findings.fixed"]
    finally:
        engine.dispose()


def osv_record(record_id: str, ecosystem: str, name: str, fixed: str) -> dict[str, object]:
    events = [{"introduced": "0"}, {"fixed": fixed}]
    return {
        "id": record_id,
        "modified": "2026-11-01T00:00:00Z",
        "affected": [
            {
                "package": {"ecosystem": ecosystem, "name": name},
                "ranges": [{"type": "ECOSYSTEM", "events": events}],
            }
        ],
    }
