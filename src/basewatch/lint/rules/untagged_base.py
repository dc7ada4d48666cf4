"""BW101: a base image without a tag (or digest) silently means `:latest`."""

from __future__ import annotations

from collections.abc import Iterator

from basewatch.lint.model import RuleInfo
from basewatch.lint.rules.base import Context, Hit
from basewatch.models import Severity

INFO = RuleInfo(
    id="BW101",
    name="untagged-base",
    title="Base image without a tag",
    severity=Severity.MEDIUM,
    rationale=(
        "Without a tag the builder pulls `latest`: whatever the publisher pushed last, a new "
        "major version included. Builds stop being repeatable and break without a change here."
    ),
    fix="Name the version you tested: `FROM python:3.12-slim`, then pin its digest.",
)


def check(ctx: Context) -> Iterator[Hit]:
    for stage in ctx.stages:
        ref = stage.ref
        if ref is None or ref.tag or ref.digest:
            continue
        via = f" (from {stage.base_text})" if stage.base_text != stage.base_resolved else ""
        yield ctx.from_hit(
            stage, f"{ref.text}{via} has no tag: it means {ref.text}:latest; pin a version"
        )
