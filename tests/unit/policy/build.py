"""Hand-built facts for policy tests: real model objects, small and explicit."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from basewatch.models import (
    BaseImage,
    BaseMethod,
    Confidence,
    DatabaseInfo,
    Finding,
    FixStatus,
    ImageInfo,
    Inventory,
    OSInfo,
    Package,
    PackageType,
    ScanResult,
    Severity,
    SourceType,
    Suppression,
)
from basewatch.policy import Attestation, Facts, PolicyConfig
from basewatch.policy.builtin import BUILTINS, evaluate
from basewatch.policy.model import Verdict

TODAY = dt.date(2026, 3, 1)
BOOKWORM = OSInfo("debian", "12.5", "bookworm", "Debian GNU/Linux 12 (bookworm)")
BUSTER = OSInfo("debian", "10", "buster", "Debian GNU/Linux 10 (buster)")
ALPINE = OSInfo("alpine", "3.20.3", pretty_name="Alpine Linux v3.20")
EOL = {
    ("debian", "12"): dt.date(2028, 6, 30),
    ("debian", "10"): dt.date(2024, 6, 30),
    ("alpine", "3.20"): dt.date(2026, 4, 1),
}
BUILT_ON = "sha256:" + "a" * 64
MOVED_TO = "sha256:" + "b" * 64
FULL_DB = DatabaseInfo(
    "vulns.db", (("osv:Debian:12", "2026-02-28"), ("kev", "2026-02-28"), ("epss", "2026-02-28"))
)


def eol_lookup(product: str, cycle: str) -> dt.date | None:
    return EOL.get((product, cycle))


def deb(
    name: str,
    version: str = "1.0-1",
    *,
    source: str = "",
    licenses: tuple[str, ...] = (),
    ecosystem: str = "Debian:12",
) -> Package:
    return Package(
        name,
        version,
        PackageType.DEB,
        arch="amd64",
        source_name=source,
        licenses=licenses,
        ecosystem=ecosystem,
        purl=f"pkg:deb/debian/{name}@{version}?arch=amd64&distro=debian-12",
    )


def pypi(name: str, version: str = "1.0", *, licenses: tuple[str, ...] = ()) -> Package:
    return Package(
        name,
        version,
        PackageType.PYPI,
        licenses=licenses,
        ecosystem="PyPI",
        purl=f"pkg:pypi/{name}@{version}",
    )


def finding(
    id_: str,
    package: Package,
    severity: Severity = Severity.HIGH,
    fixed: str = "1.0-2",
    *,
    kev: bool = False,
    epss: float | None = None,
    published: str = "",
    modified: str = "",
    aliases: tuple[str, ...] = (),
) -> Finding:
    return Finding(
        id=id_,
        aliases=aliases,
        package=package,
        installed_version=package.version,
        fixed_version=fixed,
        status=FixStatus.FIXED if fixed else FixStatus.NOT_FIXED,
        severity=severity,
        kev=kev,
        epss=epss,
        published=published,
        modified=modified,
    )


def base(reference: str = "debian:12", digest: str = BUILT_ON) -> BaseImage:
    return BaseImage(reference, digest, BaseMethod.ANNOTATION, Confidence.HIGH, 1)


def inventory(
    packages: Sequence[Package] = (),
    *,
    os: OSInfo | None = BOOKWORM,
    base_image: BaseImage | None = None,
    warnings: tuple[str, ...] = (),
    reference: str = "registry.example.com/team/app:1",
) -> Inventory:
    image = ImageInfo(reference, SourceType.REGISTRY, manifest_digest="sha256:" + "c" * 64)
    return Inventory(image, os, tuple(packages), warnings=warnings, base=base_image)


def scan(
    inv: Inventory,
    findings: Sequence[Finding] = (),
    *,
    unchecked: tuple[str, ...] = (),
    database: DatabaseInfo | None = FULL_DB,
    suppressed: Sequence[Suppression] = (),
) -> ScanResult:
    return ScanResult(
        inventory=inv,
        findings=tuple(findings),
        suppressed=tuple(suppressed),
        database=database,
        unchecked=unchecked,
    )


def facts(
    inv: Inventory | None = None,
    result: ScanResult | None = None,
    *,
    user: str | None = "app",
    base_now: str | None = None,
    base_now_why: str = "",
    attestations: tuple[Attestation, ...] | None = None,
    attestations_why: str = "",
    today: dt.date = TODAY,
) -> Facts:
    inv = inv if inv is not None else (result.inventory if result else inventory())
    return Facts(
        inventory=inv,
        scan=result,
        today=today,
        eol=eol_lookup,
        user=user,
        base_now=base_now,
        base_now_why=base_now_why,
        attestations=attestations,
        attestations_why=attestations_why,
    )


def run(policy_id: str, f: Facts, **parameters: object) -> Verdict:
    """The verdict of one built-in policy with these parameters (the rest default)."""
    assert policy_id in BUILTINS
    return evaluate(PolicyConfig(id=policy_id, parameters=parameters), f)
