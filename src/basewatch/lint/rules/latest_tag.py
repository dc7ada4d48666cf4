"""BW102: `:latest` names no version."""

from __future__ import annotations

from collections.abc import Iterator

from basewatch.lint.model import RuleInfo
from basewatch.lint.rules.base import Context, Hit
from basewatch.models import Severity

INFO = RuleInfo(
    id="BW102",
    name="latest-tag",
    title="Base image tagged `latest`",
    severity=Severity.MEDIUM,
    rationale=(
        "`latest` moves with every release of the image: the next build may get another major "
        "version of the distribution or runtime. A digest next to it hides what it was."
    ),
    fix="Use a version tag (`node:22-slim`, `alpine:3.20`) and pin its digest.",
)


def check(ctx: Context) -> Iterator[Hit]:
    for stage in ctx.stages:
        ref = stage.ref
        if ref is not None and ref.tag.lower() == "latest":
            pinned = (
                " (the digest pins it, but says nothing about the version)" if ref.digest else ""
            )
            yield ctx.from_hit(stage, f"{ref.text} uses the latest tag{pinned}; pin a version")
