"""The procrastinate app of the fleet and the one way jobs are put on its queue (`Deferrer`),
used by the scheduler (`basewatch serve --no-local-workers`) and by workers alike (a poll that
finds a digest nobody indexed queues its index job)."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from procrastinate import App, PsycopgConnector, SyncPsycopgConnector
from procrastinate.exceptions import AlreadyEnqueued, ConnectorException
from procrastinate.types import JSONValue

from basewatch.errors import DatabaseError
from basewatch.service.fleet.queue import (
    BASES,
    DELIVER,
    HARBOR,
    INDEX,
    POLL,
    REEVALUATE,
    Priority,
    index_key,
    poll_key,
    task_name,
)
from basewatch.service.fleet.tasks import tasks

log = logging.getLogger(__name__)
POLL_CHUNK = 500  # poll jobs queued by one statement


def make_app(conninfo: str, *, asynchronous: bool) -> App:
    """The app over the service's PostgreSQL: asynchronous for a worker (procrastinate runs
    its loop), synchronous for the service's threads that only queue jobs."""
    connector: PsycopgConnector | SyncPsycopgConnector
    if asynchronous:
        connector = PsycopgConnector(conninfo=conninfo, min_size=1, max_size=8)
    else:
        connector = SyncPsycopgConnector(conninfo=conninfo, min_size=1, max_size=4)
    app = App(connector=connector)
    app.add_tasks_from(tasks, namespace="")
    return app


class Deferrer:
    """Queues the fleet's jobs, each under its key: a job already waiting under the same key is
    not queued twice (False is returned)."""

    def __init__(self, app: App, analyzer: str) -> None:
        self._app = app
        self.analyzer = analyzer  # the version of what indexes: part of an index job's key

    def _defer(
        self,
        queue: str,
        priority: int,
        key: str | None,
        args: Mapping[str, Any],
        schedule_in: float | None = None,
    ) -> bool:
        try:
            self._app.configure_task(
                task_name(queue),
                queue=queue,
                priority=int(priority),
                lock=key,
                queueing_lock=key,
                schedule_in={"seconds": schedule_in} if schedule_in is not None else None,
            ).defer(**args)
        except AlreadyEnqueued:
            return False
        except ConnectorException as exc:
            raise DatabaseError(f"cannot queue a {queue} job: {exc}") from None
        return True

    def poll(self, repository: str, tag: str, priority: int = Priority.POLL) -> bool:
        key = poll_key(repository, tag)
        return self._defer(
            POLL, priority, key, {"repository": repository, "tag": tag, "priority": int(priority)}
        )

    def polls(self, wanted: Sequence[tuple[str, str]], priority: int = Priority.POLL) -> int:
        """Poll each (repository, tag): one statement a chunk rather than a round trip a
        tag. A chunk with a tag queued meanwhile by someone else (a push) is queued one by
        one instead, so that only that tag is left out. The number queued."""
        queued = 0
        for start in range(0, len(wanted), POLL_CHUNK):
            chunk = wanted[start : start + POLL_CHUNK]
            jobs = [
                self._app.configure_task(
                    task_name(POLL),
                    queue=POLL,
                    priority=int(priority),
                    lock=poll_key(repository, tag),
                    queueing_lock=poll_key(repository, tag),
                ).make_new_job(repository=repository, tag=tag, priority=int(priority))
                for repository, tag in chunk
            ]
            try:
                self._app.job_manager.batch_defer_jobs(jobs)
            except AlreadyEnqueued:
                queued += sum(self.poll(repository, tag, priority) for repository, tag in chunk)
                continue
            except ConnectorException as exc:
                raise DatabaseError(f"cannot queue poll jobs: {exc}") from None
            queued += len(jobs)
        return queued

    def index(self, repository: str, digest: str, priority: int = Priority.POLL) -> bool:
        key = index_key(digest, self.analyzer)
        return self._defer(INDEX, priority, key, {"repository": repository, "digest": digest})

    def reevaluate(self, batches: Sequence[Sequence[str]], data: Mapping[str, str]) -> int:
        """One job a batch (no key: batches are disjoint, and re-matching is idempotent)."""
        deferrer = self._app.configure_task(
            task_name(REEVALUATE), queue=REEVALUATE, priority=int(Priority.BULK)
        )
        try:
            jobs: list[dict[str, JSONValue]] = [
                {"digests": list(batch), "data": dict(data)} for batch in batches
            ]
            ids = deferrer.batch_defer(*jobs)
        except ConnectorException as exc:
            raise DatabaseError(f"cannot queue re-evaluation jobs: {exc}") from None
        return len(ids)

    def deliver(self, schedule_in: float | None = None) -> bool:
        """A delivery run (now, or in `schedule_in` seconds); one waiting at a time is enough,
        since it sends everything due when it runs."""
        # a run waiting for a retry's backoff does not hold back the events of now
        key = "deliver" if schedule_in is None else "deliver:later"
        return self._defer(DELIVER, Priority.PUSH, key, {}, schedule_in)

    def bases(self) -> bool:
        return self._defer(BASES, Priority.POLL, "bases", {})

    def harbor(self, scan_id: str) -> bool:
        return self._defer(HARBOR, Priority.USER, f"harbor:{scan_id}", {"scan_id": scan_id})
