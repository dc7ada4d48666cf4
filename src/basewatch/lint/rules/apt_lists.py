"""BW114: `apt-get install` in a shipped stage without removing `/var/lib/apt/lists`."""

from __future__ import annotations

from collections.abc import Iterator

from basewatch.lint.model import Instruction, RuleInfo
from basewatch.lint.rules.base import Context, Hit
from basewatch.lint.shell import program
from basewatch.models import Severity

INFO = RuleInfo(
    id="BW114",
    name="apt-lists-not-removed",
    title="apt package lists left in the image",
    severity=Severity.LOW,
    rationale=(
        "`apt-get update` downloads tens of megabytes of package lists. Unless the same RUN "
        "removes them they stay in the layer of the shipped image, stale from day one."
    ),
    fix=(
        "End the RUN with `&& rm -rf /var/lib/apt/lists/*`, or mount a cache: "
        "`RUN --mount=type=cache,target=/var/lib/apt/lists ...`."
    ),
)


def check(ctx: Context) -> Iterator[Hit]:
    # Only stages whose filesystem ships: the final one and those it is built FROM.
    shipped = {s.index for s in ctx.dockerfile.ancestry(ctx.final)}
    for stage in ctx.stages:
        if stage.index not in shipped:
            continue
        for instruction in stage.instructions:
            if instruction.cmd != "RUN" or _cleaned(instruction):
                continue
            for words in ctx.commands(instruction.shell_text):
                if program(words) in ("apt-get", "apt") and "install" in words[1:]:
                    yield ctx.at(
                        instruction,
                        stage,
                        "apt lists are left in the layer: add && rm -rf /var/lib/apt/lists/*",
                        needle="install",
                    )
                    break


def _cleaned(instruction: Instruction) -> bool:
    if any("/var/lib/apt" in mount for mount in instruction.flag_values("mount")):
        return True
    script = instruction.shell_text
    return "/var/lib/apt/lists" in script and ("rm " in script or "apt-get clean" in script)
