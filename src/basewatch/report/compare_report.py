"""Renderers for `basewatch compare`: table, json, markdown, and HTML with a chart."""

from __future__ import annotations

import functools
import html
import json
from collections.abc import Callable, Sequence
from typing import Any

from basewatch import __version__
from basewatch.compare import SEVERITIES, Candidate

SCHEMA_VERSION = "1.0"


def _size(n: int) -> str:
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{n} B"


def _findings(c: Candidate, severity: str) -> str:
    if c.findings_total is None:
        return "n/a"
    total, fixable = c.findings.get(severity, (0, 0))
    return f"{total} ({fixable} fixable)"


def _by_severity(severity: str, c: Candidate) -> str:
    return _findings(c, severity)


ROWS: list[tuple[str, Callable[[Candidate], str]]] = [
    ("digest", lambda c: c.digest[:19] if c.digest else "-"),
    ("platform", lambda c: c.platform or "-"),
    ("compressed", lambda c: _size(c.compressed_bytes) if c.compressed_bytes else "-"),
    ("uncompressed", lambda c: _size(c.uncompressed_bytes)),
    ("layers", lambda c: str(c.layers)),
    ("packages", lambda c: str(c.packages)),
    ("libc", lambda c: c.libc or "none found"),
    ("distribution", lambda c: c.distribution or "unknown"),
    ("end of life", lambda c: f"{c.eol or '?'} ({c.eol_status})"),
    *[(s.value, functools.partial(_by_severity, s.value)) for s in SEVERITIES],
    (
        "findings",
        lambda c: (
            "n/a" if c.findings_total is None else f"{c.findings_total} ({c.fixable_total} fixable)"
        ),
    ),
    ("KEV", lambda c: "n/a" if c.kev is None else str(c.kev)),
    ("age", lambda c: "-" if c.age_days is None else f"{c.age_days} days"),
    ("app compat", lambda c: c.compat or "-"),
]


def _clean(text: str) -> str:
    return "".join(ch if ch.isprintable() else "?" for ch in text)


def render_table(candidates: Sequence[Candidate]) -> bytes:
    header = ["", *(_clean(c.reference) for c in candidates)]
    rows = [header, *([label, *(_clean(f(c)) for c in candidates)] for label, f in ROWS)]
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    lines = [
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]
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
                "findings": None
                if c.findings_total is None
                else {
                    "total": c.findings_total,
                    "fixable": c.fixable_total,
                    "kev": c.kev,
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
        "| | " + " | ".join(f"`{_md(c.reference)}`" for c in candidates) + " |",
        "|---|" + "---|" * len(candidates),
    ]
    lines += [
        f"| {label} | " + " | ".join(_md(f(c)) for c in candidates) + " |" for label, f in ROWS
    ]
    return ("\n".join(lines) + "\n").encode()


_COLOURS = {"critical": "#7b1fa2", "high": "#d32f2f", "medium": "#f57c00", "low": "#fbc02d"}


def _chart(candidates: Sequence[Candidate]) -> str:
    """A stacked bar per candidate: findings by severity (inline SVG, no script)."""
    bar, gap, height = 48, 40, 220
    totals = [sum(c.findings.get(s.value, (0, 0))[0] for s in SEVERITIES) for c in candidates]
    scale = (height - 40) / max([*totals, 1])
    width = gap + len(candidates) * (bar + gap)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height + 60}" '
        'role="img" aria-label="findings by severity">'
    ]
    for index, c in enumerate(candidates):
        x = gap + index * (bar + gap)
        y = float(height)
        for s in reversed(SEVERITIES):
            count = c.findings.get(s.value, (0, 0))[0]
            if count:
                h = count * scale
                y -= h
                parts.append(
                    f'<rect x="{x}" y="{y:.1f}" width="{bar}" height="{h:.1f}" '
                    f'fill="{_COLOURS[s.value]}">'
                    f"<title>{s.value}: {count}</title></rect>"
                )
        parts.append(
            f'<text x="{x + bar / 2}" y="{y - 6:.1f}" text-anchor="middle" font-size="12">'
            f"{totals[index]}</text>"
        )
        label = html.escape(_clean(c.reference)[-24:])
        parts.append(
            f'<text x="{x + bar / 2}" y="{height + 18}" text-anchor="middle" font-size="10">'
            f"{label}</text>"
        )
    legend_x = gap
    for s in SEVERITIES:
        parts.append(
            f'<rect x="{legend_x}" y="{height + 34}" width="10" height="10" '
            f'fill="{_COLOURS[s.value]}"/>'
        )
        parts.append(f'<text x="{legend_x + 14}" y="{height + 43}" font-size="11">{s.value}</text>')
        legend_x += 80
    parts.append("</svg>")
    return "".join(parts)


def render_html(candidates: Sequence[Candidate]) -> bytes:
    head = "".join(f"<th>{html.escape(_clean(c.reference))}</th>" for c in candidates)
    body = "".join(
        "<tr><th>"
        + html.escape(label)
        + "</th>"
        + "".join(f"<td>{html.escape(_clean(f(c)))}</td>" for c in candidates)
        + "</tr>"
        for label, f in ROWS
    )
    chart = (
        _chart(candidates)
        if any(c.findings_total is not None for c in candidates)
        else "<p>No vulnerability database was given: no findings to chart.</p>"
    )
    page = (
        '<!doctype html><html><head><meta charset="utf-8"><title>basewatch compare</title>'
        "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:4px 8px;text-align:left}</style></head><body>"
        f"<h1>Base image comparison</h1><table><tr><th></th>{head}</tr>{body}</table>"
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
