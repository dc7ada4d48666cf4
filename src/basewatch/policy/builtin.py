"""The built-in policies, and `evaluate_all`: every configured policy on one image."""

from __future__ import annotations

import dataclasses
import fnmatch
from collections.abc import Mapping, Sequence

from basewatch.errors import UsageError
from basewatch.policy.checks.attestations import ATTESTATIONS
from basewatch.policy.checks.base import APPROVED, SUPPORTED, UP_TO_DATE
from basewatch.policy.checks.findings import FIXABLE_SEVERE, KEV
from basewatch.policy.checks.license import LICENSE
from basewatch.policy.checks.user import NON_ROOT
from basewatch.policy.facts import Facts
from basewatch.policy.model import PolicyConfig, PolicyReport, Verdict
from basewatch.policy.patterns import normalize_pattern, parse_base_reference
from basewatch.policy.spec import PolicySpec

# In the order reports list them: findings, then the base, then the image itself.
BUILTINS: Mapping[str, PolicySpec] = {
    spec.id: spec
    for spec in (
        FIXABLE_SEVERE,
        KEV,
        UP_TO_DATE,
        SUPPORTED,
        APPROVED,
        NON_ROOT,
        LICENSE,
        ATTESTATIONS,
    )
}


def spec_of(policy_id: str) -> PolicySpec:
    """The built-in policy `policy_id`; UsageError naming the known ones when there is none."""
    try:
        return BUILTINS[policy_id]
    except KeyError:
        known = ", ".join(BUILTINS)
        raise UsageError(f"unknown policy {policy_id!r} (known: {known})") from None


def normalized(config: PolicyConfig) -> PolicyConfig:
    """`config` with its parameters parsed and the defaults filled in, and its scope normalised;
    UsageError for an unknown policy, parameter or value (configurations built in code)."""
    if config.ready:
        return config
    spec = spec_of(config.id)
    unknown = sorted(set(config.parameters) - set(spec.parameters))
    if unknown:
        known = ", ".join(spec.parameters) or "none"
        raise UsageError(f"{config.id}: unknown parameter {unknown[0]!r} (known: {known})")
    values = {
        name: parameter.value(config)
        for name, parameter in spec.parameters.items()
        if name in config.parameters or not parameter.required
    }
    return dataclasses.replace(
        config,
        parameters=values,
        scope=tuple(normalize_pattern(g) for g in config.scope),
        ready=True,
    )


def normalize_repository(repository: str) -> str:
    """`registry/repository` of an image name (`debian` -> `docker.io/library/debian`); a tag
    or digest is dropped; text that is no reference is kept as it is."""
    reference = parse_base_reference(repository)
    if reference is None:
        return repository.strip()
    return f"{reference.registry}/{reference.repository}"


def in_scope(config: PolicyConfig, repository: str) -> bool:
    """True when the policy applies to images of `repository` (an unscoped one applies to all;
    a scoped one to no image without a repository)."""
    if not config.scope:
        return True
    name = normalize_repository(repository) if repository else ""
    return bool(name) and any(fnmatch.fnmatchcase(name, glob) for glob in config.scope)


def evaluate(config: PolicyConfig, facts: Facts) -> Verdict:
    """One policy's verdict on the image, whatever its scope."""
    config = normalized(config)
    return spec_of(config.id).evaluate(config, facts)


def evaluate_all(configs: Sequence[PolicyConfig], facts: Facts, repository: str) -> PolicyReport:
    """Every policy whose scope takes in `repository` (the image's `registry/repository`,
    e.g. `docker.io/library/nginx`; "" for an image known by no name), in order; the
    report warns of expired exceptions of the policies it evaluated."""
    verdicts: list[Verdict] = []
    warnings: dict[str, None] = {}
    for config in configs:
        config = normalized(config)
        if not in_scope(config, repository):
            continue
        for exception in config.exceptions:
            if exception.expired(facts.today):
                where = exception.where or f"policy {config.id}"
                warnings.setdefault(
                    f"{where}: exception for {exception.match} expired on "
                    f"{exception.expires}; it no longer applies",
                    None,
                )
        verdicts.append(spec_of(config.id).evaluate(config, facts))
    return PolicyReport(image=facts.image, verdicts=tuple(verdicts), warnings=tuple(warnings))
