"""Each registry's request budget and pause, shared by the whole fleet through the service's
database, so that a registry sees the fleet as one client (a `RequestGate`).

A row of `registry_limits` per registry is a token bucket: it holds up to `burst` tokens and
refills at the registry's rate; a request takes one, or waits until one is there. A 429 from
the registry, seen by any worker, sets `paused_until`, and nobody asks that registry anything
until then. Each decision is one short transaction that locks the row (`SELECT ... FOR UPDATE`
on PostgreSQL; SQLite has one writer at a time, and its transaction here writes first); waits
happen outside it. A registry without a rate has no bucket to share, only its pause: each
process reads that row at most every `pause_recheck` seconds and counts its requests into it
then, so a fleet polling a million tags does not queue on one locked row.

Time is the database's (on PostgreSQL), so workers whose clocks disagree still agree on the
bucket and the pause; on SQLite (the embedded service, one process) it is the injected clock.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Connection, Engine, Row, Table, func, select, type_coerce, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError

from basewatch.clock import SYSTEM_CLOCK, Clock
from basewatch.errors import DatabaseError, RateLimited, UsageError
from basewatch.service.models import RegistryLimit, UtcDateTime

log = logging.getLogger(__name__)

_TABLE = cast(Table, RegistryLimit.__table__)
_COLUMNS = _TABLE.c
# A registry's Retry-After is believed up to this: a broken or hostile one must not be able to
# silence itself for the fleet for years (nor overflow a timedelta).
DEFAULT_MAX_PAUSE = 24 * 3600.0
# While the database fails, it is tried again this often (seconds), so that requests in the
# meantime do not each wait for a connection attempt to fail.
DEFAULT_RECHECK = 10.0
# How stale a process's view of an unlimited registry's pause may be (seconds): a 429 seen by
# another worker holds this one back at most this much later.
DEFAULT_PAUSE_RECHECK = 1.0
_WARN_EVERY = 60.0  # how often a lasting database failure is warned of again


@dataclass(frozen=True, slots=True)
class RegistryBudget:
    """A registry's row as the fleet shares it, at one moment of the database's time."""

    registry: str
    rate: float | None  # requests a second the fleet may make; None: unlimited
    tokens: float  # requests that may go at once, now
    paused_until: datetime | None
    paused_for: float  # seconds the pause lasts yet (0: not paused)
    pauses: int  # 429s seen
    requests: int  # requests let through


@dataclass(frozen=True, slots=True)
class _Turn:
    """What a request to a registry must do: wait `wait` seconds (0: go now), for a pause to
    end (`paused`) or for a token."""

    wait: float
    paused: bool = False


_GO = _Turn(0.0)


class SharedRateLimits:
    """A `RequestGate` over the service's database (PostgreSQL, or SQLite for one process).

    `rates` maps registries (as in references: HOST[:PORT], `docker.io`) to the requests a
    second the whole fleet may make to each, `default_rate` those not named (None: no limit;
    pauses after a 429 still apply). `burst` requests may go at once after a quiet spell.
    `before` waits out a pause of up to `max_wait` seconds in all, and raises RateLimited for
    a longer one; a 429 without `Retry-After` pauses the registry for `default_pause` seconds.

    It fails open: when the database fails, a warning is logged and requests go through
    unlimited (the registry's own 429s and the client's retries still hold it back), so that
    a database outage does not stop every pull; the database is tried again every `recheck`
    seconds. A registry without a rate is read for its pause every `pause_recheck` seconds at
    most. `clock` (SQLite's time, and the recheck timers) and `sleep` are for tests.
    """

    def __init__(
        self,
        engine: Engine,
        rates: Mapping[str, float],
        default_rate: float | None,
        burst: float,
        max_wait: float,
        default_pause: float,
        *,
        clock: Clock = SYSTEM_CLOCK,
        sleep: Callable[[float], None] = time.sleep,
        max_pause: float = DEFAULT_MAX_PAUSE,
        recheck: float = DEFAULT_RECHECK,
        pause_recheck: float = DEFAULT_PAUSE_RECHECK,
    ) -> None:
        for registry, rate in rates.items():
            _check_rate(rate, f"the request rate of {registry}")
        if default_rate is not None:
            _check_rate(default_rate, "the default request rate")
        if not burst >= 1 or math.isinf(burst):
            raise UsageError(f"the burst must be a number of requests, 1 or more (not {burst})")
        for name, value in (("max_wait", max_wait), ("default_pause", default_pause)):
            if not 0 <= value < math.inf:
                raise UsageError(f"{name} must be seconds, 0 or more (not {value})")
        self._dialect = engine.dialect.name
        if self._dialect not in ("postgresql", "sqlite"):
            raise UsageError(
                f"shared registry limits need PostgreSQL or SQLite, not {self._dialect}"
            )
        self._engine = engine
        self._rates = {_key(registry): rate for registry, rate in rates.items()}
        self._default_rate = default_rate
        self.burst = burst
        self.max_wait = max_wait
        self.default_pause = default_pause
        self._max_pause = max_pause
        self._recheck = recheck
        self._clock = clock
        self._sleep = sleep
        self._health = threading.Lock()
        self._retry_at = -math.inf  # clock.monotonic() when the database is tried again
        self._failing = False
        self._warned_at = -math.inf
        self._pause_recheck = pause_recheck
        # unlimited registries: when this process last read each one's pause (clock.monotonic())
        # and the seconds it had left then, and the requests let through since, not yet counted
        self._seen: dict[str, tuple[float, float]] = {}
        self._uncounted: dict[str, int] = {}

    def rate(self, registry: str) -> float | None:
        """The requests a second the fleet may make to `registry` (None: unlimited)."""
        return self._rates.get(_key(registry), self._default_rate)

    # --- the gate ------------------------------------------------------------------------

    def before(self, registry: str) -> None:
        """Wait for `registry`'s turn: a token of its bucket, and the end of its pause if it
        ends within `max_wait` (pauses waited out add up); else raise RateLimited."""
        waited = 0.0
        while True:
            turn = self._take(_key(registry))
            if turn.wait <= 0:
                return
            if turn.paused:
                if waited + turn.wait > self.max_wait:
                    error = RateLimited(
                        f"{registry}: the registry answered 'too many requests' (HTTP 429), "
                        f"and the fleet leaves it alone for another {turn.wait:.0f}s; try "
                        "again later",
                        retry_after=turn.wait,
                    )
                    error.registry = registry
                    raise error
                waited += turn.wait
            self._sleep(turn.wait)

    def rate_limited(self, registry: str, retry_after: float | None) -> None:
        """Pause `registry` for the fleet for `retry_after` seconds (`default_pause` when it
        said nothing), unless it is paused for longer already; its bucket restarts empty when
        the pause ends, so requests resume at its rate rather than all at once."""
        seconds = min(max(retry_after or self.default_pause, 0.0), self._max_pause)
        registry = _key(registry)
        if not self._database_usable():
            return
        try:
            with self._engine.begin() as connection:
                row, now = self._locked_row(connection, registry)
                until = now + timedelta(seconds=seconds)
                pause = max(seconds, _seconds_left(row.paused_until, now))
                values: dict[str, Any] = {"pauses": _COLUMNS.pauses + 1}
                if row.paused_until is None or row.paused_until < until:
                    values |= {"paused_until": until, "tokens": 0.0, "refilled_at": until}
                connection.execute(
                    update(_TABLE).where(_COLUMNS.registry == registry).values(**values)
                )
        except SQLAlchemyError as exc:
            self._failed(exc)
            return
        self._succeeded()
        with self._health:
            self._seen[registry] = (self._clock.monotonic(), pause)
        log.info("%s answered 429: the fleet leaves it alone for %.0fs", registry, seconds)

    # --- for metrics and `serve jobs` ----------------------------------------------------

    def paused(self, registry: str) -> float:
        """The seconds `registry` stays paused for the fleet (0 when it is not, or when the
        database cannot say: failing open)."""
        registry = _key(registry)
        if not self._database_usable():
            return 0.0
        try:
            with self._engine.connect() as connection:
                until = connection.execute(
                    select(_COLUMNS.paused_until).where(_COLUMNS.registry == registry)
                ).scalar()
                now = self._now(connection)
        except SQLAlchemyError as exc:
            self._failed(exc)
            return 0.0
        self._succeeded()
        return _seconds_left(until, now)

    def state(self) -> list[RegistryBudget]:
        """Every registry's row, by name, with its bucket refilled to now. Raises
        DatabaseError when the database cannot be read (this is no request to let through)."""
        for registry in list(self._uncounted):
            self._read_unlimited(registry, 0)
        try:
            with self._engine.connect() as connection:
                rows = connection.execute(select(_TABLE).order_by(_COLUMNS.registry)).all()
                now = self._now(connection)
        except SQLAlchemyError as exc:
            raise DatabaseError(f"cannot read the fleet's registry limits: {exc}") from exc
        return [
            RegistryBudget(
                registry=row.registry,
                rate=self.rate(row.registry),
                tokens=self._refilled(row, now),
                paused_until=row.paused_until,
                paused_for=_seconds_left(row.paused_until, now),
                pauses=row.pauses,
                requests=row.requests,
            )
            for row in rows
        ]

    # --- plumbing ------------------------------------------------------------------------

    def _take(self, registry: str) -> _Turn:
        """One transaction: a token taken (go), or how long to wait for one or for the pause."""
        if not self._database_usable():
            return _GO
        rate = self.rate(registry)
        if rate is None:
            return self._take_unlimited(registry)
        try:
            with self._engine.begin() as connection:
                row, now = self._locked_row(connection, registry)
                paused_for = _seconds_left(row.paused_until, now)
                if paused_for > 0:
                    turn = _Turn(paused_for, paused=True)
                else:
                    tokens = self._refilled(row, now)
                    values: dict[str, Any] = {}
                    if tokens >= 1:
                        turn = _GO
                        # a refill time ahead of now (a pause's end) is kept: no tokens before it
                        values = {"tokens": tokens - 1, "refilled_at": max(now, row.refilled_at)}
                    else:
                        turn = _Turn((1 - tokens) / rate)
                    if turn is _GO:
                        values["requests"] = _COLUMNS.requests + 1
                        connection.execute(
                            update(_TABLE).where(_COLUMNS.registry == registry).values(**values)
                        )
        except SQLAlchemyError as exc:
            self._failed(exc)
            return _GO
        self._succeeded()
        return turn

    def _take_unlimited(self, registry: str) -> _Turn:
        """Go, unless the registry is paused, by this process's view of it (read again when
        it is older than `pause_recheck`)."""
        now = self._clock.monotonic()
        with self._health:
            seen = self._seen.get(registry)
            if seen is not None and now - seen[0] < self._pause_recheck:
                left = seen[1] - (now - seen[0])
                if left > 0:
                    return _Turn(left, paused=True)
                self._uncounted[registry] = self._uncounted.get(registry, 0) + 1
                return _GO
        return self._read_unlimited(registry, 1)

    def _read_unlimited(self, registry: str, wanted: int) -> _Turn:
        """Read `registry`'s pause, counting the requests let through since the last read
        and the `wanted` one about to go, unless it is paused."""
        with self._health:
            uncounted = self._uncounted.pop(registry, 0)
        try:
            with self._engine.begin() as connection:
                row, now = self._locked_row(connection, registry)
                paused_for = _seconds_left(row.paused_until, now)
                going = wanted if paused_for <= 0 else 0
                if uncounted + going:
                    connection.execute(
                        update(_TABLE)
                        .where(_COLUMNS.registry == registry)
                        .values(requests=_COLUMNS.requests + uncounted + going)
                    )
        except SQLAlchemyError as exc:
            self._failed(exc)
            return _GO
        self._succeeded()
        with self._health:
            self._seen[registry] = (self._clock.monotonic(), paused_for)
        return _Turn(paused_for, paused=True) if paused_for > 0 else _GO

    def _refilled(self, row: Row[Any], now: datetime) -> float:
        """The row's tokens at `now`: what it held, plus its rate for the time since."""
        rate = self.rate(row.registry)
        if rate is None:
            return self.burst
        elapsed = max((now - row.refilled_at).total_seconds(), 0.0)
        return float(min(self.burst, row.tokens + elapsed * rate))

    def _locked_row(self, connection: Connection, registry: str) -> tuple[Row[Any], datetime]:
        """`registry`'s row (made, with a full bucket, when it is missing), locked for this
        transaction, and the time now."""
        if self._dialect == "sqlite":
            # written first: the transaction takes SQLite's write lock at once, before it reads
            # anything a concurrent writer could change under it
            self._insert_missing(connection, registry)
        row = self._select_for_update(connection, registry)
        if row is None:
            self._insert_missing(connection, registry)
            row = self._select_for_update(connection, registry)
        assert row is not None  # inserted, or another transaction inserted it first
        return row, self._now(connection)

    def _select_for_update(self, connection: Connection, registry: str) -> Row[Any] | None:
        statement = select(_TABLE).where(_COLUMNS.registry == registry).with_for_update()
        return connection.execute(statement).first()

    def _insert_missing(self, connection: Connection, registry: str) -> None:
        values = {
            "registry": registry,
            "tokens": self.burst,
            "refilled_at": self._clock.now() if self._dialect == "sqlite" else func.now(),
            "paused_until": None,
            "pauses": 0,
            "requests": 0,
        }
        if self._dialect == "postgresql":
            connection.execute(postgresql.insert(_TABLE).values(**values).on_conflict_do_nothing())
        else:
            connection.execute(sqlite.insert(_TABLE).values(**values).on_conflict_do_nothing())

    def _now(self, connection: Connection) -> datetime:
        if self._dialect == "sqlite":
            return self._clock.now()
        # clock_timestamp(), not now(): now() is when the transaction began, which may be
        # before it waited for the row's lock (another worker's turn)
        moment = connection.execute(
            select(type_coerce(func.clock_timestamp(), UtcDateTime()))
        ).scalar_one()
        assert isinstance(moment, datetime)
        return moment

    def _database_usable(self) -> bool:
        with self._health:
            return self._clock.monotonic() >= self._retry_at

    def _failed(self, exc: SQLAlchemyError) -> None:
        now = self._clock.monotonic()
        with self._health:
            self._retry_at = now + self._recheck
            warn = not self._failing or now - self._warned_at >= _WARN_EVERY
            self._failing = True
            if warn:
                self._warned_at = now
        if warn:
            log.warning(
                "the fleet's registry limits cannot be read or written (%s); requests to "
                "registries go through unlimited until the database answers again (tried "
                "every %.0fs)",
                _first_line(exc),
                self._recheck,
            )
        else:
            log.debug("the fleet's registry limits are still unavailable: %s", _first_line(exc))

    def _succeeded(self) -> None:
        with self._health:
            recovered, self._failing = self._failing, False
        if recovered:
            log.info("the fleet's registry limits apply again: the database answers")


def _key(registry: str) -> str:
    # host names are case-insensitive: `Ghcr.io` and `ghcr.io` share one budget
    return registry.lower()


def _check_rate(rate: float, what: str) -> None:
    if not 0 < rate < math.inf:
        raise UsageError(f"{what} must be a number of requests a second above 0 (not {rate})")


def _seconds_left(until: datetime | None, now: datetime) -> float:
    return max((until - now).total_seconds(), 0.0) if until is not None else 0.0


def _first_line(exc: Exception) -> str:
    # SQLAlchemy's messages go on with the statement and a link to its docs
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
