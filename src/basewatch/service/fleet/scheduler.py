"""`basewatch serve --no-local-workers`: the service queues the work and the fleet does it.

Each cycle (every `poll_interval`, or at once when woken) the scheduler lists the tags of every
watched repository (one request each, `LISTERS` at once, within the registry's fleet-wide
budget) and queues one poll job a matching tag, unless one is waiting already; then one bases
job and one delivery run. When more than `max_queued` jobs wait, it queues no polls that cycle
(backpressure: a fleet that cannot keep up is not buried, and what is queued still runs).
Between cycles, every third of the lease, it hands back the jobs of dead workers (as every
worker also does).

A push event queues a poll of the pushed tag at push priority, ahead of the scheduled polls.
"""

from __future__ import annotations

import fnmatch
import logging
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from basewatch.errors import Error, RateLimited
from basewatch.jobs.seams import RegistryImages, registry_options_for
from basewatch.oci.reference import parse_reference
from basewatch.oci.registry.options import RegistryOptions
from basewatch.service.config import ServeSettings
from basewatch.service.fleet.app import POLL_CHUNK, Deferrer
from basewatch.service.fleet.queue import Fleet, Priority, conninfo, poll_key
from basewatch.service.models import Watch
from basewatch.service.reevaluate import Reevaluator
from basewatch.settings import Settings

if TYPE_CHECKING:
    from basewatch.service.harbor.scans import HarborScans

log = logging.getLogger(__name__)
LISTERS = 8  # tag lists a scheduling cycle has in flight at once


@dataclass
class ScheduleReport:
    tags: int = 0  # matching tags seen
    queued: int = 0  # poll jobs queued
    waiting: int = 0  # jobs that were waiting when the cycle began
    held_back: bool = False  # no polls queued: the queue was past max_queued
    errors: list[str] = field(default_factory=list)


class Scheduler:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        settings: ServeSettings,
        core: Settings,
        deferrer: Deferrer,
        fleet: Fleet,
        registry: RegistryOptions,
    ) -> None:
        self._sessions = sessions
        self._settings = settings
        self._deferrer = deferrer
        self.fleet = fleet
        self._registry = registry_options_for(core, settings.registry_options(registry))
        self._wake = threading.Event()
        self._stop = threading.Event()
        self.cycles = 0
        self.held_back = 0  # cycles that queued no polls (backpressure)
        self.last: ScheduleReport | None = None

    def wake(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()

    def pushed(self, repository: str, tag: str) -> bool:
        """A push to `repository:tag`: polled ahead of the schedule."""
        return self._deferrer.poll(repository, tag, Priority.PUSH)

    def run(self) -> None:
        next_cycle = 0.0
        while not self._stop.is_set():
            try:
                if time.monotonic() >= next_cycle or self._wake.is_set():
                    self._wake.clear()
                    self.last = report = self.schedule_once()
                    for problem in report.errors:
                        log.warning("%s", problem)
                    next_cycle = time.monotonic() + self._settings.poll_interval
                self.fleet.recover_stalled()
            except Exception:  # the database went away, or a bug: keep going, say so
                log.exception("a scheduling cycle failed")
            self._wake.wait(min(self.fleet.lease / 3, max(next_cycle - time.monotonic(), 0.1)))

    def schedule_once(self) -> ScheduleReport:
        report = ScheduleReport(waiting=self.fleet.waiting())
        if report.waiting > self._settings.fleet.max_queued:
            report.held_back = True
            self.held_back += 1
            report.errors.append(
                f"{report.waiting} jobs are waiting (more than max_queued, "
                f"{self._settings.fleet.max_queued}): no polls queued this cycle"
            )
        else:
            self._queue_polls(report)
        self._deferrer.bases()
        self._deferrer.deliver()
        self.cycles += 1
        return report

    def _queue_polls(self, report: ScheduleReport) -> None:
        with self._sessions() as session:
            watches = list(session.scalars(select(Watch).order_by(Watch.id)))
        waiting = self.fleet.queued_keys("poll:")
        images = RegistryImages(self._registry)
        client = images.client()  # made before the threads share it

        def listed(watch: Watch) -> tuple[Watch, list[str], str]:
            """The repository's tags, or what kept them from being listed."""
            if self._stop.is_set():
                return watch, [], ""
            ref = parse_reference(watch.repository)
            if ref.registry not in self._settings.allowed_registries:
                problem = f"{ref.registry} is no longer in allowed_registries: skipped"
                return watch, [], f"{watch.repository}: {problem}"
            try:
                return watch, client.list_tags(ref), ""
            except RateLimited as exc:
                return watch, [], f"{watch.repository}: {exc}"
            except Error as exc:
                return watch, [], f"{watch.repository}: cannot list its tags: {exc}"

        wanted: list[tuple[str, str]] = []
        # a list request waits on the network most of its time: several at once, in the
        # order of the watches, within the registry's budget all the same (the client's gate)
        pool = ThreadPoolExecutor(max_workers=LISTERS, thread_name_prefix="tag-lists")
        try:
            for watch, tags, problem in pool.map(listed, watches):
                if self._stop.is_set():
                    return
                if problem:
                    report.errors.append(problem)
                    continue
                for tag in sorted(tags):
                    if not any(fnmatch.fnmatchcase(tag, g) for g in watch.tags):
                        continue
                    report.tags += 1
                    if poll_key(watch.repository, tag) not in waiting:
                        wanted.append((watch.repository, tag))
                if len(wanted) >= POLL_CHUNK:  # the fleet starts on them while tags are listed
                    report.queued += self._deferrer.polls(wanted)
                    wanted.clear()
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
            images.close()
        report.queued += self._deferrer.polls(wanted)


def fleet_scheduler(
    sessions: sessionmaker[Session],
    settings: ServeSettings,
    core: Settings,
    engine: Engine,
    reevaluator: Reevaluator,
    harbor: HarborScans | None,
) -> Scheduler:
    """The scheduler of `serve --no-local-workers`, with the service's re-evaluation and
    Harbor's scan requests turned into jobs for the fleet."""
    from basewatch.service.fleet.app import make_app
    from basewatch.service.fleet.runtime import analyzer_version, data_dates, registry_gate

    app = make_app(conninfo(settings.database), asynchronous=False)
    app.open()
    deferrer = Deferrer(app, analyzer_version(core))
    fleet = Fleet(engine, settings.fleet.lease, settings.fleet.attempts)
    batch = settings.fleet.batch

    def reevaluate(digests: Sequence[str]) -> None:
        data = data_dates(settings.vulndb)
        batches = [digests[i : i + batch] for i in range(0, len(digests), batch)]
        deferrer.reevaluate(batches, data)
        log.info("%d image(s) to match again, in %d job(s)", len(digests), len(batches))

    reevaluator.defer = reevaluate
    if harbor is not None:
        harbor.defer = deferrer.harbor
    registry = RegistryOptions(gate=registry_gate(engine, settings))
    return Scheduler(sessions, settings, core, deferrer, fleet, registry)
