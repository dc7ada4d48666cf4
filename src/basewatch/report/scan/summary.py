"""What every `basewatch scan` renderer shares: the order findings appear in and the counts every
summary shows, so that the table, the Markdown, the SARIF and the JSON of one scan agree."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import quote

from basewatch.errors import InvalidVersion
from basewatch.inventory.ownership import OS_PACKAGE_KEY
from basewatch.matching.evaluate import sourceless_entry
from basewatch.matching.matcher import query_of
from basewatch.models import FixStatus, Severity
from basewatch.report.common import package_sort_key
from basewatch.versions.base import number_key
from basewatch.versions.registry import comparator_for

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from basewatch.models import Finding, Package, ScanResult

# Highest first: the order of every per-severity listing.
SEVERITIES_DESCENDING = tuple(sorted(Severity, key=lambda s: s.rank, reverse=True))

# Where a person reads about an id. osv.dev resolves every id basewatch reports (CVE, GHSA,
# DSA, DEBIAN-CVE, ALPINE-CVE, PYSEC, GO...), so one template serves all ecosystems.
ADVISORY_URL = "https://osv.dev/vulnerability/{id}"
_DIGITS = frozenset("0123456789")


def is_fixable(finding: Finding) -> bool:
    """True when upgrading the package to a published version removes the finding."""
    return finding.status is FixStatus.FIXED and bool(finding.fixed_version)


def finding_sort_key(finding: Finding) -> tuple[int, bool, float, str, tuple[str, ...], str]:
    """Worst first (severity, then KEV, then EPSS), then by id and package for a stable order."""
    return (
        -finding.severity.rank,
        not finding.kev,
        -(finding.epss or 0.0),
        finding.id,
        package_sort_key(finding.package),
        finding.fixed_version,
    )


def sorted_findings(findings: Iterable[Finding]) -> list[Finding]:
    return sorted(findings, key=finding_sort_key)


def group_by_package(findings: Iterable[Finding]) -> list[tuple[Package, list[Finding]]]:
    """Findings gathered per package; the package with the worst finding comes first."""
    groups: dict[Package, list[Finding]] = {}
    for finding in sorted_findings(findings):
        groups.setdefault(finding.package, []).append(finding)
    # Each list is sorted worst first, so its first finding ranks the package.
    return sorted(
        groups.items(),
        key=lambda item: (finding_sort_key(item[1][0])[:3], package_sort_key(item[0])),
    )


def fixed_versions(findings: Iterable[Finding]) -> list[str]:
    """The distinct versions that fix some of `findings`, lowest first, by the ecosystem's own
    version rules (the last one fixes them all); digits-aware text order when unknown."""

    findings = list(findings)
    versions = {f.fixed_version for f in findings if is_fixable(f)}
    ecosystems = {f.package.ecosystem for f in findings}
    comparator = comparator_for(ecosystems.pop()) if len(ecosystems) == 1 else None
    if comparator is not None:
        try:
            return sorted(versions, key=comparator.key)
        except InvalidVersion:
            pass
    return sorted(versions, key=natural_key)


def upgrade_target(findings: Sequence[Finding]) -> str:
    """What to upgrade to: the version that fixes every fixable finding, and what stays open."""
    fixes = fixed_versions(findings)
    open_count = sum(1 for f in findings if not is_fixable(f))
    if not fixes:
        return "no fix"
    return fixes[-1] + (f" ({open_count} without a fix)" if open_count else "")


def natural_key(text: str) -> tuple[tuple[int, tuple[int, str] | str], ...]:
    """Orders "1.10" after "1.9": runs of digits compare as numbers. For display only.

    `number_key` orders digit runs without `int()`, which refuses (and would be slow on) a
    version with thousands of digits that a hostile advisory can carry.
    """

    parts = re.split(r"([0-9]+)", text)
    return tuple((0, number_key(p)) if p[:1] in _DIGITS else (1, p) for p in parts if p)


@dataclass(frozen=True, slots=True)
class SeverityCount:
    severity: Severity
    findings: int
    fixable: int


@dataclass(frozen=True, slots=True)
class Unchecked:
    """Packages of one ecosystem that were not (fully) checked against any advisory.

    `ecosystem` is OSV's spelling, or the distribution of OS packages no advisory ecosystem
    covers ("fedora 39 (rpm)"). `names` is empty when no package of the ecosystem was checked
    (the database has no advisories for it, or there is no advisory source); otherwise it
    names the packages (as advisories name them) that were not fully checked, and `packages`
    counts the inventory's packages under those names.
    """

    ecosystem: str
    packages: int
    names: tuple[str, ...] = ()

    @property
    def whole_ecosystem(self) -> bool:
        return not self.names

    def notice(self) -> str:
        """The line every report puts first: "not checked: Debian:12, 87 packages"."""
        kind = "not checked" if self.whole_ecosystem else "not fully checked"
        return f"{kind}: {self.describe()}"

    def describe(self, max_names: int = 5) -> str:
        """ "Debian:12, 87 packages" or "PyPI, 2 packages (requests, urllib3)"."""
        text = f"{self.ecosystem}, {plural(self.packages, 'package')}"
        if self.names:
            shown = ", ".join(self.names[:max_names])
            more = len(self.names) - max_names
            text += f" ({shown}{f', +{more} more' if more > 0 else ''})"
        return text


@dataclass(frozen=True, slots=True)
class ScanSummary:
    """The numbers every scan report shows; suppressed findings are counted apart."""

    packages: int
    # Packages matched against advisories: those with an ecosystem, less the unchecked ones
    # (OS packages with no advisory ecosystem are unchecked, never checked).
    checked: int
    unchecked: tuple[Unchecked, ...]  # whole ecosystems first, then by ecosystem
    findings: int
    fixable: int
    kev: int
    by_severity: tuple[SeverityCount, ...]  # every severity, highest first
    suppressed: int
    suppressed_by_source: tuple[tuple[str, int], ...]  # (source, count), most first

    def count(self, severity: Severity) -> SeverityCount:
        return next(c for c in self.by_severity if c.severity is severity)

    @property
    def unchecked_packages(self) -> int:
        return sum(u.packages for u in self.unchecked)

    def verdict(self) -> str:
        """What to say when no finding remains: never a clean verdict for packages that were
        not checked, and none at all when nothing was checked."""
        missing = self.unchecked_packages
        if missing and not self.checked:
            return f"Nothing was checked: {plural(missing, 'package')} could not be checked."
        if missing:
            return (
                f"No vulnerabilities found in the {plural(self.checked, 'package')} checked; "
                f"{plural(missing, 'package')} {'was' if missing == 1 else 'were'} not checked."
            )
        if not self.checked:
            return "No packages to check were found: nothing was checked."
        return "No vulnerabilities found."


def unchecked_of(result: ScanResult) -> tuple[Unchecked, ...]:
    """`result.unchecked` grouped by ecosystem and counted against the inventory.

    An entry is an ecosystem (`Debian:12`), "ecosystem name" (`PyPI requests`) or the OS
    packages no advisory ecosystem covers (`fedora 39 (rpm)`, see `sourceless_entry`); ecosystems
    may hold spaces (`Red Hat`), so an entry is read against the inventory's own ecosystems.
    Linear in the inventory and the entries: a hostile image can have every package unchecked.
    """
    return _unchecked(result)[0]


def _unchecked(result: ScanResult) -> tuple[tuple[Unchecked, ...], int]:
    """`unchecked_of`, and how many of the packages with an ecosystem it covers (the others
    have none: they were never counted as checked)."""

    per_ecosystem: Counter[str] = Counter()
    per_name: Counter[tuple[str, str]] = Counter()
    per_sourceless: Counter[str] = Counter()
    os = result.inventory.os
    for package in result.inventory.packages:
        # Copies an OS package installed are matched through that package, never on their own.
        if package.ecosystem and not package.meta(OS_PACKAGE_KEY):
            per_ecosystem[package.ecosystem] += 1
            per_name[package.ecosystem, query_of(package)[0]] += 1
        elif entry := sourceless_entry(package, os):
            per_sourceless[entry] += 1
    whole: dict[str, int] = {}
    sourceless: set[str] = set()
    partly: dict[str, dict[str, int]] = {}
    for entry in dict.fromkeys(e for e in result.unchecked if e.strip()):
        if entry in per_ecosystem:
            whole[entry] = per_ecosystem[entry]
            continue
        if entry in per_sourceless:
            whole[entry] = per_sourceless[entry]
            sourceless.add(entry)
            continue
        ecosystem, name = _split_entry(entry, per_ecosystem)
        if not ecosystem:  # one word: an ecosystem the inventory does not show
            whole[name] = 0
            continue
        partly.setdefault(ecosystem, {})[name] = max(per_name[ecosystem, name], 1)
    found = [Unchecked(e, n) for e, n in sorted(whole.items())]
    found += [
        Unchecked(e, sum(names.values()), tuple(sorted(names)))
        for e, names in sorted(partly.items())
        if e not in whole
    ]
    covered = sum(u.packages for u in found if u.ecosystem not in sourceless)
    return tuple(found), covered


# Ecosystem names hold a space or two at most ("Red Hat"): an entry is split at its first few.
_MAX_ECOSYSTEM_SPACES = 4


def _split_entry(entry: str, ecosystems: Counter[str]) -> tuple[str, str]:
    """("ecosystem", "name") of an "ecosystem name" entry: the longest known ecosystem it starts
    with, else up to its last space; ("", entry) for a single word."""
    spaces = [i for i, c in enumerate(entry[:256]) if c == " "][:_MAX_ECOSYSTEM_SPACES]
    for i in reversed(spaces):
        if entry[:i] in ecosystems:
            return entry[:i], entry[i + 1 :]
    ecosystem, _, name = entry.rpartition(" ")
    return (ecosystem, name) if ecosystem else ("", entry)


def summarize(result: ScanResult) -> ScanSummary:
    totals = Counter(f.severity for f in result.findings)
    fixable = Counter(f.severity for f in result.findings if is_fixable(f))
    sources = Counter(s.source for s in result.suppressed)
    unchecked, covered = _unchecked(result)

    # Packages without an ecosystem match no advisory (those of the OS are among `unchecked`,
    # the rest are not counted at all); copies an OS package installed are checked as that
    # package.
    with_ecosystem = sum(
        1 for p in result.inventory.packages if p.ecosystem and not p.meta(OS_PACKAGE_KEY)
    )
    return ScanSummary(
        packages=len(result.inventory.packages),
        checked=max(with_ecosystem - covered, 0),
        unchecked=unchecked,
        findings=len(result.findings),
        fixable=sum(fixable.values()),
        kev=sum(1 for f in result.findings if f.kev),
        by_severity=tuple(SeverityCount(s, totals[s], fixable[s]) for s in SEVERITIES_DESCENDING),
        suppressed=len(result.suppressed),
        suppressed_by_source=tuple(sorted(sources.items(), key=lambda kv: (-kv[1], kv[0]))),
    )


def scan_warnings(result: ScanResult) -> list[str]:
    """The inventory's warnings, then the scan's own, each once."""
    return list(dict.fromkeys((*result.inventory.warnings, *result.warnings)))


def advisory_url(vuln_id: str) -> str:
    return ADVISORY_URL.format(id=quote(vuln_id, safe=""))


def format_epss(epss: float | None) -> str:
    """EPSS as a percentage with two decimals ("0.04%", "97.31%"), or "" when unknown."""
    return "" if epss is None else f"{epss * 100:.2f}%"


def plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"
