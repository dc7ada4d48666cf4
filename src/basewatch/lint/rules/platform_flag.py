"""BW116: `FROM --platform=` with a hard-coded value."""

from __future__ import annotations

from collections.abc import Iterator

from basewatch.lint.model import RuleInfo
from basewatch.lint.rules.base import Context, Hit
from basewatch.models import Severity

INFO = RuleInfo(
    id="BW116",
    name="hard-coded-platform",
    title="Hard-coded `FROM --platform=`",
    severity=Severity.LOW,
    rationale=(
        "`--platform=linux/amd64` builds that architecture whatever was asked for: an arm64 "
        "build silently ships amd64 binaries under emulation, or fails at run time."
    ),
    fix=(
        "Use `--platform=$BUILDPLATFORM` for build stages that cross-compile and "
        "`$TARGETPLATFORM` (the default) otherwise; pass `--platform` to the build instead."
    ),
)


def check(ctx: Context) -> Iterator[Hit]:
    for stage in ctx.stages:
        platform = stage.platform
        if platform and "$" not in platform:
            line, column = ctx.locate(stage.from_instruction, "--platform")
            yield Hit(
                f"FROM --platform={platform} is hard-coded: use $BUILDPLATFORM or $TARGETPLATFORM",
                line,
                column,
                stage.label,
            )
