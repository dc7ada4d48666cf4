"""The dispatcher on both databases: fan-out filters, at-least-once delivery with the same
`webhook-id` through a receiver that is down and then failing, backoff, dead-lettering."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import generate_latest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from basewatch.clock import FixedClock
from basewatch.service.config import ServeSettings
from basewatch.service.db import open_engine, sessions, upgrade
from basewatch.service.delivery import Dispatcher, backoff
from basewatch.service.metrics import metrics_registry
from basewatch.service.models import Delivery, Event, Notifier
from basewatch.service.notify import Sender
from tests.unit.service.test_notify import SECRET, Receiver, closed_port

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


@dataclass
class Outbox:
    make: sessionmaker[Session]
    clock: FixedClock
    settings: ServeSettings

    def dispatcher(self, **options: Any) -> Dispatcher:
        return Dispatcher(self.make, self.settings, self.clock, rng=random.Random(1), **options)

    def event(self, type: str = "findings.new", severity: str = "high", **changes: Any) -> Event:
        values: dict[str, Any] = {
            "type": type,
            "digest": "sha256:" + "ab" * 32,
            "repository": "127.0.0.1:5000/app",
            "payload": {"findings": [{"id": "CVE-2026-0001", "severity": severity}]},
            "created_at": self.clock.now(),
            "severity": severity,
        }
        values.update(changes)
        with self.make() as session:
            event = Event(**values)
            session.add(event)
            session.commit()
            session.refresh(event)
            session.expunge(event)
        return event

    def notifier(self, url: str, name: str = "hook", **changes: Any) -> int:
        values: dict[str, Any] = {
            "name": name,
            "kind": "webhook",
            "target": url,
            "secret": SECRET,
            "options": {},
            "event_types": [],
            "min_severity": "unknown",
            "repositories": [],
            "created_at": self.clock.now(),
        }
        values.update(changes)
        with self.make() as session:
            notifier = Notifier(**values)
            session.add(notifier)
            session.commit()
            return notifier.id

    def deliveries(self) -> list[Delivery]:
        with self.make() as session:
            rows = list(session.scalars(select(Delivery).order_by(Delivery.id)))
            session.expunge_all()
        return rows


@pytest.fixture
def outbox(database_url: str) -> Iterator[Outbox]:
    settings = ServeSettings.load(
        environ={"HOME": "/nonexistent"},
        default_vulndb=Path("/nonexistent/vuln.db"),
        flags={
            "database": database_url,
            "allowed_notifier_hosts": "127.0.0.1",
            "delivery_timeout": "2s",
            "delivery_retry_max": "60s",
            "dead_letter_after": "1h",
        },
    )
    engine = open_engine(database_url)
    upgrade(engine)
    yield Outbox(sessions(engine), FixedClock(NOW), settings)
    engine.dispose()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver().start()
    yield found
    found.stop()


def test_fan_out_follows_type_severity_and_repository(outbox: Outbox, receiver: Receiver) -> None:
    everything = outbox.notifier(receiver.url, "everything")
    new_only = outbox.notifier(receiver.url, "new only", event_types=["findings.new"])
    high = outbox.notifier(receiver.url, "high and up", min_severity="high")
    apps = outbox.notifier(receiver.url, "apps", repositories=["127.0.0.1:5000/app*"])
    new = outbox.event("findings.new", "critical")
    fixed = outbox.event("findings.fixed", "medium")
    moved = outbox.event("base.moved", "unknown", repository="127.0.0.1:5000/base")
    other = outbox.event("findings.new", "low", repository="127.0.0.1:5000/other")
    report = outbox.dispatcher().dispatch_once()
    assert (report.fanned_out, report.queued, report.delivered) == (4, 10, 10)
    wanted = {(d.event_id, d.notifier_id) for d in outbox.deliveries()}
    assert wanted == {
        (new.id, everything),
        (new.id, new_only),
        (new.id, high),
        (new.id, apps),
        (fixed.id, everything),
        (fixed.id, apps),
        (moved.id, everything),
        (moved.id, high),  # an event about no finding passes any minimum severity
        (other.id, everything),
        (other.id, new_only),
    }
    assert all(r.verified for r in receiver.received)
    assert len(receiver.received) == 10  # every delivery once


def test_dispatching_twice_sends_once(outbox: Outbox, receiver: Receiver) -> None:
    outbox.notifier(receiver.url)
    event = outbox.event()
    dispatcher = outbox.dispatcher()
    first = dispatcher.dispatch_once()
    second = dispatcher.dispatch_once()
    assert (first.fanned_out, first.delivered) == (1, 1)
    assert (second.fanned_out, second.queued, second.delivered, second.failed) == (0, 0, 0, 0)
    assert receiver.ids() == [event.uid]
    (delivery,) = outbox.deliveries()
    assert (delivery.state, delivery.attempts, delivery.delivered_at) == ("delivered", 1, NOW)


def test_a_notifier_made_later_gets_only_later_events(outbox: Outbox, receiver: Receiver) -> None:
    outbox.event()
    dispatcher = outbox.dispatcher()
    assert dispatcher.dispatch_once().queued == 0
    outbox.notifier(receiver.url)
    later = outbox.event()
    assert dispatcher.dispatch_once().delivered == 1
    assert receiver.ids() == [later.uid]


def test_every_event_arrives_with_its_id_after_refusals_and_500s(
    outbox: Outbox, receiver: Receiver
) -> None:
    receiver.stop()  # the port is closed: connection refused
    outbox.notifier(receiver.url)
    events = [outbox.event(), outbox.event("findings.fixed")]
    dispatcher = outbox.dispatcher()
    errors: set[str] = set()
    for _ in range(3):  # a minute down
        dispatcher.dispatch_once()
        errors |= {d.last_error for d in outbox.deliveries()}
        outbox.clock.advance(20)
    assert "connection refused" in errors
    receiver.status = 500
    receiver.start()
    for _ in range(3):  # then a minute of 500s
        dispatcher.dispatch_once()
        errors |= {d.last_error for d in outbox.deliveries()}
        outbox.clock.advance(20)
    assert "HTTP 500" in errors
    assert receiver.received, "the receiver saw the attempts it failed"
    receiver.status = 204
    for _ in range(10):
        outbox.clock.advance(61)  # beyond the longest backoff
        dispatcher.dispatch_once()
        if all(d.state == "delivered" for d in outbox.deliveries()):
            break
    deliveries = outbox.deliveries()
    assert [d.state for d in deliveries] == ["delivered", "delivered"]
    assert all(d.attempts > 1 and d.last_error == "" for d in deliveries)
    # every attempt, failed or not, carried the event's own message id
    assert set(receiver.ids()) == {e.uid for e in events}
    assert all(r.verified for r in receiver.received)
    delivered_ids = [r.headers["webhook-id"] for r in receiver.received[-2:]]
    assert sorted(delivered_ids) == sorted(e.uid for e in events)


def test_failures_back_off_and_are_dead_lettered(outbox: Outbox, receiver: Receiver) -> None:
    receiver.status = 500
    outbox.notifier(receiver.url)
    outbox.event()
    registry, _ = metrics_registry(outbox.make)
    assert "basewatch_outbox_depth 1.0" in generate_latest(registry).decode()  # not fanned out
    dispatcher = outbox.dispatcher()
    dispatcher.dispatch_once()
    (delivery,) = outbox.deliveries()
    assert (delivery.state, delivery.attempts, delivery.last_error) == ("pending", 1, "HTTP 500")
    assert "basewatch_outbox_depth 1.0" in generate_latest(registry).decode()  # to be retried
    wait = (delivery.next_attempt_at - outbox.clock.now()).total_seconds()
    assert 2 <= wait <= 2.2  # 2**1 seconds, and a little jitter
    assert dispatcher.dispatch_once().failed == 0  # not due yet: not tried
    attempts = 1
    dead = 0
    while outbox.clock.now() - NOW <= timedelta(hours=1):
        outbox.clock.advance(60)
        report = dispatcher.dispatch_once()
        attempts, dead = attempts + report.failed, dead + report.dead
    assert dead == 1
    (delivery,) = outbox.deliveries()
    assert delivery.state == "dead" and delivery.last_error == "HTTP 500"
    assert delivery.attempts == attempts == len(receiver.received)
    outbox.clock.advance(3600)
    assert dispatcher.dispatch_once().failed == 0  # given up: never tried again
    assert len(receiver.received) == attempts
    text = generate_latest(registry).decode()
    assert f"basewatch_delivery_failures {float(attempts)}" in text
    assert "basewatch_deliveries_dead 1.0" in text
    assert "basewatch_outbox_depth 0.0" in text  # nothing left to do


def test_backoff_doubles_up_to_the_cap() -> None:
    assert [backoff(n, 60) for n in range(1, 8)] == [2, 4, 8, 16, 32, 60, 60]
    assert backoff(10_000, 600) == 600
    rng = random.Random(3)
    assert all(8 <= backoff(3, 600, rng) <= 8.8 for _ in range(100))
    assert all(backoff(20, 60, rng) == 60 for _ in range(10))


def test_a_dead_receiver_costs_one_attempt_a_cycle(outbox: Outbox, receiver: Receiver) -> None:
    dead = outbox.notifier(f"http://127.0.0.1:{closed_port()}/hook", "down")
    outbox.notifier(receiver.url, "up")
    for _ in range(5):
        outbox.event()
    report = outbox.dispatcher().dispatch_once()
    assert (report.delivered, report.failed) == (5, 1)  # the others of "down" wait their turn
    tried = [d for d in outbox.deliveries() if d.notifier_id == dead and d.attempts]
    assert len(tried) == 1


def test_a_deleted_notifier_takes_its_deliveries_along(outbox: Outbox) -> None:
    notifier = outbox.notifier(f"http://127.0.0.1:{closed_port()}/hook")
    outbox.event()
    outbox.dispatcher().dispatch_once()
    assert len(outbox.deliveries()) == 1
    with outbox.make() as session:
        session.delete(session.get(Notifier, notifier))
        session.commit()
    assert outbox.deliveries() == []


def test_the_loop_delivers_when_woken_and_stops(outbox: Outbox, receiver: Receiver) -> None:
    outbox.notifier(receiver.url)
    dispatcher = outbox.dispatcher()
    thread = threading.Thread(target=dispatcher.run)
    thread.start()
    try:
        event = outbox.event()
        dispatcher.wake()
        deadline = time.monotonic() + 10
        while not receiver.received and time.monotonic() < deadline:
            time.sleep(0.05)
        assert receiver.ids() == [event.uid]
    finally:
        dispatcher.stop()
        thread.join(timeout=10)
    assert not thread.is_alive()


class Crash(BaseException):
    """The process dying mid-attempt (not an error any handler catches)."""


class CrashingSender(Sender):
    def send(self, event: Event, notifier: Notifier) -> None:
        super().send(event, notifier)  # it arrived; the process dies before recording that
        raise Crash


def test_a_delivery_in_flight_when_the_process_died_is_sent_again_with_its_id(
    outbox: Outbox, receiver: Receiver
) -> None:
    outbox.notifier(receiver.url)
    event = outbox.event()
    crashing = outbox.dispatcher(sender=CrashingSender(outbox.settings, clock=outbox.clock))
    with pytest.raises(Crash):
        crashing.dispatch_once()
    (delivery,) = outbox.deliveries()
    assert (delivery.state, delivery.attempts) == ("pending", 0)
    restarted = outbox.dispatcher()
    assert restarted.dispatch_once().delivered == 0  # still claimed by the one that died
    outbox.clock.advance(4 * 2 + 30)  # the claim runs out
    assert restarted.dispatch_once().delivered == 1
    assert receiver.ids() == [event.uid, event.uid]  # at least once, the same message id
    assert restarted.dispatch_once().delivered == 0
