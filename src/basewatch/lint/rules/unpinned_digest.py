"""BW103: a tag without a digest is not reproducible (policy: `pin-digests`)."""

from __future__ import annotations

from collections.abc import Iterator

from basewatch.lint.config import PinPolicy
from basewatch.lint.model import RuleInfo
from basewatch.lint.rules.base import Context, Hit
from basewatch.models import Severity

INFO = RuleInfo(
    id="BW103",
    name="unpinned-digest",
    title="Base image tag without a digest",
    severity=Severity.MEDIUM,
    rationale=(
        "Tags are moved: `python:3.12-slim` is rebuilt every few weeks. Without a digest two "
        "builds of the same commit can ship different bases, and a compromised registry or "
        "mirror can serve anything under the tag."
    ),
    fix=(
        "Run `basewatch lint --fix` to rewrite the line as `name:tag@sha256:<index digest>`; "
        "keep the tag so people and update bots can read and refresh it."
    ),
)


def check(ctx: Context) -> Iterator[Hit]:
    policy = ctx.config.pin_digests
    if policy is PinPolicy.NONE:
        return
    shipped = {s.index for s in ctx.dockerfile.ancestry(ctx.final)}
    for stage in ctx.stages:
        ref = stage.ref
        if ref is None or not ref.tag or ref.digest:
            continue
        if policy is PinPolicy.FINAL and stage.index not in shipped:
            continue
        if "$" in stage.base_text:
            note = " (built from ARGs: pin the ARG's default or the --build-arg)"
        else:
            note = "; run basewatch lint --fix"
        yield ctx.from_hit(stage, f"{ref.text} is not pinned to a digest{note}")
