"""`basewatch compare --format html`: one page, the table and a chart of findings by severity
(inline SVG, no script)."""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import ClassVar

from basewatch import __version__
from basewatch.advice.compare import ALL_SEVERITIES, Candidate, Coverage
from basewatch.report.compare.cells import legend, rows, severities_shown, short_names
from basewatch.report.text import scrub


class CompareHtmlReporter:
    name: ClassVar[str] = "html"
    media_type: ClassVar[str] = "text/html; charset=utf-8"

    def render(self, candidates: Sequence[Candidate]) -> bytes:
        return render_html(candidates)


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
            f'font-size="10"><title>{html.escape(scrub(c.reference))}</title>{label}</text>'
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
        f'<th title="{html.escape(scrub(c.reference))}">{html.escape(name)}</th>'
        for name, c in zip(names, candidates, strict=True)
    )
    body = "".join(
        "<tr><th>"
        + html.escape(label)
        + "</th>"
        + "".join(f"<td>{html.escape(scrub(f(c)))}</td>" for c in candidates)
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
