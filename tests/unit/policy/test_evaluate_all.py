"""`evaluate_all`: scope, exceptions, expired exceptions, actions, and the report."""

from __future__ import annotations

import datetime as dt
import textwrap

import pytest

from basewatch.errors import UsageError
from basewatch.models import Severity
from basewatch.policy import (
    Action,
    PolicyConfig,
    PolicyException,
    Status,
    default_policies,
    evaluate_all,
    load_policy_file,
)
from basewatch.policy.builtin import in_scope, normalize_repository, normalized
from tests.unit.policy.build import (
    ALPINE,
    BUILT_ON,
    BUSTER,
    base,
    deb,
    facts,
    finding,
    inventory,
    scan,
)

OPENSSL = deb("libssl3", "3.0.11-1", source="openssl")
ZLIB = deb("zlib1g", "1.2.13-1", source="zlib")
INV = inventory((OPENSSL, ZLIB), base_image=base())
RESULT = scan(
    INV,
    [
        finding("CVE-2024-1", OPENSSL, Severity.CRITICAL, aliases=("GHSA-aaaa-bbbb-cccc",)),
        finding("CVE-2024-2", ZLIB, Severity.HIGH),
    ],
)
FACTS = facts(INV, RESULT, user="app", base_now=BUILT_ON)
REPO = "registry.example.com/team/app"


def fixable(*exceptions: PolicyException, action: Action = Action.FAIL) -> PolicyConfig:
    return PolicyConfig("no-fixable-severe", action=action, exceptions=exceptions)


def test_an_exception_covers_items_by_id_alias_package_or_purl() -> None:
    for match in ("CVE-2024-1", "GHSA-aaaa-*", "openssl", "libssl3", "pkg:deb/debian/libssl3*"):
        exception = PolicyException("no-fixable-severe", match, "not reachable")
        (verdict,) = evaluate_all([fixable(exception)], FACTS, REPO).verdicts
        assert [i.data["id"] for i in verdict.items] == ["CVE-2024-2"], match
        assert [(i.data["id"], i.excepted_by) for i in verdict.excepted] == [
            ("CVE-2024-1", "not reachable")
        ]
        assert verdict.reason == (
            "1 fixable finding at or above high (1 more covered by an exception)"
        )


def test_when_exceptions_cover_every_item_the_policy_passes() -> None:
    exception = PolicyException("", "CVE-2024-*", "accepted until the next release")
    report = evaluate_all([fixable(exception)], FACTS, REPO)
    (verdict,) = report.verdicts
    assert verdict.status is Status.PASS
    assert verdict.items == ()
    assert len(verdict.excepted) == 2
    assert verdict.reason == "2 fixable findings at or above high, covered by exceptions"
    assert not report.failed


def test_an_exception_for_another_policy_covers_nothing() -> None:
    exception = PolicyException("no-kev", "CVE-2024-*", "other policy")
    (verdict,) = evaluate_all([fixable(exception)], FACTS, REPO).verdicts
    assert verdict.status is Status.FAIL
    assert len(verdict.items) == 2
    assert verdict.excepted == ()


def test_an_expired_exception_does_not_apply_and_warns() -> None:
    text = textwrap.dedent(
        """\
        policies:
          - id: no-fixable-severe
            exceptions:
              - match: CVE-2024-1
                reason: waiting for the upstream fix
                expires: 2026-02-28
              - match: CVE-2024-2
                reason: still valid today
                expires: 2026-03-01
        """
    )
    report = evaluate_all(load_policy_file(text, "policy.yaml"), FACTS, REPO)
    (verdict,) = report.verdicts
    assert [i.data["id"] for i in verdict.items] == ["CVE-2024-1"]
    assert [i.data["id"] for i in verdict.excepted] == ["CVE-2024-2"]
    assert report.warnings == (
        "policy.yaml:4: exception for CVE-2024-1 expired on 2026-02-28; it no longer applies",
    )
    assert report.failed


def test_a_shared_expired_exception_warns_once() -> None:
    text = textwrap.dedent(
        """\
        policies: [no-fixable-severe, no-kev]
        exceptions:
          - {match: CVE-2024-1, reason: old, expires: 2025-01-01}
        """
    )
    report = evaluate_all(load_policy_file(text, "policy.yaml"), FACTS, REPO)
    assert report.warnings == (
        "policy.yaml:3: exception for CVE-2024-1 expired on 2025-01-01; it no longer applies",
    )


def test_an_exception_built_in_code_warns_naming_its_policy() -> None:
    old = PolicyException("", "CVE-2024-1", "old", dt.date(2025, 1, 1))
    report = evaluate_all([fixable(old)], FACTS, REPO)
    assert report.warnings == (
        "policy no-fixable-severe: exception for CVE-2024-1 expired on 2025-01-01; it no "
        "longer applies",
    )


def test_a_warn_action_never_blocks() -> None:
    report = evaluate_all([fixable(action=Action.WARN)], FACTS, REPO)
    (verdict,) = report.verdicts
    assert verdict.status is Status.FAIL
    assert verdict.action is Action.WARN
    assert not verdict.blocking
    assert not report.failed
    assert report.blocking == ()


def test_a_fail_action_blocks() -> None:
    report = evaluate_all([fixable()], FACTS, REPO)
    assert report.failed
    assert [v.id for v in report.blocking] == ["no-fixable-severe"]


