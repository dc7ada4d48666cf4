"""BW109: the final stage runs as root (no `USER`, or `USER root` / `0`)."""

from __future__ import annotations

from collections.abc import Iterator

from basewatch.lint.expand import substitute
from basewatch.lint.model import Instruction, RuleInfo, Stage
from basewatch.lint.rules.base import Context, Hit
from basewatch.lint.rules.images import runs_as_non_root
from basewatch.models import Severity

INFO = RuleInfo(
    id="BW109",
    name="root-user",
    title="Final stage runs as root",
    severity=Severity.MEDIUM,
    rationale=(
        "A process running as root in the container is root on the host's kernel: a bug in "
        "it, or a container escape, starts with every privilege. Most services need none."
    ),
    fix=(
        "Create a user and switch to it at the end of the final stage: "
        "`RUN useradd --system --uid 10001 app` then `USER 10001`."
    ),
)

# Windows containers' administrator is ContainerAdministrator (the servercore default).
_ROOT = frozenset({"root", "0", "containeradministrator"})


def check(ctx: Context) -> Iterator[Hit]:
    final = ctx.final
    if final.index not in {s.index for s in ctx.stages}:
        return
    args = dict(ctx.dockerfile.global_args)
    for stage in ctx.dockerfile.ancestry(final):  # USER is inherited through FROM <stage>
        user = _last_user(stage)
        if user is None:
            continue
        instruction, name = user
        resolved = substitute(name, args, ctx.dockerfile.expansion) if "$" in name else name
        if resolved is None:
            return  # USER ${APP_USER}: not knowable here
        if resolved.split(":", 1)[0].lower() in _ROOT:
            inherited = "" if stage is final else f" (inherited from stage {stage.label})"
            yield ctx.at(
                instruction,
                final,
                f"the final stage runs as root: USER {name}{inherited}",
                needle=name,
            )
        return
    root = ctx.dockerfile.ancestry(final)[-1]
    if root.ref is not None and runs_as_non_root(root.ref):
        return
    base = root.ref.text if root.ref is not None else root.base_resolved or root.base_text
    yield ctx.from_hit(
        final, f"the final stage has no USER: it runs as {base}'s default user, root"
    )


def _last_user(stage: Stage) -> tuple[Instruction, str] | None:
    for instruction in reversed(stage.instructions):
        if instruction.cmd == "USER" and instruction.value:
            return instruction, instruction.value[0]
    return None
