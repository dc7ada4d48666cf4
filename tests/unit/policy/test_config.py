"""Policy files: what they configure, and every mistake named by file and line."""

from __future__ import annotations

import datetime as dt
import re
import textwrap

import pytest

from basewatch.errors import ConfigError, UsageError
from basewatch.models import Severity
from basewatch.policy import (
    BUILTINS,
    Action,
    PolicyConfig,
    PolicyException,
    PolicyFileError,
    default_policies,
    load_policy_file,
)
from basewatch.policy.config import MAX_POLICIES, MAX_POLICY_FILE_BYTES


def load(text: str) -> list[PolicyConfig]:
    return load_policy_file(textwrap.dedent(text), "policy.yaml")


def refused(text: str) -> PolicyFileError:
    with pytest.raises(PolicyFileError) as caught:
        load(text)
    return caught.value


def test_the_example_of_the_issue() -> None:
    configs = load(
        """\
        policies:
          - id: no-fixable-severe
            severity: high
          - id: approved-base
            allow: ["registry.example.com/base/*", "docker.io/library/debian:*-slim"]
          - id: license
            deny: [AGPL-3.0-only, AGPL-3.0-or-later]
            action: warn
        """
    )
    assert configs == [
        PolicyConfig(
            "no-fixable-severe",
            parameters={"severity": Severity.HIGH, "days": 0},
            line=2,
            origin="policy.yaml",
        ),
        PolicyConfig(
            "approved-base",
            parameters={
                "allow": ("registry.example.com/base/*", "docker.io/library/debian:*-slim"),
                "supported_only": False,
            },
            line=4,
            origin="policy.yaml",
        ),
        PolicyConfig(
            "license",
            action=Action.WARN,
            parameters={"deny": ("AGPL-3.0-only", "AGPL-3.0-or-later")},
            line=6,
            origin="policy.yaml",
        ),
    ]


def test_values_are_normalised() -> None:
    (approved, kev, fixable, license_) = load(
        """\
        policies:
          - id: approved-base
            allow: ["debian:*-slim", myorg/base, index.docker.io/library/alpine]
            supported_only: true
            scope: [app, "registry.example.com/prod/*"]
          - id: no-kev
            epss: 1
          - id: no-fixable-severe
            severity: CRITICAL
            days: 14
          - id: license
            deny: [AGPL-3.0, agpl-3.0+, AGPL-3.0-only]
        """
    )
    assert approved.parameters == {
        "allow": (
            "docker.io/library/debian:*-slim",
            "docker.io/myorg/base",
            "docker.io/library/alpine",
        ),
        "supported_only": True,
    }
    assert approved.scope == ("docker.io/library/app", "registry.example.com/prod/*")
    assert kev.parameters == {"epss": 1.0}
    assert fixable.parameters == {"severity": Severity.CRITICAL, "days": 14}
    assert license_.parameters == {"deny": ("AGPL-3.0-only", "AGPL-3.0-or-later")}


def test_a_bare_id_is_the_policy_with_its_defaults() -> None:
    assert load("policies: [no-kev, non-root]\n") == [
        PolicyConfig("no-kev", parameters={"epss": None}, line=1, origin="policy.yaml"),
        PolicyConfig("non-root", parameters={}, line=1, origin="policy.yaml"),
    ]


def test_exceptions_inline_and_top_level() -> None:
    configs = load(
        """\
        policies:
          - id: no-fixable-severe
            exceptions:
              - match: CVE-2024-1234
                reason: not reachable
                expires: 2026-01-31
          - id: license
        exceptions:
          - match: "pkg:npm/agpl-tool*"
            policy: license
            reason: build tool, not shipped
          - match: "CVE-2025-*"
            reason: "triaged in TICKET-1"
            expires: "2026-06-30"
        """
    )
    own = PolicyException(
        "no-fixable-severe",
        "CVE-2024-1234",
        "not reachable",
        dt.date(2026, 1, 31),
        4,
        "policy.yaml",
    )
    tool = PolicyException(
        "license", "pkg:npm/agpl-tool*", "build tool, not shipped", None, 9, "policy.yaml"
    )
    every = PolicyException(
        "", "CVE-2025-*", "triaged in TICKET-1", dt.date(2026, 6, 30), 12, "policy.yaml"
    )
    assert configs[0].exceptions == (own, every)
    assert configs[1].exceptions == (tool, every)


def test_without_a_policies_key_every_builtin_runs_with_the_files_exceptions() -> None:
    configs = load(
        """\
        exceptions:
          - match: CVE-2024-1
            reason: accepted
        """
    )
    assert [c.id for c in configs] == list(BUILTINS)
    assert all(c.exceptions[0].match == "CVE-2024-1" for c in configs)


