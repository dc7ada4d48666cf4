"""`attestations`: the image carries the supply-chain attestations asked for."""

from __future__ import annotations

from collections.abc import Sequence

from basewatch.policy.facts import Facts
from basewatch.policy.model import Item, PolicyConfig, Verdict
from basewatch.policy.outcome import conclude, not_evaluated, plural
from basewatch.policy.spec import Parameter, PolicySpec, parameters, text_list


def parse_kinds(value: object) -> tuple[str, ...]:
    return text_list(value, what="attestation kinds", check=str.lower)


REQUIRE: Parameter[tuple[str, ...]] = Parameter("require", parse_kinds, ("sbom", "provenance"))


def _attestations(config: PolicyConfig, facts: Facts) -> Verdict:
    title = ATTESTATIONS.title
    if facts.attestations is None:
        why = facts.attestations_why or "they were not looked up"
        return not_evaluated(config, title, f"the image's attestations are not known: {why}")
    required = REQUIRE.value(config)
    found = {a.kind.lower() for a in facts.attestations}
    items = [
        Item(subject=f"no {kind} attestation", data={"id": kind, "kind": kind})
        for kind in required
        if kind not in found
    ]

    def failed(failing: Sequence[Item]) -> str:
        missing = ", ".join(str(i.data["kind"]) for i in failing)
        return f"missing {plural(len(failing), 'attestation')}: {missing}"

    present = ", ".join(k for k in required if k in found)
    return conclude(
        config,
        title,
        facts.today,
        items,
        passed=f"attested: {present}" if present else "no attestation is required",
        failed=failed,
    )


ATTESTATIONS = PolicySpec(
    id="attestations",
    title="The image has supply-chain attestations",
    parameters=parameters(REQUIRE),
    evaluate=_attestations,
)
