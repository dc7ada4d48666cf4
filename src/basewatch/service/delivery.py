"""Durable delivery: the events of the outbox are fanned out to the notifiers that want them
(one `Delivery` row each), and every pending delivery is sent until it is delivered or given up
on (dead-lettered `dead_letter_after` its event).

Delivery is at least once: every state change is committed before the next delivery is tried,
so a crash sends again at most the one in flight, with the same `webhook-id`. A delivery is
claimed before it is sent (its `next_attempt_at` moved past the attempt), so two dispatchers on
one database do not send it together, and a dispatcher that died mid-attempt hands it back when
the claim runs out.
"""

from __future__ import annotations

import fnmatch
import logging
import random
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import CursorResult, false, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from basewatch.clock import SYSTEM_CLOCK, Clock
from basewatch.models import Severity
from basewatch.service.config import ServeSettings
from basewatch.service.models import Delivery, DeliveryState, Event, Notifier
from basewatch.service.notify import DeliveryError, Sender

log = logging.getLogger(__name__)
BATCH = 100  # events fanned out, and deliveries tried, per cycle
IDLE_SECONDS = 5.0  # the longest wait between cycles (writers of events may also `wake()`)
JITTER = 0.1  # backoff waits are stretched by up to this fraction, so retries do not bunch up
MAX_ERROR = 1000  # characters of `Delivery.last_error`


@dataclass
class DispatchReport:
    """What one cycle did."""

    fanned_out: int = 0  # events fanned out
    queued: int = 0  # deliveries made by the fan-out
    delivered: int = 0
    failed: int = 0  # attempts that failed (the delivery stays pending, or dies)
    dead: int = 0  # deliveries given up on


def wants(notifier: Notifier, event: Event) -> bool:
    """Whether `notifier` is to be told about `event`: its type, severity and repository."""
    if notifier.event_types and event.type not in notifier.event_types:
        return False
    if not _severe_enough(event.severity, notifier.min_severity):
        return False
    return not notifier.repositories or any(
        fnmatch.fnmatchcase(event.repository, pattern) for pattern in notifier.repositories
    )


def _severe_enough(severity: str, minimum: str) -> bool:
    try:
        found = Severity(severity)
        wanted = Severity(minimum)
    except ValueError:
        return True  # a severity this version does not know: tell rather than hide
    # an event about no finding (base.moved, eol.reached) has no severity to fall short of
    return found is Severity.UNKNOWN or found.rank >= wanted.rank


def backoff(attempts: int, retry_max: float, rng: random.Random | None = None) -> float:
    """Seconds to wait after the `attempts`-th failure: 2**attempts, at most `retry_max`."""
    wait = min(2.0 ** min(attempts, 32), retry_max)
    if rng is not None:
        wait = min(wait * (1 + rng.uniform(0, JITTER)), retry_max)
    return wait