def test_not_evaluated_never_blocks() -> None:
    report = evaluate_all([PolicyConfig("no-kev")], facts(INV, None), REPO)
    assert report.verdicts[0].status is Status.NOT_EVALUATED
    assert not report.failed


@pytest.mark.parametrize(
    ("scope", "repository", "applies"),
    [
        ((), REPO, True),
        ((), "", True),
        (("registry.example.com/team/*",), REPO, True),
        (("registry.example.com/team/*",), f"{REPO}:1.2", True),  # a tag is dropped
        (("registry.example.com/other/*",), REPO, False),
        (("*/team/app",), REPO, True),
        (("nginx",), "docker.io/library/nginx", True),
        (("nginx",), "nginx", True),
        (("myorg/*",), "docker.io/myorg/api", True),
        (("myorg/*",), "registry.example.com/myorg/api", False),
        (("registry.example.com/team/*",), "", False),  # no repository: scoped policies are out
    ],
)
def test_scope_globs(scope: tuple[str, ...], repository: str, applies: bool) -> None:
    config = PolicyConfig("non-root", scope=scope)
    report = evaluate_all([config], FACTS, repository)
    assert [v.id for v in report.verdicts] == (["non-root"] if applies else [])
    assert in_scope(normalized(config), repository) is applies


def test_normalize_repository() -> None:
    assert normalize_repository("nginx:1.27") == "docker.io/library/nginx"
    assert normalize_repository("registry.example.com/team/app@" + BUILT_ON) == (
        "registry.example.com/team/app"
    )
    assert normalize_repository("oci:/tmp/layout") == "oci:/tmp/layout"


def test_default_policies_on_a_clean_image() -> None:
    inv = inventory((OPENSSL,), base_image=base())
    report = evaluate_all(default_policies(), facts(inv, scan(inv), base_now=BUILT_ON), REPO)
    assert report.image == "registry.example.com/team/app:1"
    assert [(v.id, v.status) for v in report.verdicts] == [
        ("no-fixable-severe", Status.PASS),
        ("no-kev", Status.PASS),
        ("base-up-to-date", Status.PASS),
        ("supported-base", Status.PASS),
        ("approved-base", Status.NOT_EVALUATED),
        ("non-root", Status.PASS),
        ("license", Status.NOT_EVALUATED),  # dpkg records no license
        ("attestations", Status.NOT_EVALUATED),
    ]
    assert all(v.reason for v in report.verdicts)
    assert not report.failed
    assert report.warnings == ()


def test_verdicts_carry_the_effective_parameters() -> None:
    configs = [PolicyConfig("no-kev", parameters={"epss": 0.25})]
    (verdict,) = evaluate_all(configs, FACTS, REPO).verdicts
    assert verdict.parameters == {"epss": 0.25}
    (verdict,) = evaluate_all([PolicyConfig("no-fixable-severe")], FACTS, REPO).verdicts
    assert verdict.parameters == {"severity": Severity.HIGH, "days": 0}


def test_configurations_built_in_code_are_validated() -> None:
    with pytest.raises(UsageError, match=r"unknown policy 'nope' \(known: no-fixable-severe"):
        evaluate_all([PolicyConfig("nope")], FACTS, REPO)
    with pytest.raises(UsageError, match=r"no-kev: unknown parameter 'epsss' \(known: epss\)"):
        evaluate_all([PolicyConfig("no-kev", parameters={"epsss": 1})], FACTS, REPO)
    with pytest.raises(UsageError, match="no-fixable-severe: severity 'urgent' is not a severity"):
        evaluate_all(
            [PolicyConfig("no-fixable-severe", parameters={"severity": "urgent"})], FACTS, REPO
        )


def test_an_excepted_single_item_policy_passes_saying_what_is_excepted() -> None:
    exception = PolicyException("", "debian 10", "migration planned for Q2")
    config = PolicyConfig("supported-base", exceptions=(exception,))
    f = facts(inventory(os=BUSTER, base_image=base()))
    (verdict,) = evaluate_all([config], f, REPO).verdicts
    assert verdict.status is Status.PASS
    assert verdict.action is Action.FAIL
    assert verdict.reason == (
        "Debian GNU/Linux 10 (buster) reached end of life on 2024-06-30 (609 days ago), covered "
        "by an exception"
    )
    assert verdict.excepted[0].excepted_by == "migration planned for Q2"


def test_an_excepted_warning_is_not_a_warning_any_more() -> None:
    exception = PolicyException("supported-base", "alpine 3.20", "moving to 3.21 next sprint")
    config = PolicyConfig("supported-base", parameters={"warn_days": 60}, exceptions=(exception,))
    (verdict,) = evaluate_all([config], facts(inventory(os=ALPINE)), REPO).verdicts
    assert verdict.status is Status.PASS
    assert verdict.action is Action.FAIL  # the configured action: nothing is left to warn of
    assert [i.data["id"] for i in verdict.excepted] == ["alpine 3.20"]


def test_an_unset_user_can_be_excepted() -> None:
    exception = PolicyException("non-root", "(unset)", "init container, needs root")
    (verdict,) = evaluate_all(
        [PolicyConfig("non-root", exceptions=(exception,))], facts(user=None), REPO
    ).verdicts
    assert verdict.status is Status.PASS
    assert verdict.reason == "no User set: the container runs as root, covered by an exception"
