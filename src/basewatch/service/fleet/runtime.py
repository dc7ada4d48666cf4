"""A `basewatch worker` process: the service's own objects (watcher, re-evaluator, dispatcher,
Harbor's scans) over the shared PostgreSQL, a procrastinate worker running the fleet's tasks
with them, a thread handing back the jobs of dead workers, and /metrics.

What a worker shares with the others goes through PostgreSQL only: the queue, the store, the
per-layer analyses (`SharedAnalysisCache`, so a base layer analysed by one worker is reused by
all), the claims on layers being read (`LayerClaims`: one worker downloads a layer at a time),
and each registry's request budget and pause (`SharedRateLimits`). Its blob cache, analysis
cache and vulnerability database are its own files.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from basewatch import __version__
from basewatch.clock import SYSTEM_CLOCK, Clock
from basewatch.errors import Error, UsageError
from basewatch.inventory.layers import detectors_key
from basewatch.jobs.inventory import Scanner
from basewatch.jobs.seams import RegistryImages, SqliteVulnData
from basewatch.oci.reference import parse_reference
from basewatch.oci.registry.options import RegistryOptions
from basewatch.service.config import ServeSettings
from basewatch.service.delivery import Dispatcher
from basewatch.service.fleet import tasks
from basewatch.service.fleet.analyses import LayerClaims, SharedAnalysisCache
from basewatch.service.fleet.app import Deferrer, make_app
from basewatch.service.fleet.limits import SharedRateLimits
from basewatch.service.fleet.metrics import WorkerMetrics
from basewatch.service.fleet.queue import QUEUES, Fleet, conninfo, index_key
from basewatch.service.fleet.tasks import Behind, retry_strategy
from basewatch.service.models import Image
from basewatch.service.reevaluate import Reevaluator
from basewatch.service.updater import Updater
from basewatch.service.watcher import Watcher
from basewatch.settings import Settings

log = logging.getLogger(__name__)
MAX_DELIVERY_ROUNDS = 50  # dispatch cycles one deliver job runs while work keeps coming
RESTART_WAIT = (1.0, 30.0)  # the first and the longest wait before a worker loop starts again
# How long a job thread keeps one registry client for its polls (seconds): its connections,
# probed schemes and tokens serve poll after poll, and are let go of now and then.
POLL_CLIENT_LIFETIME = 600.0


class Refused(Error):
    """A job the configuration does not allow (a registry no longer in allowed_registries)."""


def analyzer_version(core: Settings) -> str:
    """What an index is made by: basewatch's version and its detectors' (a newer one indexes
    what an older one indexed, under another key)."""
    scanner = Scanner.from_settings(core)
    return f"{__version__}+{detectors_key(scanner.detectors)}"


def registry_gate(engine: Engine, settings: ServeSettings) -> SharedRateLimits:
    fleet = settings.fleet
    return SharedRateLimits(
        engine,
        rates=dict(fleet.registry_rates),
        default_rate=fleet.registry_rate or None,
        burst=max(fleet.registry_rate, *(r for _, r in fleet.registry_rates), 1.0),
        max_wait=settings.poll_interval,
        default_pause=settings.poll_interval,
    )


def data_dates(path: Path) -> dict[str, str]:
    """source -> the date of its newest record, of the vulnerability database at `path`."""
    data = SqliteVulnData(path, "")
    if not data.exists():
        return {}
    with data.open() as store:
        return {s.name: s.data_date for s in store.sources() if s.data_date}


class Runtime:
    """What the tasks of one worker process run with."""

    def __init__(
        self,
        settings: ServeSettings,
        core: Settings,
        engine: Engine,
        deferrer: Deferrer,
        metrics: WorkerMetrics,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.settings = settings
        self.engine = engine
        self.sessions: sessionmaker[Session] = sessionmaker(engine, expire_on_commit=False)
        self.deferrer = deferrer
        self.metrics = metrics
        self.fleet = Fleet(engine, settings.fleet.lease, settings.fleet.attempts, clock)
        self.gate = registry_gate(engine, settings)
        self.watcher = Watcher(
            self.sessions, settings, core, clock, registry=RegistryOptions(gate=self.gate)
        )
        analyses = SharedAnalysisCache(core.analysis_dir, engine)
        self.watcher.make_scanner = lambda: Scanner.from_settings(core, cache=analyses)
        self.reevaluator = Reevaluator(self.sessions, settings, core, clock)
        self.dispatcher = Dispatcher(self.sessions, settings, clock)
        self.updater = Updater(self.sessions, settings, core, clock)
        self._threads = threading.local()  # each job thread's registry client for polls
        self.harbor_scans = None
        if settings.harbor.enabled:
            from basewatch.service.harbor.scans import HarborScans
            from basewatch.service.harbor.sealing import fleet_key_warning, sealer_for

            if warning := fleet_key_warning(settings.harbor):
                log.warning("%s", warning)
            self.harbor_scans = HarborScans(
                self.sessions, settings, self.watcher, sealer_for(settings.harbor), clock
            )

    # --- the jobs -------------------------------------------------------------------------------

    def poll(self, repository: str, tag: str, priority: int) -> None:
        ref = parse_reference(repository)
        if ref.registry not in self.settings.allowed_registries:
            raise Refused(f"{repository}: {ref.registry} is not in allowed_registries")
        digest = self.watcher.tag_digest(self._poll_images(), ref, tag)
        with self.sessions() as session:
            self.watcher.record_tag(session, repository, tag, digest)
            session.commit()
            indexed = session.get(Image, digest) is not None
        if not indexed:
            self.deferrer.index(repository, digest, priority)

    def _poll_images(self) -> RegistryImages:
        """This thread's registry client for polls: one HEAD a poll, not a new connection,
        scheme probe and token each. A thread runs one job at a time, so the one it lets go of
        is in nobody's hands."""
        held: tuple[RegistryImages, float] | None = getattr(self._threads, "images", None)
        now = time.monotonic()
        if held is not None and now - held[1] < POLL_CLIENT_LIFETIME:
            return held[0]
        if held is not None:
            held[0].close()
        images = RegistryImages(self.watcher.registry_options)
        self._threads.images = (images, now)
        return images

    def index(self, repository: str, digest: str) -> None:
        ref = parse_reference(repository)
        if ref.registry not in self.settings.allowed_registries:
            raise Refused(f"{repository}: {ref.registry} is not in allowed_registries")
        with LayerClaims(self.engine, self.settings.fleet.claim_wait) as claims:
            # the queue runs one job a key at a time; this holds also for a job handed back
            # while its worker, thought dead, was still at it
            claims.claim(index_key(digest, self.deferrer.analyzer))
            pulled = self.watcher.index_artifact(repository, digest, claims=claims)
        if pulled:
            self.metrics.indexed.inc()
            self.deferrer.deliver()  # its events

    def reevaluate(self, digests: Sequence[str], data: Mapping[str, str]) -> None:
        mine = data_dates(self.settings.vulndb)
        behind = sorted(source for source, date in data.items() if mine.get(source, "") < date)
        if behind:
            self.updater.trigger()  # it may have missed its schedule: catch up now
            raise Behind(
                f"this worker's vulnerability database ({self.settings.vulndb}) is older than "
                f"the service's for {', '.join(behind)}: it is being updated"
            )
        changes = self.reevaluator.reevaluate(digests)
        self.metrics.reevaluated.inc(len(changes))
        self.deferrer.deliver()

    def deliver(self) -> None:
        for _ in range(MAX_DELIVERY_ROUNDS):
            report = self.dispatcher.dispatch_once()
            if report.fanned_out < self.dispatcher.batch and (
                report.delivered + report.failed < self.dispatcher.batch
            ):
                break
        due = self.dispatcher.next_attempt_in()
        if due is not None:  # a retry waits for its backoff: a job for then
            self.deferrer.deliver(schedule_in=max(due, 1.0))

    def poll_bases(self) -> None:
        report = self.watcher.poll_bases()
        for problem in report.errors:
            log.warning("%s", problem)
        self.deferrer.deliver()

    def harbor(self, scan_id: str) -> None:
        if self.harbor_scans is None:
            raise Refused("Harbor's adapter is turned off in this worker's configuration")
        self.harbor_scans.run_job(scan_id)


