"""Lint output formats; SARIF is validated against the vendored official 2.1.0 schema."""

from __future__ import annotations

import json
from collections.abc import Mapping

import jsonschema

from basewatch.lint.engine import lint_text, merge
from basewatch.lint.model import LintResult
from basewatch.lint.rules import RULES
from basewatch.report.formats import LintFormat, lint_renderer
from basewatch.report.lint.github import render_github
from basewatch.report.lint.json import load_schema
from basewatch.report.lint.sarif import FINGERPRINT_KEY, fingerprint
from basewatch.report.lint.text import render_text
from tests.unit.lint.helpers import TODAY
from tests.unit.report.test_scan_sarif import validator

TEXT = "# basewatch-ignore: BW102\nFROM python:latest\nFROM python:3.8\nUSER root\n"


def render(
    result: LintResult,
    fmt: LintFormat,
    *,
    sources: Mapping[str, tuple[str, ...]] | None = None,
    docs_base: str = "",
) -> bytes:
    return lint_renderer(fmt, sources=sources, docs_base=docs_base).render(result)


def result() -> LintResult:
    return merge([lint_text(TEXT, "app/Dockerfile", today=TODAY), lint_text("RUN <<EOF\n", "bad")])


def test_text() -> None:
    lines = render_text(result()).splitlines()
    assert (
        "app/Dockerfile:3:6 BW106 high: python:3.8: Python 3.8 reached end of life on 2024-10-07"
        in lines
    )
    assert all(line.startswith("app/Dockerfile:") for line in lines)


def test_json() -> None:
    document = json.loads(render(result(), LintFormat.JSON))
    schema = load_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    assert list(jsonschema.Draft202012Validator(schema).iter_errors(document)) == []
    document_without_rule = json.loads(render(result(), LintFormat.JSON))
    del document_without_rule["findings"][0]["rule"]
    assert list(jsonschema.Draft202012Validator(schema).iter_errors(document_without_rule))
    assert document["schema_version"] == 1
    assert document["errors"] == ["bad: unterminated heredoc"]
    assert [s["rule"] for s in document["suppressed"]] == ["BW102"]
    first = document["findings"][0]
    assert set(first) == {
        "rule", "name", "severity", "message", "path", "line", "column", "endLine", "stage"
    }  # fmt: skip


def test_sarif_validates_and_describes_every_rule() -> None:
    sources = {"app/Dockerfile": tuple(TEXT.splitlines())}
    document = json.loads(render(result(), LintFormat.SARIF, sources=sources))
    assert [e.message for e in validator().iter_errors(document)] == []
    run = document["runs"][0]
    rules = run["tool"]["driver"]["rules"]
    assert [r["id"] for r in rules] == list(RULES)
    assert rules[0]["helpUri"] == "docs/rules/BW101.md"
    assert all(r["properties"]["security-severity"] for r in rules)
    for item in run["results"]:
        assert rules[item["ruleIndex"]]["id"] == item["ruleId"]
        assert item["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == (
            "app/Dockerfile"
        )
    suppressed = [r for r in run["results"] if "suppressions" in r]
    assert [r["ruleId"] for r in suppressed] == ["BW102"]
    assert run["invocations"][0]["executionSuccessful"] is False
    published = json.loads(render(result(), LintFormat.SARIF, docs_base="https://docs.test/r/"))
    assert published["runs"][0]["tool"]["driver"]["rules"][1]["helpUri"] == (
        "https://docs.test/r/BW102.md"
    )
    clean = json.loads(render(LintResult(findings=()), LintFormat.SARIF))
    assert [e.message for e in validator().iter_errors(clean)] == []


def test_fingerprint_survives_a_line_move() -> None:
    before = lint_text("FROM python:3.8\n", "D", today=TODAY).findings[0]
    after = lint_text("# new\n\nFROM python:3.8\n", "D", today=TODAY).findings[0]
    sources_before = {"D": ("FROM python:3.8",)}
    sources_after = {"D": ("# new", "", "FROM python:3.8")}
    assert fingerprint(before, sources_before) == fingerprint(after, sources_after)
    doc = json.loads(render(lint_text("FROM python:3.8\n", "D", today=TODAY), LintFormat.SARIF))
    assert all(FINGERPRINT_KEY in r["partialFingerprints"] for r in doc["runs"][0]["results"])


def test_github_annotations() -> None:
    out = render_github(result()).splitlines()
    prefix = "::error file=app/Dockerfile,line=3,endLine=3,col=6,title=BW106 "
    assert any(line.startswith(prefix) for line in out)
    assert any(line.startswith("::warning ") and "BW109" in line for line in out)
    assert out[-1] == "::error title=basewatch lint::bad: unterminated heredoc"
    odd = LintResult(findings=(), errors=("a%b\nc",))
    assert render_github(odd) == "::error title=basewatch lint::a%25b%0Ac\n"
