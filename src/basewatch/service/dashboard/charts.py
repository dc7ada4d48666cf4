"""Line charts for the dashboard, drawn server-side as inline SVG (no script, stdlib only).

`line_chart` returns a `<figure>`: an accessible `<svg>` (title, desc, one circle with a tooltip
per value), a legend that wraps inside the width and tells series apart by dash pattern as well
as colour, and a `<details>` table with the same numbers.

Colours: series N is drawn in `var(--chart-N)` (N modulo the palette size) when the page sets
that custom property, else in PALETTE_LIGHT / PALETTE_DARK as `prefers-color-scheme` says.
Text, axes and gridlines use `currentColor`.
"""

from __future__ import annotations

import hashlib
import html
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

__all__ = [
    "DARK_BACKGROUND",
    "LIGHT_BACKGROUND",
    "PALETTE_DARK",
    "PALETTE_LIGHT",
    "Series",
    "contrast_ratio",
    "line_chart",
]

LIGHT_BACKGROUND = "#ffffff"
DARK_BACKGROUND = "#15181c"
# Each colour has a contrast ratio of at least 3:1 (WCAG 1.4.11) against its background.
PALETTE_LIGHT = ("#1f6fd1", "#c4420c", "#2b8a3e", "#b3246b", "#6741d9", "#0b7285", "#946200",
                 "#5c6b7a")  # fmt: skip
PALETTE_DARK = ("#74a7ff", "#ff922b", "#69db7c", "#f783ac", "#b197fc", "#3bc9db", "#ffd43b",
                "#adb5bd")  # fmt: skip
_DASHES = ("", "8 4", "2 3", "10 3 2 3", "4 4", "14 4", "2 6", "10 3 2 3 2 3")

CHAR_WIDTH = 7.0  # estimated width of one character at font-size 12
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_PAD, _LEGEND_ROW, _SWATCH = 8, 20, 28
_MISSING = "\u2013"  # en dash: a series has no value on that date


@dataclass(frozen=True)
class Series:
    """One line: a name and its (date, count) points; counts are non-negative, dates unique."""

    name: str
    points: Sequence[tuple[date, int]]

    def __post_init__(self) -> None:
        if any(y < 0 for _, y in self.points):
            raise ValueError(f"series {self.name!r}: counts must be non-negative")
        if len({d for d, _ in self.points}) != len(self.points):
            raise ValueError(f"series {self.name!r}: a date appears twice")


