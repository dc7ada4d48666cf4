"""BW105: a base image (or a `COPY --from=<image>`) from a registry outside the trusted list."""

from __future__ import annotations

from collections.abc import Iterator

from basewatch.lint.expand import substitute
from basewatch.lint.model import RuleInfo
from basewatch.lint.reference import parse_reference, registry_matches
from basewatch.lint.rules.base import Context, Hit
from basewatch.models import Severity

INFO = RuleInfo(
    id="BW105",
    name="untrusted-registry",
    title="Base image from an untrusted registry",
    severity=Severity.HIGH,
    rationale=(
        "The base image runs everything in your container. One pulled from a registry your "
        "organisation does not vet, mirror or scan bypasses that supply-chain control."
    ),
    fix=(
        "Use an image from a trusted registry (or your mirror of it), or add the registry "
        "to `trusted-registries` in `.basewatch.toml` after review."
    ),
)


def check(ctx: Context) -> Iterator[Hit]:
    trusted = ctx.config.trusted_registries
    listed = ", ".join(trusted) or "none"
    args = dict(ctx.dockerfile.global_args)
    stage_names = {s.name for s in ctx.dockerfile.stages if s.name}
    for stage in ctx.stages:
        ref = stage.ref
        if ref is not None and not any(registry_matches(ref, entry) for entry in trusted):
            where = f"{ref.registry}/{ref.repository}"
            yield ctx.from_hit(stage, f"{where} is not from a trusted registry ({listed})")
        # COPY --from=<image> puts that image's files in this one just as surely.
        for instruction in stage.instructions:
            source = instruction.flag("from") if instruction.cmd == "COPY" else None
            if not source or source.isdigit():
                continue
            resolved = substitute(source, args, ctx.dockerfile.expansion) or source
            if resolved.lower() in stage_names:
                continue
            copied = parse_reference(resolved)
            if copied is None or any(registry_matches(copied, entry) for entry in trusted):
                continue
            where = f"{copied.registry}/{copied.repository}"
            yield ctx.at(
                instruction,
                stage,
                f"COPY --from={source}: {where} is not from a trusted registry ({listed})",
                needle=source,
            )
