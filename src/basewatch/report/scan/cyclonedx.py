"""`basewatch scan --format cyclonedx-json`: the inventory's CycloneDX 1.6 BOM and vulnerabilities.

The BOM is exactly the one `basewatch sbom --format cyclonedx-json` writes (`report.cyclonedx`),
so a consumer sees the same component bom-refs in both. Each finding becomes one vulnerability
entry that `affects` its package's component:

  id / source       the preferred id; source OSV, pointing at its osv.dev page
  references        the aliases (GHSA, DSA, DEBIAN-CVE...), each with its osv.dev page
  ratings           the CVSS score and vector (method CVSSv2/v3/v31/v4 from the vector), and,
                    when the severity came from elsewhere (Debian urgency, GHSA), that severity
                    as a rating of method `other` from that source
  affects           the component, its installed version `affected` and the fixed one
                    `unaffected`
  recommendation    "Upgrade to <fixed version>" when there is a fix
  analysis          `response: will_not_fix` when the distribution will not fix it; for a
                    suppressed finding, the suppression: a VEX `not_affected` statement becomes
                    state `not_affected` with its justification mapped to CycloneDX's, a VEX
                    `fixed` statement state `resolved`, anything else (ignore file, --only-fixed)
                    no state, only the reason in `detail`

What CycloneDX has no field for goes into properties, as in `report.cyclonedx`:

  on a vulnerability  basewatch:finding:severity, :severitySource, :fixStatus, :kev (true),
                      :epss, :epssPercentile, :advisory:<I> (the OSV records merged),
                      basewatch:suppression:source, :reason
  on the BOM          basewatch:scan:unchecked:<I> ("not checked: Debian:12, 87 packages"),
                      basewatch:database:source:<I>:name, :updatedAt, basewatch:scan:warning:<I>
"""

from __future__ import annotations

import dataclasses
import json
import logging
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, ClassVar
from uuid import UUID, uuid4

from cyclonedx.exception.model import InvalidUriException
from cyclonedx.model import Property, XsUri
from cyclonedx.model.bom import Bom
from cyclonedx.model.impact_analysis import (
    ImpactAnalysisAffectedStatus,
    ImpactAnalysisJustification,
    ImpactAnalysisResponse,
    ImpactAnalysisState,
)
from cyclonedx.model.vulnerability import (
    BomTarget,
    BomTargetVersionRange,
    Vulnerability,
    VulnerabilityAdvisory,
    VulnerabilityAnalysis,
    VulnerabilityRating,
    VulnerabilityReference,
    VulnerabilityScoreSource,
    VulnerabilitySeverity,
    VulnerabilitySource,
)
from cyclonedx.schema.schema import SchemaVersion1Dot6

from basewatch.models import FixStatus, Severity
from basewatch.report.cyclonedx import PROPERTY_PREFIX, add_properties, bom_document
from basewatch.report.jsondoc import dumps
from basewatch.report.scan.summary import advisory_url, unchecked_of

if TYPE_CHECKING:
    from basewatch.models import Finding, ScanResult, Suppression


log = logging.getLogger(__name__)

OSV = "OSV"

# OpenVEX justifications (what `matching.policy` writes after "VEX not_affected: ") and the
# CycloneDX ones they correspond to, as CISA's "Minimum Requirements for VEX" pairs them.
_VEX_JUSTIFICATIONS = {
    "component_not_present": ImpactAnalysisJustification.CODE_NOT_PRESENT,
    "vulnerable_code_not_present": ImpactAnalysisJustification.CODE_NOT_PRESENT,
    "vulnerable_code_not_in_execute_path": ImpactAnalysisJustification.CODE_NOT_REACHABLE,
    "vulnerable_code_cannot_be_controlled_by_adversary": (
        ImpactAnalysisJustification.REQUIRES_ENVIRONMENT
    ),
    "inline_mitigations_already_exist": (
        ImpactAnalysisJustification.PROTECTED_BY_MITIGATING_CONTROL
    ),
}

_SEVERITIES = {
    Severity.CRITICAL: VulnerabilitySeverity.CRITICAL,
    Severity.HIGH: VulnerabilitySeverity.HIGH,
    Severity.MEDIUM: VulnerabilitySeverity.MEDIUM,
    Severity.LOW: VulnerabilitySeverity.LOW,
    Severity.NEGLIGIBLE: VulnerabilitySeverity.INFO,
    Severity.UNKNOWN: VulnerabilitySeverity.UNKNOWN,
}

