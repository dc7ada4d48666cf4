"""Renderers for `basewatch advise`: table, json, markdown."""

from __future__ import annotations

import json
from typing import Any, assert_never

from basewatch import __version__
from basewatch.advice.advise import Advice, Recommendation
from basewatch.advice.compare import Coverage, why_unchecked


def _clean(text: str) -> str:
    return "".join(ch if ch.isprintable() else "?" for ch in text)


def _size(delta: int | None) -> str:
    if delta is None:
        return "size change unknown"
    sign = "+" if delta >= 0 else "-"
    return f"{sign}{abs(delta) / (1 << 20):.1f} MiB"


def _count(n: int, checked: Coverage, unchecked: tuple[str, ...]) -> str:
    """A finding count, or why it is not one: a release without advisories is not clean."""
    what = _clean(", ".join(unchecked))
    match checked:
        case Coverage.NO_DATABASE | Coverage.ALL:
            return str(n)
        case Coverage.NONE:
            return f"not checked ({_clean(why_unchecked(unchecked))})" if what else "not checked"
        case Coverage.PARTIAL:
            return f"{n}, partial (not checked: {what})" if what else f"{n}, partial"
        case _:
            assert_never(checked)


def arrives(r: Recommendation) -> str:
    return _count(len(r.arrives), r.candidate_checked, r.candidate_unchecked)


def goes_away(r: Recommendation) -> str:
    # A finding goes away only if both sides were checked for it.
    if r.current_checked is Coverage.NONE:
        return _count(0, r.current_checked, r.current_unchecked)
    if r.candidate_checked is Coverage.NONE:
        return _count(0, r.candidate_checked, r.candidate_unchecked)
    if Coverage.PARTIAL in (r.current_checked, r.candidate_checked):
        return f"{len(r.fixes)}, partial"
    return str(len(r.fixes))


def _lines(r: Recommendation) -> list[str]:
    head = f"{r.kind}: {_clean(r.reference)}" + (f" ({r.digest[:19]})" if r.digest else "")
    lines = [
        head,
        f"  findings that go away: {goes_away(r)}; that arrive: {arrives(r)}; "
        f"{_size(r.size_delta)}",
    ]
    lines += [f"    - fixes {_clean(k)}" for k in r.fixes]
    lines += [f"    + brings {_clean(k)}" for k in r.arrives]
    lines += [f"    ~ {_clean(n)} {_clean(a)} -> {_clean(b)}" for n, a, b in r.changed_packages]
    if r.note:
        lines.append(f"  note: {_clean(r.note)}")
    return lines


def verdict(advice: Advice) -> str:
    if advice.rebuild:
        return "REBUILD NEEDED"
    if advice.not_checked:
        return "unknown: no reason to rebuild was found in what was checked (see below)"
    return "no rebuild needed"


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
    lines.append(f"Verdict: {verdict(advice)}")
    lines += [f"  - {_clean(reason)}" for reason in advice.reasons]
    if advice.not_checked:
        lines.append("Not checked:")
        lines += [f"  - {_clean(what)}" for what in advice.not_checked]
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
                "candidate_checked": r.candidate_checked.value,
                "candidate_unchecked": list(r.candidate_unchecked),
                "current_checked": r.current_checked.value,
                "current_unchecked": list(r.current_unchecked),
                "partial": r.partial,
            }
            for r in advice.recommendations
        ],
        "rebuild": advice.rebuild,
        "reasons": list(advice.reasons),
        "warnings": list(advice.warnings),
        "not_checked": list(advice.not_checked),
        "partial": advice.partial,
    }


def render_markdown(advice: Advice) -> bytes:
    lines = [f"## basewatch advise: `{_clean(advice.image)}`", ""]
    lines.append(f"**Verdict: {verdict(advice)}**")
    lines += [f"- {_clean(r)}" for r in advice.reasons]
    if advice.not_checked:
        lines += ["", "Not checked:", *(f"- {_clean(w)}" for w in advice.not_checked)]
    if advice.recommendations:
        lines += ["", "| kind | reference | fixes | arrives | size |", "|---|---|---|---|---|"]
        lines += [
            f"| {r.kind} | `{_clean(r.reference)}` | {goes_away(r)} | {arrives(r)} "
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
