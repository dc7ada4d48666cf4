"""The report documents of Harbor's Pluggable Scanner API v1.2, built from basewatch's results.

Pure functions: `vulnerability_report` turns a `ScanResult` into a HarborVulnerabilityReport,
`sbom_report` an `Inventory` into a HarborSbomReport whose `sbom` is exactly the document
`basewatch sbom` writes. The HTTP layer picks the media type and serialises the dict (with
`report.jsondoc.dumps`, which copes with the undecodable names an image may hold).

What the spec has no field for goes into `vendor_attributes` (objects the spec leaves open).
On the report, the first key is `not_checked`: Harbor shows an empty list of vulnerabilities
as a clean image, so what basewatch could not check must come before anything else.

  report    not_checked {packages, ecosystems[{ecosystem, packages, names, notice}],
                         without_ecosystem, inventory_partial, warnings}, partial,
            summary {packages, checked, findings, fixable, kev, suppressed},
            base_image {reference, digest, method, confidence, layers} | null,
            database {sources[{name, updated_at}], data_dates[{name, date}]} | null
  item      origin, layer {index, diff_id, digest}, instruction, kev, epss, epss_percentile,
            aliases, fix_status, purl, package_type, ecosystem, advisories, severity_source,
            cvss_v4 {score, vector}
  sbom      not_checked {inventory_partial, warnings}, packages, base_image

`partial` is true when packages were not (fully) checked or the inventory itself is partial;
it also counts the packages with no advisory ecosystem that the scan does not already name
(`without_ecosystem`: OS packages of a distribution with no advisory source are named).
Unknown values are left out rather than written empty (a missing `epss` is unknown, a 0.0 is
a score), except `origin` ("unknown") and `base_image`/`database` (null).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, assert_never
from urllib.parse import quote, urlsplit

from basewatch.codec import database_sources, encode_base
from basewatch.inventory.ownership import OS_PACKAGE_KEY
from basewatch.matching.evaluate import sourceless_entry
from basewatch.models import Severity
from basewatch.report.common import display_name
from basewatch.report.formats import SbomFormat, sbom_renderer
from basewatch.report.scan.summary import (
    scan_warnings,
    sorted_findings,
    summarize,
    unchecked_of,
)

if TYPE_CHECKING:
    from uuid import UUID

    from basewatch.models import (
        BaseImage,
        DatabaseInfo,
        Finding,
        ImageInfo,
        Inventory,
        LayerInfo,
        Package,
        ScanResult,
    )

VULN_REPORT_HARBOR = "application/vnd.scanner.adapter.vuln.report.harbor+json; version=1.0"
VULN_REPORT_SECURITY = "application/vnd.security.vulnerability.report; version=1.1"
SBOM_REPORT = "application/vnd.security.sbom.report+json; version=1.0"
SPDX_JSON = "application/spdx+json"
CYCLONEDX_JSON = "application/vnd.cyclonedx+json"

# The `sbom_media_type` values of the spec, and the `basewatch sbom --format` writing each.
_SBOM_FORMATS = {SPDX_JSON: SbomFormat.SPDX_JSON, CYCLONEDX_JSON: SbomFormat.CYCLONEDX_JSON}

# Characters RFC 3986 allows in a URI (with `%` for escapes already there): anything else in a
# reference (non-ASCII, `|`, `^`...) is percent-encoded, so `links` holds URIs, not IRIs.
_URI_SAFE = "-._~:/?#[]@!$&'()*+,;=%"


def harbor_severity(severity: Severity) -> str:
    """`severity` on Harbor's scale (the spec's Severity enum: Unknown ... Critical)."""
    match severity:
        case Severity.UNKNOWN:
            return "Unknown"
        case Severity.NEGLIGIBLE:
            return "Negligible"
        case Severity.LOW:
            return "Low"
        case Severity.MEDIUM:
            return "Medium"
        case Severity.HIGH:
            return "High"
        case Severity.CRITICAL:
            return "Critical"
        case _:
            assert_never(severity)


def vulnerability_report(
    scan: ScanResult,
    *,
    artifact: Mapping[str, str],
    scanner: Mapping[str, str],
    generated_at: datetime,
) -> dict[str, Any]:
    """The HarborVulnerabilityReport of `scan`: one item per finding (suppressed ones are not
    findings), worst first; `severity` is the highest, "Unknown" when there is none. A naive
    `generated_at` is taken as UTC."""
    findings = sorted_findings(scan.findings)
    highest = max((f.severity for f in findings), key=lambda s: s.rank, default=Severity.UNKNOWN)
    first_layers = _first_layers(scan.inventory.image)
    return {
        "generated_at": _timestamp(generated_at),
        "artifact": dict(artifact),
        "scanner": dict(scanner),
        "severity": harbor_severity(highest),
        "vulnerabilities": [_item(f, first_layers) for f in findings],
        "vendor_attributes": _scan_attributes(scan),
    }


def sbom_report(
    inventory: Inventory,
    media_type: str,
    *,
    artifact: Mapping[str, str],
    scanner: Mapping[str, str],
    generated_at: datetime,
    uuid: UUID | None = None,
) -> dict[str, Any]:
    """The HarborSbomReport of `inventory`: `sbom` is the document `basewatch sbom` writes in
    the format `media_type` names (SPDX_JSON or CYCLONEDX_JSON, else ValueError), timestamped
    `generated_at`; `uuid` pins its identity (SPDX namespace, CycloneDX serial), random if None."""
    fmt = _SBOM_FORMATS.get(media_type)
    if fmt is None:
        raise ValueError(
            f"unsupported SBOM media type {media_type!r}: use {SPDX_JSON!r} or {CYCLONEDX_JSON!r}"
        )
    rendered = sbom_renderer(fmt, now=generated_at, uuid=uuid).render(inventory)
    document: dict[str, Any] = json.loads(rendered)
    return {
        "generated_at": _timestamp(generated_at),
        "artifact": dict(artifact),
        "scanner": dict(scanner),
        "vendor_attributes": {
            "not_checked": {
                "inventory_partial": inventory.partial,
                "warnings": list(inventory.warnings),
            },
            "packages": len(inventory.packages),
            "base_image": _base(inventory.base),
        },
        "media_type": media_type,
        "sbom": document,
    }


# --- vulnerability items ------------------------------------------------------------------------


def _item(finding: Finding, layers: Mapping[str, LayerInfo]) -> dict[str, Any]:
    package = finding.package
    item: dict[str, Any] = {
        "id": finding.id,
        "package": display_name(package),
        "version": finding.installed_version,
        "fix_version": finding.fixed_version,
        "severity": harbor_severity(finding.severity),
        "description": finding.summary,
        "links": _links(finding.references),
    }
    cvss, cvss_v4 = _cvss(finding)
    if cvss:
        item["preferred_cvss"] = cvss
    item["cwe_ids"] = list(finding.cwe_ids)  # from OSV's `database_specific.cwe_ids`
    item["vendor_attributes"] = _item_attributes(finding, package, layers, cvss_v4)
    return item


def _item_attributes(
    finding: Finding,
    package: Package,
    layers: Mapping[str, LayerInfo],
    cvss_v4: dict[str, Any],
) -> dict[str, Any]:
    attributes: dict[str, Any] = {"origin": package.origin.value}
    layer = layers.get(package.layer) if package.layer else None
    if layer is not None:
        where: dict[str, Any] = {"index": layer.index, "diff_id": layer.diff_id}
        if layer.digest:
            where["digest"] = layer.digest
        attributes["layer"] = where
    elif package.layer:  # the package names a layer the image does not list (an SBOM's)
        attributes["layer"] = {"diff_id": package.layer}
    # Attribution copies the instruction onto the package; an inventory built elsewhere may
    # only have it on the image's layer.
    instruction = package.instruction or (layer.created_by if layer is not None else "")
    if instruction:
        attributes["instruction"] = instruction
    attributes["kev"] = finding.kev
    if finding.epss is not None:
        attributes["epss"] = finding.epss
    if finding.epss_percentile is not None:
        attributes["epss_percentile"] = finding.epss_percentile
    attributes["aliases"] = list(finding.aliases)
    attributes["fix_status"] = finding.status.value
    if package.purl:
        attributes["purl"] = package.purl
    attributes["package_type"] = package.type.value
    if package.ecosystem:
        attributes["ecosystem"] = package.ecosystem
    attributes["advisories"] = list(finding.advisories)
    if finding.severity_source:
        attributes["severity_source"] = finding.severity_source
    if cvss_v4:
        attributes["cvss_v4"] = cvss_v4
    return attributes


def _first_layers(image: ImageInfo) -> dict[str, LayerInfo]:
    """diffID -> layer; an empty layer repeated keeps its first (lowest) position."""
    return {layer.diff_id: layer for layer in reversed(image.layers) if layer.diff_id}


def _cvss(finding: Finding) -> tuple[dict[str, Any], dict[str, Any]]:
    """(preferred_cvss, the v4 rating the spec has no field for): each holds only what is
    known. The version is the vector's (a v2 vector has no prefix), else the rating source's."""
    vector, score = finding.cvss_vector.strip(), finding.cvss_score
    version = _cvss_version(vector) if vector else _cvss_version(finding.severity_source)
    if version is None:
        return {}, {}
    found: dict[str, Any] = {}
    if score is not None:
        found["score"] = score
    if vector:
        found["vector"] = vector
    if version == "4":
        return {}, found
    return {f"{key}_v{version}": value for key, value in found.items()}, {}


def _cvss_version(text: str) -> str | None:
    """The CVSS major version ("2", "3", "4") a vector or rating source names, else None."""
    upper = text.upper()
    if upper.startswith("CVSS:3"):
        return "3"
    if upper.startswith("CVSS:4"):
        return "4"
    if upper.startswith(("CVSS:2", "AV:", "(AV:")):
        return "2"
    return None


def _links(references: Iterable[str]) -> list[str]:
    """The http(s) references, each once, as URIs; anything else (ftp, mailto, junk) is dropped."""
    links: dict[str, None] = {}
    for reference in references:
        url = reference.strip()
        if not url or any(c.isspace() or not c.isprintable() for c in url):
            continue
        try:
            parts = urlsplit(url)
            uri = quote(url, safe=_URI_SAFE)
        except (ValueError, UnicodeEncodeError):  # a bad IPv6 host, a lone surrogate
            continue
        if parts.scheme.lower() in ("http", "https") and parts.hostname:
            links[uri] = None
    return list(links)


# --- report-level attributes --------------------------------------------------------------------


def _scan_attributes(scan: ScanResult) -> dict[str, Any]:
    summary = summarize(scan)
    unchecked = unchecked_of(scan)
    # Packages with no ecosystem are never matched. The scan names OS packages of a
    # distribution with no advisory source (`sourceless_entry`); any other such package (or one
    # of a result stored before it did) is counted here, never both.
    named = {e for e in scan.unchecked if e}
    without_ecosystem = sum(
        1
        for p in scan.inventory.packages
        if not p.ecosystem
        and not p.meta(OS_PACKAGE_KEY)
        and sourceless_entry(p, scan.inventory.os) not in named
    )
    not_checked = {
        "packages": sum(u.packages for u in unchecked) + without_ecosystem,
        "ecosystems": [
            {
                "ecosystem": u.ecosystem,
                "packages": u.packages,
                "names": list(u.names),
                "notice": u.notice(),
            }
            for u in unchecked
        ],
        "without_ecosystem": without_ecosystem,
        "inventory_partial": scan.inventory.partial,
        "warnings": scan_warnings(scan),
    }
    return {
        "not_checked": not_checked,
        "partial": scan.inventory.partial or bool(unchecked) or bool(without_ecosystem),
        "summary": {
            "packages": summary.packages,
            "checked": summary.checked,
            "findings": summary.findings,
            "fixable": summary.fixable,
            "kev": summary.kev,
            "suppressed": summary.suppressed,
        },
        "base_image": _base(scan.inventory.base),
        "database": _database(scan.database),
    }


def _base(base: BaseImage | None) -> dict[str, Any] | None:
    return encode_base(base) if base is not None else None


def _database(database: DatabaseInfo | None) -> dict[str, Any] | None:
    """When each source was imported and how new its data is; not the file's path on the
    server, which says nothing to Harbor's users."""
    if database is None:
        return None
    return {
        "sources": database_sources(database),
        "data_dates": [{"name": name, "date": date} for name, date in database.data_dates],
    }


def _timestamp(moment: datetime) -> str:
    """RFC 3339 in UTC with a `Z`, as Harbor's own adapters write `generated_at`."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")
