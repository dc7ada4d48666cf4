"""`basewatch scan --policy`: the scan's document with the policies' verdict added, in the
scan's format: after the table or the Markdown, under `policy` in the JSON (the policy
document, policy.schema.json), as a second run in the SARIF log."""

from __future__ import annotations

import json
from typing import Any

from basewatch.policy.model import PolicyRun
from basewatch.report.jsondoc import dumps
from basewatch.report.policy.json import policy_document
from basewatch.report.policy.markdown import PolicyMarkdownReporter
from basewatch.report.policy.sarif import PolicySarifReporter
from basewatch.report.policy.table import PolicyTableReporter

# the scan formats a verdict can be added to (CycloneDX has no place for one)
COMBINABLE = ("table", "json", "sarif", "markdown")


def with_policy(scan_format: str, document: bytes, run: PolicyRun) -> bytes:
    """`document` (the scan's, in `scan_format`) with the verdict of `run` added."""
    match scan_format:
        case "table":
            return document + b"\n" + PolicyTableReporter().render(run)
        case "markdown":
            return document + b"\n" + PolicyMarkdownReporter().render(run)
        case "json":
            scan: dict[str, Any] = json.loads(document)
            scan["policy"] = policy_document(run)
            return dumps(scan)
        case "sarif":
            log: dict[str, Any] = json.loads(document)
            policy: dict[str, Any] = json.loads(PolicySarifReporter().render(run))
            log["runs"] = [*log.get("runs", []), *policy["runs"]]
            return dumps(log)
        case _:
            raise ValueError(f"a policy verdict cannot be added to {scan_format}")
