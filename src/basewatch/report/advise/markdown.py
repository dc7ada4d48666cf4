"""`basewatch advise --format markdown`: the verdict and a table of recommendations, for a
pull-request comment or a job summary."""

from __future__ import annotations

from typing import ClassVar

from basewatch.advice.advise import Advice
from basewatch.report.advise.cells import arrives, goes_away, size_change, verdict
from basewatch.report.text import scrub


class AdviseMarkdownReporter:
    name: ClassVar[str] = "markdown"
    media_type: ClassVar[str] = "text/markdown; charset=utf-8"

    def render(self, advice: Advice) -> bytes:
        return render_markdown(advice)


def render_markdown(advice: Advice) -> bytes:
    lines = [f"## basewatch advise: `{scrub(advice.image)}`", ""]
    lines.append(f"**Verdict: {verdict(advice)}**")
    lines += [f"- {scrub(r)}" for r in advice.reasons]
    if advice.not_checked:
        lines += ["", "Not checked:", *(f"- {scrub(w)}" for w in advice.not_checked)]
    if advice.recommendations:
        lines += ["", "| kind | reference | fixes | arrives | size |", "|---|---|---|---|---|"]
        lines += [
            f"| {r.kind} | `{scrub(r.reference)}` | {goes_away(r)} | {arrives(r)} "
            f"| {size_change(r.size_delta)} |"
            for r in advice.recommendations
        ]
    return ("\n".join(lines) + "\n").encode()
