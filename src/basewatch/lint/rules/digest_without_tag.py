"""BW104: a digest without a tag cannot be read or updated."""

from __future__ import annotations

from collections.abc import Iterator

from basewatch.lint.model import RuleInfo
from basewatch.lint.rules.base import Context, Hit
from basewatch.models import Severity

INFO = RuleInfo(
    id="BW104",
    name="digest-without-tag",
    title="Base image digest without a tag",
    severity=Severity.LOW,
    rationale=(
        "`python@sha256:...` is reproducible but says nothing to a reader, and update tools "
        "(Renovate, Dependabot, `basewatch lint --fix`) cannot tell which tag to follow."
    ),
    fix="Write the tag the digest came from: `python:3.12-slim@sha256:...`.",
)


def check(ctx: Context) -> Iterator[Hit]:
    for stage in ctx.stages:
        ref = stage.ref
        if ref is not None and ref.digest and not ref.tag:
            yield ctx.from_hit(
                stage, f"{ref.repository} is pinned by digest only: add the tag it came from"
            )
