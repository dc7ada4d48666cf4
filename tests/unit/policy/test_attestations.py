"""`attestations`: the SBOM and provenance attestations an image carries."""

from __future__ import annotations

from basewatch.policy import Attestation, Status
from tests.unit.policy.build import facts, run

SBOM = Attestation("sbom", "application/spdx+json", "sha256:" + "1" * 64)
PROVENANCE = Attestation("provenance", "https://slsa.dev/provenance/v1", "sha256:" + "2" * 64)


def test_both_attestations_pass() -> None:
    verdict = run("attestations", facts(attestations=(SBOM, PROVENANCE)))
    assert verdict.status is Status.PASS
    assert verdict.reason == "attested: sbom, provenance"


def test_a_missing_kind_fails_with_an_item_per_kind() -> None:
    verdict = run("attestations", facts(attestations=(SBOM,)))
    assert verdict.status is Status.FAIL
    assert verdict.reason == "missing 1 attestation: provenance"
    assert [i.subject for i in verdict.items] == ["no provenance attestation"]
    none = run("attestations", facts(attestations=()))
    assert none.reason == "missing 2 attestations: sbom, provenance"
    assert [i.data["kind"] for i in none.items] == ["sbom", "provenance"]


def test_require_names_the_kinds() -> None:
    assert run("attestations", facts(attestations=(SBOM,)), require=["SBOM"]).status is (
        Status.PASS
    )
    verdict = run("attestations", facts(attestations=(SBOM,)), require=["sbom", "vex"])
    assert verdict.reason == "missing 1 attestation: vex"


def test_attestations_not_looked_up_are_not_evaluated() -> None:
    verdict = run(
        "attestations", facts(attestations=None, attestations_why="a local image has no referrers")
    )
    assert verdict.status is Status.NOT_EVALUATED
    assert verdict.reason == (
        "the image's attestations are not known: a local image has no referrers"
    )
    verdict = run("attestations", facts(attestations=None))
    assert verdict.reason == "the image's attestations are not known: they were not looked up"
