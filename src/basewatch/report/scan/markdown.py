"""`basewatch scan --format markdown`: GitHub-flavoured Markdown for a pull-request comment or a
job summary (`$GITHUB_STEP_SUMMARY`).

A summary table by severity, then one section per affected package, worst first, each with a
table of its findings. Every string from the image or the advisory database is escaped, so a
package name cannot break a table (`|`), strike text through (`~` in Debian versions), or
inject links, images or HTML into the page.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from basewatch.report.common import display_name, layer_index, short_digest
from basewatch.report.scan.summary import (
    advisory_url,
    format_epss,
    group_by_package,
    plural,
    scan_warnings,
    summarize,
    upgrade_target,
)
from basewatch.report.text import MISSING, markdown_escape

if TYPE_CHECKING:
    from basewatch.models import Finding, ImageInfo, Package, ScanResult
    from basewatch.report.scan.summary import ScanSummary

FINDING_COLUMNS = ("Severity", "ID", "Aliases", "Status", "Fixed in", "KEV", "EPSS")


class ScanMarkdownReporter:
    """Header, summary by severity, per-package sections, then warnings."""

    name: ClassVar[str] = "markdown"
    media_type: ClassVar[str] = "text/markdown; charset=utf-8"

    def render(self, result: ScanResult) -> bytes:
        summary = summarize(result)
        image = result.inventory.image
        lines = [f"## basewatch scan of {markdown_escape(_image_name(image))}", ""]
        if summary.unchecked:
            # First, as a GitHub alert: below the findings it reads as a footnote.
            lines += [
                "> [!WARNING]",
                *(f"> - {markdown_escape(u.notice())}" for u in summary.unchecked),
                "",
            ]
        lines += [*_header(result, summary), ""]
        lines += _summary(summary)
        groups = group_by_package(result.findings)
        if groups:
            lines += ["", "### Findings by package"]
            for package, findings in groups:
                lines += ["", *_package_section(package, findings, image)]
        else:
            lines += ["", markdown_escape(summary.verdict())]
        warnings = scan_warnings(result)
        if warnings:
            lines += ["", "### Warnings", ""]
            lines += [f"- {markdown_escape(w)}" for w in warnings]
        return ("\n".join(lines) + "\n").encode("utf-8", "backslashreplace")


def _image_name(image: ImageInfo) -> str:
    return image.reference or image.manifest_digest or image.config_digest or "image"


def _header(result: ScanResult, summary: ScanSummary) -> list[str]:
    image = result.inventory.image
    fields = []
    digest = image.manifest_digest or image.config_digest
    if digest:
        fields.append(("Digest", digest))
    if image.platform:
        fields.append(("Platform", image.platform))
    os = result.inventory.os
    if os is None:
        fields.append(("OS", "not detected"))
    else:
        name = os.pretty_name or " ".join(p for p in (os.id, os.version_id) if p)
        fields.append(("OS", name + (" (distroless)" if os.distroless else "")))
    fields.append(("Packages", str(summary.packages)))
    # The database path is left out: it is a path on the machine that ran the scan.
    if result.database is not None and result.database.sources:
        updated = max(when for _, when in result.database.sources)
        fields.append(("Advisories updated", updated))
    return [f"- **{label}:** {markdown_escape(value)}" for label, value in fields]


def _summary(summary: ScanSummary) -> list[str]:
    lines = [
        "### Summary",
        "",
        "| Severity | Findings | Fixable |",
        "|:--|--:|--:|",
    ]
    lines += [f"| {c.severity.value} | {c.findings} | {c.fixable} |" for c in summary.by_severity]
    lines.append(f"| **total** | **{summary.findings}** | **{summary.fixable}** |")
    notes = []
    if summary.kev:
        notes.append(
            f"{plural(summary.kev, 'finding')} in CISA's Known Exploited Vulnerabilities catalog."
        )
    if summary.suppressed:
        by_source = ", ".join(
            f"{n} by {markdown_escape(source)}" for source, n in summary.suppressed_by_source
        )
        notes.append(f"{summary.suppressed} suppressed ({by_source}).")
    if notes:
        lines += ["", " ".join(notes)]
    return lines


def _package_section(package: Package, findings: list[Finding], image: ImageInfo) -> list[str]:
    target = markdown_escape(upgrade_target(findings))
    name = markdown_escape(display_name(package))
    version = markdown_escape(package.version) or MISSING
    where = [package.type.value]
    if package.layer:
        index = layer_index(image, package.layer)
        label = f"layer {index}" if index is not None else "layer"
        where.append(f"{label} `{short_digest(package.layer).replace('`', '')}`")
    if package.evidence:
        where.append(markdown_escape(", ".join(package.evidence)))
    lines = [f"#### {name} {version} → {target}", "", ", ".join(where), ""]
    lines.append("| " + " | ".join(FINDING_COLUMNS) + " |")
    lines.append("|" + "|".join(":--" for _ in FINDING_COLUMNS) + "|")
    lines += [_row(f) for f in findings]
    return lines


def _row(finding: Finding) -> str:
    cells = [
        finding.severity.value,
        f"[{markdown_escape(finding.id)}]({advisory_url(finding.id)})",
        ", ".join(markdown_escape(a) for a in finding.aliases) or MISSING,
        finding.status.value,
        markdown_escape(finding.fixed_version) or MISSING,
        "**yes**" if finding.kev else MISSING,
        format_epss(finding.epss) or MISSING,
    ]
    return "| " + " | ".join(cells) + " |"
