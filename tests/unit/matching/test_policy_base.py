"""`--only-base` / `--ignore-base` need a known base: `Policy.check_base`."""

from __future__ import annotations

import dataclasses

import pytest

from basewatch.errors import Remedy, UsageError
from basewatch.matching.policy import Policy
from basewatch.models import BaseImage, BaseMethod, Confidence, Inventory, Origin
from tests.unit.report.conftest import make_inventory


def unknown_base() -> Inventory:
    inventory = make_inventory()
    packages = tuple(dataclasses.replace(p, origin=Origin.UNKNOWN) for p in inventory.packages)
    return dataclasses.replace(inventory, packages=packages, base=None)


@pytest.mark.parametrize("policy", [Policy(only_base=True), Policy(ignore_base=True)])
def test_unknown_base_is_refused(policy: Policy) -> None:
    with pytest.raises(UsageError, match=r"base image of .* is not known") as info:
        policy.check_base(unknown_base())
    assert info.value.remedy is Remedy.RECORD_BASE
    assert Policy().check_base(unknown_base()) == []


def test_origins_from_an_sbom_are_enough() -> None:
    inventory = unknown_base()
    first = dataclasses.replace(inventory.packages[0], origin=Origin.BASE)
    inventory = dataclasses.replace(inventory, packages=(first, *inventory.packages[1:]))
    assert Policy(only_base=True).check_base(inventory) == []


def test_a_base_guessed_from_the_history_is_a_warning() -> None:
    guessed = BaseImage(
        reference="", digest="", method=BaseMethod.HISTORY, confidence=Confidence.LOW, layers=1
    )
    inventory = dataclasses.replace(make_inventory(), base=guessed)
    (warning,) = Policy(ignore_base=True).check_base(inventory)
    assert "guessed from its history" in warning
    assert "recording the base in the catalog makes it certain" in warning


def test_both_filters_are_refused() -> None:
    with pytest.raises(UsageError, match="would hide every finding"):
        Policy(only_base=True, ignore_base=True).check_base(make_inventory())
