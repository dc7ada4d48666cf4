"""`basewatch lint --format sarif`: SARIF 2.1.0 with one rule per basewatch rule (with its help
URI and markdown) and stable fingerprints: the rule, the file and the instruction's text (not its
line number, so inserting a line above does not reopen the alert).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any, ClassVar

from basewatch import __version__
from basewatch.lint.model import LintFinding, LintResult, RuleInfo
from basewatch.lint.rules import RULES
from basewatch.models import Severity
from basewatch.report.lint.json import dumps
from basewatch.report.sarif import SARIF_VERSION, SCHEMA_URI, level

FINGERPRINT_KEY = "basewatchLint/v1"
SRCROOT = "SRCROOT"


class LintSarifReporter:
    """`sources` (path -> raw lines) makes fingerprints survive line moves; `docs_base` is where
    the rule documentation is published (relative `docs/rules/<ID>.md` links without it)."""

    name: ClassVar[str] = "sarif"
    media_type: ClassVar[str] = "application/sarif+json"

    def __init__(
        self, *, sources: Mapping[str, tuple[str, ...]] | None = None, docs_base: str = ""
    ) -> None:
        self._sources = sources or {}
        self._docs_base = docs_base

    def render(self, result: LintResult) -> bytes:
        return dumps(sarif_log(result, self._sources, self._docs_base))


_SECURITY_SEVERITY = {
    Severity.CRITICAL: "9.5",
    Severity.HIGH: "8.0",
    Severity.MEDIUM: "5.5",
    Severity.LOW: "2.0",
    Severity.NEGLIGIBLE: "0.5",
    Severity.UNKNOWN: "5.5",
}


def sarif_log(
    result: LintResult, sources: Mapping[str, tuple[str, ...]], docs_base: str = ""
) -> dict[str, Any]:
    rules = [_rule(rule.info, docs_base) for rule in RULES.values()]
    index = {rule["id"]: i for i, rule in enumerate(rules)}
    results = [_result(f, index[f.rule], sources, False) for f in result.findings]
    results += [_result(f, index[f.rule], sources, True) for f in result.suppressed]
    invocation: dict[str, Any] = {"executionSuccessful": not result.errors}
    if result.errors:
        invocation["toolExecutionNotifications"] = [
            {"level": "error", "message": {"text": e}} for e in result.errors
        ]
    run = {
        "tool": {
            "driver": {
                "name": "basewatch",
                "version": __version__,
                "semanticVersion": __version__,
                "rules": rules,
            }
        },
        "invocations": [invocation],
        "originalUriBaseIds": {SRCROOT: {"description": {"text": "The working directory"}}},
        "results": results,
    }
    return {"$schema": SCHEMA_URI, "version": SARIF_VERSION, "runs": [run]}


def _rule(info: RuleInfo, docs_base: str) -> dict[str, Any]:
    # Relative (docs/rules/<ID>.md) unless the caller knows where the docs are published.
    help_uri = f"{docs_base.rstrip('/')}/{info.id}.md" if docs_base else info.help_uri
    return {
        "id": info.id,
        "name": info.name,
        "shortDescription": {"text": _plain(info.title)},
        "fullDescription": {"text": info.rationale},
        "helpUri": help_uri,
        "help": {
            "text": f"{info.rationale}\n\nFix: {info.fix}",
            "markdown": f"**{info.title}**\n\n{info.rationale}\n\n**Fix:** {info.fix}",
        },
        "defaultConfiguration": {"level": level(info.severity)},
        "properties": {
            "tags": ["security", "dockerfile", "base-image"],
            "precision": "high",
            "security-severity": _SECURITY_SEVERITY[info.severity],
        },
    }


def _result(
    finding: LintFinding,
    rule_index: int,
    sources: Mapping[str, tuple[str, ...]],
    suppressed: bool,
) -> dict[str, Any]:
    result: dict[str, Any] = {
        "ruleId": finding.rule,
        "ruleIndex": rule_index,
        "kind": "fail",
        "level": level(finding.severity),
        "message": {"text": finding.message},
        "locations": [
            {
                "physicalLocation": {
                    "artifactLocation": {"uri": _uri(finding.path), "uriBaseId": SRCROOT},
                    "region": {
                        "startLine": finding.line,
                        "startColumn": finding.column,
                        "endLine": max(finding.end_line, finding.line),
                    },
                }
            }
        ],
        "partialFingerprints": {FINGERPRINT_KEY: fingerprint(finding, sources)},
        "properties": {"severity": finding.severity.value, "stage": finding.stage},
    }
    if suppressed:
        result["suppressions"] = [
            {"kind": "inSource", "justification": "# basewatch-ignore comment"}
        ]
    return result


def fingerprint(finding: LintFinding, sources: Mapping[str, tuple[str, ...]]) -> str:
    """Rule, file, stage and the text of the flagged line: stable across line moves."""
    lines = sources.get(finding.path, ())
    text = lines[finding.line - 1].strip() if 0 < finding.line <= len(lines) else ""
    key = "\0".join((finding.rule, finding.path, finding.stage, text or finding.message))
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def _uri(path: str) -> str:
    from urllib.parse import quote

    return quote(path.replace("\\", "/").removeprefix("./"), safe="/!$&'()*+,;=@~")


def _plain(text: str) -> str:
    return text.replace("`", "")
