"""`basewatch worker`: run the fleet's jobs; `basewatch serve jobs`: what the fleet's queue
holds (its depth, the workers, stuck and parked jobs)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from basewatch.cli.exit_codes import ExitCode
from basewatch.cli.settings import settings_from
from basewatch.errors import UsageError

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from basewatch.service.config import ServeSettings
    from basewatch.service.fleet.queue import JobRow

MAX_CONCURRENCY = 64


def add_worker_arguments(worker: argparse.ArgumentParser) -> None:
    worker.add_argument(
        "--config", type=Path, metavar="FILE", help="the TOML file `serve` reads ([serve])"
    )
    worker.add_argument(
        "--database", metavar="URL", help="postgresql+psycopg://USER@HOST/NAME (serve's)"
    )
    worker.add_argument(
        "--vulndb", metavar="PATH", help="this worker's vulnerability database (default: the CLI's)"
    )
    worker.add_argument(
        "--concurrency", type=int, default=2, metavar="N", help="jobs run at once (default: 2)"
    )
    worker.add_argument(
        "--queues",
        metavar="Q,Q",
        help="only these queues (poll, index, reevaluate, deliver, bases, harbor; default: all)",
    )
    worker.add_argument("--name", default="", help="how the worker names itself in its logs")
    worker.add_argument(
        "--metrics", metavar="HOST:PORT", help="serve /metrics there ([serve.fleet] metrics)"
    )


def run_worker(args: argparse.Namespace) -> int:
    from basewatch.service.config import ServeSettings
    from basewatch.service.db import open_engine, upgrade
    from basewatch.service.fleet.queue import conninfo
    from basewatch.service.fleet.runtime import run_worker as run

    if not 1 <= args.concurrency <= MAX_CONCURRENCY:
        raise UsageError(f"--concurrency: between 1 and {MAX_CONCURRENCY}")
    core = settings_from(args)
    environ = dict(os.environ)
    if args.metrics:
        environ["BASEWATCH_FLEET_METRICS"] = args.metrics
    settings = ServeSettings.load(
        environ=environ,
        default_vulndb=core.db_path,
        config=args.config,
        flags={"database": args.database, "vulndb": args.vulndb},
    )
    conninfo(settings.database)  # PostgreSQL, or a clear error before anything starts
    engine = open_engine(settings.database)
    try:
        upgrade(engine)  # the schema of this version (or SchemaTooNew for an older worker)
        queues = [q.strip() for q in (args.queues or "").split(",") if q.strip()]
        print(
            f"basewatch: worker running {args.concurrency} job(s) at once "
            f"from {', '.join(queues) or 'every queue'}",
            file=sys.stderr,
            flush=True,
        )
        run(
            settings,
            core,
            engine,
            concurrency=args.concurrency,
            queues=queues or None,
            name=args.name,
        )
    finally:
        engine.dispose()
    print("basewatch: worker stopped", file=sys.stderr, flush=True)
    return ExitCode.OK


def show_jobs(settings: ServeSettings, engine: Engine, output: str, limit: int) -> int:
    from basewatch.service.fleet.queue import Fleet

    fleet = Fleet(engine, settings.fleet.lease, settings.fleet.attempts)
    counts = fleet.counts()
    workers = fleet.workers()
    dead = {w.worker_id for w in workers if not w.alive}
    running = fleet.jobs(("doing",), limit=10 * limit)
    stuck = [j for j in running if j.worker_id is None or j.worker_id in dead][:limit]
    parked = fleet.parked_jobs(limit)
    if output == "json":
        document: dict[str, Any] = {
            "queues": [{"queue": c.queue, "state": c.status, "jobs": c.jobs} for c in counts],
            "workers": [
                {
                    "id": w.worker_id,
                    "last_heartbeat": w.last_heartbeat.isoformat(),
                    "alive": w.alive,
                    "running": w.running,
                }
                for w in workers
            ],
            "stuck": [_job(j) for j in stuck],
            "parked": [_job(j) for j in parked],
            "lease_seconds": settings.fleet.lease,
        }
        print(json.dumps(document, indent=2))
        return ExitCode.OK
    print("queue        waiting  running  done   failed")
    by_queue: dict[str, dict[str, int]] = {}
    for count in counts:
        by_queue.setdefault(count.queue, {})[count.status] = count.jobs
    for queue, states in sorted(by_queue.items()):
        print(
            f"{queue:<12} {states.get('todo', 0):>7}  {states.get('doing', 0):>7}  "
            f"{states.get('succeeded', 0):>5}  {states.get('failed', 0):>6}"
        )
    if not by_queue:
        print("(no jobs)")
    alive = sum(1 for w in workers if w.alive)
    print(
        f"\nworkers: {alive} alive, {len(workers) - alive} not heard from "
        f"for {settings.fleet.lease:g}s"
    )
    for w in workers:
        state = "alive" if w.alive else "silent"
        print(
            f"  #{w.worker_id}  {state:<6}  last heartbeat {w.last_heartbeat:%Y-%m-%d %H:%M:%S}"
            f"  running {w.running}"
        )
    print(f"\nstuck (running on a worker no longer heard from): {len(stuck)}")
    for job in stuck:
        print("  " + _line(job))
    print(f"\nparked: {len(parked)}")
    for job in parked:
        print("  " + _line(job) + f"\n      {job.reason}")
    return ExitCode.OK


def _job(job: JobRow) -> dict[str, Any]:
    return {
        "id": job.job_id,
        "queue": job.queue,
        "task": job.task,
        "state": job.status,
        "lock": job.lock,
        "attempts": job.attempts,
        "args": dict(job.args),
        "worker": job.worker_id,
        "since": job.since.isoformat() if job.since else None,
        "reason": job.reason,
    }


def _line(job: JobRow) -> str:
    args = " ".join(
        f"{k}={_short(v)}" for k, v in sorted(job.args.items()) if k not in ("priority", "data")
    )
    since = f" since {job.since:%Y-%m-%d %H:%M:%S}" if job.since else ""
    return f"#{job.job_id} {job.queue} {args} (runs: {job.attempts}){since}"


def _short(value: object) -> str:
    if isinstance(value, list):
        return f"[{len(value)} items]"
    text = str(value)
    return text if len(text) <= 100 else text[:97] + "..."
