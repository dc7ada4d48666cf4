"""The fleet's shared registry limits: a token bucket and a pause per registry in the service's
database, so that every worker's requests to a registry add up to one client's. On a real
PostgreSQL two gates (two workers) share one budget and one pause; on SQLite a fixed clock
makes the bucket's arithmetic exact; with the database away, requests go through (fail open)."""

from __future__ import annotations

import logging
import socket
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, event

from basewatch.clock import FixedClock
from basewatch.errors import DatabaseError, RateLimited, UsageError
from basewatch.service.db import open_engine, upgrade
from basewatch.service.fleet.limits import SharedRateLimits

REGISTRY = "registry.example:5000"


def _gate(engine: Engine, **kwargs: object) -> SharedRateLimits:
    options: dict[str, object] = {
        "rates": {},
        "default_rate": None,
        "burst": 1.0,
        "max_wait": 30.0,
        "default_pause": 60.0,
    }
    options.update(kwargs)
    return SharedRateLimits(engine, **options)  # type: ignore[arg-type]


# --- on PostgreSQL, two gates as two workers -----------------------------------------------


@pytest.mark.postgres
def test_two_workers_share_one_request_rate(engine: Engine) -> None:
    rate, burst, each = 40.0, 2.0, 20
    gates = [_gate(engine, rates={REGISTRY: rate}, burst=burst) for _ in range(2)]
    started = time.monotonic()
    threads = [
        threading.Thread(target=lambda g=gate: [g.before(REGISTRY) for _ in range(each)])
        for gate in gates
        for _ in range(2)  # two threads in each worker, like a worker's concurrency
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    elapsed = time.monotonic() - started
    total = each * len(threads)
    # all but the burst waited for a token made at the one shared rate, whoever asked
    assert elapsed >= (total - burst) / rate * 0.95
    (budget,) = gates[0].state()
    assert budget.registry == REGISTRY and budget.requests == total
    assert budget.tokens < burst and budget.pauses == 0


@pytest.mark.postgres
def test_a_429_seen_by_one_worker_pauses_the_registry_for_all(engine: Engine) -> None:
    seen_it, other = _gate(engine), _gate(engine, max_wait=0.0)
    seen_it.rate_limited(REGISTRY.upper(), 5)  # host names are one registry in any case
    with pytest.raises(RateLimited) as raised:
        other.before(REGISTRY)
    assert 3 < raised.value.retry_after <= 5
    assert "429" in str(raised.value) and REGISTRY in str(raised.value)
    assert 3 < other.paused(REGISTRY) <= 5
    assert other.paused("elsewhere.example") == 0
    other.before("elsewhere.example")  # other registries are not held up
    (budget, _) = sorted(other.state(), key=lambda b: b.registry != REGISTRY)
    assert budget.pauses == 1 and budget.paused_for > 3


@pytest.mark.postgres
def test_a_short_pause_is_waited_out_and_a_long_one_is_not_shortened(engine: Engine) -> None:
    gate = _gate(engine, max_wait=10.0)
    gate.rate_limited(REGISTRY, 1.0)
    gate.rate_limited(REGISTRY, 0.2)  # a shorter pause does not cut the first one short
    started = time.monotonic()
    gate.before(REGISTRY)
    assert time.monotonic() - started >= 0.9
    (budget,) = gate.state()
    assert budget.pauses == 2 and budget.paused_for == 0 and budget.requests == 1


@pytest.mark.postgres
def test_a_retry_after_of_years_is_believed_only_up_to_the_cap(engine: Engine) -> None:
    gate = _gate(engine, max_wait=0.0, max_pause=120.0)
    gate.rate_limited(REGISTRY, 10.0**12)
    assert 100 < gate.paused(REGISTRY) <= 120


@pytest.mark.postgres
def test_a_registry_without_a_rate_is_read_once_a_recheck_not_once_a_request(
    engine: Engine,
) -> None:
    """A poll of every tag is a request a tag: with no rate to share, a process reads the
    registry's row (for a pause) once every `pause_recheck`, not once for each of them."""
    statements: list[str] = []

    def seen(*args: object) -> None:
        statement = args[2]
        assert isinstance(statement, str)
        if "registry_limits" in statement:
            statements.append(statement)

    lazy, other = _gate(engine, pause_recheck=0.3), _gate(engine, max_wait=0.0)
    other.before(REGISTRY)  # the registry's row made
    event.listen(engine, "before_cursor_execute", seen)
    try:
        for _ in range(200):
            lazy.before(REGISTRY)
        locked = [s for s in statements if "FOR UPDATE" in s]
        assert len(locked) == 1, statements
        (budget,) = lazy.state()  # what this process let through is counted by then
        assert budget.requests == 201 and budget.rate is None
        other.rate_limited(REGISTRY, 5)
        time.sleep(0.35)  # the pause another worker saw holds this one back a recheck later
        with pytest.raises(RateLimited):
            _gate(engine, max_wait=0.0, pause_recheck=0.3).before(REGISTRY)
        lazy.max_wait = 0.0
        with pytest.raises(RateLimited) as raised:
            lazy.before(REGISTRY)
        assert 3 < raised.value.retry_after <= 5
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    (budget,) = other.state()
    assert budget.requests == 201 and budget.pauses == 1


# --- on SQLite, with a clock that moves only when the gate sleeps --------------------------


@pytest.fixture
def sqlite_engine(tmp_path: Path) -> Engine:
    found = open_engine(f"sqlite:///{tmp_path / 'service.db'}")
    upgrade(found)
    return found


def test_the_bucket_lets_a_burst_go_then_the_rate(sqlite_engine: Engine) -> None:
    clock = FixedClock(datetime(2026, 12, 6, tzinfo=UTC))
    sleeps: list[float] = []

    def sleep(seconds: float) -> None:
        sleeps.append(round(seconds, 6))
        clock.advance(seconds)

    gate = _gate(
        sqlite_engine, rates={REGISTRY: 2.0}, burst=3.0, clock=clock, sleep=sleep, max_wait=5.0
    )
    for _ in range(5):
        gate.before(REGISTRY)
    assert sleeps == [0.5, 0.5]  # three at once, then one every half second
    clock.advance(10)  # a quiet spell fills the bucket up to the burst, not beyond
    (budget,) = gate.state()
    assert budget.tokens == 3.0 and budget.requests == 5

    gate.rate_limited(REGISTRY, None)  # no Retry-After: the default pause
    assert gate.paused(REGISTRY) == 60.0
    with pytest.raises(RateLimited):
        gate.before(REGISTRY)  # 60s of pause is more than the 5s it may wait
    clock.advance(60)
    sleeps.clear()
    gate.before(REGISTRY)
    # the bucket restarted empty when the pause ended: a token is made at the rate first
    assert sleeps == [0.5]


def test_a_registry_without_a_rate_is_never_held_back_but_still_paused(
    sqlite_engine: Engine,
) -> None:
    clock = FixedClock(datetime(2026, 12, 6, tzinfo=UTC))
    sleeps: list[float] = []
    gate = _gate(sqlite_engine, rates={"slow.example": 1.0}, clock=clock, sleep=sleeps.append)
    for _ in range(50):
        gate.before(REGISTRY)
    assert sleeps == [] and gate.rate(REGISTRY) is None and gate.rate("SLOW.example") == 1.0
    gate.rate_limited(REGISTRY, 3.0)
    with pytest.raises(RateLimited):
        _gate(sqlite_engine, clock=clock, max_wait=1.0).before(REGISTRY)


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("rates", {REGISTRY: 0.0}, "request rate of registry.example:5000"),
        ("default_rate", float("inf"), "default request rate"),
        ("burst", 0.5, "burst"),
        ("max_wait", -1.0, "max_wait"),
        ("default_pause", float("nan"), "default_pause"),
    ],
)
def test_nonsense_limits_are_usage_errors(
    sqlite_engine: Engine, option: str, value: object, message: str
) -> None:
    with pytest.raises(UsageError, match=message):
        _gate(sqlite_engine, **{option: value})


# --- with the database away ----------------------------------------------------------------


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_with_the_database_away_requests_go_through_and_it_is_said_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    engine = open_engine(
        f"postgresql+psycopg://nobody@127.0.0.1:{_closed_port()}/none?connect_timeout=2"
    )
    clock = FixedClock(datetime(2026, 12, 6, tzinfo=UTC))
    sleeps: list[float] = []
    gate = _gate(engine, rates={REGISTRY: 1.0}, clock=clock, sleep=sleeps.append, recheck=10.0)
    with caplog.at_level(logging.DEBUG, logger="basewatch.service.fleet.limits"):
        for _ in range(20):
            gate.before(REGISTRY)
        gate.rate_limited(REGISTRY, 30.0)
        assert gate.paused(REGISTRY) == 0.0
    assert sleeps == []
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "go through unlimited" in warnings[0].getMessage()
    assert "Traceback" not in caplog.text
    with pytest.raises(DatabaseError, match="registry limits"):
        gate.state()  # `serve jobs` and metrics say they cannot tell; they let nothing through
    engine.dispose()
