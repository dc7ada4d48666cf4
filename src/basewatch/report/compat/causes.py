"""What the renderers of `basewatch compat` share: causes in order, their titles and labels.

Problems are grouped by cause, worst cause first, so that the table and the Markdown list the
same groups in the same order.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from basewatch.compat.model import Cause

if TYPE_CHECKING:
    from basewatch.compat.model import CompatReport, FileVerdict, Problem


CAUSE_ORDER = (
    Cause.WRONG_ARCHITECTURE,
    Cause.INTERPRETER_MISSING,
    Cause.LIBRARY_MISSING,
    Cause.VERSION_MISSING,
    Cause.SYMBOL_MISSING,
    Cause.WHEEL_PLATFORM,
    Cause.NO_VERSION_INFORMATION,
    Cause.MALFORMED,
)

CAUSE_TITLES = {
    Cause.WRONG_ARCHITECTURE: "Built for another architecture",
    Cause.INTERPRETER_MISSING: "Interpreter (dynamic loader) missing",
    Cause.LIBRARY_MISSING: "Shared library not found",
    Cause.VERSION_MISSING: "Symbol version not defined",
    Cause.SYMBOL_MISSING: "Symbol not found",
    Cause.NO_VERSION_INFORMATION: "Library without version information",
    Cause.WHEEL_PLATFORM: "Python wheel for another C library",
    Cause.MALFORMED: "Malformed ELF",
}


def by_cause(report: CompatReport) -> list[tuple[Cause, list[tuple[FileVerdict, Problem]]]]:
    """(cause, [(file, problem)...]) for every cause present, in CAUSE_ORDER, files by path."""
    groups: dict[Cause, list[tuple[FileVerdict, Problem]]] = {}
    for verdict in report.files:
        for problem in verdict.problems:
            groups.setdefault(problem.cause, []).append((verdict, problem))
    return [(cause, groups[cause]) for cause in CAUSE_ORDER if cause in groups]


_SUBJECT_LABELS = {
    Cause.WRONG_ARCHITECTURE: "built for",
    Cause.INTERPRETER_MISSING: "missing",
    Cause.LIBRARY_MISSING: "missing",
    Cause.VERSION_MISSING: "missing",
    Cause.SYMBOL_MISSING: "missing",
    Cause.NO_VERSION_INFORMATION: "library",
    Cause.WHEEL_PLATFORM: "wheel platform",
    Cause.MALFORMED: "file",
}


def subject_label(cause: Cause) -> str:
    """What a problem's subject is, for a reader: "missing", "built for"..."""
    return _SUBJECT_LABELS[cause]


def unstated_subject(problem: Problem) -> str:
    """The problem's subject when its message does not name it, else "".

    Messages are what the loader prints, and some name only the file that fails ("PATH: not
    found" for a missing interpreter): a report must still say what is missing.
    """
    subject = problem.subject
    if not subject or subject in problem.message:
        return ""
    return subject


def libc_text(report: CompatReport) -> str:
    libc = report.libc
    text = libc.family.value
    if libc.version:
        text += f" {libc.version}"
    if libc.path:
        text += f" ({libc.path})"
    return text
