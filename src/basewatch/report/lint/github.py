"""`basewatch lint --format github`: GitHub Actions workflow commands (annotations)."""

from __future__ import annotations

from typing import ClassVar

from basewatch.lint.model import LintResult
from basewatch.lint.rules import RULES
from basewatch.report.sarif import level


class LintGithubReporter:
    name: ClassVar[str] = "github"
    media_type: ClassVar[str] = "text/plain; charset=utf-8"

    def render(self, result: LintResult) -> bytes:
        return render_github(result).encode()


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
