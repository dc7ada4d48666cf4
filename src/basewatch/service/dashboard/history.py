"""Findings over time, from the rows `evaluate.counts_of` leaves at each change: an image's
counts on a day are those of its last row by the end of that day; the fleet's are their sum.
Policy failures over time the same way, from the rows `policies` leaves."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Date, String, cast, func, select
from sqlalchemy.orm import Session

from basewatch.service.evaluate import COUNTED
from basewatch.service.models import FindingCounts, PolicyHistory

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


def _latest(before: datetime | None = None) -> Any:
    """Each image's last counts row (before `before`, when given), as a subquery."""
    query = select(
        FindingCounts,
        func.row_number()
        .over(
            partition_by=FindingCounts.digest,
            order_by=(FindingCounts.at.desc(), FindingCounts.id.desc()),
        )
        .label("n"),
    )
    if before is not None:
        query = query.where(FindingCounts.at < before)
    return query.subquery()


def _sums(session: Session, before: datetime | None = None) -> Day:
    latest = _latest(before)
    values = session.execute(
        select(*(func.coalesce(func.sum(latest.c[name]), 0) for name in COUNTED)).where(
            latest.c.n == 1
        )
    ).one()
    return _row(values)


def fleet_now(session: Session) -> Day:
    """The fleet's open findings now: the sum of every image's latest counts (one query)."""
    return _sums(session)


def _day_of(session: Session, column: Any) -> Any:
    """The UTC day of a stored moment, in SQL (SQLite keeps moments as UTC text)."""
    if session.get_bind().dialect.name == "postgresql":
        return cast(func.timezone("UTC", column), Date)
    return func.date(column)


def fleet_history(session: Session, today: date, days: int = 30) -> list[tuple[date, Day]]:
    """The fleet's open findings on each of the last `days` days (today included): the sums
    before the first day, then each day's changes (each row minus the image's row before it),
    both added up by the database; Python walks at most `days` rows."""
    first = today - timedelta(days=days - 1)
    start = datetime.combine(first, time(), tzinfo=UTC)
    total = _sums(session, start)
    deltas = select(
        FindingCounts.at,
        *(
            (
                getattr(FindingCounts, name)
                - func.coalesce(
                    func.lag(getattr(FindingCounts, name)).over(
                        partition_by=FindingCounts.digest,
                        order_by=(FindingCounts.at, FindingCounts.id),
                    ),
                    0,
                )
            ).label(name)
            for name in COUNTED
        ),
    ).subquery()
    day = _day_of(session, deltas.c.at)
    changes: dict[date, Day] = {}
    for when, *values in session.execute(
        select(day, *(func.sum(deltas.c[name]) for name in COUNTED))
        .where(deltas.c.at >= start)
        .group_by(day)
    ):
        key = when if isinstance(when, date) else date.fromisoformat(str(when))
        changes[key] = _row(values)
    out: list[tuple[date, Day]] = []
    for each in _days(first, today):
        for name, value in changes.get(each, {}).items():
            total[name] += value
        out.append((each, dict(total)))
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


def policy_failures(
    session: Session, today: date, days: int = 30
) -> list[tuple[date, dict[str, int]]]:
    """How many images fail each policy on each of the last `days` days (today included), the
    "fail gap": an image fails on a day the policies of its last `PolicyHistory` row by the
    end of that day. The rows before the first day are read once (each image's last, if it
    fails something), then the changes in order; a policy no image failed has no count."""
    first = today - timedelta(days=days - 1)
    start = datetime.combine(first, time(), tzinfo=UTC)
    latest = (
        select(
            PolicyHistory.digest,
            PolicyHistory.failing,
            func.row_number()
            .over(
                partition_by=PolicyHistory.digest,
                order_by=(PolicyHistory.at.desc(), PolicyHistory.id.desc()),
            )
            .label("n"),
        )
        .where(PolicyHistory.at < start)
        .subquery()
    )
    state: dict[str, frozenset[str]] = {}
    counts: dict[str, int] = {}

    def move(digest: str, failing: frozenset[str]) -> None:
        for policy in state.get(digest, frozenset()):
            counts[policy] -= 1
        for policy in failing:
            counts[policy] = counts.get(policy, 0) + 1
        state[digest] = failing

    for digest, failing in session.execute(
        select(latest.c.digest, latest.c.failing).where(
            latest.c.n == 1, cast(latest.c.failing, String) != "[]"
        )
    ):
        move(str(digest), frozenset(str(p) for p in failing))
    changes = session.execute(
        select(PolicyHistory.digest, PolicyHistory.at, PolicyHistory.failing)
        .where(PolicyHistory.at >= start)
        .order_by(PolicyHistory.at, PolicyHistory.id)
    ).all()
    out: list[tuple[date, dict[str, int]]] = []
    index = 0
    for each in _days(first, today):
        end = _end(each)
        while index < len(changes) and changes[index][1] < end:
            digest, _, failing = changes[index]
            move(str(digest), frozenset(str(p) for p in failing))
            index += 1
        out.append((each, dict(counts)))  # a policy failed once keeps its count, 0 or not
    return out
