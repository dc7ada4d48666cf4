"""Time as a seam: everything that reads the time takes a `Clock`, so tests and the service can
fix or move it. Times are aware UTC datetimes; "today" is the UTC date."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    """A source of the current time."""

    def now(self) -> datetime:
        """The current time, an aware UTC datetime."""
        ...

    def monotonic(self) -> float:
        """Seconds on a clock that never goes back (for timeouts and expiries)."""
        ...


class SystemClock:
    """The machine's clock."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def monotonic(self) -> float:
        return time.monotonic()


SYSTEM_CLOCK: Clock = SystemClock()


@dataclass(slots=True)
class FixedClock:
    """A clock that stands still until moved: for tests and replays."""

    at: datetime
    elapsed: float = 0.0

    def now(self) -> datetime:
        return self.at

    def monotonic(self) -> float:
        return self.elapsed

    def advance(self, seconds: float) -> None:
        self.at += timedelta(seconds=seconds)
        self.elapsed += seconds


def today(clock: Clock = SYSTEM_CLOCK) -> date:
    """The UTC date now (never the machine's local date)."""
    return clock.now().date()
