"""Renderers for `basewatch advise`: table, json, markdown."""

from __future__ import annotations

import json
from typing import Any

from basewatch import __version__
from basewatch.advise import Advice, Recommendation


def _clean(text: str) -> str:
    return "".join(ch if ch.isprintable() else "?" for ch in text)


def _size(delta: int | None) -> str:
    if delta is None:
        return "size change unknown"
    sign = "+" if delta >= 0 else "-"
    return f"{sign}{abs(delta) / (1 << 20):.1f} MiB"


def _lines(r: Recommendation) -> list[str]:
    head = f"{r.kind}: {_clean(r.reference)}" + (f" ({r.digest[:19]})" if r.digest else "")
    lines = [
        head,
        f"  findings that go away: {len(r.fixes)}; that arrive: {len(r.arrives)}; "
        f"{_size(r.size_delta)}",
    ]
    lines += [f"    - fixes {_clean(k)}" for k in r.fixes]
    lines += [f"    + brings {_clean(k)}" for k in r.arrives]
    lines += [f"    ~ {_clean(n)} {_clean(a)} -> {_clean(b)}" for n, a, b in r.changed_packages]
    if r.note:
        lines.append(f"  note: {_clean(r.note)}")
    return lines


def render_table(advice: Advice) -> bytes:
    base = advice.base
    lines = [f"Image: {_clean(advice.image)}"]
    if base is not None:
        lines.append(
            f"Base:  {_clean(base.reference) or '(unnamed)'} {base.digest[:19]} "
            f"({base.method}, {base.confidence} confidence, {base.layers} layer(s))"
        )
    else:
        lines.append("Base:  unknown")
    lines.append("")
    for recommendation in advice.recommendations:
        lines += [*_lines(recommendation), ""]
    if not advice.recommendations:
        lines += ["No refresh, update or alternative to recommend.", ""]
    verdict = "REBUILD NEEDED" if advice.rebuild else "no rebuild needed"
    lines.append(f"Verdict: {verdict}")
    lines += [f"  - {_clean(reason)}" for reason in advice.reasons]
    return ("\n".join(lines) + "\n").encode()


def document(advice: Advice) -> dict[str, Any]:
    return {
        "schema_version": "1.0",
        "tool": {"name": "basewatch", "version": __version__},
        "image": advice.image,
        "base": advice.base.to_dict() if advice.base else None,
        "recommendations": [
            {
                "kind": r.kind,
                "reference": r.reference,
                "digest": r.digest or None,
                "fixes": list(r.fixes),
                "arrives": list(r.arrives),
                "size_delta": r.size_delta,
                "changed_packages": [
                    {"name": n, "current": a, "candidate": b} for n, a, b in r.changed_packages
                ],
                "note": r.note or None,
            }
            for r in advice.recommendations
        ],
        "rebuild": advice.rebuild,
        "reasons": list(advice.reasons),
        "warnings": list(advice.warnings),
    }


def render_markdown(advice: Advice) -> bytes:
    lines = [f"## basewatch advise: `{_clean(advice.image)}`", ""]
    lines.append(f"**{'Rebuild needed' if advice.rebuild else 'No rebuild needed'}**")
    lines += [f"- {_clean(r)}" for r in advice.reasons]
    if advice.recommendations:
        lines += ["", "| kind | reference | fixes | arrives | size |", "|---|---|---|---|---|"]
        lines += [
            f"| {r.kind} | `{_clean(r.reference)}` | {len(r.fixes)} | {len(r.arrives)} "
            f"| {_size(r.size_delta)} |"
            for r in advice.recommendations
        ]
    return ("\n".join(lines) + "\n").encode()


def render(fmt: str, advice: Advice) -> bytes:
    match fmt:
        case "table":
            return render_table(advice)
        case "json":
            return (json.dumps(document(advice), indent=2) + "\n").encode()
        case "markdown":
            return render_markdown(advice)
    raise ValueError(f"unknown advise format {fmt!r}")
