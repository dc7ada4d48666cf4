"""Packages x advisories -> findings, with the distributions' own precision.

OS packages are matched in their release's ecosystem only ("Debian:12", never "Debian:11"),
by the name the distribution's advisories use: the source package for Debian and Ubuntu, the
origin for Alpine, the binary name for rpm distributions. Every comparison goes through the
ecosystem's comparator. Advisories that share an id (CVE, GHSA, PYSEC...) for the same package
become one finding that lists all of them.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace

from basewatch.errors import InvalidVersion
from basewatch.inventory.ownership import OS_PACKAGE_KEY
from basewatch.matching.ranges import evaluate
from basewatch.matching.severity import UNRATED, Rating, best_vector, from_word
from basewatch.models import (
    Finding,
    FixStatus,
    Inventory,
    Package,
    PackageType,
    Severity,
    cwe_key,
    is_os_package,
)
from basewatch.versions.base import Comparator, shortened
from basewatch.versions.registry import comparator_for
from basewatch.vulndb.model import Advisory, Affected, Enrichment
from basewatch.vulndb.store import VulnStore

log = logging.getLogger(__name__)

_SUMMARY_RATING = re.compile(r"^(Critical|Important|Moderate|Low):", re.IGNORECASE)
_WONT_FIX = ("will not fix", "wont-fix", "won't fix", "end-of-life", "ignored", "not-affected?")


@dataclass(frozen=True, slots=True)
class _Hit:
    advisory: Advisory
    affected: Affected
    fixed: str


@dataclass
class MatchOutcome:
    findings: list[Finding] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    unmatched_ecosystems: set[str] = field(default_factory=set)
    # "ecosystem name" (as ScanResult.unchecked spells packages) of packages that were not
    # fully checked: their version cannot be ordered, or an advisory for them has a range that
    # cannot be evaluated (an invalid or absurd version in it). A clean verdict for them would
    # be a guess, so the result is partial.
    unchecked: list[str] = field(default_factory=list)
    # How many advisory ranges were skipped because they could not be evaluated.
    unreadable_ranges: int = 0


def query_of(package: Package) -> tuple[str, str]:
    """The (name, version) under which advisories list this package."""
    match package.type:
        case PackageType.DEB:
            return package.source_name or package.name, package.source_version or package.version
        case PackageType.APK:
            return package.source_name or package.name, package.version
        case _:
            return package.name, package.version


@dataclass(frozen=True, slots=True)
class _Verdict:
    """What the advisories say of one (ecosystem, name, version), whichever package has it."""

    invalid: str = ""  # why the version cannot be ordered; nothing else was looked at
    findings: tuple[Finding, ...] = ()  # built for the first package seen with this version
    skipped: tuple[str, ...] = ()  # advisories with ranges that cannot be evaluated
    unreadable_ranges: int = 0


@dataclass
class MatchCache:
    """What a batch of scans against one unchanging store shares: the lookups, and the verdict
    for each (ecosystem, package, version), so the thousandth image holding `openssl 3.0.15`
    costs no query and no range evaluation. Only valid while the store does not change: make
    one per opened store."""

    known: frozenset[str] | None = None
    affected: dict[tuple[str, str], Sequence[tuple[Advisory, Affected]]] = field(
        default_factory=dict
    )
    verdicts: dict[tuple[str, str, str, str], _Verdict] = field(default_factory=dict)
    enrichment: dict[str, Enrichment | None] = field(default_factory=dict)
    refused: dict[tuple[str, str], Sequence[str]] = field(default_factory=dict)

    def ecosystems(self, store: VulnStore) -> frozenset[str]:
        if self.known is None:
            self.known = frozenset(store.ecosystems())
        return self.known

    def affected_many(
        self, store: VulnStore, keys: Iterable[tuple[str, str]]
    ) -> dict[tuple[str, str], Sequence[tuple[Advisory, Affected]]]:
        wanted = list(dict.fromkeys(keys))
        missing = [k for k in wanted if k not in self.affected]
        if missing:
            found = store.affected_many(missing)
            self.affected.update((k, found[k]) for k in missing)
        return {k: self.affected[k] for k in wanted}

    def enrich(self, store: VulnStore, cves: Iterable[str]) -> dict[str, Enrichment]:
        wanted = set(cves)
        missing = wanted - self.enrichment.keys()
        if missing:
            facts = store.enrichment(missing)
            self.enrichment.update((cve, facts.get(cve)) for cve in missing)
        return {cve: fact for cve in wanted if (fact := self.enrichment[cve]) is not None}

    def refused_many(
        self, store: VulnStore, keys: Iterable[tuple[str, str]]
    ) -> dict[tuple[str, str], Sequence[str]]:
        wanted = list(dict.fromkeys(keys))
        missing = [k for k in wanted if k not in self.refused]
        if missing:
            found = store.refused_many(missing)
            self.refused.update((k, found[k]) for k in missing)
        return {k: self.refused[k] for k in wanted}


def match_inventory(
    inventory: Inventory, store: VulnStore, cache: MatchCache | None = None
) -> MatchOutcome:
    """Every finding for every package of `inventory` in `store` (through `cache` when given:
    a batch of scans shares its lookups and verdicts)."""
    cache = cache or MatchCache()
    outcome = MatchOutcome()
    known = cache.ecosystems(store)
    missing_release = False
    wanted: list[tuple[Package, str, Comparator]] = []
    for package in inventory.packages:
        ecosystem = package.ecosystem
        if not ecosystem or package.meta(OS_PACKAGE_KEY):
            continue  # no ecosystem; or a copy an OS package installed, matched through it
        if is_os_package(package.type) and ":" not in ecosystem:
            missing_release = True  # never guess a release: matching another one is wrong
            continue
        if ecosystem not in known:
            outcome.unmatched_ecosystems.add(ecosystem)
            continue
        comparator = comparator_for(ecosystem)
        if comparator is None:
            outcome.unmatched_ecosystems.add(ecosystem)
            continue
        wanted.append((package, ecosystem, comparator))
    # One batch of lookups for the whole image rather than one query per package.
    found = cache.affected_many(store, ((e, query_of(p)[0]) for p, e, _ in wanted))
    for package, ecosystem, comparator in wanted:
        name, version = query_of(package)
        key = (ecosystem, name, version, package.type.value)
        verdict = cache.verdicts.get(key)
        if verdict is None:
            entries = found[(ecosystem, name)]
            verdict = cache.verdicts[key] = _verdict(package, comparator, entries)
        outcome.findings.extend(_report(package, ecosystem, comparator, verdict, outcome))
    if missing_release:
        outcome.warnings.append("the distribution release is unknown: OS packages were not matched")
    cves = {i for f in outcome.findings for i in f.ids if i.startswith("CVE-")}
    if cves:
        facts = cache.enrich(store, cves)
        outcome.findings = [_enrich(f, facts) for f in outcome.findings]
    outcome.findings.sort(key=_order)
    return outcome


def _verdict(
    package: Package, comparator: Comparator, entries: Sequence[tuple[Advisory, Affected]]
) -> _Verdict:
    _, version = query_of(package)
    try:
        comparator.key(version)
    except InvalidVersion as exc:
        return _Verdict(invalid=str(exc))
    hits = []
    skipped: list[str] = []
    unreadable = 0
    for advisory, affected in entries:
        verdict = evaluate(version, affected, comparator)
        if verdict.affected:
            hits.append(_Hit(advisory, affected, verdict.fixed))
        elif verdict.unreadable:
            # Skipped, not passed: this advisory may well apply; the rest are still matched.
            log.debug("%s: %s", advisory.id, verdict.unreadable)
            unreadable += verdict.unreadable_ranges
            skipped.append(advisory.id)
    findings = tuple(_finding(package, version, group, comparator) for group in _group(hits))
    return _Verdict(
        findings=findings, skipped=tuple(sorted(set(skipped))), unreadable_ranges=unreadable
    )


def _report(
    package: Package,
    ecosystem: str,
    comparator: Comparator,
    verdict: _Verdict,
    outcome: MatchOutcome,
) -> list[Finding]:
    """`verdict`'s findings for `package`, its warnings and what it left unchecked added to
    `outcome`."""
    name, _ = query_of(package)
    label = f"{package.name} {shortened(package.version)}"
    if verdict.invalid:
        outcome.warnings.append(f"{label}: not matched ({verdict.invalid})")
        outcome.unchecked.append(f"{ecosystem} {name}")
        return []
    if verdict.skipped:
        ids = verdict.skipped
        shown = ", ".join(ids[:5]) + (", ..." if len(ids) > 5 else "")
        count = f"{len(ids)} {'advisory has' if len(ids) == 1 else 'advisories have'}"
        outcome.warnings.append(
            f"{label}: not fully checked: {count} versions that {comparator.name} rules cannot"
            f" order ({shown}); those advisories were skipped"
        )
        outcome.unchecked.append(f"{ecosystem} {name}")
        outcome.unreadable_ranges += verdict.unreadable_ranges
    return [f if f.package is package else replace(f, package=package) for f in verdict.findings]


def _group(hits: Sequence[_Hit]) -> list[list[_Hit]]:
    """Advisories linked by any shared id describe one problem (union-find over ids)."""
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        while parent.setdefault(x, x) != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for hit in hits:
        ids = hit.advisory.all_ids()
        for other in ids[1:]:
            parent[find(other)] = find(ids[0])
    groups: dict[str, list[_Hit]] = {}
    for hit in hits:
        groups.setdefault(find(hit.advisory.id), []).append(hit)
    return list(groups.values())


def _preferred_id(ids: Iterable[str]) -> str:
    ordered = sorted(set(ids))
    for prefix in ("CVE-", "GHSA-"):
        for i in ordered:
            if i.startswith(prefix):
                return i
    return ordered[0]


def _finding(package: Package, version: str, hits: list[_Hit], comparator: Comparator) -> Finding:
    ids = [i for h in hits for i in h.advisory.all_ids()]
    primary = _preferred_id(ids)
    fixes = [h.fixed for h in hits if h.fixed]
    fixed = max(fixes, key=comparator.key) if fixes else ""
    if fixed:
        status = FixStatus.FIXED
    elif any(h.affected.status.lower() in _WONT_FIX for h in hits):
        status = FixStatus.WONT_FIX
    else:
        status = FixStatus.NOT_FIXED
    rating = _rating(package, hits)
    return Finding(
        id=primary,
        aliases=tuple(sorted(set(ids) - {primary})),
        package=package,
        installed_version=version,
        fixed_version=fixed,
        status=status,
        severity=rating.severity,
        severity_source=rating.source,
        cvss_score=rating.score,
        cvss_vector=rating.vector,
        summary=next((h.advisory.summary for h in hits if h.advisory.summary), "")
        or _first_sentence(next((h.advisory.details for h in hits if h.advisory.details), "")),
        references=tuple(dict.fromkeys(r for h in hits for r in h.advisory.references)),
        advisories=tuple(sorted({h.advisory.id for h in hits})),
        published=min((h.advisory.published for h in hits if h.advisory.published), default=""),
        modified=max((h.advisory.modified for h in hits if h.advisory.modified), default=""),
        cwe_ids=tuple(sorted({c for h in hits for c in h.advisory.cwe_ids}, key=cwe_key)),
    )


def _first_sentence(text: str) -> str:
    line = text.strip().split("\n", 1)[0]
    return line if len(line) <= 200 else line[:197] + "..."


def _rating(package: Package, hits: Sequence[_Hit]) -> Rating:
    """The distribution's own rating for its packages, else the highest CVSS score, else a
    qualitative rating from the advisory database (GHSA's, for instance)."""
    if is_os_package(package.type):
        vendor = []
        for hit in hits:
            # Distribution ratings: per package (Debian urgency) or per record with a
            # non-CVSS type (Ubuntu's priority is `severity: [{type: Ubuntu, score: medium}]`).
            stated = [
                *hit.affected.severity,
                *((k, v) for k, v in hit.advisory.severity if not k.startswith("CVSS")),
            ]
            for kind, value in stated:
                if (rating := from_word(value, kind)) is not None:
                    vendor.append(rating)
            summary = _SUMMARY_RATING.match(hit.advisory.summary)
            if summary and (rating := from_word(summary.group(1), "vendor")) is not None:
                vendor.append(rating)
        known = [r for r in vendor if r.severity is not Severity.UNKNOWN]
        if known:
            return max(known, key=lambda r: r.severity.rank)
    scored = [r for h in hits if (r := best_vector(h.advisory.severity)) is not None]
    if scored:
        return max(scored, key=lambda r: r.score or 0.0)
    words = [
        r
        for h in hits
        if h.advisory.database_severity
        and (r := from_word(h.advisory.database_severity, "database")) is not None
    ]
    if words:
        return max(words, key=lambda r: r.severity.rank)
    return UNRATED


def _enrich(finding: Finding, facts: dict[str, Enrichment]) -> Finding:
    known = [facts[i] for i in finding.ids if i in facts]
    if not known:
        return finding
    epss = [k for k in known if k.epss is not None]
    best = max(epss, key=lambda k: k.epss or 0.0) if epss else None
    return replace(
        finding,
        kev=any(k.kev for k in known),
        epss=best.epss if best else None,
        epss_percentile=best.epss_percentile if best else None,
    )


def _order(finding: Finding) -> tuple[int, str, str, str]:
    return (-finding.severity.rank, finding.package.name, finding.package.version, finding.id)
