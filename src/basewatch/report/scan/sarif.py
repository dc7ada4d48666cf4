"""`basewatch scan --format sarif`: SARIF 2.1.0 for code-scanning dashboards (GitHub, GitLab...).

- One rule per vulnerability id, with the highest severity any of its findings has; GitHub reads
  the rule's `security-severity` (the CVSS score, else a score standing for the severity). Its
  tags carry the weaknesses its findings name, as CodeQL spells them (`external/cwe/cwe-079`).
- One result per finding. Its location is the file that proves the package, relative to the
  image root (`uriBaseId` IMAGE_ROOT, described with the image reference), and a logical
  location naming the package by purl.
- Suppressed findings are results too, with an `external` suppression: dashboards show them as
  dismissed, with the reason, instead of reopening them.
- What was not checked comes first among the tool execution notifications (descriptor
  `basewatch/not-checked`, level warning), then the warnings; `executionSuccessful` is false
  when packages were not checked or part of the image could not be read.

Fingerprints: `partialFingerprints["basewatchFinding/v1"]` is a hash of the vulnerability id,
the package without its version (purl type, namespace, name, arch) and its evidence paths with
the version blanked out. It stays the same from run to run while the same vulnerability stays
in the same package at the same place, including across upgrades that do not fix it
(`requests-2.31.0.dist-info` -> `requests-2.32.0.dist-info`) and layer rebuilds; it changes when
the package moves, or when the preferred id changes (a GHSA that later gets a CVE). The layer
is left out on purpose: rebuilding the image must not reopen every alert.
"""

from __future__ import annotations

import hashlib
import re
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import quote

from packageurl import PackageURL

from basewatch import __version__
from basewatch.models import FixStatus, Severity, cwe_key
from basewatch.report.common import TOOL_NAME, display_name, layer_index
from basewatch.report.jsondoc import dumps
from basewatch.report.sarif import SARIF_VERSION, SCHEMA_URI, level
from basewatch.report.scan.summary import (
    advisory_url,
    finding_sort_key,
    format_epss,
    scan_warnings,
    sorted_findings,
    unchecked_of,
)
from basewatch.report.text import markdown_escape

if TYPE_CHECKING:
    from basewatch.models import Finding, ImageInfo, Package, ScanResult, Suppression

IMAGE_ROOT = "IMAGE_ROOT"
FINGERPRINT_KEY = "basewatchFinding/v1"
# The notification descriptor of "these packages were not checked", so a consumer can find it.
NOT_CHECKED_ID = "basewatch/not-checked"

# GitHub ranks alerts by `security-severity` (>= 9.0 critical, >= 7.0 high, >= 4.0 medium,
# else low). Without a CVSS score, these stand for the severity (Trivy's values).
_SEVERITY_SCORES = {
    Severity.CRITICAL: 9.5,
    Severity.HIGH: 8.0,
    Severity.MEDIUM: 5.5,
    Severity.LOW: 2.0,
    Severity.NEGLIGIBLE: 0.5,
}


class SarifReporter:
    """Renders one SARIF 2.1.0 log with one run."""

    name: ClassVar[str] = "sarif"
    media_type: ClassVar[str] = "application/sarif+json"

    def render(self, result: ScanResult) -> bytes:
        return dumps(sarif_log(result))


def sarif_log(result: ScanResult) -> dict[str, Any]:
    """The log as plain JSON values: rules sorted by id, results in report order."""
    image = result.inventory.image
    entries: list[tuple[Finding, Suppression | None]] = [
        (f, None) for f in sorted_findings(result.findings)
    ]
    suppressed = sorted(result.suppressed, key=lambda s: finding_sort_key(s.finding))
    entries += [(s.finding, s) for s in suppressed]

    rules = _rules([f for f, _ in entries])
    rule_index = {rule["id"]: i for i, rule in enumerate(rules)}
    results = [_result(f, s, image, rule_index[f.id]) for f, s in entries]

    run: dict[str, Any] = {
        "tool": {
            "driver": {
                "name": TOOL_NAME,
                "version": __version__,
                "semanticVersion": __version__,
                "rules": rules,
            }
        },
        "invocations": [_invocation(result)],
        "originalUriBaseIds": {
            IMAGE_ROOT: {
                "description": {"text": f"The root filesystem of {_image_name(image)}"},
            }
        },
        "results": results,
        "properties": _run_properties(result),
    }
    return {"$schema": SCHEMA_URI, "version": SARIF_VERSION, "runs": [run]}


