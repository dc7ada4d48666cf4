"""BW113: `apk add` that leaves the package index in the layer."""

from __future__ import annotations

from collections.abc import Iterator

from basewatch.lint.model import Instruction, RuleInfo
from basewatch.lint.rules.base import Context, Hit
from basewatch.lint.shell import program
from basewatch.models import Severity

INFO = RuleInfo(
    id="BW113",
    name="apk-add-cache",
    title="`apk add` without `--no-cache`",
    severity=Severity.LOW,
    rationale=(
        "Without `--no-cache` the APKINDEX files stay in the layer: megabytes that serve "
        "nothing at run time and go stale at once."
    ),
    fix="`apk add --no-cache <packages>` (or a `RUN --mount=type=cache,target=/var/cache/apk`).",
)


def check(ctx: Context) -> Iterator[Hit]:
    for stage in ctx.stages:
        for instruction in stage.instructions:
            if instruction.cmd != "RUN" or _cache_mounted(instruction):
                continue
            script = instruction.shell_text
            if "/var/cache/apk" in script and "rm " in script:
                continue
            for words in ctx.commands(script):
                if program(words) != "apk" or "add" not in words[1:]:
                    continue
                if "--no-cache" in words:
                    continue
                yield ctx.at(instruction, stage, "apk add without --no-cache", needle="add")


def _cache_mounted(instruction: Instruction) -> bool:
    return any("/var/cache/apk" in mount for mount in instruction.flag_values("mount"))
