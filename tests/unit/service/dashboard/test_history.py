"""Findings over time on SQLite and PostgreSQL: each image counts as its last row by the end of
a day, rows before the window set where it starts, and the sums come from the database."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from basewatch.service.dashboard.history import fleet_history, fleet_now, image_history
from basewatch.service.evaluate import COUNTED
from basewatch.service.models import FindingCounts
from tests.unit.service.test_evaluate import D1, D2, REQUESTS, Store, inventory_with, stored_image

TODAY = date(2026, 12, 3)


def at(days_ago: int, hour: int = 12) -> datetime:
    return datetime.combine(TODAY - timedelta(days=days_ago), datetime.min.time(), UTC).replace(
        hour=hour
    )


def row(digest: str, when: datetime, **counts: int) -> FindingCounts:
    values = dict.fromkeys(COUNTED, 0) | counts
    return FindingCounts(digest=digest, at=when, **values)


def test_the_fleet_on_each_day_and_now(store: Store) -> None:
    stored_image(store, D1, inventory_with(REQUESTS))
    stored_image(store, D2, inventory_with(REQUESTS))
    with store.make.begin() as session:
        session.add_all(
            [
                row(D1, at(40), critical=2, fixable=2, fixable_critical=2),  # before the window
                row(D1, at(10, 8), critical=5),
                row(D1, at(10, 20), critical=1, fixable=1, fixable_critical=1),  # that day's last
                row(D2, at(5), high=3, kev=1),
                row(D1, at(0, 1), medium=0),  # fixed this morning
                row(D2, at(0, 2), high=3, low=4, other=1),
            ]
        )
    with store.make() as session:
        days = fleet_history(session, TODAY)
        now = fleet_now(session)
        mine = image_history(session, D2, TODAY)
    assert len(days) == 30 and days[0][0] == TODAY - timedelta(days=29) and days[-1][0] == TODAY
    by_day = {d: counts for d, counts in days}
    assert by_day[TODAY - timedelta(days=11)]["total"] == 2  # D1's row from 40 days ago
    assert by_day[TODAY - timedelta(days=10)]["critical"] == 1  # the last row of that day
    assert by_day[TODAY - timedelta(days=10)]["fixable_critical"] == 1
    five = by_day[TODAY - timedelta(days=5)]
    assert (five["critical"], five["high"], five["kev"], five["total"]) == (1, 3, 1, 4)
    assert (by_day[TODAY]["total"], by_day[TODAY]["low"], by_day[TODAY]["kev"]) == (8, 4, 0)
    assert now == by_day[TODAY]
    assert mine[0][0] == TODAY - timedelta(days=5)  # since its first row
    assert [c["total"] for _, c in mine] == [3, 3, 3, 3, 3, 8]


def test_an_empty_fleet_is_all_zeros(store: Store) -> None:
    with store.make() as session:
        days = fleet_history(session, TODAY, days=7)
        assert fleet_now(session)["total"] == 0
    assert [counts["total"] for _, counts in days] == [0] * 7
