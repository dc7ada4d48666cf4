"""`basewatch compare --format markdown`: the table for a pull-request comment or a job summary."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from basewatch.advice.compare import Candidate
from basewatch.report.compare.cells import legend, rows, short_names
from basewatch.report.text import scrub


class CompareMarkdownReporter:
    name: ClassVar[str] = "markdown"
    media_type: ClassVar[str] = "text/markdown; charset=utf-8"

    def render(self, candidates: Sequence[Candidate]) -> bytes:
        return render_markdown(candidates)


def _md(text: str) -> str:
    return scrub(text).replace("|", "\\|")


def render_markdown(candidates: Sequence[Candidate]) -> bytes:
    lines = [
        "| | " + " | ".join(f"`{_md(name)}`" for name in short_names(candidates)) + " |",
        "|---|" + "---|" * len(candidates),
    ]
    lines += [
        f"| {label} | " + " | ".join(_md(f(c)) for c in candidates) + " |"
        for label, f in rows(candidates)
    ]
    named = legend(candidates)
    if named:
        lines += ["", *(f"- `{_md(short)}`: `{_md(full)}`" for short, full in named)]
    return ("\n".join(lines) + "\n").encode()
