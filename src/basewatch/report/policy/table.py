"""`basewatch policy --format table`: the verdicts as plain text for a person at a terminal or a
CI log.

What was not evaluated comes first, one `WARNING: not evaluated:` line per policy with its
reason: below the failures it would read as a footnote, and a run whose gate could not be
decided must not look like a clean one. Then the image, then one block per failing policy
(blocking ones first) with every item that fails it and the items exceptions cover, then the
passes as aligned rows, the evaluation's warnings, and last the result line a CI log ends on.
Every string from the image, the policy file or the database goes through `printable` first.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from basewatch.policy.outcome import plural
from basewatch.report.policy import (
    failed,
    label,
    not_evaluated,
    passed,
    result_of,
    result_summary,
)
from basewatch.report.text import MISSING, align_columns, printable

if TYPE_CHECKING:
    from basewatch.policy.model import Item, PolicyRun, Verdict

INDENT = "  "


class PolicyTableReporter:
    """Not evaluated, the header, failures with their items, passes, warnings, the result."""

    name: ClassVar[str] = "table"
    media_type: ClassVar[str] = "text/plain; charset=utf-8"

    def render(self, run: PolicyRun) -> bytes:
        report = run.report
        lines = [
            printable(f"WARNING: not evaluated: {v.id} ({v.title}): {v.reason}")
            for v in not_evaluated(report)
        ]
        if lines:
            lines.append("")
        lines += [*_header(run), ""]
        for verdict in failed(report):
            lines += [*_failure(verdict), ""]
        passes = passed(report)
        if passes:
            lines += [*_passes(passes), ""]
        if report.warnings:
            count = plural(len(report.warnings), "problem")
            lines.append(f"WARNING: {count} with the policies:")
            lines.extend(f"{INDENT}- {printable(w)}" for w in report.warnings)
            lines.append("")
        lines.append(printable(f"Result: {result_of(report).upper()}: {result_summary(report)}"))
        return ("\n".join(lines) + "\n").encode("utf-8", "backslashreplace")


def _header(run: PolicyRun) -> list[str]:
    image = run.image
    fields = [("Image", image.reference or MISSING)]
    digest = image.manifest_digest or image.config_digest
    if digest:
        fields.append(("Digest", digest))
    fields.append(("Platform", image.platform or MISSING))
    if run.base is None:
        fields.append(("Base", "unknown"))
    else:
        base = run.base
        how = f"{base.method.value}, {base.confidence.value} confidence"
        fields.append(("Base", f"{base.reference or MISSING} {base.digest or MISSING} ({how})"))
    if run.database is None:
        fields.append(("Database", "none"))
    else:
        updated = max((when for _, when in run.database.sources), default="")
        fields.append(
            ("Database", run.database.path + (f" (updated {updated})" if updated else ""))
        )
    fields.append(("Policies", run.policy_file or "built-in defaults"))
    width = max(len(field) for field, _ in fields) + 1
    return [f"{field + ':':<{width}} {printable(value)}" for field, value in fields]


def _failure(verdict: Verdict) -> list[str]:
    effect = "fails the run" if verdict.blocking else "action warn: does not fail the run"
    lines = [
        printable(f"{label(verdict).upper()}  {verdict.id}  {verdict.title} ({effect})"),
        printable(f"{INDENT}{verdict.reason}"),
    ]
    lines.extend(f"{INDENT}- {printable(item.subject)}" for item in verdict.items)
    lines.extend(_excepted(verdict.excepted))
    return lines


def _excepted(items: tuple[Item, ...]) -> list[str]:
    if not items:
        return []
    lines = [f"{INDENT}Covered by exceptions (not counted):"]
    lines.extend(
        printable(f"{INDENT}- {item.subject}: {item.excepted_by or 'no reason given'}")
        for item in items
    )
    return lines


def _passes(verdicts: list[Verdict]) -> list[str]:
    rows: list[tuple[str, ...]] = [(label(v).upper(), v.id, v.reason) for v in verdicts]
    lines = []
    for verdict, row in zip(verdicts, align_columns(rows), strict=True):
        lines.append(row)
        lines.extend(_excepted(verdict.excepted))
    return lines
