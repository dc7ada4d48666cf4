"""`GET /metrics` (Prometheus text format, prometheus-client): what the service holds, read
from its database at scrape time, and how long polls and indexing take."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from basewatch.service.models import (
    Delivery,
    DeliveryState,
    Event,
    HarborScan,
    HarborScanState,
    Image,
    ImageFinding,
    Watch,
)

if TYPE_CHECKING:
    from basewatch.service.reevaluate import Reevaluator

LATENCY_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)


class Timings:
    """The service's own histograms, one set per registry (so tests and apps do not share)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.poll = Histogram(
            "basewatch_poll_seconds",
            "Time of one poll cycle over every watch",
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.index = Histogram(
            "basewatch_index_seconds",
            "Time to pull, inventory and evaluate one new image digest",
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )


class StoredCounts(Collector):
    """Gauges counted from the database at each scrape, and the re-evaluation in flight."""

    def __init__(
        self, sessions: sessionmaker[Session], reevaluator: Reevaluator | None = None
    ) -> None:
        self._sessions = sessions
        self._reevaluator = reevaluator

    def collect(self) -> Iterator[GaugeMetricFamily]:
        with self._sessions() as session:
            images = session.scalar(select(func.count()).select_from(Image)) or 0
            watches = session.scalar(select(func.count()).select_from(Watch)) or 0
            events = session.scalar(select(func.count()).select_from(Event)) or 0
            failed, dead, pending = session.execute(
                select(  # every attempt but the one that delivered failed
                    func.coalesce(func.sum(Delivery.attempts), 0)
                    - func.count(Delivery.delivered_at),
                    func.count().filter(Delivery.state == DeliveryState.DEAD.value),
                    func.count().filter(Delivery.state == DeliveryState.PENDING.value),
                )
            ).one()
            unsent = (
                session.scalar(
                    select(func.count()).select_from(Event).where(Event.fanned_out.is_(False))
                )
                or 0
            )
            by_severity = session.execute(
                select(ImageFinding.severity, func.count()).group_by(ImageFinding.severity)
            ).all()
            harbor: dict[str, int] = {
                str(state): int(count)
                for state, count in session.execute(
                    select(HarborScan.state, func.count()).group_by(HarborScan.state)
                ).all()
            }
        yield GaugeMetricFamily("basewatch_images", "Indexed image digests", value=images)
        yield GaugeMetricFamily("basewatch_watches", "Watched repositories", value=watches)
        yield GaugeMetricFamily("basewatch_events", "Events stored", value=events)
        yield GaugeMetricFamily(
            "basewatch_outbox_depth",
            "Work in the outbox: events not yet given to the notifiers, and deliveries pending",
            value=unsent + pending,
        )
        yield GaugeMetricFamily("basewatch_delivery_failures", "Failed attempts", value=failed)
        yield GaugeMetricFamily("basewatch_deliveries_dead", "Deliveries given up", value=dead)
        yield GaugeMetricFamily(
            "basewatch_reevaluation_pending",
            "Images left to re-match in the re-evaluation running now (0: none is)",
            value=self._reevaluator.pending if self._reevaluator is not None else 0,
        )
        findings = GaugeMetricFamily(
            "basewatch_findings", "Findings over every image, by severity", labels=["severity"]
        )
        for severity, count in sorted(by_severity):
            findings.add_metric([severity], count)
        yield findings
        scans = GaugeMetricFamily(
            "basewatch_harbor_scans", "Harbor's scan requests, by state", labels=["state"]
        )
        for state in HarborScanState:  # every state, also at 0: a queue that drained shows it
            scans.add_metric([state.value], harbor.get(state.value, 0))
        yield scans


def metrics_registry(
    sessions: sessionmaker[Session], reevaluator: Reevaluator | None = None
) -> tuple[CollectorRegistry, Timings]:
    registry = CollectorRegistry()
    registry.register(StoredCounts(sessions, reevaluator))
    return registry, Timings(registry)