# (lowest base score, rating), highest first, as the CVSS v2 and v3/v4 specifications give them.
_CVSS2_RATINGS: tuple[tuple[float, VulnerabilitySeverity], ...] = (
    (7.0, VulnerabilitySeverity.HIGH),
    (4.0, VulnerabilitySeverity.MEDIUM),
)
_CVSS3_RATINGS: tuple[tuple[float, VulnerabilitySeverity], ...] = (
    (9.0, VulnerabilitySeverity.CRITICAL),
    (7.0, VulnerabilitySeverity.HIGH),
    (4.0, VulnerabilitySeverity.MEDIUM),
)


class ScanCycloneDXReporter:
    """Renders a CycloneDX 1.6 JSON BOM with vulnerabilities. `now` and `serial` pin the output."""

    name: ClassVar[str] = "cyclonedx-json"
    media_type: ClassVar[str] = "application/vnd.cyclonedx+json; version=1.6"

    def __init__(self, *, now: datetime | None = None, serial: UUID | None = None) -> None:
        self._now = now
        self._serial = serial

    def render(self, result: ScanResult) -> bytes:
        now = self._now or datetime.now(UTC).replace(microsecond=0)
        return dumps(scan_document(result, now=now, serial=self._serial or uuid4()))


def scan_document(result: ScanResult, *, now: datetime, serial: UUID) -> dict[str, Any]:
    """The inventory's BOM (`report.cyclonedx.bom_document`) with one vulnerability per finding,
    suppressed findings included with their analysis."""
    inventory = result.inventory
    known = set(inventory.packages)
    extra = [
        f.package
        for f in (*result.findings, *(s.finding for s in result.suppressed))
        if f.package not in known
    ]
    if extra:
        # A finding on a package the inventory lacks would point at no component.
        log.debug("adding %d packages found only in findings to the BOM", len(extra))
        extra_unique = list(dict.fromkeys(extra))
        inventory = dataclasses.replace(inventory, packages=(*inventory.packages, *extra_unique))
    document, refs = bom_document(inventory, now=now, serial=serial)

    entries: list[tuple[Finding, Suppression | None]] = [(f, None) for f in result.findings]
    entries += [(s.finding, s) for s in result.suppressed]
    vulnerabilities = []
    used: set[str] = set()
    for finding, suppression in entries:
        ref = refs[finding.package]
        bom_ref = _unique(f"{PROPERTY_PREFIX}vulnerability:{finding.id}:{ref}", used)
        vulnerabilities.append(_vulnerability(finding, suppression, ref, bom_ref))
    if vulnerabilities:
        # The vulnerability section, with its many enumerations and nested orders, is rendered
        # by cyclonedx-python-lib itself.
        bom = Bom(vulnerabilities=vulnerabilities)
        body = json.loads(bom.as_json(view_=SchemaVersion1Dot6))  # type: ignore[attr-defined]
        document["vulnerabilities"] = body["vulnerabilities"]

    # What was not checked first: a BOM with no vulnerabilities otherwise reads as clean.
    props = [(f"scan:unchecked:{i}", u.notice()) for i, u in enumerate(unchecked_of(result))]
    if result.database is not None:
        for i, (name, updated) in enumerate(result.database.sources):
            props += [
                (f"database:source:{i}:name", name),
                (f"database:source:{i}:updatedAt", updated),
            ]
    props += [(f"scan:warning:{i}", w) for i, w in enumerate(result.warnings)]
    add_properties(document["metadata"], props)
    return document


def _unique(ref: str, used: set[str]) -> str:
    candidate, n = ref, 1
    while candidate in used:
        n += 1
        candidate = f"{ref}-{n}"
    used.add(candidate)
    return candidate


def _vulnerability(
    finding: Finding, suppression: Suppression | None, component_ref: str, bom_ref: str
) -> Vulnerability:
    versions = (
        [
            BomTargetVersionRange(
                version=finding.installed_version, status=ImpactAnalysisAffectedStatus.AFFECTED
            )
        ]
        if finding.installed_version
        else []
    )
    if finding.fixed_version:
        versions.append(
            BomTargetVersionRange(
                version=finding.fixed_version, status=ImpactAnalysisAffectedStatus.UNAFFECTED
            )
        )
    props = [
        ("finding:severity", finding.severity.value),
        ("finding:severitySource", finding.severity_source),
        ("finding:fixStatus", finding.status.value),
        ("finding:kev", "true" if finding.kev else ""),
        ("finding:epss", _number(finding.epss)),
        ("finding:epssPercentile", _number(finding.epss_percentile)),
    ]
    props += [(f"finding:advisory:{i}", a) for i, a in enumerate(finding.advisories)]
    if suppression is not None:
        props += [
            ("suppression:source", suppression.source),
            ("suppression:reason", suppression.reason),
        ]
    return Vulnerability(
        bom_ref=bom_ref,
        id=finding.id,
        source=_source(finding.id),
        references=[
            VulnerabilityReference(id=alias, source=_source(alias)) for alias in finding.aliases
        ],
        ratings=_ratings(finding),
        description=finding.summary or None,
        recommendation=f"Upgrade to {finding.fixed_version}" if finding.fixed_version else None,
        advisories=[VulnerabilityAdvisory(url=uri) for uri in map(_uri, finding.references) if uri],
        published=_datetime(finding.published),
        updated=_datetime(finding.modified),
        analysis=_analysis(finding, suppression),
        affects=[BomTarget(ref=component_ref, versions=versions)],
        properties=[
            Property(name=PROPERTY_PREFIX + name, value=value) for name, value in props if value
        ],
    )


