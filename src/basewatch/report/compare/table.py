"""`basewatch compare --format table`: one column per candidate, one row per fact."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from basewatch.advice.compare import Candidate
from basewatch.report.compare.cells import legend, rows, short_names
from basewatch.report.text import scrub


class CompareTableReporter:
    name: ClassVar[str] = "table"
    media_type: ClassVar[str] = "text/plain; charset=utf-8"

    def render(self, candidates: Sequence[Candidate]) -> bytes:
        return render_table(candidates)


def render_table(candidates: Sequence[Candidate]) -> bytes:
    header = ["", *short_names(candidates)]
    table = [
        header,
        *([label, *(scrub(f(c)) for c in candidates)] for label, f in rows(candidates)),
    ]
    widths = [max(len(r[i]) for r in table) for i in range(len(header))]
    lines = [
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in table
    ]
    named = legend(candidates)
    if named:
        lines += ["", *(f"{short}: {full}" for short, full in named)]
    return ("\n".join(lines) + "\n").encode()
