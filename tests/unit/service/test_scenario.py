"""The whole service, as a user runs it: `basewatch serve` as a process, a real docker-registry
on loopback whose notifications go to it, real images pushed with skopeo, OSV records imported
by another process (`basewatch db import`), and a webhook receiver that checks signatures.

The scenario: base v1 pushed as `base:3.20`, an app built on it as `app:1` (labelled with its
base), the app's repository watched. Records for the base's real busybox version arrive: one
`findings.new` reaches the webhook. Base v2 (busybox upgraded, the fix) is pushed under the same
tag: one `base.moved` lists `app:1` and says the refresh fixes that advisory. Importing the same
records again makes no event. Then the faults: the receiver down and failing, the service
killed in the middle of a re-evaluation, PostgreSQL restarted under it.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from basewatch.service.models import Evaluation, Image
from tests.integration import registry_server as rs
from tests.service_support.postgres import PostgresCluster
from tests.service_support.process import ServeProcess, wait_for
from tests.service_support.scenario import ALIAS, World, record, running_world

pytestmark = pytest.mark.integration


@pytest.fixture
def world(tmp_path: Path, database_url: str) -> Iterator[World]:
    missing = rs.missing_tools()
    if missing:
        pytest.skip(f"registry tests need {', '.join(missing)}")
    with running_world(tmp_path, database_url) as running:
        yield running


def test_the_scenario(world: World) -> None:
    world.push_base(upgraded=False)
    world.push_app("1")
    world.import_records()  # an empty database to start from
    world.serve.start()
    world.start_watching()

    (app,) = wait_for(lambda: world.serve.get("/api/v1/images")["items"], what="the app")
    assert app["tags"] == ["1"] and app["repository"] == f"{world.registry.host}/app"
    assert app["base_reference"] == f"{world.registry.host}/base:3.20"
    base_v1 = app["base_digest"]
    assert base_v1.startswith("sha256:")

    world.import_records(record())
    (new,) = wait_for(lambda: world.receiver.of_type("findings.new"), what="findings.new")
    data = new.body["data"]
    assert data["digest"] == app["digest"]
    assert data["repository"] == app["repository"]
    assert ALIAS in {f["id"] for f in data["findings"]}

    world.push_base(upgraded=True)
    (moved,) = wait_for(lambda: world.receiver.of_type("base.moved"), what="base.moved")
    payload = moved.body["data"]
    assert payload["base"]["from"] == base_v1
    (listed,) = payload["images"]
    assert (listed["digest"], listed["tags"]) == (app["digest"], ["1"])
    assert any(fix.endswith(f":{ALIAS}") for fix in listed["fixes"])
    detail = world.serve.get(f"/api/v1/images/{app['digest']}")
    assert detail["rebuild_needed"] and detail["base_moved"]

    world.import_records(record())  # the same records again
    time.sleep(3)  # six checks of the database
    assert len(world.receiver.of_type("findings.new")) == 1
    assert len(world.receiver.of_type("base.moved")) == 1
    assert world.receiver.bad_signatures == 0
    # every event reached the webhook, each once, under its own message id
    ids = [d.webhook_id for d in world.receiver.accepted]
    events = world.events()
    assert sorted(ids) == sorted(e["message_id"] for e in events)
    assert {e["type"] for e in events} >= {"findings.new", "base.moved"}
    assert all(d["state"] == "delivered" for e in events for d in e["deliveries"])
    assert world.serve.stop() == 0  # SIGTERM: a clean stop


def test_every_event_arrives_after_the_receiver_was_down(world: World) -> None:
    world.push_base(upgraded=False)
    world.push_app("1")
    world.receiver.stop()  # connection refused
    world.import_records()
    world.serve.start()
    world.start_watching()
    wait_for(lambda: world.serve.get("/api/v1/images")["items"], what="the app")
    world.import_records(record())
    wait_for(lambda: world.events("findings.new"), what="the event")
    time.sleep(4)
    world.receiver.answer = 500
    world.receiver.start()
    wait_for(lambda: world.receiver.attempts >= 2, what="failed attempts")
    time.sleep(3)
    assert world.receiver.accepted == []
    world.receiver.answer = 200
    events = world.events()
    wait_for(
        lambda: len({d.webhook_id for d in world.receiver.accepted}) == len(events),
        what="every event",
    )
    assert sorted({d.webhook_id for d in world.receiver.accepted}) == sorted(
        e["message_id"] for e in events
    )
    (new,) = world.events("findings.new")
    (delivery,) = new["deliveries"]
    # refused, then answered 500, then delivered: the same message id every time
    assert delivery["state"] == "delivered" and delivery["attempts"] >= 3


def test_a_service_killed_mid_re_evaluation_loses_and_doubles_nothing(world: World) -> None:
    """Many images share the advisory; SIGKILL lands while they are re-matched. After the
    restart each image has its one findings.new, and the webhook got each once (or again
    under the same id)."""
    world.push_base(upgraded=False)
    for tag in ("1", "2", "3"):
        world.push_app(tag)  # one digest: the same build pushed three times
    world.import_records()
    world.serve.start()
    world.start_watching()
    wait_for(lambda: world.serve.get("/api/v1/images")["items"], what="the app")
    clones = clone_images(world.serve.database, 2500)
    world.import_records(record())
    wait_for(lambda: pending(world.serve) > 1000, what="the re-evaluation to be under way")
    assert world.serve.stop(signal.SIGKILL) == -signal.SIGKILL
    expected = len(clones) + 1
    assert world.events_in_database("findings.new") < expected  # it was in the middle
    world.serve.start()
    # counted in the database: listing thousands of events through the API while waiting
    # would only slow the service down
    wait_for(lambda: world.events_in_database("findings.new") >= expected, 120, "the events")
    events = world.events("findings.new")
    assert len(events) == expected  # one for every image, none twice
    assert sorted(e["digest"] for e in events) == sorted({e["digest"] for e in events})
    wanted = {e["message_id"] for e in events}
    wait_for(
        lambda: {d.webhook_id for d in world.receiver.of_type("findings.new")} == wanted,
        120,
        "every delivery",
    )
    time.sleep(2)
    assert world.events_in_database("findings.new") == expected  # no second round


def pending(serve: ServeProcess) -> float:
    """The service's `basewatch_reevaluation_pending` metric."""
    text = httpx.get(f"{serve.url}/metrics", headers=serve.headers, timeout=10).text
    for line in text.splitlines():
        if line.startswith("basewatch_reevaluation_pending "):
            return float(line.split()[1])
    raise AssertionError("no basewatch_reevaluation_pending metric")


