"""Advisories as basewatch keeps them: a validated, frozen subset of the OSV schema."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class EventKind(StrEnum):
    INTRODUCED = "introduced"
    FIXED = "fixed"
    LAST_AFFECTED = "last_affected"
    LIMIT = "limit"


@dataclass(frozen=True, slots=True)
class RangeEvent:
    kind: EventKind
    version: str  # "0" for introduced means "every version"


@dataclass(frozen=True, slots=True)
class AffectedRange:
    type: str  # OSV range type: ECOSYSTEM, SEMVER (GIT ranges are dropped at import)
    events: tuple[RangeEvent, ...]


@dataclass(frozen=True, slots=True)
class Affected:
    """One `affected[]` entry of an OSV record: a package in one ecosystem."""

    ecosystem: str  # as OSV spells it: "Debian:12", "Alpine:v3.20", "PyPI"
    name: str  # as published (matching uses the normalised form the store indexes)
    ranges: tuple[AffectedRange, ...] = ()
    versions: tuple[str, ...] = ()  # explicitly listed affected versions
    # Severity or urgency stated for this package only (Debian urgency, Ubuntu priority...).
    severity: tuple[tuple[str, str], ...] = ()
    # Distribution verdicts such as "will not fix" / "end-of-life", when the record says so.
    status: str = ""


@dataclass(frozen=True, slots=True)
class Advisory:
    """One OSV record (withdrawn records are never stored)."""

    id: str
    aliases: tuple[str, ...] = ()
    upstream: tuple[str, ...] = ()
    related: tuple[str, ...] = ()
    summary: str = ""
    details: str = ""
    # OSV `severity[]` as (type, score) pairs, e.g. ("CVSS_V3", "CVSS:3.1/AV:N/...").
    severity: tuple[tuple[str, str], ...] = ()
    # A qualitative severity from database_specific ("HIGH", "MODERATE"...), when present.
    database_severity: str = ""
    published: str = ""
    modified: str = ""
    references: tuple[str, ...] = ()
    affected: tuple[Affected, ...] = ()
    # Weaknesses from database_specific.cwe_ids (GHSA's), canonical "CWE-79", sorted by number.
    cwe_ids: tuple[str, ...] = ()

    def all_ids(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys((self.id, *self.aliases, *self.upstream)))


@dataclass(frozen=True, slots=True)
class Enrichment:
    """What the enrichment feeds say of one CVE."""

    cve: str
    kev: bool = False
    kev_date_added: str = ""
    kev_due_date: str = ""
    kev_ransomware: str = ""
    epss: float | None = None
    epss_percentile: float | None = None


@dataclass(frozen=True, slots=True)
class SourceStatus:
    """One source of the database (an OSV ecosystem, KEV, EPSS) and how fresh it is."""

    name: str  # "osv:Debian:12", "kev", "epss"
    records: int
    updated_at: str  # ISO 8601 UTC time of the last successful import or update
    origin: str = ""  # URL or path it came from
    etag: str = ""
    last_modified: str = ""
    malformed: int = 0  # records refused at the last import
    # How old the data itself is: the newest record's `modified`, or the feed's own date (KEV's
    # dateReleased, EPSS's score_date); "" when the data carries no date (secdb files).
    # `updated_at` only says when it was imported, which says nothing of a 2020 file.
    data_date: str = ""
