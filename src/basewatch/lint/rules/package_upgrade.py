"""BW111: upgrading the distribution's packages inside the Dockerfile."""

from __future__ import annotations

from collections.abc import Iterator

from basewatch.lint.model import RuleInfo
from basewatch.lint.rules.base import Context, Hit
from basewatch.lint.shell import program
from basewatch.models import Severity

INFO = RuleInfo(
    id="BW111",
    name="package-upgrade",
    title="Distribution upgrade inside the Dockerfile",
    severity=Severity.LOW,
    rationale=(
        "`apt-get upgrade` or `apk upgrade` makes the image differ from its base in ways no "
        "tag or digest records, grows a layer with a copy of half the base, and hides that "
        "the base itself is stale. Refreshing the base gets the same fixes, reproducibly."
    ),
    fix=(
        "Remove the upgrade and move to a fresh base (`basewatch lint --fix` pins the newest "
        "digest of your tag); install only the packages you need."
    ),
)

_UPGRADES = {
    "apt-get": {"upgrade", "dist-upgrade", "full-upgrade"},
    "apt": {"upgrade", "dist-upgrade", "full-upgrade"},
    "aptitude": {"upgrade", "safe-upgrade", "full-upgrade", "dist-upgrade"},
    "apk": {"upgrade"},
    "yum": {"upgrade", "update"},
    "dnf": {"upgrade", "update", "distro-sync"},
    "microdnf": {"upgrade", "update"},
    "zypper": {"update", "up", "dist-upgrade", "dup"},
}


def check(ctx: Context) -> Iterator[Hit]:
    for stage in ctx.stages:
        for instruction in stage.instructions:
            if instruction.cmd != "RUN":
                continue
            for words in ctx.commands(instruction.shell_text):
                name = program(words)
                verbs = _UPGRADES.get(name)
                if not verbs:
                    continue
                action = next((w for w in words[1:] if not w.startswith("-")), "")
                if action in verbs and _upgrades_everything(name, words, action):
                    yield ctx.at(
                        instruction,
                        stage,
                        f"{name} {action} upgrades the base image's packages: refresh the base",
                        needle=action,
                    )


def _upgrades_everything(name: str, words: list[str], action: str) -> bool:
    """`apk upgrade` with package names, or `yum update pkg`, upgrades just those."""
    after = words[words.index(action) + 1 :]
    operands = [w for w in after if not w.startswith("-")]
    if name in ("apt-get", "apt", "aptitude"):
        return True
    return not operands
