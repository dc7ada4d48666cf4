"""Renderers for `basewatch compare`: table, json, markdown, and HTML with a chart."""

from __future__ import annotations

import functools
import html
import json
import re
from collections.abc import Callable, Sequence
from typing import Any, assert_never

from basewatch import __version__
from basewatch.advice.compare import ALL_SEVERITIES, SEVERITIES, Candidate, Coverage
from basewatch.models import Severity

SCHEMA_VERSION = "1.0"


def _size(n: int) -> str:
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{n} B"


def _covered(c: Candidate, value: str) -> str:
    """A count in a cell, as far as the candidate was checked: never a bare 0 for nothing."""
    match c.checked:
        case Coverage.NO_DATABASE:
            return "n/a"
        case Coverage.NONE:
            return "not checked"
        case Coverage.PARTIAL:
            return f"{value}, partial"
        case Coverage.ALL:
            return value
        case _:
            assert_never(c.checked)


def _count(c: Candidate, total: int | None, fixable: int | None) -> str:
    return _covered(c, f"{total} ({fixable} fixable)")


def _findings(c: Candidate, severity: str) -> str:
    total, fixable = c.findings.get(severity, (0, 0))
    return _count(c, total, fixable)


def _by_severity(severity: str, c: Candidate) -> str:
    return _findings(c, severity)


def _kev(c: Candidate) -> str:
    return _covered(c, str(c.kev))


def _checked(c: Candidate) -> str:
    shown = ", ".join(c.unchecked)
    match c.checked:
        case Coverage.NO_DATABASE:
            return "no database"
        case Coverage.ALL:
            return "all"
        case Coverage.NONE:
            return f"not checked: {shown}" if shown else "not checked"
        case Coverage.PARTIAL:
            return f"partial, not checked: {shown}" if shown else "partial (see warnings)"
        case _:
            assert_never(c.checked)


def severities_shown(candidates: Sequence[Candidate]) -> list[Severity]:
    """The four main severities always; negligible and unknown when some candidate has them."""
    return [
        s
        for s in ALL_SEVERITIES
        if s in SEVERITIES or any(c.findings.get(s.value, (0, 0))[0] for c in candidates)
    ]


def rows(candidates: Sequence[Candidate]) -> list[tuple[str, Callable[[Candidate], str]]]:
    """The report's rows, label and cell function, in order."""
    return [
        ("digest", lambda c: c.digest[:19] if c.digest else "-"),
        ("platform", lambda c: c.platform or "-"),
        ("compressed", lambda c: _size(c.compressed_bytes) if c.compressed_bytes else "-"),
        ("uncompressed", lambda c: _size(c.uncompressed_bytes)),
        ("layers", lambda c: str(c.layers)),
        ("packages", lambda c: str(c.packages)),
        ("libc", lambda c: c.libc or "none found"),
        ("distribution", lambda c: c.distribution or "unknown"),
        ("end of life", lambda c: f"{c.eol or '?'} ({c.eol_status})"),
        ("checked", _checked),
        *[
            (s.value, functools.partial(_by_severity, s.value))
            for s in severities_shown(candidates)
        ],
        ("findings", lambda c: _count(c, c.findings_total, c.fixable_total)),
        ("KEV", _kev),
        ("age", lambda c: "-" if c.age_days is None else f"{c.age_days} days"),
        ("app compat", lambda c: c.compat or "-"),
    ]


_TRANSPORT = re.compile(r"^(?:oci-archive|docker-archive|oci|registry|docker|dir|rootfs):")


def short_name(reference: str) -> str:
    """What a column is headed with: the image's `name:tag` or the file's name."""
    name = _TRANSPORT.sub("", reference).split("@", 1)[0].rstrip("/")
    return name.rsplit("/", 1)[-1] or reference


def short_names(candidates: Sequence[Candidate]) -> list[str]:
    """One distinct short name per candidate (a suffix tells equal ones apart)."""
    names: list[str] = []
    for c in candidates:
        name = _clean(short_name(c.reference))
        if len(name) > 40:
            name = name[:39] + "~"
        unique, n = name, 2
        while unique in names:
            unique, n = f"{name} #{n}", n + 1
        names.append(unique)
    return names


