from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta

from basewatch.vulndb.model import Advisory, Affected, Enrichment, SourceStatus
from basewatch.vulndb.status import format_age, status
from basewatch.vulndb.store import VulnStore

NOW = datetime(2025, 9, 10, 12, 0, tzinfo=UTC)


class FakeStore(VulnStore):
    def __init__(self, *sources: SourceStatus) -> None:
        self._sources = sources

    def affected(self, ecosystem: str, name: str) -> Sequence[tuple[Advisory, Affected]]:
        return []

    def enrichment(self, cves: Iterable[str]) -> dict[str, Enrichment]:
        return {}

    def sources(self) -> Sequence[SourceStatus]:
        return self._sources

    def ecosystems(self) -> Sequence[str]:
        return []

    def refused(self, ecosystem: str, name: str) -> Sequence[str]:
        return []


def test_ages_and_stale_sources() -> None:
    fresh = SourceStatus("osv:Debian", 100, "2025-09-09T10:30:00Z")
    edge = SourceStatus("osv:PyPI", 5, "2025-09-03T12:00:00Z")  # exactly 7 days: not stale
    old = SourceStatus("osv:Go", 7, "2025-08-01T00:00:00Z")
    kev = SourceStatus("kev", 1404, "2025-08-20T12:00:00Z", origin="/data/kev.json")
    report = status(FakeStore(fresh, edge, old, kev), NOW, max_age_days=7)
    rows = {row.source.name: row for row in report.sources}
    assert rows["osv:Debian"].age == timedelta(days=1, hours=1, minutes=30)
    assert not rows["osv:Debian"].stale
    assert rows["osv:PyPI"].age == timedelta(days=7)
    assert not rows["osv:PyPI"].stale
    assert rows["osv:Go"].age == timedelta(days=40, hours=12)
    assert rows["osv:Go"].stale
    assert rows["kev"].stale
    assert report.warnings == (
        "osv:Go is 40d 12h old (more than 7 days): run `basewatch db update`",
        "kev is 21d 0h old (more than 7 days): import a newer copy with `basewatch db import` "
        "(last from /data/kev.json)",
    )


def test_a_shorter_limit() -> None:
    source = SourceStatus("osv:Go", 1, "2025-09-10T00:00:00Z")
    assert status(FakeStore(source), NOW, max_age_days=0.25).sources[0].stale
    assert not status(FakeStore(source), NOW, max_age_days=1).sources[0].stale


def test_empty_database() -> None:
    report = status(FakeStore(), NOW)
    assert report.sources == ()
    assert report.warnings == (
        "the database is empty: run `basewatch db update` (or `db update --ecosystem NAME`), "
        "`basewatch scan IMAGE` (it downloads what the image needs) or `basewatch db import PATH`",
    )


def test_only_enrichment_and_odd_entries() -> None:
    report = status(
        FakeStore(
            SourceStatus("kev", 1, "yesterday"),
            SourceStatus("epss", 3, "2025-09-11T00:00:00Z", malformed=2),  # clock skew
        ),
        NOW,
    )
    kev, epss = report.sources
    assert (kev.age, kev.stale) == (None, True)
    assert (epss.age, epss.stale) == (timedelta(0), False)
    assert report.warnings[0].startswith("the database holds no advisories")
    assert report.warnings[1].startswith("kev: unreadable update time 'yesterday'")
    assert report.warnings[2] == "epss: 2 malformed records were refused at the last import"


def test_naive_now_is_utc() -> None:
    source = SourceStatus("osv:Go", 1, "2025-09-10T11:00:00Z")
    report = status(FakeStore(source), datetime(2025, 9, 10, 12, 0), 7)
    assert report.sources[0].age == timedelta(hours=1)


def test_format_age() -> None:
    assert format_age(timedelta(days=3, hours=4, minutes=5)) == "3d 4h"
    assert format_age(timedelta(hours=5, minutes=2)) == "5h 2m"
    assert format_age(timedelta(minutes=12, seconds=3)) == "12m"
    assert format_age(timedelta(seconds=40)) == "40s"
