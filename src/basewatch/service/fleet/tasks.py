"""The fleet's jobs, as procrastinate tasks: each one calls the service's own code (the watcher,
the re-evaluator, the dispatcher, Harbor's scans), the same code `basewatch serve` runs in its
own threads when it has no fleet. A task finds what it runs with in the worker's `Runtime`
(procrastinate's `additional_context`).

Every job is idempotent: a poll records where a tag points (again), an index job skips a digest
already indexed, a re-evaluation of images already matched again diffs to nothing, a delivery
run sends what is due. So a job run twice (its worker died after the work, before saying so)
does no harm, and writes no event twice.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from procrastinate import Blueprint, JobContext, RetryStrategy
from sqlalchemy.exc import OperationalError

from basewatch.errors import DatabaseError, RateLimited, TransientError
from basewatch.service.fleet.queue import (
    BASES,
    DELIVER,
    HARBOR,
    INDEX,
    POLL,
    REEVALUATE,
    TASK_PREFIX,
)

if TYPE_CHECKING:
    from basewatch.service.fleet.metrics import WorkerMetrics
    from basewatch.service.fleet.queue import Fleet

log = logging.getLogger(__name__)
tasks = Blueprint()
_F = TypeVar("_F", bound=Callable[..., None])

# What is worth running again: the registry or a database was away, a registry asked to wait.
# Anything else (a malformed image, a refused registry) fails the same way each time.
RETRIED = (TransientError, RateLimited, DatabaseError, OperationalError, ConnectionError)


class Behind(TransientError):
    """This worker's vulnerability database is older than the data the job was made for."""


class Runtime(Protocol):
    """What the tasks run on: a worker's watcher, re-evaluator and dispatcher behind one face
    (`basewatch.service.fleet.runtime.Runtime`), its metrics and its view of the queue."""

    metrics: WorkerMetrics
    fleet: Fleet

    def poll(self, repository: str, tag: str, priority: int) -> None: ...
    def index(self, repository: str, digest: str) -> None: ...
    def reevaluate(self, digests: list[str], data: Mapping[str, str]) -> None: ...
    def deliver(self) -> None: ...
    def poll_bases(self) -> None: ...
    def harbor(self, scan_id: str) -> None: ...


def runtime(context: JobContext) -> Runtime:
    found = (context.additional_context or {}).get("runtime")
    assert found is not None, "a basewatch worker runs its tasks with a runtime"
    return found  # type: ignore[no-any-return]


def retry_strategy(attempts: int) -> RetryStrategy:
    """At most `attempts` runs of a job, 2s, 4s, 8s... apart, for the errors worth it."""
    return RetryStrategy(
        max_attempts=max(attempts - 1, 0), exponential_wait=2, retry_exceptions=set(RETRIED)
    )


def _measured(kind: str) -> Callable[[_F], _F]:
    """Time the job and count how it ended; a job's last failure is parked with its error."""

    def wrap(function: _F) -> _F:
        def run(context: JobContext, **kwargs: Any) -> None:
            rt = runtime(context)
            job = context.job
            started = time.monotonic()
            try:
                function(context, **kwargs)
            except Exception as exc:
                rt.metrics.finished(kind, "failed", time.monotonic() - started)
                last = not isinstance(exc, RETRIED) or job.attempts + 1 >= rt.fleet.attempts
                if last and job.id is not None:
                    reason = str(exc) if isinstance(exc, RETRIED) or _ours(exc) else _bug(exc)
                    rt.fleet.park(
                        job.id,
                        job.task_name,
                        job.lock or "",
                        job.attempts + 1,
                        job.task_kwargs,
                        reason,
                    )
                else:
                    rt.metrics.retried(kind)
                if not _ours(exc) and not isinstance(exc, RETRIED):
                    log.exception("job %s %s failed", kind, kwargs)
                raise
            rt.metrics.finished(kind, "succeeded", time.monotonic() - started)

        run.__name__ = function.__name__
        run.__doc__ = function.__doc__
        return run  # type: ignore[return-value]

    return wrap


def _ours(exc: BaseException) -> bool:
    from basewatch.errors import Error

    return isinstance(exc, Error)


def _bug(exc: BaseException) -> str:
    return f"internal error ({type(exc).__name__}; see the worker's log)"


@tasks.task(name=TASK_PREFIX + POLL, queue=POLL, pass_context=True)
@_measured(POLL)
def poll(context: JobContext, repository: str, tag: str, priority: int) -> None:
    """Where `repository:tag` points now (one HEAD); an index job when nobody indexed it."""
    runtime(context).poll(repository, tag, priority)


@tasks.task(name=TASK_PREFIX + INDEX, queue=INDEX, pass_context=True)
@_measured(INDEX)
def index(context: JobContext, repository: str, digest: str) -> None:
    """Pull, inventory and evaluate `repository@digest`, unless it is indexed already."""
    runtime(context).index(repository, digest)


@tasks.task(name=TASK_PREFIX + REEVALUATE, queue=REEVALUATE, pass_context=True)
@_measured(REEVALUATE)
def reevaluate(context: JobContext, digests: list[str], data: Mapping[str, str]) -> None:
    """Match these images again on vulnerability data at least as new as `data` (source ->
    the date of its newest record, as the scheduler's database had it)."""
    runtime(context).reevaluate(digests, data)


@tasks.task(name=TASK_PREFIX + DELIVER, queue=DELIVER, pass_context=True)
@_measured(DELIVER)
def deliver(context: JobContext) -> None:
    """Fan out the outbox and send every delivery due."""
    runtime(context).deliver()


@tasks.task(name=TASK_PREFIX + BASES, queue=BASES, pass_context=True)
@_measured(BASES)
def bases(context: JobContext) -> None:
    """Poll the bases' tags and check end-of-life dates (once a cycle)."""
    runtime(context).poll_bases()


@tasks.task(name=TASK_PREFIX + HARBOR, queue=HARBOR, pass_context=True)
@_measured(HARBOR)
def harbor(context: JobContext, scan_id: str) -> None:
    """Run Harbor's scan request `scan_id`."""
    runtime(context).harbor(scan_id)
