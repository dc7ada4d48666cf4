"""Bases and the events beyond new and fixed findings, on a real docker-registry: an app built
on the Alpine fixture (label `org.opencontainers.image.base.name`), its base tag polled, the tag
moved to an upgraded base; a fix becoming known, a CVE joining the KEV catalog, the release's
end of life; a registry that answers 429."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from basewatch.clock import FixedClock
from basewatch.jobs.db import import_files
from basewatch.models import Origin
from basewatch.oci.registry.options import RegistryOptions
from basewatch.service.app import create_app
from basewatch.service.auth import bootstrap, create_token
from basewatch.service.config import ServeSettings
from basewatch.service.db import open_engine, sessions, upgrade
from basewatch.service.http import ServiceState
from basewatch.service.models import BaseTag, Event, Image, Role, Watch
from basewatch.service.reevaluate import Reevaluator
from basewatch.service.updater import Updater
from basewatch.service.watcher import Watcher
from basewatch.settings import Settings
from basewatch.vulndb.eol import load_eol_table, save_eol_table
from tests.fixtures import shared_fixture
from tests.integration import registry_server as rs
from tests.service_support import images
from tests.service_support.server import serving
from tests.unit.vulndb.test_update import Feed, Served, osv_zip, serve

pytestmark = pytest.mark.integration

OLD, NEW = "1.36.1-r29", "1.36.1-r30"  # busybox in the fixture, and after the upgrade
DAY = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)


@dataclass
class Registry:
    running: rs.RunningRegistry
    proxy: rs.FaultProxy
    work: Path

    @property
    def host(self) -> str:
        return self.proxy.host

    def push_base(self, tag: str, upgraded: bool) -> None:
        rootfs = shared_fixture(images.ALPINE)
        extra = [images.upgraded(rootfs, OLD, NEW)] if upgraded else []
        layout = images.stacked_layout(self.work / f"base-{tag}-{upgraded}", tag, rootfs, extra)
        self.running.push(f"oci:{layout}:{tag}", f"base:{tag}")

    def push_app(self, tag: str, on_upgraded: bool, base_host: str = "") -> None:
        """The app: its base's layers, then its own, labelled with the base's tag (on
        `base_host`, by default the registry's address as the service sees it)."""
        rootfs = shared_fixture(images.ALPINE)
        extra = [images.upgraded(rootfs, OLD, NEW)] if on_upgraded else []
        layout = images.stacked_layout(
            self.work / f"app-{tag}",
            tag,
            rootfs,
            [*extra, images.app_layer()],
            labels={"org.opencontainers.image.base.name": f"{base_host or self.host}/base:3.20"},
        )
        self.running.push(f"oci:{layout}:{tag}", f"app:{tag}")


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[Registry]:
    missing = rs.missing_tools()
    if missing:
        pytest.skip(f"registry tests need {', '.join(missing)}")
    with rs.run_registry(tmp_path / "registry") as running:
        proxy = rs.FaultProxy(running.host)
        try:
            yield Registry(running, proxy, tmp_path / "layouts")
        finally:
            proxy.close()


@dataclass
class Service:
    settings: ServeSettings
    core: Settings
    engine: Engine
    make: sessionmaker[Session]
    token: str

    def client(self) -> TestClient:
        return TestClient(create_app(ServiceState(self.settings, self.engine, self.make)))

    @property
    def admin(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def events(self, kind: str = "") -> list[Event]:
        with self.make() as session:
            query = select(Event).order_by(Event.id)
            if kind:
                query = query.where(Event.type == kind)
            return list(session.scalars(query))

    def watch(self, repository: str) -> None:
        with self.make() as session:
            session.add(Watch(repository=repository, tags=["*"], created_at=DAY))
            session.commit()


@pytest.fixture
def service(database_url: str, registry: Registry, tmp_path: Path) -> Iterator[Service]:
    core = Settings.load(environ={}, cache_dir=tmp_path / "cache", read_config=False)
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
    assert token is not None
    try:
        yield Service(settings, core, engine, make, token)
    finally:
        engine.dispose()


def write_records(directory: Path, *records: dict[str, Any]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for record in records:
        (directory / f"{record['id']}.json").write_text(json.dumps(record))
    return directory


def busybox_record(record_id: str, fixed: str | None, alias: str = "") -> dict[str, Any]:
    events: list[dict[str, str]] = [{"introduced": "0"}]
    if fixed:
        events.append({"fixed": fixed})
    return {
        "id": record_id,
        "aliases": [alias] if alias else [],
        "modified": "2026-11-01T00:00:00Z",
        "affected": [
            {
                "package": {"ecosystem": "Alpine:v3.20", "name": "busybox"},
                "ranges": [{"type": "ECOSYSTEM", "events": events}],
                "ecosystem_specific": {"severity": "high"},
            }
        ],
        "database_specific": {"severity": "HIGH"},
    }


def test_a_moved_base_tag_makes_one_event_for_every_image_built_on_it(
    registry: Registry, service: Service, tmp_path: Path
) -> None:
    import_files(
        [write_records(tmp_path / "osv", busybox_record("ALPINE-TEST-0100", NEW))], service.core
    )
    registry.push_base("3.20", upgraded=False)
    registry.push_app("1", on_upgraded=False)
    service.watch(f"{registry.host}/app")
    watcher = Watcher(service.make, service.settings, service.core, FixedClock(DAY))

    first = watcher.poll_once()
    assert first.errors == [] and len(first.indexed) == 1 and first.bases == []
    (app,) = first.indexed
    with service.client() as client:
        (image,) = client.get("/api/v1/images", headers=service.admin).json()["items"]
        assert image["base_reference"] == f"{registry.host}/base:3.20"
        assert image["base_method"] == "annotation"
        assert image["base_digest"].startswith("sha256:")
        assert (image["base_moved"], image["rebuild_needed"]) == (False, False)
        (base,) = client.get("/api/v1/bases", headers=service.admin).json()["items"]
        assert base["reference"] == f"{registry.host}/base:3.20"
        assert base["digest"] == image["base_digest"]
        assert (base["dependents"], base["on_current"], base["not_polled"]) == (1, 1, "")
    # the base was inventoried too, and attributes the app's layers: busybox is the base's
    stored = watcher.inventories.get(image["manifest_digest"])
    assert stored is not None
    origins = {p.name: p.origin for p in stored.packages}
    assert origins["busybox"] is Origin.BASE

    registry.push_base("3.20", upgraded=True)  # the same tag, a new digest: the upgrade
    moved = watcher.poll_once()
    assert moved.errors == []
    (move,) = moved.bases
    assert (move.old, move.images) == (image["base_digest"], [app])
    (event,) = service.events("base.moved")
    assert event.payload["base"] == {
        "reference": f"{registry.host}/base:3.20",
        "from": image["base_digest"],
        "to": move.new,
    }
    (listed,) = event.payload["images"]
    assert listed["digest"] == app and listed["tags"] == ["1"]
    assert "busybox:ALPINE-TEST-0100" in listed["fixes"]
    assert listed["arrives"] == []
    assert event.severity == "high"
    with service.client() as client:
        detail = client.get(f"/api/v1/images/{app}", headers=service.admin).json()
        assert (detail["base_moved"], detail["rebuild_needed"]) == (True, True)
        assert f"fixes {len(listed['fixes'])} finding(s)" in detail["rebuild_reason"]
        (base,) = client.get("/api/v1/bases", headers=service.admin).json()["items"]
        assert (base["digest"], base["dependents"], base["on_current"]) == (move.new, 1, 0)
        one = client.get(f"/api/v1/bases/{base['id']}", headers=service.admin).json()
        assert [i["digest"] for i in one["images"]] == [app]

    again = watcher.poll_once()  # nothing moved since: no second event
    assert again.bases == [] and len(service.events("base.moved")) == 1

    registry.push_app("2", on_upgraded=True)  # rebuilt on the new base
    rebuilt = watcher.poll_once()
    (new_app,) = rebuilt.indexed
    with service.client() as client:
        detail = client.get(f"/api/v1/images/{new_app}", headers=service.admin).json()
        assert detail["base_digest"] == move.new
        assert (detail["base_moved"], detail["rebuild_needed"]) == (False, False)


def test_an_image_not_built_on_what_its_base_tag_points_at_needs_a_rebuild(
    registry: Registry, service: Service
) -> None:
    registry.push_base("3.20", upgraded=True)
    registry.push_app("1", on_upgraded=False)  # built before the base's upgrade
    service.watch(f"{registry.host}/app")
    report = Watcher(service.make, service.settings, service.core, FixedClock(DAY)).poll_once()
    (digest,) = report.indexed
    with service.make() as session:
        image = session.get(Image, digest)
        assert image is not None
        assert image.rebuild_needed and image.base_digest == ""
        assert "built on an older base" in image.rebuild_reason


def test_a_base_in_a_registry_not_allowed_is_recorded_but_not_polled(
    registry: Registry, service: Service, tmp_path: Path
) -> None:
    rootfs = shared_fixture(images.ALPINE)
    layout = images.stacked_layout(
        tmp_path / "app",
        "1",
        rootfs,
        [images.app_layer()],
        labels={"org.opencontainers.image.base.name": "docker.io/library/alpine:3.20"},
    )
    registry.running.push(f"oci:{layout}:1", "app:1")
    service.watch(f"{registry.host}/app")
    registry.proxy.reset()
    report = Watcher(service.make, service.settings, service.core, FixedClock(DAY)).poll_once()
    assert report.errors == [] and len(report.indexed) == 1
    with service.client() as client:
        (base,) = client.get("/api/v1/bases", headers=service.admin).json()["items"]
        assert base["reference"] == "docker.io/library/alpine:3.20"
        assert "not in allowed_registries" in base["not_polled"]
        assert base["dependents"] == 1


def test_a_fix_becoming_known_and_a_cve_joining_kev_are_one_event_each(
    registry: Registry, service: Service, tmp_path: Path
) -> None:
    osv = tmp_path / "osv"
    import_files(
        [write_records(osv, busybox_record("ALPINE-TEST-0200", None, "CVE-2099-0200"))],
        service.core,
    )
    registry.push_base("3.20", upgraded=False)
    service.watch(f"{registry.host}/base")
    watcher = Watcher(service.make, service.settings, service.core, FixedClock(DAY))
    (digest,) = watcher.poll_once().indexed
    reevaluator = Reevaluator(service.make, service.settings, service.core)

    fixed = busybox_record("ALPINE-TEST-0200", NEW, "CVE-2099-0200")
    fixed["modified"] = "2026-11-20T00:00:00Z"
    import_files([write_records(osv, fixed)], service.core)
    change = reevaluator.check().images[digest]
    assert change.new == [] and change.fixed == [] and change.fixable
    (fixable,) = service.events("findings.fixable")
    assert {f["id"] for f in fixable.payload["findings"]} == {"CVE-2099-0200"}
    assert {f["fixed_version"] for f in fixable.payload["findings"]} == {NEW}

    catalog = json.loads(shared_fixture("kev/known_exploited_vulnerabilities.json").read_text())
    entry = dict(catalog["vulnerabilities"][0])
    entry.update(cveID="CVE-2099-0200", dateAdded="2026-11-30")
    catalog["vulnerabilities"].append(entry)
    catalog["count"] = len(catalog["vulnerabilities"])
    kev = tmp_path / "kev" / "known_exploited_vulnerabilities.json"
    kev.parent.mkdir()
    kev.write_text(json.dumps(catalog))
    import_files([kev], service.core)
    change = reevaluator.check().images[digest]
    assert change.kev and change.new == []
    (added,) = service.events("kev.added")
    assert {f["id"] for f in added.payload["findings"]} == {"CVE-2099-0200"}
    assert all(f["kev"] for f in added.payload["findings"])

    import_files([kev], service.core)  # the same catalog again: nothing changed
    assert reevaluator.check().images == {}
    assert len(service.events("kev.added")) == 1 and len(service.events("findings.fixable")) == 1


def test_an_end_of_life_release_is_said_once(registry: Registry, service: Service) -> None:
    registry.push_base("3.20", upgraded=False)
    service.watch(f"{registry.host}/base")
    before = Watcher(
        service.make, service.settings, service.core, FixedClock(datetime(2026, 3, 1, tzinfo=UTC))
    )
    assert before.poll_once().eol_reached == 0  # Alpine 3.20's support ends on 2026-04-01
    watcher = Watcher(service.make, service.settings, service.core, FixedClock(DAY))
    assert watcher.poll_once().eol_reached == 1
    assert watcher.poll_once().eol_reached == 0
    (event,) = service.events("eol.reached")
    assert event.payload["eol"] == "2026-04-01"
    assert "3.20" in event.payload["release"]

    # a refreshed table (what `db update` writes) extends the support: read at the next cycle
    table = load_eol_table()
    extended = [
        dataclasses.replace(c, eol=date(2027, 4, 1))
        if (c.product, c.cycle) == ("alpine", "3.20")
        else c
        for c in table.cycles
    ]
    save_eol_table(dataclasses.replace(table, cycles=tuple(extended)), service.core.eol_table)
    assert watcher.poll_once().eol_reached == 0
    with service.make() as session:
        (image,) = session.scalars(select(Image))
        assert image.eol == "2027-04-01" and image.eol_reached_at is None
    later = Watcher(
        service.make, service.settings, service.core, FixedClock(datetime(2027, 5, 1, tzinfo=UTC))
    )
    assert later.poll_once().eol_reached == 1  # the new end, reached in its turn
    assert [e.payload["eol"] for e in service.events("eol.reached")] == [
        "2026-04-01",
        "2027-04-01",
    ]


def test_a_registry_answering_429_is_waited_for_then_left_alone(
    registry: Registry, service: Service
) -> None:
    registry.push_base("3.20", upgraded=False)
    registry.push_app("1", on_upgraded=False)
    service.watch(f"{registry.host}/app")
    waits: list[float] = []
    options = RegistryOptions(sleep=waits.append, retries=2)
    watcher = Watcher(service.make, service.settings, service.core, FixedClock(DAY), options)
    registry.proxy.faults.statuses = [(429, {"Retry-After": "3"})]
    report = watcher.poll_once()
    assert report.errors == [] and len(report.indexed) == 1
    assert 3.0 in waits  # Retry-After was honoured, then the request went through

    registry.proxy.faults.statuses = [(429, {"Retry-After": "120"})] * 3
    report = watcher.poll_once()
    assert "429" in report.errors[0] and "not asked again for 120s" in report.errors[0]
    # the base's tag, on the same registry, waits too
    assert report.errors[1:] == [
        f"base {registry.host}/base:3.20: {registry.host} asked to wait: skipped"
    ]
    registry.proxy.reset()
    started = time.monotonic()
    later = watcher.poll_once()  # within the pause: the registry is not asked at all
    assert registry.proxy.requests == [] and time.monotonic() - started < 5
    assert [("asked to wait" in e) for e in later.errors] == [True, True]


def test_a_base_in_a_registry_no_longer_allowed_is_not_polled(
    registry: Registry, service: Service
) -> None:
    """The base names the registry by another address (`localhost:PORT`, the same server):
    allowed at first, so it is recorded and polled; taken out of `allowed_registries`, it is
    not contacted again, and its move goes unseen rather than asked for."""
    port = registry.host.rsplit(":", 1)[1]
    other = f"localhost:{port}"
    registry.push_base("3.20", upgraded=False)
    registry.push_app("1", on_upgraded=False, base_host=other)
    service.watch(f"{registry.host}/app")
    both = dataclasses.replace(
        service.settings, allowed_registries=frozenset({registry.host, other})
    )
    first = Watcher(service.make, both, service.core, FixedClock(DAY)).poll_once()
    assert first.errors == [] and len(first.indexed) == 1
    with service.client() as client:
        (base,) = client.get("/api/v1/bases", headers=service.admin).json()["items"]
    assert base["reference"] == f"{other}/base:3.20" and base["digest"] and not base["not_polled"]

    registry.push_base("3.20", upgraded=True)  # the base moves...
    narrowed = Watcher(service.make, service.settings, service.core, FixedClock(DAY))
    report = narrowed.poll_once()  # ...but its registry is no longer allowed
    assert report.errors == [] and report.bases == []
    assert service.events("base.moved") == []
    with service.client() as client:
        (after,) = client.get("/api/v1/bases", headers=service.admin).json()["items"]
    assert after["digest"] == base["digest"]
    assert "not in allowed_registries" in after["not_polled"]


def test_a_push_notification_indexes_at_once(tmp_path: Path, database_url: str) -> None:
    """docker-registry's notifications, pointed at the service: a tag pushed after the watch
    is indexed within seconds, although the service polls only every hour."""
    missing = rs.missing_tools()
    if missing:
        pytest.skip(f"registry tests need {', '.join(missing)}")
    core = Settings.load(environ={}, cache_dir=tmp_path / "cache", read_config=False)
    engine = open_engine(database_url)
    upgrade(engine)
    make = sessions(engine)
    with make() as session:
        token = bootstrap(session, "")
        viewer = create_token(session, Role.VIEWER, "registry notifications")
        session.commit()
    assert token is not None
    port = rs.free_port()
    listen = f"127.0.0.1:{port}"
    with contextlib.ExitStack() as stack:
        running = stack.enter_context(
            rs.run_registry(
                tmp_path / "registry", notify=(f"http://{listen}/api/v1/events/registry", viewer)
            )
        )
        settings = ServeSettings.load(
            environ={"HOME": str(tmp_path)},
            default_vulndb=core.db_path,
            flags={
                "database": database_url,
                "allowed_registries": running.host,
                "poll_interval": "1h",
            },
        )
        watcher = Watcher(make, settings, core, FixedClock(DAY))
        app = create_app(ServiceState(settings, engine, make, watcher=watcher))
        url = stack.enter_context(serving(app, port))
        admin = {"Authorization": f"Bearer {token}"}
        made = httpx.post(
            f"{url}/api/v1/watches", json={"repository": f"{running.host}/base"}, headers=admin
        )
        assert made.status_code == 201
        wait_until(lambda: watcher.cycles >= 2)  # the first cycle, and the one the watch woke
        layout = images.stacked_layout(tmp_path / "base", "3.20", shared_fixture(images.ALPINE), [])
        running.push(f"oci:{layout}:3.20", "base:3.20")
        deadline = time.monotonic() + 30
        found: list[dict[str, Any]] = []
        while time.monotonic() < deadline and not found:
            found = httpx.get(f"{url}/api/v1/images", headers=admin).json()["items"]
            time.sleep(0.2)
        assert [i["tags"] for i in found] == [["3.20"]]
        assert watcher.cycles >= 3  # woken by the notification: the next poll is an hour away
    engine.dispose()


def wait_until(condition: Callable[[], bool], seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "gave up waiting"
        time.sleep(0.05)


def test_a_push_envelope_is_checked(service: Service) -> None:
    with service.client() as client:
        url = "/api/v1/events/registry"
        envelope = {
            "events": [
                {
                    "id": "e1",
                    "action": "push",
                    "target": {"repository": "nothing-watched", "tag": "1", "digest": "sha256:0"},
                    "request": {"host": "127.0.0.1:5000"},
                }
            ]
        }
        kind = {"Content-Type": "application/vnd.docker.distribution.events.v1+json"}
        accepted = client.post(url, content=json.dumps(envelope), headers=service.admin | kind)
        assert accepted.status_code == 202
        assert accepted.json() == {"events": 1, "pushes": 1, "watched": []}
        assert client.post(url, content=json.dumps(envelope), headers=kind).status_code == 401
        bad = client.post(url, content=b"{not json", headers=service.admin | kind)
        assert bad.status_code == 422 and bad.headers["content-type"] == "application/problem+json"
        wrong = client.post(url, json={"events": "push"}, headers=service.admin)
        assert wrong.status_code == 422


def test_the_services_own_update_fetches_the_stored_ecosystems_and_re_evaluates(
    registry: Registry, service: Service, tmp_path: Path
) -> None:
    """`POST /api/v1/vulndb/update`: the OSV dump of the ecosystem the stored inventories hold
    (Alpine), from a loopback feed, then the re-evaluation it causes."""
    registry.push_base("3.20", upgraded=False)
    service.watch(f"{registry.host}/base")
    (digest,) = (
        Watcher(service.make, service.settings, service.core, FixedClock(DAY)).poll_once().indexed
    )
    feed = Feed(files={"/Alpine/all.zip": Served(osv_zip(busybox_record("ALPINE-TEST-0400", NEW)))})
    with serve(feed) as base:
        core = dataclasses.replace(service.core, osv_url=base)
        updater = Updater(service.make, service.settings, core)
        state = ServiceState(service.settings, service.engine, service.make, updater=updater)
        reevaluator = Reevaluator(service.make, service.settings, core)
        reevaluator.check()  # the baseline
        with TestClient(create_app(state)) as client:
            assert client.post("/api/v1/vulndb/update", headers=service.admin).json() == {
                "started": True
            }
            wait_until(lambda: updater.last is not None)
            status = client.get("/api/v1/vulndb", headers=service.admin).json()
    assert [path for path, _ in feed.requests] == ["/Alpine/all.zip"]
    last = status["last_update"]
    assert last["error"] == "" and last["ecosystems"] == ["Alpine"]
    assert last["changed_packages"] >= 1
    assert "osv:Alpine" in {s["name"] for s in status["sources"]}
    change = reevaluator.check().images[digest]
    assert "ALPINE-TEST-0400" in {advisory for advisory, _, _ in change.new}
    assert len(service.events("findings.new")) == 1


def test_a_failed_update_is_reported_and_changes_nothing(service: Service) -> None:
    core = dataclasses.replace(service.core, osv_url=f"http://127.0.0.1:{rs.free_port()}")
    updater = Updater(service.make, service.settings, core)
    summary = updater.update_once()
    assert summary is not None and summary.error
    assert not service.settings.vulndb.exists()


def test_the_newer_tag_of_a_base_and_the_alternatives_are_read_and_compared_on_the_page(
    registry: Registry, service: Service, tmp_path: Path
) -> None:
    """Listing the base's repository finds `3.21` (the line's next tag, not `3.20.1` nor
    `edge`), the configured alternative `edge` is read too; both are inventoried like bases,
    and the image's page compares its base with each: the update fixes the busybox advisory."""
    import_files(
        [write_records(tmp_path / "osv", busybox_record("ALPINE-TEST-0110", NEW, "CVE-2099-0110"))],
        service.core,
    )
    registry.push_base("3.20", upgraded=False)
    registry.push_base("3.21", upgraded=True)
    registry.push_base("3.20.1", upgraded=True)
    registry.push_base("edge", upgraded=True)
    registry.push_app("1", on_upgraded=False)
    service.watch(f"{registry.host}/app")
    settings = dataclasses.replace(service.settings, alternatives=(f"{registry.host}/base:edge",))
    watcher = Watcher(service.make, settings, service.core, FixedClock(DAY))

    first = watcher.poll_once()
    assert first.errors == [] and len(first.indexed) == 1
    (app,) = first.indexed
    with service.make() as session:
        rows = {b.tag: b for b in session.scalars(select(BaseTag))}
    assert sorted(rows) == ["3.20", "3.21", "edge"]
    assert all(r.manifest_digest and not r.problem for r in rows.values())

    registry.proxy.reset()
    again = watcher.poll_once()  # within the hour: the base's repository is not listed again
    assert again.errors == []
    listed = [path for _, path, _ in registry.proxy.requests if "/tags/list" in path]
    assert listed == ["/v2/app/tags/list?n=1000"]  # the watched repository alone
    heads = [path for method, path, _ in registry.proxy.requests if method == "HEAD"]
    assert sorted(heads) == sorted(
        ["/v2/app/manifests/1"] + [f"/v2/base/manifests/{tag}" for tag in ("3.20", "3.21", "edge")]
    )

    state = ServiceState(settings, service.engine, service.make)
    with TestClient(create_app(state), base_url="https://testserver") as client:
        login = client.post(
            "/login", data={"token": service.token, "next": "/"}, follow_redirects=False
        )
        assert login.status_code == 303
        page = client.get(f"/images/{app}")
    assert page.status_code == 200
    advice = page.text.split('id="advice-heading"', 1)[1].split("</section>", 1)[0]
    rows_html = advice.split("<tr>")[2:]  # the header row first
    kinds = [r.split('<th scope="row">', 1)[1].split("<", 1)[0] for r in rows_html]
    assert kinds == ["update", "alternative"]  # no refresh: 3.20 did not move
    update, alternative = rows_html
    assert f"{registry.host}/base:3.21" in update and "CVE-2099-0110</a> (busybox)" in update
    assert (
        f"{registry.host}/base:edge" in alternative and "CVE-2099-0110</a> (busybox)" in alternative
    )
    assert 'id="unchecked-heading"' not in page.text  # everything was checked