class Dispatcher:
    """Fans out the outbox and delivers, in a loop (`run()`) or one cycle (`dispatch_once()`)."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        settings: ServeSettings,
        clock: Clock = SYSTEM_CLOCK,
        sender: Sender | None = None,
        rng: random.Random | None = None,
        batch: int = BATCH,
    ) -> None:
        self._sessions = sessions
        self._settings = settings
        self._clock = clock
        self.sender = sender if sender is not None else Sender(settings, clock=clock)
        self._rng = rng if rng is not None else random.Random()  # noqa: S311 - jitter, not a secret
        self._batch = batch
        # an attempt that outlives its claim may be sent again by another dispatcher: at least
        # once, never lost; the claim covers connect, write and read, each bounded by the timeout
        self._claim = timedelta(seconds=4 * settings.delivery_timeout + 30)
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._lock = threading.Lock()  # one cycle at a time

    # --- the loop ------------------------------------------------------------------------------

    def wake(self) -> None:
        """Look at the outbox now (events were written) instead of at the next interval."""
        self._wake.set()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()

    def run(self) -> None:
        """Dispatch until `stop()`: at once while work is due, else at the next due attempt or
        after `IDLE_SECONDS`. A failed cycle (the database is down) is logged, not fatal."""
        try:
            while not self._stop.is_set():
                wait = IDLE_SECONDS
                try:
                    report = self.dispatch_once()
                    attempts = report.delivered + report.failed
                    busy = report.fanned_out >= self._batch or attempts >= self._batch
                    wait = 0.0 if busy else min(self._next_due(), IDLE_SECONDS)
                except Exception:  # the database went away, or a bug: keep going, say so
                    log.exception("a delivery cycle failed")
                if wait > 0:
                    self._wake.wait(wait)
                self._wake.clear()
        finally:
            self.sender.close()

    def _next_due(self) -> float:
        due = self.next_attempt_in()
        return IDLE_SECONDS if due is None else due

    @property
    def batch(self) -> int:
        """Events fanned out, and deliveries tried, per cycle."""
        return self._batch

    def next_attempt_in(self) -> float | None:
        """Seconds until the next pending delivery is due (0: now); None when none is."""
        with self._sessions() as session:
            due = session.scalar(
                select(func.min(Delivery.next_attempt_at)).where(
                    Delivery.state == DeliveryState.PENDING.value
                )
            )
        if due is None:
            return None
        return max((due - self._clock.now()).total_seconds(), 0.0)

    # --- one cycle -----------------------------------------------------------------------------

    def dispatch_once(self) -> DispatchReport:
        """Fan out the events not fanned out yet, then try the deliveries that are due."""
        report = DispatchReport()
        with self._lock:
            self._fan_out(report)
            self._deliver(report)
        return report

    def _fan_out(self, report: DispatchReport) -> None:
        now = self._clock.now()
        with self._sessions() as session:
            events = list(
                session.scalars(
                    select(Event)
                    .where(Event.fanned_out == false())
                    .order_by(Event.id)
                    .limit(self._batch)
                )
            )
            if not events:
                return
            notifiers = list(session.scalars(select(Notifier).order_by(Notifier.id)))
            queued = 0
            for event in events:
                for notifier in notifiers:
                    if wants(notifier, event):
                        session.add(_pending(event, notifier, now))
                        queued += 1
                event.fanned_out = True
            try:
                session.commit()  # the deliveries and the marks, together
            except IntegrityError:
                # another dispatcher fanned these out first: its deliveries stand
                session.rollback()
                log.info("events were fanned out by another dispatcher")
                return
        report.fanned_out += len(events)
        report.queued += queued

    def _deliver(self, report: DispatchReport) -> None:
        now = self._clock.now()
        with self._sessions() as session:
            due = list(
                session.scalars(
                    select(Delivery.id)
                    .where(
                        Delivery.state == DeliveryState.PENDING.value,
                        Delivery.next_attempt_at <= now,
                    )
                    .order_by(Delivery.id)
                    .limit(self._batch)
                )
            )
        failing: set[int] = set()  # notifiers that failed this cycle: their others wait
        for delivery_id in due:
            if self._stop.is_set():
                return
            self._attempt(delivery_id, failing, report)

    def _attempt(self, delivery_id: int, failing: set[int], report: DispatchReport) -> None:
        with self._sessions() as session:
            delivery = session.get(Delivery, delivery_id)
            if delivery is None or delivery.notifier_id in failing:
                return  # a receiver that is down costs one timeout a cycle, not one per event
            now = self._clock.now()
            claimed = session.execute(
                update(Delivery)
                .where(
                    Delivery.id == delivery_id,
                    Delivery.state == DeliveryState.PENDING.value,
                    Delivery.next_attempt_at <= now,
                )
                .values(next_attempt_at=now + self._claim)
                .execution_options(synchronize_session=False)
            )
            session.commit()
            if not isinstance(claimed, CursorResult) or claimed.rowcount != 1:
                return  # delivered, or claimed by another dispatcher, since the list was read
            session.refresh(delivery)
            event = session.get(Event, delivery.event_id)
            notifier = session.get(Notifier, delivery.notifier_id)
            if event is None or notifier is None:
                return  # deleted meanwhile: the database deletes the delivery with them
            error = self._send(event, notifier)
            now = self._clock.now()
            delivery.attempts += 1
            if not error:
                delivery.state = DeliveryState.DELIVERED.value
                delivery.delivered_at = now
                delivery.last_error = ""
                report.delivered += 1
            else:
                failing.add(notifier.id)
                report.failed += 1
                delivery.last_error = error[:MAX_ERROR]
                age = (now - event.created_at).total_seconds()
                if age > self._settings.dead_letter_after:
                    delivery.state = DeliveryState.DEAD.value
                    report.dead += 1
                    log.warning(
                        "gave up on event %s to notifier %s after %d attempts: %s",
                        event.id,
                        notifier.name,
                        delivery.attempts,
                        error,
                    )
                else:
                    wait = backoff(delivery.attempts, self._settings.delivery_retry_max, self._rng)
                    delivery.next_attempt_at = now + timedelta(seconds=wait)
            session.commit()

    def _send(self, event: Event, notifier: Notifier) -> str:
        """ "" when delivered, else why not."""
        try:
            self.sender.send(event, notifier)
        except DeliveryError as exc:
            return str(exc) or type(exc).__name__
        except Exception as exc:  # a bug in a sender: the delivery is retried like any failure
            log.exception("sending event %s to notifier %s failed", event.id, notifier.name)
            return f"internal error: {type(exc).__name__}"
        return ""


def _pending(event: Event, notifier: Notifier, now: datetime) -> Delivery:
    return Delivery(
        event_id=event.id,
        notifier_id=notifier.id,
        state=DeliveryState.PENDING.value,
        attempts=0,
        next_attempt_at=now,
        last_error="",
        delivered_at=None,
        created_at=now,
    )
