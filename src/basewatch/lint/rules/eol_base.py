"""BW106: the tag names a distribution or runtime release that has reached end of life."""

from __future__ import annotations

from collections.abc import Iterator

from basewatch.lint.model import RuleInfo
from basewatch.lint.rules.base import Context, Hit
from basewatch.models import Severity
from basewatch.vulndb.eol import cycles_in

INFO = RuleInfo(
    id="BW106",
    name="end-of-life",
    title="End-of-life distribution or runtime",
    severity=Severity.HIGH,
    rationale=(
        "After end of life nobody publishes security fixes: every vulnerability found from "
        "then on stays in the image forever, and scanners often stop reporting it."
    ),
    fix=(
        "Move to a supported release (`debian:bookworm`, `python:3.12-slim`, `node:22`). The "
        "dates come from a table shipped with basewatch; `basewatch db update` refreshes it."
    ),
)


def check(ctx: Context) -> Iterator[Hit]:
    for stage in ctx.stages:
        if stage.ref is None:
            continue
        for cycle in cycles_in(stage.ref, ctx.eol):
            if cycle.eol is not None and cycle.eol <= ctx.today:
                since = "" if cycle.eol.year < 1900 else f" on {cycle.eol.isoformat()}"
                yield ctx.from_hit(
                    stage, f"{stage.ref.text}: {cycle.label} reached end of life{since}"
                )
