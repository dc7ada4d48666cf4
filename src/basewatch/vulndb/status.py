"""`status`: what the database holds, how old each source is, and what needs refreshing.

Two ages per source: since it was imported (`updated_at`) and of the data itself
(`data_date`: the newest record's `modified`, or the feed's own date). Staleness is judged by
the data's age: a 2020 secdb file imported a minute ago is five years old. A source whose data
carries no date is judged by its import time, and a warning says that its age is unknown.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from basewatch.vulndb import DEFAULT_MAX_AGE_DAYS
from basewatch.vulndb.model import SourceStatus
from basewatch.vulndb.store import VulnStore

__all__ = [
    "DEFAULT_MAX_AGE_DAYS",
    "DatabaseStatus",
    "SourceAge",
    "format_age",
    "parse_time",
    "status",
]


# `db update` alone picks ecosystems (those of the images basewatch has read, else common ones).
_FILL = (
    "run `basewatch db update` (or `db update --ecosystem NAME`), `basewatch scan IMAGE` "
    "(it downloads what the image needs) or `basewatch db import PATH`"
)


@dataclass(frozen=True, slots=True)
class SourceAge:
    source: SourceStatus
    age: timedelta | None  # since the import; None when the recorded time cannot be read
    stale: bool
    data_age: timedelta | None = None  # of the newest data; None when it carries no date


@dataclass(frozen=True, slots=True)
class DatabaseStatus:
    sources: tuple[SourceAge, ...]
    warnings: tuple[str, ...]
    max_age_days: float


def status(
    store: VulnStore, now: datetime, max_age_days: float = DEFAULT_MAX_AGE_DAYS
) -> DatabaseStatus:
    """Every source with its age at `now`; sources older than `max_age_days` are stale."""
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    limit = timedelta(days=max_age_days)
    rows = []
    warnings = []
    sources = list(store.sources())
    if not sources:
        warnings.append(f"the database is empty: {_FILL}")
    elif not any(s.name not in ("kev", "epss") for s in sources):
        warnings.append(f"the database holds no advisories, only enrichment feeds: {_FILL}")
    for source in sources:
        updated = parse_time(source.updated_at)
        dated = parse_time(source.data_date)
        data_age = max(now - dated, timedelta(0)) if dated is not None else None
        if updated is None:
            rows.append(SourceAge(source, None, True, data_age))
            warnings.append(
                f"{source.name}: unreadable update time {source.updated_at!r}: {_refresh(source)}"
            )
            continue
        age = max(now - updated, timedelta(0))
        if data_age is not None:
            stale = data_age > limit
            if stale:
                warnings.append(
                    f"{source.name}: its newest data is from {source.data_date} "
                    f"({format_age(data_age)} old, more than {max_age_days:g} days; imported "
                    f"{format_age(age)} ago): {_refresh(source)}"
                )
        else:
            stale = age > limit
            if stale:
                warnings.append(
                    f"{source.name} is {format_age(age)} old (more than {max_age_days:g} days): "
                    f"{_refresh(source)}"
                )
            if source.records and source.name.startswith("secdb:"):  # the only undated feed
                warnings.append(_undated(source, age))
        rows.append(SourceAge(source, age, stale, data_age))
        if source.malformed:
            warnings.append(
                f"{source.name}: {source.malformed} malformed records were refused at the last "
                "import"
            )
    return DatabaseStatus(tuple(rows), tuple(warnings), max_age_days)


def format_age(age: timedelta) -> str:
    """A short human form: "3d 4h", "5h 2m", "12m", "40s"."""
    seconds = int(age.total_seconds())
    days, seconds = divmod(seconds, 86400)
    hours, seconds = divmod(seconds, 3600)
    minutes, seconds = divmod(seconds, 60)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes}m"
    if minutes:
        return f"{minutes}m"
    return f"{seconds}s"


def _undated(source: SourceStatus, age: timedelta) -> str:
    message = (
        f"{source.name}: the data carries no date, so how old it is cannot be told (imported "
        f"{format_age(age)} ago from {source.origin or '?'})"
    )
    if source.name.startswith("secdb:Alpine"):
        message += (
            "; OSV's Alpine records are dated: prefer `basewatch db update --ecosystem Alpine`"
        )
    return message


def _refresh(source: SourceStatus) -> str:
    if source.name.startswith("osv:"):
        return "run `basewatch db update`"
    return f"import a newer copy with `basewatch db import` (last from {source.origin or '?'})"


def parse_time(text: str) -> datetime | None:
    """An ISO 8601 time as the sources table stores it (naive means UTC); None if unreadable."""
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
