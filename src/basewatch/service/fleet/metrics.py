"""A worker's /metrics (Prometheus text format): its own jobs by kind and outcome, their
durations and retries, and, read from PostgreSQL at each scrape, the whole queue by queue and
state, the workers heard from, and the stalled jobs handed back or parked."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Protocol

from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from basewatch.errors import UsageError
from basewatch.service.config import parse_listen
from basewatch.service.fleet.queue import QUEUES, Fleet
from basewatch.service.metrics import LATENCY_BUCKETS

log = logging.getLogger(__name__)


class Stoppable(Protocol):
    def shutdown(self) -> None: ...


class WorkerMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self._jobs = Counter(
            "basewatch_fleet_jobs",
            "Jobs this worker ran, by kind and outcome",
            ["kind", "outcome"],
            registry=self.registry,
        )
        self._seconds = Histogram(
            "basewatch_fleet_job_seconds",
            "Time of one job, by kind",
            ["kind"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self._retries = Counter(
            "basewatch_fleet_retries",
            "Jobs of this worker that failed and were queued to run again, by kind",
            ["kind"],
            registry=self.registry,
        )
        self.indexed = Counter(
            "basewatch_fleet_images_indexed",
            "Image digests this worker pulled and indexed",
            registry=self.registry,
        )
        self.reevaluated = Counter(
            "basewatch_fleet_images_reevaluated",
            "Images this worker matched again after a database change",
            registry=self.registry,
        )

    def finished(self, kind: str, outcome: str, seconds: float) -> None:
        self._jobs.labels(kind, outcome).inc()
        self._seconds.labels(kind).observe(seconds)

    def retried(self, kind: str) -> None:
        self._retries.labels(kind).inc()

    def watch(self, fleet: Fleet) -> None:
        """Also report the queue (read at scrape time) and this process's recoveries."""
        self.registry.register(QueueState(fleet))

    def serve(self, listen: str) -> Stoppable:
        host, port = parse_listen(listen, "[serve.fleet] metrics")
        try:
            server, _thread = start_http_server(port, addr=host, registry=self.registry)
        except OSError as exc:  # the address is taken, or not this machine's
            raise UsageError(
                f"cannot serve /metrics on {listen}: {exc.strerror or exc} "
                "(free it, or give --metrics or [serve.fleet] metrics another HOST:PORT)"
            ) from exc
        log.info("metrics on http://%s/metrics", listen)
        return server


class QueueState(Collector):
    def __init__(self, fleet: Fleet) -> None:
        self._fleet = fleet

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        jobs = GaugeMetricFamily(
            "basewatch_fleet_queue",
            "Jobs on the fleet's queue, by queue and state",
            labels=["queue", "state"],
        )
        try:
            counts = {(c.queue, c.status): c.jobs for c in self._fleet.counts()}
            beats = self._fleet.workers()
        except Exception as exc:  # a scrape while the database is away says so, not 500
            log.warning("cannot read the queue for /metrics: %s", exc)
            counts, beats = {}, []
        for queue in QUEUES:  # every queue and the live states, also at 0
            for state in ("todo", "doing"):
                jobs.add_metric([queue, state], counts.pop((queue, state), 0))
        for (queue, state), count in sorted(counts.items()):
            jobs.add_metric([queue, state], count)
        yield jobs
        yield GaugeMetricFamily(
            "basewatch_fleet_workers",
            "Workers that sent a heartbeat within the lease",
            value=sum(1 for b in beats if b.alive),
        )
        yield CounterMetricFamily(
            "basewatch_fleet_stalled_recovered",
            "Jobs of dead workers this process handed back to the queue",
            value=self._fleet.recovered,
        )
        yield CounterMetricFamily(
            "basewatch_fleet_parked",
            "Jobs this process parked (they kept killing workers, or failed their last run)",
            value=self._fleet.parked,
        )
