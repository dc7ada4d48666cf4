"""The fleet's task queue: procrastinate on the service's PostgreSQL.

One queue per kind of job (`QUEUES`), so a worker can be given some of them (`--queues`), and
one priority per origin of the work (`Priority`): what a user asked for is run before what a
push asked for, before a scheduled poll, before a bulk re-evaluation. Each job is keyed
(`lock`: never two running at once; `queueing_lock`: never two waiting at once) by what it
works on: an index job by digest and analyzer version, a poll by repository and tag.

A worker that dies stops sending heartbeats; `recover_stalled` (run by every worker and by the
scheduler) hands its jobs back to the queue once it has been silent for the lease, and parks a
job that has already been run `attempts` times: a job that keeps killing workers is shown
(`parked_jobs`, `basewatch serve jobs`), not retried forever.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import IntEnum
from typing import Any

from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from basewatch.clock import SYSTEM_CLOCK, Clock
from basewatch.errors import DatabaseError, UsageError
from basewatch.service.models import ParkedJob

log = logging.getLogger(__name__)

# queue -> the task it carries (one each: a worker given `--queues index` only indexes)
POLL, INDEX, REEVALUATE, DELIVER, BASES, HARBOR = (
    "poll",
    "index",
    "reevaluate",
    "deliver",
    "bases",
    "harbor",
)
QUEUES = (POLL, INDEX, REEVALUATE, DELIVER, BASES, HARBOR)
TASK_PREFIX = "basewatch."  # procrastinate's task names: basewatch.index, ...
MAX_REASON = 2000  # characters of a parked job's reason


class Priority(IntEnum):
    """Higher runs first (procrastinate fetches by priority, then age)."""

    BULK = 10  # a re-evaluation after a database update
    POLL = 20  # the scheduler's poll of every tag
    PUSH = 30  # a push event named the tag; and delivering events
    USER = 40  # somebody waits on it: Harbor's scan request, a watch just added


def task_name(queue: str) -> str:
    return TASK_PREFIX + queue


def conninfo(database_url: str) -> str:
    """The libpq connection string of a `postgresql+psycopg://` URL; UsageError for SQLite,
    where the fleet cannot run (its queue is PostgreSQL's)."""
    from psycopg.conninfo import make_conninfo

    url = make_url(database_url)
    if url.get_backend_name() != "postgresql":
        raise UsageError(
            "the fleet's queue runs on PostgreSQL: give --database postgresql+psycopg://... "
            "(the embedded SQLite runs its work inside `basewatch serve`)"
        )
    params: dict[str, Any] = {"connect_timeout": 10}
    for key, value in (
        ("host", url.host),
        ("port", url.port),
        ("user", url.username),
        ("password", url.password),
        ("dbname", url.database),
    ):
        if value is not None:
            params[key] = value
    for key, found in url.query.items():  # sslmode=..., application_name=...
        params[key] = found if isinstance(found, str) else found[-1]
    return make_conninfo("", **params)


# --- keys ---------------------------------------------------------------------------------------


def index_key(digest: str, analyzer: str) -> str:
    return f"index:{digest}:{analyzer}"


def poll_key(repository: str, tag: str) -> str:
    return f"poll:{repository}:{tag}"


# --- what the queue holds -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class QueueCount:
    queue: str
    status: str  # todo, doing, failed, ...
    jobs: int


@dataclass(frozen=True, slots=True)
class WorkerBeat:
    worker_id: int
    last_heartbeat: datetime
    alive: bool  # heard from within the lease
    running: int  # jobs it holds


@dataclass(frozen=True, slots=True)
class JobRow:
    job_id: int
    queue: str
    task: str
    status: str
    lock: str
    attempts: int
    args: Mapping[str, Any]
    worker_id: int | None
    since: datetime | None  # when it was last started (doing) or deferred (todo)
    reason: str = ""  # parked: why


class Fleet:
    """The queue's state and upkeep, read and written with SQL on the service's engine (the
    same tables procrastinate's workers use: one source of truth)."""

    def __init__(
        self,
        engine: Engine,
        lease: float,
        attempts: int,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        if engine.dialect.name != "postgresql":
            raise UsageError("the fleet's queue runs on PostgreSQL")
        self._engine = engine
        self._sessions = sessionmaker(engine, expire_on_commit=False)
        self.lease = lease
        self.attempts = attempts
        self._clock = clock
        self.recovered = 0  # stalled jobs handed back by this process
        self.parked = 0  # jobs parked by this process

    # --- depth and liveness -------------------------------------------------------------------

    def counts(self) -> list[QueueCount]:
        query = text(
            "SELECT queue_name, status::text, count(*) FROM procrastinate_jobs "
            "WHERE status IN ('todo', 'doing') OR queue_name = ANY(:queues) "
            "GROUP BY queue_name, status ORDER BY queue_name, status"
        )
        with self._engine.connect() as connection:
            rows = connection.execute(query, {"queues": list(QUEUES)}).all()
        return [QueueCount(str(q), str(s), int(n)) for q, s, n in rows]

    def waiting(self) -> int:
        """Jobs queued and not yet started (the scheduler's backpressure)."""
        with self._engine.connect() as connection:
            found = connection.scalar(
                text("SELECT count(*) FROM procrastinate_jobs WHERE status = 'todo'")
            )
        return int(found or 0)

    def queued_keys(self, prefix: str) -> set[str]:
        """The queueing locks of the jobs waiting whose key starts with `prefix`."""
        with self._engine.connect() as connection:
            rows = connection.scalars(
                text(
                    "SELECT queueing_lock FROM procrastinate_jobs WHERE status = 'todo' "
                    "AND queueing_lock LIKE :prefix"
                ),
                {"prefix": prefix.replace("%", r"\%").replace("_", r"\_") + "%"},
            )
            return {str(row) for row in rows if row is not None}

    def workers(self) -> list[WorkerBeat]:
        query = text(
            "SELECT w.id, w.last_heartbeat, w.last_heartbeat >= now() - make_interval("
            "secs => :lease), (SELECT count(*) FROM procrastinate_jobs j WHERE j.worker_id = "
            "w.id AND j.status = 'doing') FROM procrastinate_workers w ORDER BY w.id"
        )
        with self._engine.connect() as connection:
            rows = connection.execute(query, {"lease": self.lease}).all()
        return [WorkerBeat(int(i), beat, bool(alive), int(n)) for i, beat, alive, n in rows]

    def jobs(self, statuses: Sequence[str], limit: int = 200) -> list[JobRow]:
        """Jobs in `statuses` ('doing' ones oldest first: the stuck are at the top)."""
        query = text(
            "SELECT j.id, j.queue_name, j.task_name, j.status::text, coalesce(j.lock, ''), "
            "j.attempts, j.args, j.worker_id, (SELECT max(e.at) FROM procrastinate_events e "
            "WHERE e.job_id = j.id) FROM procrastinate_jobs j "
            "WHERE j.status::text = ANY(:statuses) ORDER BY 9 NULLS FIRST, j.id LIMIT :limit"
        )
        with self._engine.connect() as connection:
            rows = connection.execute(query, {"statuses": list(statuses), "limit": limit}).all()
        return [
            JobRow(int(i), str(q), str(t), str(s), str(lk), int(a), dict(args or {}), w, at)
            for i, q, t, s, lk, a, args, w, at in rows
        ]

    def parked_jobs(self, limit: int = 200) -> list[JobRow]:
        with self._sessions() as session:
            rows = session.query(ParkedJob).order_by(ParkedJob.parked_at.desc()).limit(limit)
            return [
                JobRow(
                    p.job_id,
                    p.task.removeprefix(TASK_PREFIX),
                    p.task,
                    "parked",
                    p.lock,
                    p.attempts,
                    p.args,
                    None,
                    p.parked_at,
                    p.reason,
                )
                for p in rows
            ]

    # --- upkeep -------------------------------------------------------------------------------

    def recover_stalled(self) -> tuple[int, int]:
        """Hand back the jobs of workers silent for longer than the lease (their worker rows
        are pruned first) and park those already run `attempts` times; (recovered, parked).
        Safe to run from every process at once: each job is taken under a row lock, skipped
        by the others."""
        recovered = parked = 0
        try:
            with self._sessions.begin() as session:
                session.execute(
                    text("SELECT procrastinate_prune_stalled_workers_v1(:lease)"),
                    {"lease": self.lease},
                )
                rows = session.execute(
                    text(
                        "SELECT id, task_name, coalesce(lock, ''), attempts, args, "
                        "queueing_lock FROM procrastinate_jobs WHERE status = 'doing' AND "
                        "worker_id IS NULL ORDER BY id FOR UPDATE SKIP LOCKED"
                    )
                ).all()
                for job_id, task, lock, attempts, args, queueing_lock in rows:
                    if (
                        queueing_lock is not None
                        and session.execute(
                            text(
                                "SELECT 1 FROM procrastinate_jobs WHERE queueing_lock = :key AND "
                                "status = 'todo' AND id <> :id"
                            ),
                            {"key": queueing_lock, "id": job_id},
                        ).first()
                    ):
                        # the same work is waiting already (queued while this one ran): that
                        # one does it, and this one cannot wait beside it under the same key
                        session.execute(
                            text("SELECT procrastinate_finish_job_v1(:id, 'aborted', true)"),
                            {"id": job_id},
                        )
                        recovered += 1
                        continue
                    if attempts + 1 >= self.attempts:
                        reason = (
                            f"its worker died (no heartbeat for {self.lease:g}s) on each of "
                            f"its {attempts + 1} runs"
                        )
                        self._park(session, job_id, task, lock, attempts + 1, args, reason)
                        session.execute(
                            text("SELECT procrastinate_finish_job_v1(:id, 'failed', false)"),
                            {"id": job_id},
                        )
                        parked += 1
                    else:
                        session.execute(
                            text("SELECT procrastinate_retry_job_v1(:id, now(), NULL, NULL, NULL)"),
                            {"id": job_id},
                        )
                        recovered += 1
        except SQLAlchemyError as exc:
            raise DatabaseError(f"cannot recover stalled jobs: {exc}") from None
        if recovered or parked:
            log.warning(
                "jobs of dead workers: %d handed back to the queue, %d parked", recovered, parked
            )
        self.recovered += recovered
        self.parked += parked
        return recovered, parked

    def park(
        self, job_id: int, task: str, lock: str, attempts: int, args: Mapping[str, Any], reason: str
    ) -> None:
        """Record a job given up on (it failed its last attempt); its procrastinate row ends
        failed by the worker."""
        try:
            with self._sessions.begin() as session:
                self._park(session, job_id, task, lock, attempts, args, reason)
        except SQLAlchemyError as exc:
            log.warning("cannot record job %d as parked: %s", job_id, exc)
            return
        self.parked += 1

    def _park(
        self,
        session: Session,
        job_id: int,
        task: str,
        lock: str,
        attempts: int,
        args: Mapping[str, Any],
        reason: str,
    ) -> None:
        session.merge(
            ParkedJob(
                job_id=job_id,
                task=task,
                args=dict(args or {}),
                lock=lock,
                attempts=attempts,
                reason=reason[:MAX_REASON],
                parked_at=self._clock.now(),
            )
        )

    def retry_parked(self, job_ids: Iterable[int]) -> int:
        """Queue parked jobs again (an operator fixed what killed them); how many."""
        done = 0
        with self._sessions.begin() as session:
            for job_id in job_ids:
                row = session.get(ParkedJob, job_id)
                if row is None:
                    continue
                session.execute(
                    text(
                        "UPDATE procrastinate_jobs SET status = 'todo', attempts = 0, "
                        "scheduled_at = now() WHERE id = :id AND status = 'failed'"
                    ),
                    {"id": job_id},
                )
                session.delete(row)
                done += 1
        return done
