"""BW115: an Alpine (musl) stage takes binaries built for glibc."""

from __future__ import annotations

import re
from collections.abc import Iterator

from basewatch.lint.expand import substitute
from basewatch.lint.model import Instruction, RuleInfo, Stage
from basewatch.lint.reference import parse_reference
from basewatch.lint.rules.base import Context, Hit
from basewatch.lint.rules.images import is_glibc, is_musl
from basewatch.models import Severity

INFO = RuleInfo(
    id="BW115",
    name="musl-glibc-mix",
    title="glibc binaries on a musl (Alpine) base",
    severity=Severity.MEDIUM,
    rationale=(
        "Programs linked against glibc do not run on musl: they fail with `not found` (no "
        "glibc loader) or crash on missing symbols. Whether a given binary is affected "
        "depends on how it was linked."
    ),
    fix=(
        "Build in an Alpine stage too, link statically (`CGO_ENABLED=0`, `-static`, a "
        "`*-linux-musl` target), download musl builds, or ship on a glibc base. "
        "`basewatch compat` gives the definitive answer for the built image."
    ),
)

_GLIBC_DOWNLOAD = re.compile(r"[^\s\"']*(?:linux-gnu|manylinux)[^\s\"']*", re.IGNORECASE)
_STATIC = re.compile(
    r"CGO_ENABLED=0|-static\b|linux-musl|\bmusl\b|-extldflags|\bzig\b|--target[= ]\S*musl",
    re.IGNORECASE,
)
_HINT = "; run basewatch compat on the built image for the definitive answer"


def check(ctx: Context) -> Iterator[Hit]:
    df = ctx.dockerfile
    names = {s.name: s for s in df.stages if s.name}
    args = dict(df.global_args)
    for stage in ctx.stages:
        root = df.root_ref(stage)
        if root is None or not is_musl(root):
            continue
        for instruction in stage.instructions:
            if instruction.cmd == "COPY" and (source := instruction.flag("from")):
                yield from _copy(ctx, stage, instruction, source, names, args)
            elif instruction.cmd in ("RUN", "ADD"):
                text = instruction.shell_text if instruction.cmd == "RUN" else instruction.original
                match = _GLIBC_DOWNLOAD.search(text)
                if match:
                    yield ctx.at(
                        instruction,
                        stage,
                        f"stage {stage.label} is musl-based ({root.text}) but downloads a "
                        f"glibc build ({_short(match.group(0))}){_HINT}",
                        needle=match.group(0)[:40],
                    )


def _copy(
    ctx: Context,
    stage: Stage,
    instruction: Instruction,
    source: str,
    names: dict[str, Stage],
    args: dict[str, str | None],
) -> Iterator[Hit]:
    df = ctx.dockerfile
    source = substitute(source, args, ctx.dockerfile.expansion) or source
    if source.isdigit() and int(source) < len(df.stages):
        origin: Stage | None = df.stages[int(source)]
    else:
        origin = names.get(source.lower())
    if origin is not None:
        ref = df.root_ref(origin)
        if ref is None or not is_glibc(ref) or _builds_static(df.ancestry(origin)):
            return
        what = f"stage {origin.label} ({ref.text}, glibc)"
    else:
        ref = parse_reference(source)
        if ref is None or not is_glibc(ref):
            return
        what = f"{ref.text} (glibc)"
    yield ctx.at(
        instruction,
        stage,
        f"stage {stage.label} is musl-based but copies files from {what}: "
        f"dynamically linked programs will not run{_HINT}",
        needle=f"--from={source}" if f"--from={source}" in instruction.original else "",
    )


def _builds_static(stages: tuple[Stage, ...]) -> bool:
    for stage in stages:
        for instruction in stage.instructions:
            if instruction.cmd in ("RUN", "ENV", "ARG") and _STATIC.search(instruction.original):
                return True
    return False


def _short(text: str) -> str:
    return text if len(text) <= 80 else text[:77] + "..."