def fingerprint(finding: Finding) -> str:
    """The stable identity of a finding across runs (see the module docstring)."""
    package = finding.package
    parts = [finding.id, *_versionless(package), package.arch]
    parts += [_blank_version(path, package.version) for path in package.evidence]
    key = "\0".join(parts).encode("utf-8", "surrogatepass")
    return hashlib.sha256(key).hexdigest()[:32]


def _versionless(package: Package) -> tuple[str, str, str]:
    """(purl type, namespace, name): the package whatever its version and qualifiers."""
    if package.purl:
        try:
            purl = PackageURL.from_string(package.purl)
        except ValueError:
            pass
        else:
            return purl.type, purl.namespace or "", purl.name
    return package.type.value, package.namespace, package.name


def _blank_version(path: str, version: str) -> str:
    if not version:
        return path
    pattern = rf"(?<![A-Za-z0-9]){re.escape(version)}(?![A-Za-z0-9])"
    return re.sub(pattern, "{version}", path)


def _rules(findings: list[Finding]) -> list[dict[str, Any]]:
    worst: dict[str, Finding] = {}
    weaknesses: dict[str, set[str]] = {}
    for finding in findings:  # sorted worst first: the first one seen per id is its worst
        worst.setdefault(finding.id, finding)
        # one rule stands for every finding of its id, whose advisories may differ by package
        weaknesses.setdefault(finding.id, set()).update(finding.cwe_ids)
    return [
        _rule(worst[vuln_id], sorted(weaknesses[vuln_id], key=cwe_key)) for vuln_id in sorted(worst)
    ]


def _rule(finding: Finding, cwe_ids: list[str]) -> dict[str, Any]:
    url = advisory_url(finding.id)
    summary = _one_line(finding.summary) or finding.id
    text_lines = [summary]
    markdown_lines = [markdown_escape(summary)]
    if finding.aliases:
        text_lines.append("Also known as: " + ", ".join(finding.aliases))
        markdown_lines.append(
            "Also known as: " + ", ".join(markdown_escape(a) for a in finding.aliases)
        )
    if finding.cvss_vector:
        text_lines.append(f"CVSS: {finding.cvss_vector}")
        markdown_lines.append(f"CVSS: `{finding.cvss_vector.replace('`', '')}`")
    text_lines.append(f"Details: {url}")
    markdown_lines.append(f"Details: [{markdown_escape(finding.id)}]({url})")
    for reference in finding.references:
        text_lines.append(reference)
    rule: dict[str, Any] = {
        "id": finding.id,
        "shortDescription": {"text": summary},
        "fullDescription": {"text": _one_line(finding.summary) or f"Vulnerability {finding.id}"},
        "helpUri": url,
        "help": {"text": "\n".join(text_lines), "markdown": "\n\n".join(markdown_lines)},
        "defaultConfiguration": {"level": level(finding.severity)},
    }
    properties: dict[str, Any] = {
        "tags": ["security", "vulnerability", finding.severity.value, *map(_cwe_tag, cwe_ids)],
        "precision": "very-high",
    }
    # The CVSS score only when it is what the severity came from: a Debian "unimportant" issue
    # with a CVSS of 9.8 must not rank as critical.
    score = _SEVERITY_SCORES.get(finding.severity)
    if finding.cvss_score is not None and finding.severity_source.upper().startswith("CVSS"):
        score = finding.cvss_score
    if score is not None:
        properties["security-severity"] = f"{score:.1f}"
    rule["properties"] = properties
    return rule


def _cwe_tag(cwe_id: str) -> str:
    """CodeQL's spelling, three digits at least ("CWE-79" -> "external/cwe/cwe-079"), so one
    tag filter in a dashboard finds basewatch's alerts and CodeQL's alike."""
    number = cwe_id.removeprefix("CWE-")
    return f"external/cwe/cwe-{number.zfill(3)}"