def _luminance(color: str) -> float:
    digits = color.removeprefix("#")
    if len(digits) == 3:
        digits = "".join(c * 2 for c in digits)
    if not re.fullmatch(r"[0-9a-fA-F]{6}", digits):
        raise ValueError(f"not a hex colour: {color!r}")
    channels = [int(digits[i : i + 2], 16) / 255 for i in (0, 2, 4)]
    r, g, b = (c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast_ratio(a: str, b: str) -> float:
    """WCAG contrast ratio of two hex colours ("#rgb" or "#rrggbb"): 1.0 to 21.0."""
    lighter, darker = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


def _esc(text: str) -> str:
    return html.escape(_NOT_XML.sub("", text), quote=True)


def _num(v: float) -> str:
    s = f"{v:.1f}".removesuffix(".0")
    return "0" if s == "-0" else s


def _fit(text: str, room: float) -> str:
    """`text`, cut with an ellipsis to about `room` pixels."""
    chars = max(1, int(room / CHAR_WIDTH))
    return text if len(text) <= chars else text[: chars - 1] + "…"


def _y_ticks(peak: int, intervals: int) -> list[int]:
    """Ticks from 0 to a top >= peak in a 1-2-5 step, at most `intervals` steps."""
    peak, magnitude = max(peak, 1), 1
    while True:
        for step in (magnitude, 2 * magnitude, 5 * magnitude):
            if step * intervals >= peak:
                return list(range(0, -(-peak // step) * step + 1, step))
        magnitude *= 10


def _short(d: date, with_year: bool) -> str:
    return f"{_MONTHS[d.month - 1]} {d.day}" + (f" {d.year}" if with_year else "")


def _label_stride(xs: Sequence[float], need: float) -> int:
    """The smallest k such that labels at every k-th position are at least `need` apart."""
    for k in range(1, len(xs)):
        if all(xs[i + k] - xs[i] >= need for i in range(len(xs) - k)):
            return k
    return max(1, len(xs))


def _style() -> str:
    light = "".join(
        f".chart-svg .series-{i}{{color:var(--chart-{i},{c})}}" for i, c in enumerate(PALETTE_LIGHT)
    )
    dark = "".join(
        f".chart-svg .series-{i}{{color:var(--chart-{i},{c})}}" for i, c in enumerate(PALETTE_DARK)
    )
    return (
        "<style>.chart-svg{max-width:100%;height:auto}"
        f"{light}@media (prefers-color-scheme: dark){{{dark}}}</style>"
    )


def _chart_id(title: str, series: Sequence[Series], *extra: object) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")[:32].strip("-") or "chart"
    data = repr((title, extra, [(s.name, [tuple(p) for p in s.points]) for s in series]))
    return f"chart-{slug}-{hashlib.blake2s(data.encode(), digest_size=4).hexdigest()}"


def _legend(series: Sequence[Series], width: int, top: float) -> tuple[list[str], float]:
    """Legend items in rows that wrap inside `width`; returns the parts and the bottom edge."""
    parts, x, y = ['<g class="legend">'], float(_PAD), top
    for i, s in enumerate(series):
        name = _fit(s.name, width - 2 * _PAD - _SWATCH - 6)
        item = _SWATCH + 6 + len(name) * CHAR_WIDTH
        if x > _PAD and x + item > width - _PAD:
            x, y = float(_PAD), y + _LEGEND_ROW
        c = i % len(PALETTE_LIGHT)
        parts.append(
            f'<g class="legend-item"><title>{_esc(s.name)}</title><g class="swatch series-{c}">'
            f'<line x1="{_num(x)}" y1="{_num(y)}" x2="{_num(x + _SWATCH)}" y2="{_num(y)}" '
            f'stroke="currentColor" stroke-width="2" stroke-dasharray="{_DASHES[c] or "none"}"/>'
            f'<circle cx="{_num(x + _SWATCH / 2)}" cy="{_num(y)}" r="3" fill="currentColor"/></g>'
            f'<text class="legend-label" x="{_num(x + _SWATCH + 6)}" y="{_num(y)}" '
            f'dy="0.32em">{_esc(name)}</text></g>'
        )
        x += item + 16
    parts.append("</g>")
    return parts, y + _LEGEND_ROW / 2


def _table(series: Sequence[Series], dates: Sequence[date], title: str) -> str:
    values = [dict(s.points) for s in series]
    head = "".join(f'<th scope="col">{_esc(s.name)}</th>' for s in series)
    body = "".join(
        f'<tr><th scope="row">{d.isoformat()}</th>'
        + "".join(f"<td>{v[d]:,}</td>" if d in v else f"<td>{_MISSING}</td>" for v in values)
        + "</tr>"
        for d in dates
    )
    return (
        f"<details><summary>The numbers behind “{_esc(title)}”</summary><table>"
        f'<caption>{_esc(title)}</caption><thead><tr><th scope="col">Date</th>{head}</tr>'
        f"</thead><tbody>{body}</tbody></table></details>"
    )


def line_chart(
    series: Sequence[Series],
    *,
    title: str,
    description: str = "",
    width: int = 720,
    height: int = 280,
    y_label: str = "",
) -> str:
    """A `<figure class="chart">`: the SVG line chart, its legend and a table of the numbers.

    `height` is the plot's (axes included); the legend's rows are added below it. Widths under
    240 and heights under 160 are raised to those. The same input always gives the same output.
    """
    width, height = max(width, 240), max(height, 160)
    dates = sorted({d for s in series for d, _ in s.points})
    head = f'<figure class="chart"><figcaption>{_esc(title)}</figcaption>'
    if not dates:
        return f'{head}<p class="chart-empty">No data yet</p></figure>'
    uid = _chart_id(title, series, description, width, height, y_label)
    peak = max(y for s in series for _, y in s.points)
    top, bottom = 12.0, height - 30.0
    ticks = _y_ticks(peak, max(2, min(6, int(bottom - top) // 40)))
    with_year = dates[0].year != dates[-1].year
    label_w = max(len(_short(d, with_year)) for d in dates) * CHAR_WIDTH
    y_text = max(len(f"{t:,}") for t in ticks) * CHAR_WIDTH
    left = max(y_text + 10 + (20 if y_label else 0), label_w / 2 + 4)
    right = width - max(label_w / 2 + 4, 16)
    span = (dates[-1] - dates[0]).days

    def x_of(d: date) -> float:
        if span == 0:
            return (left + right) / 2
        return left + (d - dates[0]).days * (right - left) / span

    def y_of(v: int) -> float:
        return bottom - v * (bottom - top) / ticks[-1]

    parts = ['<g class="grid" stroke="currentColor" stroke-opacity="0.15">']
    parts += [
        f'<line x1="{_num(left)}" y1="{_num(y_of(t))}" x2="{_num(right)}" y2="{_num(y_of(t))}"/>'
        for t in ticks[1:]
    ]
    parts.append('</g><g class="axis y-axis" text-anchor="end">')
    parts += [
        f'<text class="y-tick" x="{_num(left - 6)}" y="{_num(y_of(t))}" dy="0.32em">{t:,}</text>'
        for t in ticks
    ]
    parts.append('</g><g class="axis x-axis" text-anchor="middle">')
    xs = [x_of(d) for d in dates]
    for d, x in list(zip(dates, xs, strict=True))[:: _label_stride(xs, label_w + 8)]:
        parts.append(
            f'<line x1="{_num(x)}" y1="{_num(bottom)}" x2="{_num(x)}" y2="{_num(bottom + 4)}" '
            f'stroke="currentColor"/><text class="x-tick" x="{_num(x)}" y="{_num(bottom + 18)}" '
            f'data-x="{d.isoformat()}">{_short(d, with_year)}</text>'
        )
    parts.append(
        f'</g><path class="axis-line" d="M{_num(left)} {_num(top)}V{_num(bottom)}H{_num(right)}" '
        'fill="none" stroke="currentColor"/>'
    )
    if y_label:
        parts.append(
            f'<text class="y-label" transform="rotate(-90)" x="{_num(-(top + bottom) / 2)}" '
            f'y="14" text-anchor="middle">{_esc(_fit(y_label, bottom - top))}</text>'
        )
    radius = 3 if len(dates) * 10 <= right - left else 2  # smaller dots let dashes show
    for i, s in enumerate(series):
        c, name, points = i % len(PALETTE_LIGHT), _esc(s.name), sorted(s.points)
        parts.append(f'<g class="series-group" data-series="{name}">')
        if len(points) > 1:
            coords = " ".join(f"{_num(x_of(d))},{_num(y_of(y))}" for d, y in points)
            dash = f' stroke-dasharray="{_DASHES[c]}"' if _DASHES[c] else ""
            parts.append(
                f'<polyline class="series series-{c}" points="{coords}" fill="none" '
                f'stroke="currentColor" stroke-width="2" stroke-linejoin="round"{dash}/>'
            )
        parts += [
            f'<circle class="point series-{c}" cx="{_num(x_of(d))}" cy="{_num(y_of(y))}" '
            f'r="{radius}" fill="currentColor" data-series="{name}" data-x="{d.isoformat()}" '
            f'data-y="{y}">'
            f"<title>{name}: {y:,} on {d.isoformat()}</title></circle>"
            for d, y in points
        ]
        parts.append("</g>")
    legend, legend_bottom = _legend(series, width, bottom + 44)
    total = int(legend_bottom + _PAD + 0.5)
    desc = description or (
        f"Line chart of {len(series)} series from {dates[0].isoformat()} to "
        f"{dates[-1].isoformat()}; the highest value is {peak:,}."
    )
    svg = (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart-svg" role="img" '
        f'aria-labelledby="{uid}-title {uid}-desc" width="{width}" height="{total}" '
        f'viewBox="0 0 {width} {total}" font-family="system-ui, sans-serif" font-size="12" '
        f'fill="currentColor">{_style()}<title id="{uid}-title">{_esc(title)}</title>'
        f'<desc id="{uid}-desc">{_esc(desc)}</desc>{"".join(parts)}{"".join(legend)}</svg>'
    )
    return f"{head}{svg}{_table(series, dates, title)}</figure>"
