"""basewatch's own JSON scan document, described by `basewatch/schemas/scan.schema.json`.

Standard library only, like `report.sbom.json`. The image, OS and package objects are the inventory
document's, so one parser serves both. Findings come worst first (severity, KEV, EPSS), then by
id and package; suppressed findings are listed apart with the reason and the rule that hid them.
Bump `SCHEMA_VERSION` (and the schema) whenever a field changes meaning or disappears.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, ClassVar

from basewatch import __version__
from basewatch.codec import (
    database_sources,
    encode_finding,
    encode_os,
    encode_suppression,
    image_summary,
)
from basewatch.report.common import TOOL_NAME
from basewatch.report.jsondoc import dumps
from basewatch.report.scan.summary import (
    finding_sort_key,
    scan_warnings,
    sorted_findings,
    summarize,
)

if TYPE_CHECKING:
    from basewatch.models import DatabaseInfo, ScanResult

SCHEMA_VERSION = "1.0"
SCHEMA_RESOURCE = "schemas/scan.schema.json"


class ScanJsonReporter:
    """`basewatch scan --format json`: the scan result as basewatch models it."""

    name: ClassVar[str] = "json"
    media_type: ClassVar[str] = "application/json"

    def render(self, result: ScanResult) -> bytes:
        return dumps(scan_document(result))


def scan_document(result: ScanResult) -> dict[str, Any]:
    """The document as plain JSON values, its parts as `basewatch.codec` writes them."""
    inventory = result.inventory
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
        "image": image_summary(inventory.image),
        "os": encode_os(inventory.os) if inventory.os is not None else None,
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
        "findings": [encode_finding(f) for f in sorted_findings(result.findings)],
        "suppressed": [encode_suppression(s) for s in suppressed],
        "warnings": scan_warnings(result),
        "partial": inventory.partial or bool(result.unchecked),
    }


def _database(database: DatabaseInfo | None) -> dict[str, Any] | None:
    if database is None:
        return None
    return {
        "path": database.path,
        "sources": database_sources(database),
    }


def load_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) every `basewatch scan --format json` document satisfies."""
    from importlib import resources

    text = resources.files("basewatch").joinpath(SCHEMA_RESOURCE).read_text(encoding="utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema
