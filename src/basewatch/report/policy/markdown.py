"""`basewatch policy --format markdown`: a GitHub-flavoured summary for a pull-request comment or
a job summary (`$GITHUB_STEP_SUMMARY`).

What was not evaluated comes first, as a GitHub alert under the heading; then the verdict line,
the image, a table of every policy (plain words, no emoji: fail, warn, pass, not evaluated), and
a section per failing policy with its items and the items exceptions cover. Long item lists are
cut at `MAX_ITEMS` (a GitHub comment holds 65,536 characters); the JSON report has them all.
Every string from the image, the policy file or the database is escaped, so an item cannot
break a table (`|`), or inject links, images or HTML into the page.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from basewatch.policy.outcome import plural
from basewatch.report.policy import (
    doc_url,
    failed,
    label,
    not_evaluated,
    ordered,
    passed,
    result_of,
    result_summary,
)
from basewatch.report.text import MISSING, markdown_escape

if TYPE_CHECKING:
    from basewatch.policy.model import Item, PolicyRun, Verdict

MAX_ITEMS = 50  # per list: enough to act on, short enough for a PR comment
COLUMNS = ("Policy", "Title", "Result", "Action", "Reason")


class PolicyMarkdownReporter:
    """`docs_base` is where the policy documentation is published: policies link to their page
    under it; without it, they are named without a link (a relative link in a PR comment would
    point into the pull request, not the docs)."""

    name: ClassVar[str] = "markdown"
    media_type: ClassVar[str] = "text/markdown; charset=utf-8"

    def __init__(self, *, docs_base: str = "") -> None:
        self._docs_base = docs_base

    def render(self, run: PolicyRun) -> bytes:
        report = run.report
        lines = [f"## basewatch policy: {markdown_escape(_image_name(run))}", ""]
        unknown = not_evaluated(report)
        if unknown:
            # First, as a GitHub alert: below the failures it reads as a footnote.
            count = plural(len(unknown), "policy", "policies")
            them = "it" if len(unknown) == 1 else "them"
            lines += [
                "> [!WARNING]",
                f"> {count} could not be evaluated, so this run did not check {them}:",
                *(
                    f"> - {self._name(v)} ({markdown_escape(v.title)}): {markdown_escape(v.reason)}"
                    for v in unknown
                ),
                "",
            ]
        verdict = result_of(report)
        lines += [f"**Result: {verdict}.** {markdown_escape(result_summary(report))}.", ""]
        lines += [*_header(run), ""]
        lines += ["### Policies", ""]
        lines.append("| " + " | ".join(COLUMNS) + " |")
        lines.append("|" + "|".join(":--" for _ in COLUMNS) + "|")
        lines += [self._row(v) for v in ordered(report.verdicts)]
        failures = failed(report)
        if failures:
            lines += ["", "### Failed policies"]
            for failure in failures:
                lines += ["", *self._details(failure)]
        excepted = [v for v in passed(report) if v.excepted]
        if excepted:
            lines += ["", "### Passed with exceptions"]
            for passing in excepted:
                lines += ["", self._heading(passing)]
                lines += ["", *_excepted(passing.excepted)]
        if report.warnings:
            lines += ["", "### Warnings", ""]
            lines += [f"- {markdown_escape(w)}" for w in report.warnings]
        return ("\n".join(lines) + "\n").encode("utf-8", "backslashreplace")

    def _name(self, verdict: Verdict) -> str:
        name = markdown_escape(verdict.id)
        if not self._docs_base:
            return f"**{name}**"
        return f"[**{name}**]({doc_url(verdict.id, self._docs_base)})"

    def _heading(self, verdict: Verdict) -> str:
        name = markdown_escape(verdict.id)
        if self._docs_base:
            name = f"[{name}]({doc_url(verdict.id, self._docs_base)})"
        return f"#### {name}: {markdown_escape(verdict.title)}"

    def _row(self, verdict: Verdict) -> str:
        result = label(verdict)
        cells = [
            self._name(verdict),
            markdown_escape(verdict.title),
            f"**{result}**" if verdict.blocking else result,
            verdict.action.value,
            markdown_escape(verdict.reason) or MISSING,
        ]
        return "| " + " | ".join(cells) + " |"

    def _details(self, verdict: Verdict) -> list[str]:
        effect = (
            "Action `fail`: this fails the run."
            if verdict.blocking
            else "Action `warn`: reported, does not fail the run."
        )
        lines = [
            self._heading(verdict),
            "",
            f"{markdown_escape(verdict.reason)}. {effect}",
            "",
        ]
        lines += _bullets(verdict.items)
        if verdict.excepted:
            lines += ["", *_excepted(verdict.excepted)]
        return lines


def _image_name(run: PolicyRun) -> str:
    image = run.image
    return image.reference or image.manifest_digest or image.config_digest or "image"


def _header(run: PolicyRun) -> list[str]:
    image = run.image
    fields = []
    digest = image.manifest_digest or image.config_digest
    if digest:
        fields.append(("Digest", digest))
    if image.platform:
        fields.append(("Platform", image.platform))
    if run.base is None:
        fields.append(("Base", "unknown"))
    else:
        base = run.base
        text = base.reference or MISSING
        if base.digest:
            text += f" ({base.digest})"
        fields.append(("Base", f"{text}, found by {base.method.value}"))
    # The database path is left out: it is a path on the machine that ran the policies.
    if run.database is not None and run.database.sources:
        fields.append(("Advisories updated", max(when for _, when in run.database.sources)))
    fields.append(("Policies", run.policy_file or "built-in defaults"))
    return [f"- **{field}:** {markdown_escape(value)}" for field, value in fields]


def _bullets(items: tuple[Item, ...], *, reasons: bool = False) -> list[str]:
    """One bullet per item (with the exception's reason when `reasons`), `MAX_ITEMS` at most."""
    lines = []
    for item in items[:MAX_ITEMS]:
        text = item.subject
        if reasons:
            text += f": {item.excepted_by or 'no reason given'}"
        lines.append(f"- {markdown_escape(text)}")
    more = len(items) - MAX_ITEMS
    if more > 0:
        lines.append(f"- … and {more:,} more (the JSON report lists them all)")
    return lines


def _excepted(items: tuple[Item, ...]) -> list[str]:
    return ["Covered by exceptions (not counted):", "", *_bullets(items, reasons=True)]
