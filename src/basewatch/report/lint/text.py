"""`basewatch lint --format text`: one line a finding, as hadolint writes them."""

from __future__ import annotations

from typing import ClassVar

from basewatch.lint.model import LintResult


class LintTextReporter:
    name: ClassVar[str] = "text"
    media_type: ClassVar[str] = "text/plain; charset=utf-8"

    def render(self, result: LintResult) -> bytes:
        return render_text(result).encode()


def render_text(result: LintResult) -> str:
    """One line a finding, `path:line:column RULE severity: message` (hadolint's shape, with
    the severity words `--fail-on` takes), so a reader can triage without the rule table."""
    lines = [
        f"{f.path}:{f.line}:{f.column} {f.rule} {f.severity.value}: {f.message}"
        for f in result.findings
    ]
    return "".join(line + "\n" for line in lines)
