"""BW112: `apt-get install` without `--no-install-recommends`."""

from __future__ import annotations

from collections.abc import Iterator

from basewatch.lint.model import RuleInfo
from basewatch.lint.rules.base import Context, Hit
from basewatch.lint.shell import program
from basewatch.models import Severity

INFO = RuleInfo(
    id="BW112",
    name="apt-install-recommends",
    title="`apt-get install` without `--no-install-recommends`",
    severity=Severity.LOW,
    rationale=(
        "apt installs recommended packages by default: often dozens of packages nobody "
        "asked for, each one more thing to patch."
    ),
    fix="`apt-get install -y --no-install-recommends <packages>`.",
)

_OPTIONS = ("--no-install-recommends", "apt::install-recommends=false", "apt::install-recommends=0")


def check(ctx: Context) -> Iterator[Hit]:
    for stage in ctx.stages:
        for instruction in stage.instructions:
            if instruction.cmd != "RUN":
                continue
            for words in ctx.commands(instruction.shell_text):
                if program(words) not in ("apt-get", "apt") or "install" not in words[1:]:
                    continue
                lowered = [w.lower() for w in words]
                if any(w.endswith(o) for w in lowered for o in _OPTIONS):
                    continue
                yield ctx.at(
                    instruction,
                    stage,
                    f"{program(words)} install without --no-install-recommends",
                    needle="install",
                )
