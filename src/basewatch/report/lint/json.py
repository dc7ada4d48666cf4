"""`basewatch lint --format json`: the findings as data, with `schema_version`, described by
`basewatch/schemas/lint.schema.json`."""

from __future__ import annotations

import json
from typing import Any, ClassVar

from basewatch import __version__
from basewatch.lint.model import LintFinding, LintResult
from basewatch.lint.rules import RULES

JSON_SCHEMA_VERSION = 1
SCHEMA_RESOURCE = "schemas/lint.schema.json"


class LintJsonReporter:
    name: ClassVar[str] = "json"
    media_type: ClassVar[str] = "application/json"

    def render(self, result: LintResult) -> bytes:
        return dumps(json_document(result))


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


def dumps(document: dict[str, Any]) -> bytes:
    """Indented UTF-8 JSON with a final newline; lone surrogates (undecodable bytes of a
    Dockerfile) written back as the bytes they stand for."""
    return (json.dumps(document, indent=2, ensure_ascii=False) + "\n").encode(
        "utf-8", "surrogateescape"
    )


def load_schema() -> dict[str, Any]:
    """The JSON Schema that every `lint --format json` document validates against."""
    from importlib import resources  # not on the rendering path: it costs start-up time

    text = resources.files("basewatch").joinpath(SCHEMA_RESOURCE).read_text(encoding="utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema
