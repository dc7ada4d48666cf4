"""Render lint results: text (`file:line:col ID message`), json, sarif and GitHub annotations.

JSON carries `schema_version`. SARIF 2.1.0 has one rule per basewatch rule (with its help
URI and markdown) and stable fingerprints: the rule, the file and the instruction's text
(not its line number, so inserting a line above does not reopen the alert).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from enum import StrEnum
from typing import Any, assert_never

from basewatch import __version__
from basewatch.lint.model import LintFinding, LintResult, RuleInfo
from basewatch.lint.rules import RULES
from basewatch.models import Severity
from basewatch.report.sarif import SARIF_VERSION, SCHEMA_URI, level

JSON_SCHEMA_VERSION = 1
FINGERPRINT_KEY = "basewatchLint/v1"
SRCROOT = "SRCROOT"


class LintFormat(StrEnum):
    TEXT = "text"
    JSON = "json"
    SARIF = "sarif"
    GITHUB = "github"


def render(
    result: LintResult,
    fmt: LintFormat,
    *,
    sources: Mapping[str, tuple[str, ...]] | None = None,
    docs_base: str = "",
) -> bytes:
    """`sources` (path -> raw lines) makes SARIF fingerprints survive line moves."""
    match fmt:
        case LintFormat.TEXT:
            return render_text(result).encode()
        case LintFormat.JSON:
            return _dumps(json_document(result))
        case LintFormat.SARIF:
            return _dumps(sarif_log(result, sources or {}, docs_base))
        case LintFormat.GITHUB:
            return render_github(result).encode()
        case _:
            assert_never(fmt)


def render_text(result: LintResult) -> str:
    """One line a finding, `path:line:column RULE severity: message` (hadolint's shape, with
    the severity words `--fail-on` takes), so a reader can triage without the rule table."""
    lines = [
        f"{f.path}:{f.line}:{f.column} {f.rule} {f.severity.value}: {f.message}"
        for f in result.findings
    ]
    return "".join(line + "\n" for line in lines)


def json_document(result: LintResult) -> dict[str, Any]:
    return {
        "schema_version": JSON_SCHEMA_VERSION,
        "tool": {"name": "basewatch", "version": __version__},
        "files": list(result.files),
        "findings": [_finding_json(f) for f in result.findings],
        "suppressed": [_finding_json(f) for f in result.suppressed],
        "errors": list(result.errors),
    }


def _finding_json(finding: LintFinding) -> dict[str, Any]:
    rule = RULES[finding.rule].info
    return {
        "rule": finding.rule,
        "name": rule.name,
        "severity": finding.severity.value,
        "message": finding.message,
        "path": finding.path,
        "line": finding.line,
        "column": finding.column,
        "endLine": finding.end_line,
        "stage": finding.stage,
    }


def render_github(result: LintResult) -> str:
    """GitHub Actions workflow commands: one `::error`/`::warning`/`::notice` per finding."""
    out = []
    for f in result.findings:
        command = {"error": "error", "warning": "warning", "note": "notice"}[level(f.severity)]
        title = _escape_property(f"{f.rule} {RULES[f.rule].info.title}")
        out.append(
            f"::{command} file={_escape_property(f.path)},line={f.line},endLine={f.end_line},"
            f"col={f.column},title={title}::{_escape_data(f.message)}"
        )
    for error in result.errors:
        out.append(f"::error title=basewatch lint::{_escape_data(error)}")
    return "".join(line + "\n" for line in out)


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


# --- SARIF ---------------------------------------------------------------------------------

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


def _dumps(document: dict[str, Any]) -> bytes:
    return (json.dumps(document, indent=2, ensure_ascii=False) + "\n").encode(
        "utf-8", "surrogateescape"
    )