def test_default_policies() -> None:
    configs = default_policies()
    assert [c.id for c in configs] == [
        "no-fixable-severe",
        "no-kev",
        "base-up-to-date",
        "supported-base",
        "approved-base",
        "non-root",
        "license",
        "attestations",
    ]
    assert all(c.action is Action.FAIL and not c.scope and not c.exceptions for c in configs)
    by_id = {c.id: c.parameters for c in configs}
    assert by_id["no-fixable-severe"] == {"severity": Severity.HIGH, "days": 0}
    assert by_id["no-kev"] == {"epss": None}
    assert by_id["supported-base"] == {"warn_days": 30}
    assert by_id["approved-base"] == {"supported_only": False}  # no allow list: not evaluated
    assert by_id["license"] == {"deny": ("AGPL-3.0-only", "AGPL-3.0-or-later")}
    assert by_id["attestations"] == {"require": ("sbom", "provenance")}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "policies:\n  - id: no-fixable-severe\n    severty: high\n",
            "policy.yaml:3: no-fixable-severe: unknown parameter 'severty' (known: severity, "
            "days); did you mean 'severity'?",
        ),
        (
            "policies:\n  - id: non-root\n    user: app\n",
            "policy.yaml:3: non-root: unknown parameter 'user' (it takes none)",
        ),
        (
            "policies:\n  - id: no-kevs\n",
            "policy.yaml:2: unknown policy 'no-kevs' (known: no-fixable-severe, no-kev, "
            "base-up-to-date, supported-base, approved-base, non-root, license, attestations); "
            "did you mean 'no-kev'?",
        ),
        (
            "policies:\n  - severity: high\n",
            "policy.yaml:2: a policy needs an `id` (the built-in policy it configures)",
        ),
        ("policies:\n  - id: 7\n", "policy.yaml:2: a policy's id must be a text, not 7"),
        (
            "policies:\n  - id: no-fixable-severe\n    severity: hihg\n",
            "policy.yaml:3: no-fixable-severe: severity 'hihg' is not a severity (one of: "
            "critical, high, medium, low, negligible, unknown)",
        ),
        (
            "policies:\n  - id: no-fixable-severe\n    days: -1\n",
            "policy.yaml:3: no-fixable-severe: days must be a whole number of days, 0 or more, "
            "not -1",
        ),
        (
            "policies:\n  - id: no-fixable-severe\n    days: yes\n",
            "policy.yaml:3: no-fixable-severe: days must be a whole number of days, 0 or more, "
            "not True",
        ),
        (
            "policies:\n  - id: no-kev\n    epss: 97\n",
            "policy.yaml:3: no-kev: epss must be a number from 0 to 1 (or null: off), not 97",
        ),
        (
            "policies:\n  - id: approved-base\n    supported_only: true\n",
            "policy.yaml:2: approved-base: `allow` is required",
        ),
        (
            "policies:\n  - id: approved-base\n    allow: docker.io/*\n",
            "policy.yaml:3: approved-base: allow must be a list of image reference patterns, "
            "not 'docker.io/*'",
        ),
        (
            "policies:\n  - id: approved-base\n    allow: []\n",
            "policy.yaml:3: approved-base: allow must list at least one of image reference "
            "patterns",
        ),
        (
            "policies:\n  - id: approved-base\n    allow: [[a]]\n",
            "policy.yaml:3: approved-base: allow must be a list of image reference patterns; "
            "a list is not one",
        ),
        (
            "policies:\n  - id: approved-base\n    allow: ['x']\n    supported_only: 1\n",
            "policy.yaml:4: approved-base: supported_only must be true or false, not 1",
        ),
        (
            "policies:\n  - id: license\n    deny: [AGPL-3.0-only, Nope]\n",
            "policy.yaml:3: license: deny holds 'Nope', which is not an SPDX license id",
        ),
        (
            "policies:\n  - id: attestations\n    require: {sbom: true}\n",
            "policy.yaml:3: attestations: require must be a list of attestation kinds, not a "
            "mapping",
        ),
        (
            "policies:\n  - id: no-kev\n    action: block\n",
            "policy.yaml:3: no-kev: action must be fail or warn, not 'block'",
        ),
        (
            "policies:\n  - id: no-kev\n    scope: prod/*\n",
            "policy.yaml:3: no-kev: scope must be a list of repository globs, not 'prod/*'",
        ),
        (
            "policies:\n  - no-kev\n  - id: non-root\n  - id: no-kev\n    epss: 0.5\n",
            "policy.yaml:4: policy 'no-kev' is listed twice (first on line 2)",
        ),
        (
            "policies:\n  - id: no-kev\n    epss: 0.1\n    epss: 0.2\n",
            "policy.yaml:4: a policy: 'epss' is given twice (first on line 3)",
        ),
        (
            "policies:\n  - id: no-kev\n    exceptions:\n      - match: CVE-1\n",
            "policy.yaml:4: no-kev: exception for CVE-1: `reason` is required (why the risk is "
            "accepted)",
        ),
        (
            "policies:\n  - id: no-kev\n    exceptions:\n"
            "      - match: CVE-1\n        reason: ''\n",
            "policy.yaml:5: no-kev: exception for CVE-1: reason must be a text, not ''",
        ),
        (
            "policies:\n  - id: no-kev\n    exceptions:\n      - reason: x\n",
            "policy.yaml:4: no-kev: exception: `match` is required (an id, package or purl glob)",
        ),
        (
            "policies:\n  - id: no-kev\n    exceptions:\n"
            "      - {match: CVE-1, reason: x, expires: 2026-13-01}\n",
            "policy.yaml:4: no-kev: exception for CVE-1: expires '2026-13-01' is not a valid date",
        ),
        (
            "policies:\n  - id: no-kev\n    exceptions:\n"
            "      - {match: CVE-1, reason: x, expires: next week}\n",
            "policy.yaml:4: no-kev: exception for CVE-1: expires must be a YYYY-MM-DD date, not "
            "'next week'",
        ),
        (
            "policies:\n  - id: no-kev\n    exceptions:\n"
            "      - {match: CVE-1, reason: x, policy: license}\n",
            "policy.yaml:4: no-kev: exception: unknown key 'policy' (known: match, reason, "
            "expires)",
        ),
        (
            "policies: [no-kev]\nexceptions:\n  - {match: CVE-1, reason: x, policy: nokev}\n",
            "policy.yaml:3: unknown policy 'nokev' (known: no-fixable-severe, no-kev, "
            "base-up-to-date, supported-base, approved-base, non-root, license, attestations); "
            "did you mean 'no-kev'?",
        ),
        (
            "policies: [no-kev]\nexceptions:\n  - {match: x, reason: y, policy: license}\n",
            "policy.yaml:3: the exception for x names policy 'license', which this file does "
            "not list",
        ),
        (
            "policies: [no-kev]\nexceptions:\n  - {match: x, reason: y, expire: 2026-01-01}\n",
            "policy.yaml:3: exception: unknown key 'expire' (known: policy, match, reason, "
            "expires); did you mean 'expires'?",
        ),
        (
            "polices:\n  - no-kev\n",
            "policy.yaml:1: unknown key 'polices' (known: policies, exceptions); did you mean "
            "'policies'?",
        ),
        ("- no-kev\n", "policy.yaml:1: the policy file must be a mapping, not a list"),
        ("policies:\n  no-kev: {}\n", "policy.yaml:2: `policies` must be a list, not a mapping"),
        (
            "policies: []\n",
            "policy.yaml:1: `policies` is empty: list at least one policy, or leave the key out "
            "to run every built-in policy",
        ),
        ("", "policy.yaml: the policy file is empty: list policies under `policies:`"),
        (
            "policies:\n  - id: no-kev\n    epss: [0.5\n",
            "policy.yaml:4: not valid YAML: expected ',' or ']', but got '<stream end>'",
        ),
        (
            "policies:\n  - id: no-kev\n\tepss: 0.5\n",
            "policy.yaml:3: not valid YAML: found character '\\t' that cannot start any token",
        ),
        (
            "a: 1\n---\nb: 2\n",
            "policy.yaml:2: not valid YAML: expected a single document in the stream, but found "
            "another document",
        ),
        (
            "base: &b {epss: 0.5}\npolicies:\n  - {id: no-kev, <<: *b}\n",
            "policy.yaml:1: unknown key 'base' (known: policies, exceptions)",
        ),
        (
            "policies:\n  - {id: no-kev, <<: {epss: 0.5}}\n",
            "policy.yaml:2: YAML merge keys (<<) are not supported here",
        ),
    ],
)
def test_mistakes_name_the_file_and_line(text: str, message: str) -> None:
    error = refused(text)
    assert str(error) == message
    assert error.path == "policy.yaml"
    where = re.match(r"policy\.yaml:(\d+): ", message)
    assert error.line == (int(where.group(1)) if where else 0)