# --- the process ---------------------------------------------------------------------------------


def run_worker(
    settings: ServeSettings,
    core: Settings,
    engine: Engine,
    *,
    concurrency: int,
    queues: Sequence[str] | None = None,
    name: str = "",
) -> None:
    """Run jobs until SIGTERM/SIGINT; a lost database connection restarts the loop (after a
    growing wait) rather than ending the process."""
    unknown = sorted(set(queues or ()) - set(QUEUES))
    if unknown:
        raise UsageError(f"no such queue: {', '.join(unknown)} (known: {', '.join(QUEUES)})")
    info = conninfo(settings.database)
    deferring = make_app(info, asynchronous=False)
    deferring.open()
    worker_app = make_app(info, asynchronous=True)
    for task in worker_app.tasks.values():
        task.retry_strategy = (
            retry_strategy(settings.fleet.attempts) if settings.fleet.attempts > 1 else None
        )
    metrics = WorkerMetrics()
    runtime = Runtime(settings, core, engine, Deferrer(deferring, analyzer_version(core)), metrics)
    metrics.watch(runtime.fleet)
    stop = threading.Event()
    try:
        server = metrics.serve(settings.fleet.metrics) if settings.fleet.metrics else None
    except Error:
        deferring.close()
        raise
    upkeep = threading.Thread(
        target=_recover_loop, args=(runtime.fleet, stop), name="fleet-upkeep", daemon=True
    )
    upkeep.start()
    updates = threading.Thread(target=runtime.updater.run, name="Updater", daemon=True)
    updates.start()
    name = name or f"{socket.gethostname()}:{os.getpid()}"
    wait = RESTART_WAIT[0]
    try:
        while True:
            started = time.monotonic()
            try:
                worker_app.run_worker(
                    queues=list(queues) if queues else None,
                    concurrency=concurrency,
                    name=name,
                    wait=True,
                    additional_context={"runtime": _as_task_runtime(runtime)},
                    update_heartbeat_interval=settings.fleet.lease / 3,
                    stalled_worker_timeout=settings.fleet.lease,
                    shutdown_graceful_timeout=settings.fleet.lease,
                    install_signal_handlers=True,
                    delete_jobs="successful",
                )
                return  # stopped by a signal
            except Exception as exc:  # the database went away: procrastinate's loop ended
                if time.monotonic() - started > 60:
                    wait = RESTART_WAIT[0]
                log.warning("the worker loop stopped (%s); starting again in %.0fs", exc, wait)
                time.sleep(wait)
                wait = min(wait * 2, RESTART_WAIT[1])
    finally:
        stop.set()
        runtime.updater.stop()
        if server is not None:
            server.shutdown()
        deferring.close()


def _recover_loop(fleet: Fleet, stop: threading.Event) -> None:
    while not stop.wait(fleet.lease / 3):
        try:
            fleet.recover_stalled()
        except Error as exc:
            log.warning("%s", exc)


def _as_task_runtime(runtime: Runtime) -> tasks.Runtime:
    return runtime  # what the tasks expect, checked here by the type checker
