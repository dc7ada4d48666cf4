"""`basewatch compat --format table`: a summary, then the failing files grouped by cause.

Every string from the image is made printable first (a hostile file name cannot send escape
sequences to the terminal).
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, ClassVar

from basewatch.report.compat.causes import (
    CAUSE_TITLES,
    by_cause,
    libc_text,
    subject_label,
    unstated_subject,
)
from basewatch.report.text import printable

if TYPE_CHECKING:
    from basewatch.compat.model import CompatReport


class CompatTableReporter:
    name: ClassVar[str] = "table"
    media_type: ClassVar[str] = "text/plain; charset=utf-8"

    def render(self, report: CompatReport) -> bytes:
        kinds = Counter(f.kind.value for f in report.files)
        lines = [f"Image:     {printable(report.image)}"]
        if report.base:
            lines.append(f"On base:   {printable(report.base)}")
        lines.append(f"Platform:  {report.platform or '-'}")
        lines.append(f"libc:      {printable(libc_text(report))}")
        kinds_text = ", ".join(f"{n} {k}" for k, n in sorted(kinds.items()))
        lines.append(f"Files:     {len(report.files)}" + (f" ({kinds_text})" if kinds else ""))
        failing = report.failures
        lines.append(f"Failing:   {len(failing)}")
        for cause, items in by_cause(report):
            lines.append("")
            files = len({v.path for v, _ in items})
            lines.append(f"{CAUSE_TITLES[cause]} ({files} file{'s' if files != 1 else ''})")
            fixes: list[str] = []
            for verdict, problem in items:
                lines.append(f"  {problem.severity.value.upper():7} {printable(verdict.path)}")
                lines.append(f"          {printable(problem.message)}")
                if subject := unstated_subject(problem):
                    label = subject_label(problem.cause)
                    lines.append(f"          {label}: {printable(subject)}")
                if problem.fix and problem.fix not in fixes:
                    fixes.append(problem.fix)
            lines.extend(f"  fix: {printable(fix)}" for fix in fixes)
        if not report.files:
            lines += ["", "No ELF files or wheels to check."]
        elif not any(f.problems for f in report.files):
            lines += ["", "Every file loads."]
        if report.notes:
            lines.append("")
            lines.append("Notes:")
            lines.extend(f"  - {printable(n)}" for n in report.notes)
        if report.warnings:
            lines.append("")
            lines.append("Warnings:")
            lines.extend(f"  - {printable(w)}" for w in report.warnings)
        return ("\n".join(lines) + "\n").encode("utf-8", "backslashreplace")
