"""Findings over time, from the rows `evaluate.counts_of` leaves at each change: an image's
counts on a day are those of its last row by the end of that day; the fleet's are their sum."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from basewatch.service.evaluate import COUNTED
from basewatch.service.models import FindingCounts

SEVERITIES = ("critical", "high", "medium", "low", "other")

Day = dict[str, int]  # count name -> value, plus "total"


def _row(values: Sequence[int]) -> Day:
    day = dict(zip(COUNTED, (int(v) for v in values), strict=True))
    day["total"] = sum(day[s] for s in SEVERITIES)
    return day


def _days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def _end(day: date) -> datetime:
    return datetime.combine(day + timedelta(days=1), time(), tzinfo=UTC)


def fleet_history(session: Session, today: date, days: int = 30) -> list[tuple[date, Day]]:
    """The fleet's open findings on each of the last `days` days (today included)."""
    first = today - timedelta(days=days - 1)
    start = datetime.combine(first, time(), tzinfo=UTC)
    columns = [getattr(FindingCounts, name) for name in COUNTED]
    latest = (
        select(FindingCounts.digest, func.max(FindingCounts.at).label("at"))
        .where(FindingCounts.at < start)
        .group_by(FindingCounts.digest)
        .subquery()
    )
    current: dict[str, Day] = {}
    for digest, *values in session.execute(
        select(FindingCounts.digest, *columns).join(
            latest, (latest.c.digest == FindingCounts.digest) & (latest.c.at == FindingCounts.at)
        )
    ):
        current[str(digest)] = _row(values)
    later = session.execute(
        select(FindingCounts.digest, FindingCounts.at, *columns)
        .where(FindingCounts.at >= start)
        .order_by(FindingCounts.at, FindingCounts.id)
    ).all()
    total = dict.fromkeys((*COUNTED, "total"), 0)
    for counts in current.values():
        for name, value in counts.items():
            total[name] += value
    out: list[tuple[date, Day]] = []
    index = 0
    for day in _days(first, today):
        end = _end(day)
        while index < len(later) and later[index][1] < end:
            digest, _, *values = later[index]
            new = _row(values)
            old = current.get(str(digest))
            for name, value in new.items():
                total[name] += value - (old[name] if old is not None else 0)
            current[str(digest)] = new
            index += 1
        out.append((day, dict(total)))
    return out


def image_history(
    session: Session, digest: str, today: date, days: int = 90
) -> list[tuple[date, Day]]:
    """One image's findings on each day since its first evaluation (at most `days` days)."""
    columns = [getattr(FindingCounts, name) for name in COUNTED]
    rows = session.execute(
        select(FindingCounts.at, *columns)
        .where(FindingCounts.digest == digest)
        .order_by(FindingCounts.at, FindingCounts.id)
    ).all()
    if not rows:
        return []
    first = max(rows[0][0].date(), today - timedelta(days=days - 1))
    out: list[tuple[date, Day]] = []
    index = 0
    current: Day | None = None
    for day in _days(first, today):
        end = _end(day)
        while index < len(rows) and rows[index][0] < end:
            current = _row(rows[index][1:])
            index += 1
        if current is not None:
            out.append((day, dict(current)))
    return out