def _result(
    finding: Finding, suppression: Suppression | None, image: ImageInfo, rule_index: int
) -> dict[str, Any]:
    package = finding.package
    name = display_name(package)
    fix = ""
    if finding.fixed_version:
        fix = f"Fixed in {finding.fixed_version}."
    elif finding.status is FixStatus.WONT_FIX:
        fix = "The distribution will not fix it."
    summary = _one_line(finding.summary)
    message = f"{name} {finding.installed_version} is affected by {finding.id}"
    message += f" ({finding.severity.value}"
    message += ", known exploited)" if finding.kev else ")"
    if summary:
        message += f": {summary}" + ("" if summary.endswith((".", "!", "?")) else ".")
    else:
        message += "."
    if fix:
        message += f" {fix}"
    result: dict[str, Any] = {
        "ruleId": finding.id,
        "ruleIndex": rule_index,
        "kind": "fail",
        "level": level(finding.severity),
        "message": {"text": message},
        "locations": _locations(package, image),
        "partialFingerprints": {FINGERPRINT_KEY: fingerprint(finding)},
    }
    if suppression is not None:
        result["suppressions"] = [
            {
                "kind": "external",
                "status": "accepted",
                "justification": suppression.reason or suppression.source,
                "properties": {"source": suppression.source},
            }
        ]
    properties: dict[str, Any] = {
        "package": name,
        "packageType": package.type.value,
        "installedVersion": finding.installed_version,
        "fixedVersion": finding.fixed_version,
        "fixStatus": finding.status.value,
        "severity": finding.severity.value,
        "aliases": list(finding.aliases),
        "kev": finding.kev,
    }
    if package.purl:
        properties["purl"] = package.purl
    if finding.epss is not None:
        properties["epss"] = finding.epss
        properties["epssText"] = format_epss(finding.epss)
    if package.layer:
        properties["layer"] = package.layer
    result["properties"] = properties
    return result


def _locations(package: Package, image: ImageInfo) -> list[dict[str, Any]]:
    logical = {
        "name": display_name(package),
        "fullyQualifiedName": package.purl or f"{package.type.value}/{display_name(package)}",
        "kind": "package",
    }
    where = _image_name(image)
    index = layer_index(image, package.layer)
    if index is not None:
        where += f", layer {index}"
    if not package.evidence:
        return [{"logicalLocations": [logical], "message": {"text": f"in {where}"}}]
    return [
        {
            "physicalLocation": {
                "artifactLocation": {"uri": _uri(path), "uriBaseId": IMAGE_ROOT},
            },
            "logicalLocations": [logical],
            "message": {"text": f"{path} in {where}"},
        }
        for path in package.evidence
    ]


def _uri(path: str) -> str:
    """An image path as a relative URI reference: no leading slash, reserved bytes escaped.

    `:` is escaped too, as a first segment holding one would read as a URI scheme.
    """
    return quote(path.lstrip("/"), safe="/!$&'()*+,;=@~")


def _invocation(result: ScanResult) -> dict[str, Any]:
    unchecked = unchecked_of(result)
    # Not successful when the scan did not cover the image: a dashboard must not show a run
    # that left packages unchecked (or could not read part of the image) as a clean one.
    complete = not unchecked and not result.inventory.partial
    invocation: dict[str, Any] = {"executionSuccessful": complete}
    notifications = [
        {
            "descriptor": {"id": NOT_CHECKED_ID},
            "level": "warning",
            "message": {"text": u.notice()},
        }
        for u in unchecked
    ]
    notifications += [{"level": "warning", "message": {"text": w}} for w in scan_warnings(result)]
    if notifications:
        invocation["toolExecutionNotifications"] = notifications
    return invocation


def _run_properties(result: ScanResult) -> dict[str, Any]:
    image = result.inventory.image
    properties: dict[str, Any] = {
        "image": {
            "reference": image.reference,
            "sourceType": image.source_type,
            "manifestDigest": image.manifest_digest,
            "configDigest": image.config_digest,
            "platform": image.platform,
        },
        "partial": result.inventory.partial or bool(result.unchecked),
        "unchecked": [
            {"ecosystem": u.ecosystem, "packages": u.packages, "names": list(u.names)}
            for u in unchecked_of(result)
        ],
    }
    os = result.inventory.os
    if os is not None:
        properties["os"] = {"id": os.id, "versionId": os.version_id, "prettyName": os.pretty_name}
    if result.database is not None:
        properties["database"] = {
            "sources": [{"name": n, "updatedAt": u} for n, u in result.database.sources]
        }
    return properties


def _image_name(image: ImageInfo) -> str:
    return image.reference or image.manifest_digest or image.config_digest or "the image"


def _one_line(text: str) -> str:
    return " ".join(text.split())
