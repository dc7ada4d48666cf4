"""What the renderers of `basewatch advise` share: the verdict, the counts and their coverage.

A count is shown as far as both sides were checked: a release without advisories is not clean.
Every string from an image or a registry goes through `scrub` (non-printable characters become
`?`).
"""

from __future__ import annotations

from typing import assert_never

from basewatch.advice.advise import Advice, Recommendation
from basewatch.advice.compare import Coverage, why_unchecked
from basewatch.report.text import scrub


def size_change(delta: int | None) -> str:
    if delta is None:
        return "size change unknown"
    sign = "+" if delta >= 0 else "-"
    return f"{sign}{abs(delta) / (1 << 20):.1f} MiB"


def _count(n: int, checked: Coverage, unchecked: tuple[str, ...]) -> str:
    """A finding count, or why it is not one: a release without advisories is not clean."""
    what = scrub(", ".join(unchecked))
    match checked:
        case Coverage.NO_DATABASE | Coverage.ALL:
            return str(n)
        case Coverage.NONE:
            return f"not checked ({scrub(why_unchecked(unchecked))})" if what else "not checked"
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


def recommendation_lines(r: Recommendation) -> list[str]:
    head = f"{r.kind}: {scrub(r.reference)}" + (f" ({r.digest[:19]})" if r.digest else "")
    lines = [
        head,
        f"  findings that go away: {goes_away(r)}; that arrive: {arrives(r)}; "
        f"{size_change(r.size_delta)}",
    ]
    lines += [f"    - fixes {scrub(k)}" for k in r.fixes]
    lines += [f"    + brings {scrub(k)}" for k in r.arrives]
    lines += [f"    ~ {scrub(n)} {scrub(a)} -> {scrub(b)}" for n, a, b in r.changed_packages]
    if r.note:
        lines.append(f"  note: {scrub(r.note)}")
    return lines


def verdict(advice: Advice) -> str:
    if advice.rebuild:
        return "REBUILD NEEDED"
    if advice.not_checked:
        return "unknown: no reason to rebuild was found in what was checked (see below)"
    return "no rebuild needed"