def test_policy_file_errors_are_usage_errors() -> None:
    error = refused("policies: [nope]\n")
    assert isinstance(error, ConfigError)
    assert isinstance(error, UsageError)
    assert error.line == 1


def test_the_file_is_bounded() -> None:
    too_big = "policies: [no-kev]\n" + "#" * MAX_POLICY_FILE_BYTES
    assert str(refused(too_big)) == (
        f"policy.yaml: more than {MAX_POLICY_FILE_BYTES:,} bytes: not a policy file"
    )
    many = "policies:\n" + "".join("  - no-kev\n" for _ in range(MAX_POLICIES + 1))
    assert str(refused(many)) == (
        f"policy.yaml:2: `policies` lists {MAX_POLICIES + 1} entries, more than {MAX_POLICIES}"
    )


def test_an_alias_bomb_is_refused_before_it_is_walked() -> None:
    lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for level in range(1, 9):
        refs = ",".join([f"*a{level - 1}"] * 9)
        lines.append(f"a{level}: &a{level} [{refs}]")
    error = refused("\n".join(lines) + "\n")
    assert str(error).startswith("policy.yaml: the YAML expands to more than 1,000,000 values")


def test_aliases_within_bounds_are_fine() -> None:
    configs = load(
        """\
        policies:
          - id: approved-base
            allow: &bases ["registry.example.com/base/*"]
          - id: no-kev
            scope: *bases
        """
    )
    assert configs[1].scope == ("registry.example.com/base/*",)
