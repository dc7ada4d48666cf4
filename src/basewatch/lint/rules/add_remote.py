"""BW110: `ADD` of a remote URL without `--checksum`."""

from __future__ import annotations

from collections.abc import Iterator

from basewatch.lint.model import RuleInfo
from basewatch.lint.rules.base import Context, Hit
from basewatch.models import Severity

INFO = RuleInfo(
    id="BW110",
    name="add-remote-without-checksum",
    title="`ADD` of a remote URL without `--checksum`",
    severity=Severity.MEDIUM,
    rationale=(
        "The file behind a URL can change, or be replaced by an attacker, between two "
        "builds; nothing checks that the bytes are the ones you reviewed."
    ),
    fix="Add `--checksum=sha256:<hex>` (BuildKit 1.6+), or download and verify in a `RUN`.",
)


def check(ctx: Context) -> Iterator[Hit]:
    for stage in ctx.stages:
        for instruction in stage.instructions:
            if instruction.cmd != "ADD" or instruction.flag("checksum"):
                continue
            sources = instruction.value[:-1]
            for source in sources:
                if source.lower().startswith(("http://", "https://")):
                    yield ctx.at(
                        instruction,
                        stage,
                        f"ADD {source} downloads without --checksum: its content is not verified",
                        needle=source,
                    )
