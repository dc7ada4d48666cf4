"""`non-root`: unset User and explicit root both fail, and say which."""

from __future__ import annotations

import pytest

from basewatch.policy import Status
from tests.unit.policy.build import facts, run


def test_an_unset_user_fails_as_root_by_default() -> None:
    verdict = run("non-root", facts(user=None))
    assert verdict.status is Status.FAIL
    assert verdict.reason == "no User set: the container runs as root"
    assert dict(verdict.items[0].data) == {"id": "(unset)", "user": None, "explicit": False}


def test_an_empty_user_is_an_unset_one() -> None:
    verdict = run("non-root", facts(user="  "))
    assert verdict.reason == "no User set: the container runs as root"


@pytest.mark.parametrize("user", ["root", "0", "0:0", "root:root", "root:staff", "0:1000"])
def test_explicit_root_fails(user: str) -> None:
    verdict = run("non-root", facts(user=user))
    assert verdict.status is Status.FAIL
    assert verdict.reason == f"User is explicitly root ({user})"
    assert verdict.items[0].data["explicit"] is True


@pytest.mark.parametrize("user", ["app", "1000", "1000:1000", "nonroot:nonroot", "rooty", "10"])
def test_a_non_root_user_passes_naming_it(user: str) -> None:
    verdict = run("non-root", facts(user=user))
    assert verdict.status is Status.PASS
    assert verdict.reason == f"runs as {user}"


def test_a_non_root_user_in_roots_group_passes_with_a_note() -> None:
    verdict = run("non-root", facts(user="1000:0"))
    assert verdict.status is Status.PASS
    assert verdict.reason == "runs as 1000:0; its group is 0: root's group"
