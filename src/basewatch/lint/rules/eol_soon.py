"""BW107: the tag names a release that reaches end of life soon (`eol-warning-days`, 90)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

from basewatch.lint.model import RuleInfo
from basewatch.lint.rules.base import Context, Hit
from basewatch.models import Severity
from basewatch.vulndb.eol import cycles_in

INFO = RuleInfo(
    id="BW107",
    name="end-of-life-soon",
    title="Distribution or runtime reaching end of life soon",
    severity=Severity.MEDIUM,
    rationale=(
        "Moving to a new major release of a distribution or runtime takes planning and "
        "testing; starting when security fixes have already stopped is too late."
    ),
    fix="Plan the move to a supported release now; BW106 fires on the day support ends.",
)


def check(ctx: Context) -> Iterator[Hit]:
    horizon = ctx.today + timedelta(days=ctx.config.eol_warning_days)
    for stage in ctx.stages:
        if stage.ref is None:
            continue
        for cycle in cycles_in(stage.ref, ctx.eol):
            if cycle.eol is not None and ctx.today < cycle.eol <= horizon:
                days = (cycle.eol - ctx.today).days
                yield ctx.from_hit(
                    stage,
                    f"{stage.ref.text}: {cycle.label} reaches end of life on "
                    f"{cycle.eol.isoformat()} (in {days} days)",
                )