def legend(candidates: Sequence[Candidate]) -> list[tuple[str, str]]:
    """(short name, full reference) of each column whose name is not the whole reference."""
    return [
        (short, _clean(c.reference))
        for short, c in zip(short_names(candidates), candidates, strict=True)
        if short != _clean(c.reference)
    ]


def _clean(text: str) -> str:
    return "".join(ch if ch.isprintable() else "?" for ch in text)


def render_table(candidates: Sequence[Candidate]) -> bytes:
    header = ["", *short_names(candidates)]
    table = [
        header,
        *([label, *(_clean(f(c)) for c in candidates)] for label, f in rows(candidates)),
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


def document(candidates: Sequence[Candidate]) -> dict[str, Any]:
    return {
        "schema_version": SCHEMA_VERSION,
        "tool": {"name": "basewatch", "version": __version__},
        "candidates": [
            {
                "reference": c.reference,
                "digest": c.digest,
                "platform": c.platform,
                "compressed_bytes": c.compressed_bytes,
                "uncompressed_bytes": c.uncompressed_bytes,
                "layers": c.layers,
                "packages": c.packages,
                "libc": c.libc,
                "distribution": c.distribution,
                "eol": c.eol or None,
                "eol_status": c.eol_status,
                "created": c.created or None,
                "age_days": c.age_days,
                "checked": c.checked.value,
                "unchecked": list(c.unchecked),
                "findings": None
                if c.checked in (Coverage.NO_DATABASE, Coverage.NONE)
                else {
                    "total": c.findings_total,
                    "fixable": c.fixable_total,
                    "kev": c.kev,
                    "partial": c.checked is Coverage.PARTIAL,
                    "by_severity": {
                        k: {"total": t, "fixable": f} for k, (t, f) in c.findings.items()
                    },
                },
                "compat": c.compat or None,
                "warnings": list(c.warnings),
            }
            for c in candidates
        ],
    }


def render_json(candidates: Sequence[Candidate]) -> bytes:
    return (json.dumps(document(candidates), indent=2) + "\n").encode()


def _md(text: str) -> str:
    return _clean(text).replace("|", "\\|")


def render_markdown(candidates: Sequence[Candidate]) -> bytes:
    lines = [
        "| | " + " | ".join(f"`{_md(name)}`" for name in short_names(candidates)) + " |",
        "|---|" + "---|" * len(candidates),
    ]
    lines += [
        f"| {label} | " + " | ".join(_md(f(c)) for c in candidates) + " |"
        for label, f in rows(candidates)
    ]
    named = legend(candidates)
    if named:
        lines += ["", *(f"- `{_md(short)}`: `{_md(full)}`" for short, full in named)]
    return ("\n".join(lines) + "\n").encode()


_COLOURS = {
    "critical": "#7b1fa2",
    "high": "#d32f2f",
    "medium": "#f57c00",
    "low": "#fbc02d",
    "negligible": "#9e9e9e",
    "unknown": "#607d8b",
}
_BAR, _GAP, _PLOT = 48, 40, 180  # bar width, space between bars, height of the tallest bar
_TOP = 24  # room above the tallest bar for its total
_LEGEND_ITEM, _LEGEND_ROW = 90, 18


def _chart(candidates: Sequence[Candidate]) -> str:
    """A stacked bar per candidate: findings by severity (inline SVG, no script).

    Bars are drawn from every severity that has findings, so a bar's height is its total; a
    candidate that was not checked gets no bar and says so instead of drawing 0.
    """
    shown = severities_shown(candidates)
    totals = [sum(c.findings.get(s.value, (0, 0))[0] for s in ALL_SEVERITIES) for c in candidates]
    scale = _PLOT / max([*totals, 1])
    width = max(_GAP + len(candidates) * (_BAR + _GAP), 2 * _GAP + _LEGEND_ITEM)
    per_row = max(1, (width - 2 * _GAP) // _LEGEND_ITEM)
    legend_rows = -(-len(shown) // per_row)
    baseline = _TOP + _PLOT
    height = baseline + 24 + legend_rows * _LEGEND_ROW + 8
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="findings by severity">'
    ]
    for index, (c, name) in enumerate(zip(candidates, short_names(candidates), strict=True)):
        x = _GAP + index * (_BAR + _GAP)
        y = float(baseline)
        if c.checked in (Coverage.NO_DATABASE, Coverage.NONE):
            text = "not checked" if c.checked is Coverage.NONE else "n/a"
        else:
            for s in reversed(shown):
                count = c.findings.get(s.value, (0, 0))[0]
                if count:
                    h = count * scale
                    y -= h
                    parts.append(
                        f'<rect x="{x}" y="{y:.1f}" width="{_BAR}" height="{h:.1f}" '
                        f'fill="{_COLOURS[s.value]}">'
                        f"<title>{s.value}: {count}</title></rect>"
                    )
            text = str(totals[index]) + ("+" if c.checked is Coverage.PARTIAL else "")
        parts.append(
            f'<text x="{x + _BAR / 2}" y="{y - 6:.1f}" text-anchor="middle" font-size="12">'
            f"{html.escape(text)}</text>"
        )
        label = html.escape(name if len(name) <= 12 else name[:11] + "~")
        parts.append(
            f'<text x="{x + _BAR / 2}" y="{baseline + 16}" text-anchor="middle" '
            f'font-size="10"><title>{html.escape(_clean(c.reference))}</title>{label}</text>'
        )
    for index, s in enumerate(shown):
        row, column = divmod(index, per_row)
        lx = _GAP + column * _LEGEND_ITEM
        ly = baseline + 28 + row * _LEGEND_ROW
        parts.append(
            f'<rect class="legend" x="{lx}" y="{ly}" width="10" height="10" '
            f'fill="{_COLOURS[s.value]}"/>'
        )
        parts.append(f'<text x="{lx + 14}" y="{ly + 9}" font-size="11">{s.value}</text>')
    parts.append("</svg>")
    return "".join(parts)


def render_html(candidates: Sequence[Candidate]) -> bytes:
    names = short_names(candidates)
    head = "".join(
        f'<th title="{html.escape(_clean(c.reference))}">{html.escape(name)}</th>'
        for name, c in zip(names, candidates, strict=True)
    )
    body = "".join(
        "<tr><th>"
        + html.escape(label)
        + "</th>"
        + "".join(f"<td>{html.escape(_clean(f(c)))}</td>" for c in candidates)
        + "</tr>"
        for label, f in rows(candidates)
    )
    named = legend(candidates)
    key = (
        "<dl>"
        + "".join(
            f"<dt>{html.escape(short)}</dt><dd><code>{html.escape(full)}</code></dd>"
            for short, full in named
        )
        + "</dl>"
        if named
        else ""
    )
    chart = (
        _chart(candidates)
        if any(c.checked is not Coverage.NO_DATABASE for c in candidates)
        else "<p>No vulnerability database was given: no findings to chart.</p>"
    )
    page = (
        '<!doctype html><html><head><meta charset="utf-8"><title>basewatch compare</title>'
        "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:4px 8px;text-align:left}</style></head><body>"
        f"<h1>Base image comparison</h1><table><tr><th></th>{head}</tr>{body}</table>{key}"
        f"<h2>Findings by severity</h2>{chart}"
        f"<p><small>basewatch {html.escape(__version__)}</small></p></body></html>\n"
    )
    return page.encode()


def render(fmt: str, candidates: Sequence[Candidate]) -> bytes:
    match fmt:
        case "table":
            return render_table(candidates)
        case "json":
            return render_json(candidates)
        case "markdown":
            return render_markdown(candidates)
        case "html":
            return render_html(candidates)
    raise ValueError(f"unknown compare format {fmt!r}")
