"""`basewatch compare`: candidate base images side by side.

Each candidate is inventoried (from the layer cache when warm) and, when a vulnerability
database is given, matched; the numbers a team weighs when choosing a base come out as one
`Candidate` per image.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from dataclasses import dataclass, field
from enum import StrEnum

from basewatch.compat.model import LibcFamily, LibcInfo
from basewatch.inventory.ownership import OS_PACKAGE_KEY
from basewatch.matching.evaluate import is_sourceless
from basewatch.matching.matcher import query_of
from basewatch.models import (
    FixStatus,
    Inventory,
    Package,
    ScanResult,
    Severity,
    is_os_package,
)
from basewatch.vulndb.eol import EolLookup, EolStatus, eol_status, release_cycle

SEVERITIES = (Severity.CRITICAL, Severity.HIGH, Severity.MEDIUM, Severity.LOW)
# Every severity a finding can have, in report order: a row left out would make the
# "findings" total disagree with the rows above it.
ALL_SEVERITIES = (*SEVERITIES, Severity.NEGLIGIBLE, Severity.UNKNOWN)


class Coverage(StrEnum):
    """How much of a candidate the vulnerability database could check."""

    NO_DATABASE = "no database"
    ALL = "all"
    PARTIAL = "partial"
    NONE = "none"


@dataclass(frozen=True, slots=True)
class Candidate:
    reference: str
    digest: str
    platform: str
    compressed_bytes: int
    uncompressed_bytes: int
    layers: int
    packages: int
    libc: str  # "glibc 2.36", "musl 1.2.5", "" when none was found
    distribution: str  # "debian 12", "alpine 3.20.3"
    eol: str  # ISO date the release reaches end of life; "" when unknown
    eol_status: EolStatus
    created: str
    age_days: int | None
    # Findings, when a database was given: severity -> (total, fixable).
    findings: dict[str, tuple[int, int]] = field(default_factory=dict)
    findings_total: int | None = None
    fixable_total: int | None = None
    kev: int | None = None
    # What the database could not vouch for (ScanResult.unchecked), and whether that is every
    # package of the image: a count of 0 for an image that was not checked is a false "clean".
    unchecked: tuple[str, ...] = ()
    checked: Coverage = Coverage.NO_DATABASE
    # With --app: how the app's files would load on this candidate ("" when not asked).
    compat: str = ""
    warnings: tuple[str, ...] = ()


def libc_text(libc: LibcInfo | None) -> str:
    """How a report names the libc compat found: "glibc 2.41", "musl"; "" when there is none."""
    if libc is None or libc.family in (LibcFamily.NONE, LibcFamily.UNKNOWN):
        return ""
    return f"{libc.family.value} {libc.version}".strip()


def candidate(
    inventory: Inventory,
    scan: ScanResult | None,
    eol_lookup: EolLookup | None,
    today: dt.date,
    libc: LibcInfo | None = None,
) -> Candidate:
    """The numbers of one candidate; `libc` is what `CompatChecker.libc` read from it."""
    image = inventory.image
    os = inventory.os
    distribution = f"{os.id} {os.version_id}".strip() if os else ""
    eol_date = None
    if os and eol_lookup is not None and os.version_id:
        eol_date = eol_lookup(os.id, release_cycle(os.id, os.version_id))
    status = eol_status(eol_date, today)
    created = image.created
    age = None
    if created:
        try:
            moment = dt.datetime.fromisoformat(re.sub(r"\.\d+", "", created).replace("Z", "+00:00"))
            age = (today - moment.date()).days
        except ValueError:
            age = None
    result = Candidate(
        reference=image.reference,
        digest=image.manifest_digest or image.config_digest,
        platform=image.platform,
        compressed_bytes=sum(layer.size for layer in image.layers),
        uncompressed_bytes=inventory.filesystem_bytes,
        layers=len(image.layers),
        packages=len(inventory.packages),
        libc=libc_text(libc),
        distribution=distribution,
        eol=eol_date.isoformat() if eol_date else "",
        eol_status=status,
        created=created,
        age_days=age,
        warnings=inventory.warnings,
    )
    if scan is None:
        return result
    counts = {
        s.value: (
            sum(1 for f in scan.findings if f.severity is s),
            sum(1 for f in scan.findings if f.severity is s and f.status is FixStatus.FIXED),
        )
        for s in Severity
    }
    return _with_findings(result, scan, counts)


def _with_findings(
    result: Candidate, scan: ScanResult, counts: dict[str, tuple[int, int]]
) -> Candidate:

    return dataclasses.replace(
        result,
        findings=counts,
        findings_total=len(scan.findings),
        fixable_total=sum(1 for f in scan.findings if f.status is FixStatus.FIXED),
        kev=sum(1 for f in scan.findings if f.kev),
        unchecked=unchecked_of(scan),
        checked=coverage(scan),
        warnings=(*result.warnings, *scan.warnings),
    )


def _matched(package: Package) -> bool:
    """Whether the matcher looks this package up on its own (see match_inventory)."""

    return bool(package.ecosystem) and not package.meta(OS_PACKAGE_KEY)


def _release_unknown(package: Package) -> bool:
    # The matcher never guesses a distribution release, so such OS packages go unmatched.
    return is_os_package(package.type) and ":" not in package.ecosystem


NO_PACKAGES = "no packages identified"


def unchecked_of(scan: ScanResult) -> tuple[str, ...]:
    """ScanResult.unchecked plus the OS ecosystems whose release was unknown, or NO_PACKAGES
    when the image has no package to look up: 0 findings there is no verdict (a busybox image
    carries programs no package database names)."""
    extra = [
        f"{p.ecosystem} (release unknown)"
        for p in scan.inventory.packages
        if _matched(p) and _release_unknown(p)
    ]
    if not any(_matched(p) for p in scan.inventory.packages) and not any(
        is_sourceless(u) for u in scan.unchecked
    ):
        extra.append(NO_PACKAGES)
    return tuple(dict.fromkeys((*scan.unchecked, *extra)))


def why_unchecked(unchecked: tuple[str, ...]) -> str:
    """A reader's reason for `unchecked_of` entries: "no advisories for Alpine:v3.20", "no
    advisory source for fedora 39 (rpm)"."""
    named = [u for u in unchecked if u != NO_PACKAGES and not is_sourceless(u)]
    sourceless = [u for u in unchecked if is_sourceless(u)]
    parts = [f"no advisories for {', '.join(named)}"] if named else []
    if sourceless:
        parts.append(f"no advisory source for {', '.join(sourceless)}")
    if NO_PACKAGES in unchecked:
        parts.append(NO_PACKAGES)
    return "; ".join(parts)


def coverage(scan: ScanResult) -> Coverage:
    """ALL when nothing was left unchecked; NONE when no package of the image was checked."""

    unchecked = unchecked_of(scan)
    if not unchecked and not scan.inventory.partial:
        return Coverage.ALL
    names = set(unchecked)
    for package in scan.inventory.packages:
        if not _matched(package) or _release_unknown(package):
            continue
        ecosystem = package.ecosystem
        if ecosystem in names or f"{ecosystem} {query_of(package)[0]}" in names:
            continue
        return Coverage.PARTIAL
    return Coverage.NONE if unchecked else Coverage.PARTIAL