def _source(vuln_id: str) -> VulnerabilitySource:
    return VulnerabilitySource(name=OSV, url=_uri(advisory_url(vuln_id)))


def _ratings(finding: Finding) -> list[VulnerabilityRating]:
    ratings = []
    from_cvss = finding.severity_source.upper().startswith("CVSS")
    method = _cvss_method(finding.cvss_vector, finding.severity_source)
    if finding.cvss_score is not None or finding.cvss_vector:
        score = finding.cvss_score
        severity = _SEVERITIES[finding.severity] if from_cvss else _cvss_severity(score, method)
        rating = VulnerabilityRating(
            score=Decimal(str(score)) if score is not None else None,
            severity=severity,
            method=method,
        )
        # Set after construction: the constructor strips the "CVSS:3.1/" prefix, which CVSS
        # parsers need to tell a 3.0 vector from a 3.1 one (Trivy and Grype keep it too).
        rating.vector = finding.cvss_vector or None
        ratings.append(rating)
    if not from_cvss or not ratings:
        source = (
            VulnerabilitySource(name=finding.severity_source) if finding.severity_source else None
        )
        ratings.append(
            VulnerabilityRating(
                source=source,
                severity=_SEVERITIES[finding.severity],
                method=VulnerabilityScoreSource.OTHER,
            )
        )
    return ratings


def _cvss_method(vector: str, severity_source: str) -> VulnerabilityScoreSource:
    """The CVSS version from the vector's prefix (a v2 vector has none), else from the source."""
    text = vector or severity_source
    if text.startswith("CVSS:4"):
        return VulnerabilityScoreSource.CVSS_V4
    if text.startswith("CVSS:3.1"):
        return VulnerabilityScoreSource.CVSS_V3_1
    if text.startswith("CVSS:3"):
        return VulnerabilityScoreSource.CVSS_V3
    if vector.startswith("AV:") or text.startswith("CVSS:2"):
        return VulnerabilityScoreSource.CVSS_V2
    return VulnerabilityScoreSource.OTHER


def _cvss_severity(
    score: float | None, method: VulnerabilityScoreSource
) -> VulnerabilitySeverity | None:
    """The qualitative rating the CVSS specification gives a base score."""
    if score is None:
        return None
    if method is VulnerabilityScoreSource.CVSS_V2:
        thresholds = _CVSS2_RATINGS
    elif score == 0:
        return VulnerabilitySeverity.NONE
    else:
        thresholds = _CVSS3_RATINGS
    return next((s for t, s in thresholds if score >= t), VulnerabilitySeverity.LOW)


def _analysis(finding: Finding, suppression: Suppression | None) -> VulnerabilityAnalysis | None:
    responses = (
        [ImpactAnalysisResponse.WILL_NOT_FIX] if finding.status is FixStatus.WONT_FIX else []
    )
    if suppression is None:
        return VulnerabilityAnalysis(responses=responses) if responses else None
    state = None
    justification = None
    if suppression.source.startswith("vex:"):
        verdict, _, detail = suppression.reason.removeprefix("VEX ").partition(":")
        if verdict == "not_affected":
            state = ImpactAnalysisState.NOT_AFFECTED
            justification = _VEX_JUSTIFICATIONS.get(detail.strip())
        elif verdict == "fixed":
            state = ImpactAnalysisState.RESOLVED
    reason = suppression.reason or "no reason given"
    return VulnerabilityAnalysis(
        state=state,
        justification=justification,
        responses=responses,
        detail=f"Suppressed by {suppression.source}: {reason}",
    )


def _uri(url: str) -> XsUri | None:
    try:
        return XsUri(url)
    except InvalidUriException:
        log.debug("reference %r is not a valid URI; left out", url)
        return None


def _datetime(text: str) -> datetime | None:
    if not text:
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        return None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _number(value: float | None) -> str:
    return "" if value is None else repr(value)
