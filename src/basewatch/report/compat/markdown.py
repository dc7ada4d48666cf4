"""`basewatch compat --format markdown`: for a pull-request comment or a job summary.

Strings from the image are escaped so that a file name cannot break a table or inject markup.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, ClassVar

from basewatch.report.compat.causes import CAUSE_TITLES, by_cause, libc_text, subject_label

if TYPE_CHECKING:
    from basewatch.compat.model import CompatReport

_SPECIAL = re.compile(r"([\\`*_\[\]<>|~&#!])")


def _esc(text: str) -> str:
    return _SPECIAL.sub(r"\\\1", text.replace("\n", " "))


class CompatMarkdownReporter:
    name: ClassVar[str] = "markdown"
    media_type: ClassVar[str] = "text/markdown; charset=utf-8"

    def render(self, report: CompatReport) -> bytes:
        failing = report.failures
        lines = [f"## basewatch compat: {_esc(report.image)}", ""]
        if report.base:
            lines += [f"Evaluated on **{_esc(report.base)}**.", ""]
        lines += [
            "| libc | files | failing |",
            "| --- | --- | --- |",
            f"| {_esc(libc_text(report))} | {len(report.files)} | {len(failing)} |",
        ]
        for cause, items in by_cause(report):
            label = subject_label(cause)
            lines += ["", f"### {CAUSE_TITLES[cause]}", ""]
            lines.append(f"| file | {label} | loader says | fix |")
            lines.append("| --- | --- | --- | --- |")
            for verdict, problem in items:
                lines.append(
                    f"| {_esc(verdict.path)} | {_esc(problem.subject)} | {_esc(problem.message)} "
                    f"| {_esc(problem.fix)} |"
                )
        if not report.files:
            lines += ["", "No ELF files or wheels to check."]
        elif not any(f.problems for f in report.files):
            lines += ["", "Every file loads."]
        if report.notes:
            lines += ["", "**Notes**", ""]
            lines += [f"- {_esc(n)}" for n in report.notes]
        if report.warnings:
            lines += ["", "**Warnings**", ""]
            lines += [f"- {_esc(w)}" for w in report.warnings]
        return ("\n".join(lines) + "\n").encode("utf-8", "backslashreplace")
