"""basewatch's own JSON scan document, described by `basewatch/schemas/scan.schema.json`.

Standard library only, like `native_json`. The image, OS and package objects are the inventory
document's, so one parser serves both. Findings come worst first (severity, KEV, EPSS), then by
id and package; suppressed findings are listed apart with the reason and the rule that hid them.
Bump `SCHEMA_VERSION` (and the schema) whenever a field changes meaning or disappears.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, ClassVar

from basewatch import __version__
from basewatch.report.base import TOOL_NAME
from basewatch.report.native_json import dumps, package_dict
from basewatch.report.scan_base import (
    finding_sort_key,
    scan_warnings,
    sorted_findings,
    summarize,
)

if TYPE_CHECKING:
    from basewatch.models import DatabaseInfo, Finding, ScanResult, Suppression

SCHEMA_VERSION = "1.0"
SCHEMA_RESOURCE = "schemas/scan.schema.json"


class ScanJsonReporter:
    """`basewatch scan --format json`: the scan result as basewatch models it."""

    name: ClassVar[str] = "json"
    media_type: ClassVar[str] = "application/json"

    def render(self, result: ScanResult) -> bytes:
        return dumps(scan_document(result))


def scan_document(result: ScanResult) -> dict[str, Any]:
    """The document as plain JSON values."""
    inventory = result.inventory
    image = inventory.image.to_dict()
    for key in ("labels", "annotations"):
        image[key] = dict(sorted(image[key].items()))
    summary = summarize(result)
    suppressed = sorted(
        result.suppressed, key=lambda s: (finding_sort_key(s.finding), s.source, s.reason)
    )
    return {
        "schema_version": SCHEMA_VERSION,
        "tool": {"name": TOOL_NAME, "version": __version__},
        # Near the top: a reader that stops at the first findings must still see it.
        "unchecked": [
            {"ecosystem": u.ecosystem, "packages": u.packages, "names": list(u.names)}
            for u in summary.unchecked
        ],
        "image": image,
        "os": inventory.os.to_dict() if inventory.os is not None else None,
        "database": _database(result.database),
        "summary": {
            "packages": summary.packages,
            "checked": summary.checked,
            "unchecked": summary.unchecked_packages,
            "findings": summary.findings,
            "fixable": summary.fixable,
            "kev": summary.kev,
            "suppressed": summary.suppressed,
            "by_severity": {
                c.severity.value: {"findings": c.findings, "fixable": c.fixable}
                for c in summary.by_severity
            },
        },
        "findings": [finding_dict(f) for f in sorted_findings(result.findings)],
        "suppressed": [_suppression_dict(s) for s in suppressed],
        "warnings": scan_warnings(result),
        "partial": inventory.partial or bool(result.unchecked),
    }


def finding_dict(finding: Finding) -> dict[str, Any]:
    """One finding; its package as the inventory document writes packages."""
    return {
        "id": finding.id,
        "aliases": list(finding.aliases),
        "severity": finding.severity.value,
        "severity_source": finding.severity_source,
        "cvss_score": finding.cvss_score,
        "cvss_vector": finding.cvss_vector,
        "status": finding.status.value,
        "installed_version": finding.installed_version,
        "fixed_version": finding.fixed_version,
        "summary": finding.summary,
        "kev": finding.kev,
        "epss": finding.epss,
        "epss_percentile": finding.epss_percentile,
        "references": list(finding.references),
        "advisories": list(finding.advisories),
        "published": finding.published,
        "modified": finding.modified,
        "package": package_dict(finding.package),
    }


def _suppression_dict(suppression: Suppression) -> dict[str, Any]:
    return {
        "reason": suppression.reason,
        "source": suppression.source,
        "finding": finding_dict(suppression.finding),
    }


def _database(database: DatabaseInfo | None) -> dict[str, Any] | None:
    if database is None:
        return None
    return {
        "path": database.path,
        "sources": [{"name": name, "updated_at": when} for name, when in database.sources],
    }


def load_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) every `basewatch scan --format json` document satisfies."""
    from importlib import resources

    text = resources.files("basewatch").joinpath(SCHEMA_RESOURCE).read_text(encoding="utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema
