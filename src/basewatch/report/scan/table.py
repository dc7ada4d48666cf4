"""`basewatch scan --format table`: findings as plain, aligned text for a person at a terminal.

One block per affected package, worst package first: a line naming the package, the installed
version and the version(s) that fix it, then one row per finding. The columns line up across
blocks, so `grep CVE- | awk '{print $2}'` works. A summary by severity and the warnings follow.
Every string from the image or the advisory database goes through `printable` first.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from basewatch.report.common import display_name, layer_index, short_digest
from basewatch.report.scan.summary import (
    format_epss,
    group_by_package,
    plural,
    scan_warnings,
    summarize,
    upgrade_target,
)
from basewatch.report.text import MISSING, align_columns, printable

if TYPE_CHECKING:
    from basewatch.models import Finding, ImageInfo, Package, ScanResult
    from basewatch.report.scan.summary import ScanSummary

COLUMNS = ("SEVERITY", "ID", "ALIASES", "STATUS", "FIXED", "KEV", "EPSS")
INDENT = "  "
# A Debian CVE can carry a dozen aliases (DSA, DLA, DEBIAN-CVE, GHSA...): show a few, count
# the rest; the JSON report has them all.
MAX_ALIASES = 3


class ScanTableReporter:
    """Header lines, findings grouped by package, the summary, then the warnings."""

    name: ClassVar[str] = "table"
    media_type: ClassVar[str] = "text/plain; charset=utf-8"

    def render(self, result: ScanResult) -> bytes:
        summary = summarize(result)
        # What was not checked comes first: below the findings it reads as a footnote.
        lines = [f"WARNING: {printable(u.notice())}" for u in summary.unchecked]
        if lines:
            lines.append("")
        lines += [*_header(result, summary), ""]
        groups = group_by_package(result.findings)
        if groups:
            rows: list[tuple[str, ...]] = [COLUMNS]
            for _, findings in groups:
                rows.extend(_row(f) for f in findings)
            aligned = iter(align_columns(rows))
            header = next(aligned)
            for package, findings in groups:
                lines.append(_package_line(package, findings, result.inventory.image))
                lines.append(INDENT + header)
                lines.extend(INDENT + next(aligned) for _ in findings)
                lines.append("")
        else:
            lines.extend([summary.verdict(), ""])
        lines.extend(_summary(summary))
        warnings = scan_warnings(result)
        if warnings:
            lines.append("")
            lines.append(f"WARNING: {plural(len(warnings), 'problem')} during the scan:")
            lines.extend(f"  - {printable(w)}" for w in warnings)
        return ("\n".join(lines) + "\n").encode("utf-8", "backslashreplace")


def _header(result: ScanResult, summary: ScanSummary) -> list[str]:
    image = result.inventory.image
    fields = [("Image", image.reference or MISSING)]
    digest = image.manifest_digest or image.config_digest
    if digest:
        fields.append(("Digest", digest))
    fields.append(("Platform", image.platform or MISSING))
    os = result.inventory.os
    if os is None:
        fields.append(("OS", "not detected"))
    else:
        name = os.pretty_name or " ".join(p for p in (os.id, os.version_id) if p)
        fields.append(("OS", name + (" (distroless)" if os.distroless else "")))
    fields.append(("Packages", str(summary.packages)))
    if result.database is not None:
        updated = max((when for _, when in result.database.sources), default="")
        database = result.database.path + (f" (updated {updated})" if updated else "")
        # The import time says nothing of the data's age: show the stalest source's data date.
        dated = [when for _, when in result.database.data_dates if when]
        undated = len(result.database.data_dates) - len(dated)
        if dated:
            database += f", oldest data from {min(dated)}"
        if undated:
            database += f", {undated} source{'s' if undated > 1 else ''} without a data date"
        fields.append(("Database", database))
    width = max(len(label) for label, _ in fields) + 1
    return [f"{label + ':':<{width}} {printable(value)}" for label, value in fields]


def _package_line(package: Package, findings: list[Finding], image: ImageInfo) -> str:
    target = upgrade_target(findings)
    where = [package.type.value]
    if package.layer:
        index = layer_index(image, package.layer)
        label = f"layer {index}" if index is not None else "layer"
        where.append(f"{label} {short_digest(package.layer)}")
    text = f"{display_name(package)} {package.version or MISSING} -> {target}"
    return printable(f"{text}  ({', '.join(where)})")


def _row(finding: Finding) -> tuple[str, ...]:
    aliases = list(finding.aliases[:MAX_ALIASES])
    if len(finding.aliases) > MAX_ALIASES:
        aliases.append(f"+{len(finding.aliases) - MAX_ALIASES}")
    return (
        finding.severity.value,
        finding.id,
        ",".join(aliases) or MISSING,
        finding.status.value,
        finding.fixed_version or MISSING,
        "yes" if finding.kev else MISSING,
        format_epss(finding.epss) or MISSING,
    )


def _summary(summary: ScanSummary) -> list[str]:
    rows: list[tuple[str, ...]] = [("SEVERITY", "FINDINGS", "FIXABLE")]
    rows.extend((c.severity.value, str(c.findings), str(c.fixable)) for c in summary.by_severity)
    rows.append(("total", str(summary.findings), str(summary.fixable)))
    lines = ["Summary:"]
    lines.extend(INDENT + line for line in align_columns(rows, right=(1, 2)))
    if summary.kev:
        lines.append(
            f"{INDENT}{plural(summary.kev, 'finding')} in CISA's Known Exploited Vulnerabilities"
        )
    if summary.suppressed:
        by_source = ", ".join(f"{n} by {source}" for source, n in summary.suppressed_by_source)
        lines.append(printable(f"{INDENT}{summary.suppressed} suppressed ({by_source})"))
    return lines
