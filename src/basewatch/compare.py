"""`basewatch compare`: candidate base images side by side.

Each candidate is inventoried (from the layer cache when warm) and, when a vulnerability
database is given, matched; the numbers a team weighs when choosing a base come out as one
`Candidate` per image.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from basewatch.models import FixStatus, Inventory, Package, PackageType, ScanResult, Severity

SEVERITIES = (Severity.CRITICAL, Severity.HIGH, Severity.MEDIUM, Severity.LOW)


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
    eol_status: str  # "supported", "ends within 90 days", "end of life", "unknown"
    created: str
    age_days: int | None
    # Findings, when a database was given: severity -> (total, fixable).
    findings: dict[str, tuple[int, int]] = field(default_factory=dict)
    findings_total: int | None = None
    fixable_total: int | None = None
    kev: int | None = None
    # With --app: how the app's files would load on this candidate ("" when not asked).
    compat: str = ""
    warnings: tuple[str, ...] = ()


EolLookup = Callable[[str, str], dt.date | None]


def libc_of(packages: Sequence[Package]) -> str:
    """The C library the packages say is installed (glibc's upstream version, musl's)."""
    for package in packages:
        if package.type is PackageType.DEB and package.name == "libc6":
            return "glibc " + _upstream(package.version)
        if package.type is PackageType.RPM and package.name == "glibc":
            return "glibc " + package.version.split(":")[-1].split("-")[0]
        if package.type is PackageType.APK and package.name == "musl":
            return "musl " + package.version.split("-r")[0]
    return ""


def _upstream(version: str) -> str:
    version = version.split(":", 1)[-1]
    return version.rsplit("-", 1)[0] if "-" in version else version


def release_cycle(os_id: str, version_id: str) -> str:
    """The end-of-life table's cycle of a release: alpine 3.20.3 -> 3.20, debian 12.5 -> 12."""
    if os_id in ("alpine",):
        return ".".join(version_id.split(".")[:2])
    if os_id in ("debian", "rhel", "almalinux", "rocky"):
        return version_id.split(".", maxsplit=1)[0]
    return version_id


def candidate(
    inventory: Inventory,
    scan: ScanResult | None,
    eol_lookup: EolLookup | None,
    today: dt.date,
) -> Candidate:
    image = inventory.image
    os = inventory.os
    distribution = f"{os.id} {os.version_id}".strip() if os else ""
    eol_date = None
    if os and eol_lookup is not None and os.version_id:
        eol_date = eol_lookup(os.id, release_cycle(os.id, os.version_id))
    if eol_date is None:
        status = "unknown"
    elif eol_date < today:
        status = "end of life"
    elif (eol_date - today).days <= 90:
        status = "ends within 90 days"
    else:
        status = "supported"
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
        libc=libc_of(inventory.packages),
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
    import dataclasses

    return dataclasses.replace(
        result,
        findings=counts,
        findings_total=len(scan.findings),
        fixable_total=sum(1 for f in scan.findings if f.status is FixStatus.FIXED),
        kev=sum(1 for f in scan.findings if f.kev),
        warnings=(*result.warnings, *scan.warnings),
    )


def eol_lookup_from_table() -> EolLookup:
    """End-of-life dates: the copy `db update` refreshed, else the table shipped with basewatch."""
    from basewatch.cache import default_cache_dir
    from basewatch.lint.eol import CACHE_FILE, EolError, load_eol_table

    refreshed = default_cache_dir() / CACHE_FILE
    try:
        table = load_eol_table(refreshed) if refreshed.is_file() else load_eol_table()
    except EolError:
        table = load_eol_table()

    def lookup(product: str, cycle: str) -> dt.date | None:
        found = table.find(product, cycle)
        return found.eol if found is not None else None

    return lookup
