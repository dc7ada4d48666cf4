"""The fleet's queue on a real PostgreSQL (procrastinate's schema, made by the service's
migrations): keys that keep the same work from being queued twice, priorities, the jobs of a
dead worker handed back after the lease and parked after `attempts` runs, and the settings."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from basewatch.cli.exit_codes import ExitCode
from basewatch.cli.main import main
from basewatch.errors import ConfigError, UsageError
from basewatch.service.config import ServeSettings
from basewatch.service.fleet.app import POLL_CHUNK, Deferrer, make_app
from basewatch.service.fleet.queue import Fleet, Priority, conninfo

pytestmark = pytest.mark.postgres


@pytest.fixture
def deferrer(engine: Engine) -> Iterator[Deferrer]:
    app = make_app(conninfo(engine.url.render_as_string(hide_password=False)), asynchronous=False)
    app.open()
    try:
        yield Deferrer(app, "test+abc")
    finally:
        app.close()


def _take(engine: Engine, worker: int, queues: list[str] | None = None) -> tuple[int, str] | None:
    """What a worker fetching now gets (procrastinate's own fetch): (job id, its args' key)."""
    with engine.begin() as connection:
        row = connection.execute(
            text(
                "SELECT id, task_name, args FROM procrastinate_fetch_job_v2("
                "CAST(:q AS varchar[]), CAST(:w AS bigint))"
            ),
            {"q": queues, "w": worker},
        ).one()
    if row[0] is None:
        return None
    return int(row[0]), str(row[1])


def _worker(engine: Engine, silent_for: float = 0.0) -> int:
    with engine.begin() as connection:
        worker = connection.scalar(text("SELECT worker_id FROM procrastinate_register_worker_v1()"))
        connection.execute(
            text(
                "UPDATE procrastinate_workers SET last_heartbeat = now() - make_interval(secs "
                "=> :s) WHERE id = :id"
            ),
            {"s": silent_for, "id": worker},
        )
    assert worker is not None
    return int(worker)


def test_the_same_work_is_not_queued_twice(engine: Engine, deferrer: Deferrer) -> None:
    assert deferrer.index("r/app", "sha256:" + "a" * 64)
    assert not deferrer.index("r/app", "sha256:" + "a" * 64)  # waiting already
    assert deferrer.index("r/other", "sha256:" + "b" * 64)
    assert deferrer.poll("r/app", "v1")
    assert not deferrer.poll("r/app", "v1", Priority.PUSH)
    assert deferrer.poll("r/app", "v2")
    fleet = Fleet(engine, lease=30, attempts=3)
    assert fleet.waiting() == 4
    assert fleet.queued_keys("poll:") == {"poll:r/app:v1", "poll:r/app:v2"}
    # once one is running, another may wait behind it (a tag that moved again meanwhile),
    # but the two never run together (the same lock)
    worker = _worker(engine)
    first = _take(engine, worker, ["index"])
    assert first is not None
    assert deferrer.index("r/app", "sha256:" + "a" * 64)
    second = _take(engine, worker, ["index"])
    assert second is not None and second[0] != first[0]  # the other digest's
    assert _take(engine, worker, ["index"]) is None  # the same digest's waits for the first


def test_a_cycle_s_polls_are_queued_in_chunks_and_a_tag_queued_meanwhile_is_left_out(
    engine: Engine, deferrer: Deferrer
) -> None:
    wanted = [(f"r/app-{n // 50}", f"v{n % 50}") for n in range(POLL_CHUNK + 100)]
    assert deferrer.poll("r/app-3", "v7", Priority.PUSH)  # pushed while the tags were listed
    assert deferrer.polls(wanted) == len(wanted) - 1
    assert deferrer.polls(wanted[:10]) == 0  # all waiting already
    with engine.connect() as connection:
        rows = connection.execute(
            text("SELECT queueing_lock, lock, priority, args FROM procrastinate_jobs")
        ).all()
    assert len(rows) == len(wanted)
    for queueing_lock, lock, priority, args in rows:
        assert queueing_lock == lock == f"poll:{args['repository']}:{args['tag']}"
        pushed = (args["repository"], args["tag"]) == ("r/app-3", "v7")
        assert priority == args["priority"] == (Priority.PUSH if pushed else Priority.POLL)


def test_what_somebody_waits_on_runs_before_pushes_before_polls_before_bulk(
    engine: Engine, deferrer: Deferrer
) -> None:
    deferrer.reevaluate([["sha256:" + "1" * 64]], {"osv:Alpine:v3.20": "2026-11-01"})
    deferrer.poll("r/app", "scheduled")
    deferrer.poll("r/app", "pushed", Priority.PUSH)
    deferrer.harbor("scan-1")
    worker = _worker(engine)
    order = [_take(engine, worker) for _ in range(4)]
    assert [job[1] for job in order if job] == [
        "basewatch.harbor",
        "basewatch.poll",
        "basewatch.poll",
        "basewatch.reevaluate",
    ]
    with engine.connect() as connection:
        args = (
            connection.execute(
                text(
                    "SELECT args->>'tag' FROM procrastinate_jobs WHERE task_name = 'basewatch.poll'"
                    " ORDER BY priority DESC"
                )
            )
            .scalars()
            .all()
        )
    assert args == ["pushed", "scheduled"]


def test_a_dead_worker_s_jobs_are_handed_back_then_parked(
    engine: Engine, deferrer: Deferrer
) -> None:
    fleet = Fleet(engine, lease=5, attempts=3)
    deferrer.index("r/app", "sha256:" + "c" * 64)
    for run in range(1, 4):
        dead = _worker(engine)
        taken = _take(engine, dead)
        assert taken is not None
        alive = _worker(engine)
        # not silent long enough yet: nothing is handed back
        assert fleet.recover_stalled() == (0, 0)
        with engine.begin() as connection:
            connection.execute(
                text(
                    "UPDATE procrastinate_workers SET last_heartbeat = now() - interval '1 "
                    "minute' WHERE id = :id"
                ),
                {"id": dead},
            )
        recovered, parked = fleet.recover_stalled()
        if run < 3:
            assert (recovered, parked) == (1, 0)
            with engine.connect() as connection:
                status, attempts = connection.execute(
                    text("SELECT status::text, attempts FROM procrastinate_jobs")
                ).one()
            assert (status, attempts) == ("todo", run)
        else:  # the third run died too: parked, shown, not run again
            assert (recovered, parked) == (0, 1)
        assert alive in {w.worker_id for w in fleet.workers() if w.alive}
        assert dead not in {w.worker_id for w in fleet.workers()}
    parked_jobs = fleet.parked_jobs()
    assert [(p.queue, p.attempts) for p in parked_jobs] == [("index", 3)]
    assert "died" in parked_jobs[0].reason
    assert fleet.waiting() == 0
    assert _take(engine, _worker(engine)) is None


def test_counts_by_queue_and_state(engine: Engine, deferrer: Deferrer) -> None:
    deferrer.poll("r/app", "v1")
    deferrer.poll("r/app", "v2")
    deferrer.deliver()
    _take(engine, _worker(engine), ["deliver"])
    counts = {(c.queue, c.status): c.jobs for c in Fleet(engine, 30, 3).counts()}
    assert counts == {("deliver", "doing"): 1, ("poll", "todo"): 2}


def test_the_queue_needs_postgresql(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="PostgreSQL"):
        conninfo(f"sqlite+pysqlite:///{tmp_path}/service.db")
    found = conninfo("postgresql+psycopg://bw:s3cret@db.example:6543/basewatch?sslmode=require")
    assert "host=db.example" in found and "port=6543" in found and "sslmode=require" in found


def test_fleet_settings_layer_and_refuse_bad_values(tmp_path: Path) -> None:
    config = tmp_path / "serve.toml"
    config.write_text(
        '[serve.fleet]\nlease = "9s"\nattempts = 4\nregistry_rates = { "r.example:5000" = 5 }\n'
    )
    settings = ServeSettings.load(
        environ={"BASEWATCH_FLEET_MAX_QUEUED": "500"}, default_vulndb=tmp_path / "v", config=config
    )
    assert (settings.fleet.lease, settings.fleet.attempts, settings.fleet.max_queued) == (9, 4, 500)
    assert settings.fleet.registry_rates == (("r.example:5000", 5.0),)
    for bad, message in (
        ('lease = "1s"', "at least 3s"),
        ("attempts = 0", "between"),
        ('attempts = "x"', "not a number"),
        ("color = 1", "unknown setting"),
        ('registry_rates = "r"', "HOST=REQUESTS_PER_SECOND"),
        ('registry_rates = { "r.example" = "fast" }', "not a number"),
    ):
        config.write_text(f"[serve.fleet]\n{bad}\n")
        with pytest.raises(ConfigError, match=message):
            ServeSettings.load(environ={}, default_vulndb=tmp_path / "v", config=config)


# --- `basewatch serve jobs` ------------------------------------------------------------------


def _silence(engine: Engine, worker: int) -> None:
    with engine.begin() as connection:
        connection.execute(
            text(
                "UPDATE procrastinate_workers SET last_heartbeat = now() - interval '1 hour' "
                "WHERE id = :id"
            ),
            {"id": worker},
        )


def test_serve_jobs_shows_depth_workers_stuck_and_parked_jobs(
    engine: Engine, deferrer: Deferrer, capsys: pytest.CaptureFixture[str]
) -> None:
    url = engine.url.render_as_string(hide_password=False)
    parked_digest, stuck_digest = "sha256:" + "d" * 64, "sha256:" + "e" * 64
    fleet = Fleet(engine, lease=5, attempts=1)
    deferrer.index("r/app", parked_digest)
    dead = _worker(engine)
    assert _take(engine, dead) is not None
    _silence(engine, dead)
    assert fleet.recover_stalled() == (0, 1)  # one run allowed, and its worker died: parked
    deferrer.index("r/app", stuck_digest)
    deferrer.poll("r/app", "v1")
    silent = _worker(engine)
    taken = _take(engine, silent, ["index"])
    assert taken is not None
    _silence(engine, silent)  # its lease ran out; nobody has handed its job back yet
    _worker(engine)  # and one alive

    assert main(["serve", "--database", url, "jobs", "--format", "json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert {(q["queue"], q["state"], q["jobs"]) for q in document["queues"]} == {
        ("index", "doing", 1),
        ("index", "failed", 1),  # the parked one
        ("poll", "todo", 1),
    }
    assert sorted(w["alive"] for w in document["workers"]) == [False, True]
    assert [(j["id"], j["args"]["digest"]) for j in document["stuck"]] == [(taken[0], stuck_digest)]
    (parked,) = document["parked"]
    assert parked["args"]["digest"] == parked_digest and "died" in parked["reason"]

    assert main(["serve", "--database", url, "jobs"]) == 0
    shown = capsys.readouterr().out
    assert "workers: 1 alive, 1 not heard from" in shown
    assert "stuck (running on a worker no longer heard from): 1" in shown
    assert f"#{taken[0]} index" in shown and "parked: 1" in shown


def test_serve_jobs_on_sqlite_says_the_queue_is_postgresql_s(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite+pysqlite:///{tmp_path / 'service.db'}"
    assert main(["serve", "--database", url, "jobs"]) == ExitCode.USAGE
    err = capsys.readouterr().err
    assert "PostgreSQL" in err and "Traceback" not in err


def test_a_worker_needs_postgresql_and_a_sane_concurrency(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sqlite_url = f"sqlite+pysqlite:///{tmp_path / 'service.db'}"
    assert main(["worker", "--database", sqlite_url]) == ExitCode.USAGE
    assert "PostgreSQL" in capsys.readouterr().err
    url = "postgresql+psycopg://basewatch@127.0.0.1:1/none"
    assert main(["worker", "--database", url, "--concurrency", "0"]) == ExitCode.USAGE
    err = capsys.readouterr().err
    assert "--concurrency" in err and "Traceback" not in err


def test_a_dead_worker_s_job_queued_again_meanwhile_is_left_to_its_twin(
    engine: Engine, deferrer: Deferrer
) -> None:
    fleet = Fleet(engine, lease=5, attempts=3)
    assert deferrer.deliver()
    dead = _worker(engine)
    assert _take(engine, dead, ["deliver"]) is not None
    assert deferrer.deliver()  # the same run queued again while the first one runs
    _silence(engine, dead)
    assert fleet.recover_stalled() == (1, 0)  # not two waiting under one key: an error before
    with engine.connect() as connection:
        rows = connection.execute(
            text("SELECT status::text FROM procrastinate_jobs WHERE queue_name = 'deliver'")
        ).all()
    assert [r[0] for r in rows] == ["todo"]


def test_a_worker_whose_metrics_address_is_taken_says_so_and_leaves(
    engine: Engine, tmp_path: Path
) -> None:
    url = engine.url.render_as_string(hide_password=False)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        listen = f"127.0.0.1:{taken.getsockname()[1]}"
        result = subprocess.run(
            [sys.executable, "-m", "basewatch", "worker", "--database", url, "--metrics", listen],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
            env={**os.environ, "BASEWATCH_CACHE_DIR": str(tmp_path / "cache")},
            cwd=tmp_path,
        )
    assert result.returncode == ExitCode.USAGE, result.stderr
    assert f"cannot serve /metrics on {listen}" in result.stderr
    assert "in use" in result.stderr and "Traceback" not in result.stderr
