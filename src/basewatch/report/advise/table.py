"""`basewatch advise --format table`: the base, each recommendation, then the verdict."""

from __future__ import annotations

from typing import ClassVar

from basewatch.advice.advise import Advice
from basewatch.report.advise.cells import recommendation_lines, verdict
from basewatch.report.text import scrub


class AdviseTableReporter:
    name: ClassVar[str] = "table"
    media_type: ClassVar[str] = "text/plain; charset=utf-8"

    def render(self, advice: Advice) -> bytes:
        return render_table(advice)


def render_table(advice: Advice) -> bytes:
    base = advice.base
    lines = [f"Image: {scrub(advice.image)}"]
    if base is not None:
        lines.append(
            f"Base:  {scrub(base.reference) or '(unnamed)'} {base.digest[:19]} "
            f"({base.method}, {base.confidence} confidence, {base.layers} layer(s))"
        )
    else:
        lines.append("Base:  unknown")
    lines.append("")
    for recommendation in advice.recommendations:
        lines += [*recommendation_lines(recommendation), ""]
    if not advice.recommendations:
        lines += ["No refresh, update or alternative to recommend.", ""]
    lines.append(f"Verdict: {verdict(advice)}")
    lines += [f"  - {scrub(reason)}" for reason in advice.reasons]
    if advice.not_checked:
        lines.append("Not checked:")
        lines += [f"  - {scrub(what)}" for what in advice.not_checked]
    return ("\n".join(lines) + "\n").encode()
