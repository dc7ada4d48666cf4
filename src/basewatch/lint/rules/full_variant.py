"""BW108: the final stage uses a full image variant where a slim one exists."""

from __future__ import annotations

from collections.abc import Iterator

from basewatch.lint.model import RuleInfo
from basewatch.lint.rules.base import Context, Hit
from basewatch.lint.rules.images import slim_variant
from basewatch.models import Severity

INFO = RuleInfo(
    id="BW108",
    name="full-variant",
    title="Final stage on a full image variant",
    severity=Severity.LOW,
    rationale=(
        "Full variants carry compilers, headers and hundreds of packages the application "
        "does not run: more to download, more to scan, more vulnerabilities to triage."
    ),
    fix=(
        "Build in a full-variant stage if you need its tools, and ship on the slim variant: "
        "`python:3.12` -> `python:3.12-slim`."
    ),
)


def check(ctx: Context) -> Iterator[Hit]:
    root = ctx.dockerfile.ancestry(ctx.final)[-1]
    ref = root.ref
    if ref is None or root.index not in {s.index for s in ctx.stages}:
        return
    slim = slim_variant(ref)
    if slim is not None:
        current = ref.tag or "latest"
        yield ctx.from_hit(
            root,
            f"the final stage ships {ref.name}:{current}, a full variant; {ref.name}:{slim} exists",
        )
