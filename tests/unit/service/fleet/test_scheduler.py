"""The fleet's scheduler against a real docker-registry and PostgreSQL: one poll job a watched
tag, never a second while one waits, none at all while the queue is deeper than `max_queued`
(backpressure), and a watch whose registry is no longer allowed skipped with a reason."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from procrastinate import App
from sqlalchemy import Engine

from basewatch.oci.registry.options import RegistryOptions
from basewatch.service.config import ServeSettings
from basewatch.service.db import sessions
from basewatch.service.fleet.app import Deferrer, make_app
from basewatch.service.fleet.queue import Fleet, conninfo
from basewatch.service.fleet.scheduler import Scheduler
from basewatch.service.models import Watch
from basewatch.settings import Settings
from tests.fixtures import shared_fixture
from tests.integration import registry_server as rs

pytestmark = [pytest.mark.postgres, pytest.mark.integration]

BUSYBOX = "images/busybox-1.38.0-musl-amd64.oci.tar"
TAGS = ("v1", "v2", "v3", "v4", "v5")


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[rs.RunningRegistry]:
    missing = rs.missing_tools()
    if missing:
        pytest.skip(f"needs {', '.join(missing)}")
    with rs.run_registry(tmp_path_factory.mktemp("registry"), "none") as running:
        running.push(f"oci-archive:{shared_fixture(BUSYBOX)}", "app:v1")
        with httpx.Client(base_url=f"http://{running.host}", timeout=30) as client:
            kind = "application/vnd.oci.image.manifest.v1+json"
            got = client.get("/v2/app/manifests/v1", headers={"Accept": kind})
            got.raise_for_status()
            for tag in TAGS[1:]:  # the same image pushed under more tags
                put = client.put(
                    f"/v2/app/manifests/{tag}",
                    content=got.content,
                    headers={"Content-Type": got.headers["Content-Type"]},
                )
                assert put.status_code == 201, put.text
        yield running


def _scheduler(
    engine: Engine, tmp_path: Path, allowed: str, max_queued: int
) -> tuple[Scheduler, App]:
    url = engine.url.render_as_string(hide_password=False)
    config = tmp_path / f"serve-{max_queued}.toml"
    config.write_text(
        f'[serve]\nallowed_registries = ["{allowed}"]\n[serve.fleet]\nmax_queued = {max_queued}\n'
    )
    settings = ServeSettings.load(
        environ={}, default_vulndb=tmp_path / "vuln.db", config=config, flags={"database": url}
    )
    app = make_app(conninfo(url), asynchronous=False)
    app.open()
    deferrer = Deferrer(app, "test+abc")
    fleet = Fleet(engine, settings.fleet.lease, settings.fleet.attempts)
    core = Settings(cache_dir=tmp_path / "cache")
    return Scheduler(sessions(engine), settings, core, deferrer, fleet, RegistryOptions()), app


def _watch(engine: Engine, repository: str, tags: list[str]) -> None:
    with sessions(engine)() as session:
        session.add(Watch(repository=repository, tags=tags, created_at=datetime.now(UTC)))
        session.commit()


def test_one_poll_a_tag_none_twice_and_none_while_the_queue_is_deep(
    engine: Engine, registry: rs.RunningRegistry, tmp_path: Path
) -> None:
    _watch(engine, f"{registry.host}/app", ["v*"])
    _watch(engine, f"{registry.host}/app-gone", ["*"])  # no such repository: said, not fatal
    scheduler, app = _scheduler(engine, tmp_path, registry.host, max_queued=100)
    first = scheduler.schedule_once()
    assert (first.tags, first.queued, first.waiting, first.held_back) == (5, 5, 0, False)
    assert len(first.errors) == 1 and "app-gone" in first.errors[0]
    counts = {(c.queue, c.status): c.jobs for c in scheduler.fleet.counts()}
    assert counts == {("poll", "todo"): 5, ("bases", "todo"): 1, ("deliver", "todo"): 1}

    again = scheduler.schedule_once()  # the polls still wait: none queued twice
    assert (again.tags, again.queued, again.waiting) == (5, 0, 7)

    deep, _ = _scheduler(engine, tmp_path, registry.host, max_queued=3)
    held = deep.schedule_once()
    assert held.held_back and held.queued == 0 and held.tags == 0
    assert "7 jobs are waiting (more than max_queued, 3)" in held.errors[0]
    assert deep.held_back == 1
    app.close()


def test_a_watch_whose_registry_is_no_longer_allowed_is_skipped(
    engine: Engine, registry: rs.RunningRegistry, tmp_path: Path
) -> None:
    _watch(engine, f"{registry.host}/app", ["*"])
    scheduler, app = _scheduler(engine, tmp_path, "elsewhere.example", max_queued=100)
    report = scheduler.schedule_once()
    assert report.queued == 0 and report.tags == 0
    assert "no longer in allowed_registries" in report.errors[0]
    app.close()


def test_a_cycle_lists_several_repositories_at_once_and_keeps_the_watches_order(
    engine: Engine, registry: rs.RunningRegistry, tmp_path: Path
) -> None:
    for name in ("b", "c", "d"):
        registry.push(f"oci-archive:{shared_fixture(BUSYBOX)}", f"{name}:v1")
    proxy = rs.FaultProxy(registry.host)
    try:
        proxy.faults.list_delay = 0.3  # a registry far away: each list waits on the network
        order = ["app", "gone-1", "b", "gone-2", "c", "gone-3", "d", "gone-4"]
        for name in order:
            _watch(engine, f"{proxy.host}/{name}", ["*"])
        scheduler, app = _scheduler(engine, tmp_path, proxy.host, max_queued=100)
        report = scheduler.schedule_once()
        lists = [path for method, path, _ in proxy.requests if path.endswith("/tags/list?n=1000")]
        assert sorted(lists) == sorted(f"/v2/{name}/tags/list?n=1000" for name in order)
        assert proxy.most_lists_in_flight > 1, "the lists were made one after the other"
        assert proxy.most_lists_in_flight <= 8  # LISTERS
        assert (report.tags, report.queued) == (5 + 3, 5 + 3)
        # what could not be listed is reported in the order of the watches
        assert [e.split("/")[1].split(":")[0] for e in report.errors] == [
            "gone-1",
            "gone-2",
            "gone-3",
            "gone-4",
        ]
        app.close()
    finally:
        proxy.close()