def clone_images(database: str, count: int) -> list[str]:
    """`count` more images with the first one's stored inventory and snapshot, as a fleet of
    identical builds would be (written straight into the service's database)."""
    engine = create_engine(database)
    digests = []
    with Session(engine) as session:
        first = session.scalars(select(Image)).one()
        evaluation = session.get(Evaluation, first.digest)
        assert evaluation is not None
        for n in range(count):
            digest = f"sha256:{n:064x}"
            digests.append(digest)
            columns = {c.key: getattr(first, c.key) for c in Image.__table__.columns}
            session.add(Image(**{**columns, "digest": digest}))
        session.flush()  # the images before what refers to them
        session.add_all(
            Evaluation(
                digest=digest,
                evaluated_at=evaluation.evaluated_at,
                database=evaluation.database,
                unchecked=evaluation.unchecked,
            )
            for digest in digests
        )
        session.commit()
    engine.dispose()
    return digests


def test_postgresql_restarted_under_the_service(
    world: World, request: pytest.FixtureRequest
) -> None:
    if not world.serve.database.startswith("postgresql"):
        pytest.skip("a PostgreSQL restart: the SQLite run has no server to restart")
    cluster: PostgresCluster = request.getfixturevalue("postgres_cluster")
    world.push_base(upgraded=False)
    world.push_app("1")
    world.import_records()
    world.serve.start()
    world.start_watching()
    wait_for(lambda: world.serve.get("/api/v1/images")["items"], what="the app")
    cluster.restart()  # every pooled connection of the service is dead now
    cluster.stop()
    time.sleep(2)  # its workers fail a few times meanwhile
    cluster.start()
    world.import_records(record())
    (new,) = wait_for(lambda: world.receiver.of_type("findings.new"), what="findings.new")
    assert ALIAS in {f["id"] for f in new.body["data"]["findings"]}
    assert world.serve.get("/readyz")["status"] == "ready"
    assert world.serve.stop() == 0
