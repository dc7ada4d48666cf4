"""Policies over the scan's findings: `no-fixable-severe` and `no-kev`.

Both look at the findings the scan kept (the ignore file and VEX statements the scan applied
hold here too) and never pass on packages that were not checked: the reason names them, and a
scan that checked nothing is "not evaluated".
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Callable, Sequence

from basewatch.models import Finding, FixStatus, ScanResult, Severity
from basewatch.policy.coverage import coverage_of
from basewatch.policy.facts import Facts
from basewatch.policy.model import Item, PolicyConfig, Verdict
from basewatch.policy.outcome import conclude, not_evaluated, plural
from basewatch.policy.spec import (
    Parameter,
    PolicySpec,
    parameters,
    parse_days,
    parse_probability,
    parse_severity,
)
from basewatch.vulndb.importer import ImportKind

NO_DATABASE = "no vulnerability database: the image's packages were not matched"

# --- no-fixable-severe ------------------------------------------------------------------------

SEVERITY = Parameter("severity", parse_severity, Severity.HIGH)
DAYS = Parameter("days", parse_days, 0)


def published_on(finding: Finding) -> dt.date | None:
    """The day the advisory was published (else last modified), None when neither is a date."""
    for text in (finding.published, finding.modified):
        try:
            return dt.date.fromisoformat(text.strip()[:10])
        except ValueError:
            continue
    return None


def _subject(finding: Finding, detail: str) -> str:
    package = finding.package
    return f"{finding.id} in {package.name} {finding.installed_version} ({detail})"


def finding_item(finding: Finding, subject: str, **extra: str | int | float | bool | None) -> Item:
    package = finding.package
    return Item(
        subject=subject,
        data={
            "id": finding.id,
            "package": package.name,
            "source": package.source_name or package.name,
            "version": finding.installed_version,
            "fixed_version": finding.fixed_version,
            "severity": finding.severity.value,
            "purl": package.purl,
            "kev": finding.kev,
            "epss": finding.epss,
            **extra,
        },
        aliases=finding.aliases,
    )


def _sorted(findings: Sequence[Finding]) -> list[Finding]:
    return sorted(findings, key=lambda f: (-f.severity.rank, f.id, f.package.name))


def _scan_or_why(facts: Facts) -> tuple[ScanResult | None, str, list[str]]:
    """(scan, why nothing can be decided, notes on what was not checked)."""
    if facts.scan is None:
        return None, NO_DATABASE, []
    coverage = coverage_of(facts.scan)
    why = coverage.nothing_checked()
    return (None, why, []) if why else (facts.scan, "", coverage.notes())


def _suppressed_note(scan: ScanResult, counts: Callable[[Finding], bool]) -> list[str]:
    sources = Counter(s.source for s in scan.suppressed if counts(s.finding))
    if not sources:
        return []
    where = ", ".join(f"{source}: {n}" for source, n in sorted(sources.items()))
    total = sum(sources.values())
    verb = "was" if total == 1 else "were"
    return [f"{plural(total, 'more finding')} {verb} suppressed by the scan ({where})"]


def _no_fixable_severe(config: PolicyConfig, facts: Facts) -> Verdict:
    scan, why, notes = _scan_or_why(facts)
    if scan is None:
        return not_evaluated(config, FIXABLE_SEVERE.title, why)
    threshold = SEVERITY.value(config)
    days = DAYS.value(config)

    def severe_and_fixable(finding: Finding) -> bool:
        return (
            finding.severity.rank >= threshold.rank
            and finding.status is FixStatus.FIXED
            and bool(finding.fixed_version)
        )

    def age(finding: Finding) -> int | None:
        published = published_on(finding)
        return None if published is None else (facts.today - published).days

    def counts(finding: Finding) -> bool:
        if not severe_and_fixable(finding):
            return False
        if days == 0:
            return True
        known = age(finding)
        return known is None or known > days  # an unknown age never waits

    items = []
    for finding in _sorted([f for f in scan.findings if counts(f)]):
        known = age(finding)
        detail = f"fixed in {finding.fixed_version}"
        if days and known is None:
            detail += "; publication date unknown"
        elif days:
            detail += f"; published {plural(known or 0, 'day')} ago"
        items.append(finding_item(finding, _subject(finding, detail), days=known))
    at = f"at or above {threshold.value}"
    window = f" with a fix published more than {plural(days, 'day')} ago" if days else ""

    def failed(failing: Sequence[Item]) -> str:
        return f"{plural(len(failing), 'fixable finding')} {at}{window}"

    return conclude(
        config,
        FIXABLE_SEVERE.title,
        facts.today,
        items,
        passed=f"no fixable finding {at}{window}",
        failed=failed,
        notes=[*notes, *_suppressed_note(scan, counts)],
    )


FIXABLE_SEVERE = PolicySpec(
    id="no-fixable-severe",
    title="No fixable findings at or above a severity",
    parameters=parameters(SEVERITY, DAYS),
    evaluate=_no_fixable_severe,
)

# --- no-kev -----------------------------------------------------------------------------------

EPSS = Parameter("epss", parse_probability, None)


def _no_kev(config: PolicyConfig, facts: Facts) -> Verdict:
    scan, why, notes = _scan_or_why(facts)
    if scan is None:
        return not_evaluated(config, KEV.title, why)
    threshold = EPSS.value(config)
    kev_known, epss_known = True, threshold is not None
    if scan.database is not None:  # it says which feeds were imported
        feeds = {name for name, _ in scan.database.sources}
        kev_known = ImportKind.KEV.value in feeds
        epss_known = epss_known and ImportKind.EPSS.value in feeds
    if not kev_known and not epss_known:
        if threshold is None:
            why = "the vulnerability database holds no KEV catalog (CISA's feed was not imported)"
        else:
            why = "the vulnerability database holds neither CISA's KEV catalog nor EPSS scores"
        return not_evaluated(config, KEV.title, why)
    if not kev_known:
        notes.insert(0, "the database holds no KEV catalog: only EPSS scores were checked")
    if threshold is not None and not epss_known:
        notes.insert(0, "the database holds no EPSS scores: the EPSS threshold was not checked")

    def counts(finding: Finding) -> bool:
        if kev_known and finding.kev:
            return True
        return (
            epss_known
            and threshold is not None
            and finding.epss is not None
            and finding.epss >= threshold
        )

    items = []
    for finding in _sorted([f for f in scan.findings if counts(f)]):
        reasons = []
        if kev_known and finding.kev:
            reasons.append("known exploited: CISA KEV")
        if threshold is not None and finding.epss is not None and finding.epss >= threshold:
            reasons.append(f"EPSS {finding.epss:.3f} >= {threshold:g}")
        items.append(finding_item(finding, _subject(finding, "; ".join(reasons))))
    what = "in CISA's KEV catalog" if kev_known else ""
    if epss_known and threshold is not None:
        what = " or ".join(w for w in (what, f"with EPSS >= {threshold:g}") if w)

    def failed(failing: Sequence[Item]) -> str:
        return f"{plural(len(failing), 'finding')} {what}"

    return conclude(
        config,
        KEV.title,
        facts.today,
        items,
        passed=f"no finding {what}",
        failed=failed,
        notes=[*notes, *_suppressed_note(scan, counts)],
    )


KEV = PolicySpec(
    id="no-kev",
    title="No known exploited vulnerabilities",
    parameters=parameters(EPSS),
    evaluate=_no_kev,
)
