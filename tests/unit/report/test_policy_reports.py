"""`basewatch policy --format table|json|sarif|markdown` on verdicts the built-in policies made.

The runs are evaluated, not written by hand: real facts (tests/unit/policy/build.py) through
`evaluate_all`, so the reports meet the reasons, items and parameters the checks really give.
The JSON is validated against the schema shipped in the package, the SARIF against the vendored
official SARIF 2.1.0 schema (tests/unit/report/schemas/, see its README).
"""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from basewatch.models import ImageInfo, Severity, SourceType
from basewatch.policy import (
    BUILTINS,
    Action,
    Item,
    PolicyConfig,
    PolicyException,
    PolicyReport,
    PolicyRun,
    Status,
    Verdict,
    evaluate_all,
)
from basewatch.report.formats import PolicyFormat, policy_renderer
from basewatch.report.policy import doc_path, ordered
from basewatch.report.policy.json import SCHEMA_VERSION, load_schema
from basewatch.report.policy.markdown import MAX_ITEMS
from basewatch.report.policy.sarif import FINGERPRINT_KEY, NOT_EVALUATED_ID
from tests.unit.policy.build import (
    BUILT_ON,
    FULL_DB,
    base,
    deb,
    facts,
    finding,
    inventory,
    scan,
)
from tests.unit.report.conftest import NOW
from tests.unit.report.test_scan_sarif import validator as sarif_validator

REPOSITORY_ROOT = Path(__file__).resolve().parents[3]
REPO = "registry.example.com/team/app"

OPENSSL = deb("libssl3", "3.0.11-1", source="openssl")
ZLIB = deb("zlib1g", "1.2.13-1", source="zlib")
READLINE = deb("libreadline8", "8.2-1.3", source="readline", licenses=("AGPL-3.0-only",))
INV = inventory((OPENSSL, ZLIB, READLINE), base_image=base())
RESULT = scan(
    INV,
    [
        finding("CVE-2024-1", OPENSSL, Severity.CRITICAL, aliases=("GHSA-aaaa-bbbb-cccc",)),
        finding("CVE-2024-2", ZLIB, Severity.HIGH, kev=True),
    ],
)
# Offline (the base's tag is not looked up), attestations not looked up, User set.
FACTS = facts(INV, RESULT, user="app", base_now_why="offline")

ACCEPTED = "not reachable: zlib is only used to read trusted files"
CONFIGS = [
    # fail (blocking), with one item covered by an exception
    PolicyConfig(
        "no-fixable-severe",
        exceptions=(PolicyException("no-fixable-severe", "CVE-2024-2", ACCEPTED),),
    ),
    # pass: its only failing item is covered by an exception
    PolicyConfig("no-kev", exceptions=(PolicyException("no-kev", "CVE-2024-2", ACCEPTED),)),
    # not evaluated: offline
    PolicyConfig("base-up-to-date"),
    # pass
    PolicyConfig("supported-base"),
    # fail, action warn; its expired exception makes the report warn
    PolicyConfig(
        "license",
        action=Action.WARN,
        exceptions=(
            PolicyException(
                "license", "libreadline8", "legal said yes", dt.date(2025, 1, 31), 12, "p.yaml"
            ),
        ),
    ),
    # pass
    PolicyConfig("non-root"),
    # not evaluated: attestations were not looked up
    PolicyConfig("attestations"),
]


def make_run(reference: str = f"{REPO}:1") -> PolicyRun:
    image = dataclasses.replace(INV.image, reference=reference, os="linux", architecture="amd64")
    report = evaluate_all(CONFIGS, FACTS, REPO)
    return PolicyRun(report, image, INV.base, FULL_DB, "policy.yaml")


def make_passing_run() -> PolicyRun:
    """Blocking policies pass, a `warn` one fails: the run passes. No base, no database."""
    inv = inventory((READLINE,), base_image=None)
    configs = [PolicyConfig("non-root"), PolicyConfig("license", action=Action.WARN)]
    report = evaluate_all(configs, facts(inv, None, user="1000:1000"), REPO)
    return PolicyRun(report, inv.image, None, None, "")


def render(run: PolicyRun, fmt: PolicyFormat, docs_base: str = "") -> bytes:
    return policy_renderer(fmt, now=NOW, docs_base=docs_base).render(run)


def render_json(run: PolicyRun) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(render(run, PolicyFormat.JSON))
    return document


def render_text(run: PolicyRun, fmt: PolicyFormat) -> str:
    return render(run, fmt).decode("utf-8")


def test_the_fixture_covers_every_kind_of_verdict() -> None:
    verdicts = {v.id: v for v in make_run().report.verdicts}
    assert verdicts["no-fixable-severe"].blocking
    assert [i.data["id"] for i in verdicts["no-fixable-severe"].excepted] == ["CVE-2024-2"]
    assert verdicts["no-kev"].status is Status.PASS and verdicts["no-kev"].excepted
    assert verdicts["license"].status is Status.FAIL and not verdicts["license"].blocking
    assert verdicts["base-up-to-date"].status is Status.NOT_EVALUATED
    assert verdicts["attestations"].status is Status.NOT_EVALUATED
    assert verdicts["non-root"].status is Status.PASS
    assert make_run().report.warnings  # the expired exception


@pytest.mark.parametrize("fmt", list(PolicyFormat))
def test_every_format_renders_a_document_ending_with_a_newline(fmt: PolicyFormat) -> None:
    renderer = policy_renderer(fmt, now=NOW)
    assert renderer.name == fmt.value
    assert renderer.media_type
    for run in (make_run(), make_passing_run()):
        out = renderer.render(run)
        assert out.endswith(b"\n") and not out.endswith(b"\n\n")
        out.decode("utf-8")


# --- JSON ---------------------------------------------------------------------------------------


def json_validator() -> jsonschema.Draft202012Validator:
    schema = load_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(
        schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )


def test_json_validates_against_the_shipped_schema() -> None:
    check = json_validator()
    assert load_schema()["properties"]["schema_version"]["const"] == SCHEMA_VERSION
    for run in (make_run(), make_passing_run()):
        assert [e.message for e in check.iter_errors(render_json(run))] == []


def test_json_result_fails_on_a_blocking_verdict_only() -> None:
    document = render_json(make_run())
    assert document["result"] == "fail"
    assert document["not_evaluated"] == ["base-up-to-date", "attestations"]
    passing = render_json(make_passing_run())
    assert passing["result"] == "pass"  # the license failure only warns
    (license_,) = [p for p in passing["policies"] if p["id"] == "license"]
    assert (license_["status"], license_["action"], license_["blocking"]) == ("fail", "warn", False)
    assert passing["image"]["base"] is None and passing["database"] is None
    assert passing["policy_file"] == ""


def test_json_lists_policies_not_evaluated_first_then_failures_then_passes() -> None:
    document = render_json(make_run())
    assert [(p["id"], p["status"]) for p in document["policies"]] == [
        ("base-up-to-date", "not-evaluated"),
        ("attestations", "not-evaluated"),
        ("no-fixable-severe", "fail"),
        ("license", "fail"),
        ("no-kev", "pass"),
        ("supported-base", "pass"),
        ("non-root", "pass"),
    ]


def test_json_policy_entries() -> None:
    document = render_json(make_run())
    policies = {p["id"]: p for p in document["policies"]}
    severe = policies["no-fixable-severe"]
    assert severe["blocking"] is True
    assert severe["parameters"] == {"severity": "high", "days": 0}
    assert [i["data"]["id"] for i in severe["items"]] == ["CVE-2024-1"]
    assert severe["items"][0]["aliases"] == ["GHSA-aaaa-bbbb-cccc"]
    assert severe["items"][0]["subject"].startswith("CVE-2024-1 in libssl3 3.0.11-1")
    (excepted,) = severe["excepted"]
    assert (excepted["data"]["id"], excepted["reason"]) == ("CVE-2024-2", ACCEPTED)
    assert policies["license"]["parameters"] == {"deny": ["AGPL-3.0-only", "AGPL-3.0-or-later"]}
    assert policies["base-up-to-date"]["reason"].endswith("offline")
    assert document["warnings"] == [
        "p.yaml:12: exception for libreadline8 expired on 2025-01-31; it no longer applies"
    ]
    assert document["image"]["platform"] == "linux/amd64"
    assert document["image"]["base"] == {
        "reference": "debian:12",
        "digest": BUILT_ON,
        "method": "annotation",
        "confidence": "high",
    }
    assert [s["name"] for s in document["database"]["sources"]] == ["osv:Debian:12", "kev", "epss"]


def test_documentation_is_each_policy_s_page() -> None:
    for policy in render_json(make_run())["policies"]:
        assert policy["documentation"] == BUILTINS[policy["id"]].doc_path
        assert (REPOSITORY_ROOT / policy["documentation"]).is_file()
    assert all(doc_path(i) == spec.doc_path for i, spec in BUILTINS.items())


def _blocking_but_passes(d: dict[str, Any]) -> None:
    d["result"] = "pass"


def _warn_but_blocking(d: dict[str, Any]) -> None:
    next(p for p in d["policies"] if p["id"] == "license")["blocking"] = True


def _fail_without_items(d: dict[str, Any]) -> None:
    next(p for p in d["policies"] if p["id"] == "no-fixable-severe")["items"] = []


def _pass_with_items(d: dict[str, Any]) -> None:
    severe = next(p for p in d["policies"] if p["id"] == "no-fixable-severe")
    next(p for p in d["policies"] if p["id"] == "non-root")["items"] = severe["items"]


def _excepted_without_reason(d: dict[str, Any]) -> None:
    del next(p for p in d["policies"] if p["id"] == "no-fixable-severe")["excepted"][0]["reason"]


def _unknown_status(d: dict[str, Any]) -> None:
    d["policies"][0]["status"] = "skipped"


def _no_not_evaluated(d: dict[str, Any]) -> None:
    del d["not_evaluated"]


def _wrong_schema_version(d: dict[str, Any]) -> None:
    d["schema_version"] = "2.0"


@pytest.mark.parametrize(
    "breakage",
    [
        _blocking_but_passes,
        _warn_but_blocking,
        _fail_without_items,
        _pass_with_items,
        _excepted_without_reason,
        _unknown_status,
        _no_not_evaluated,
        _wrong_schema_version,
    ],
)
def test_broken_documents_do_not_validate(breakage: Callable[[dict[str, Any]], None]) -> None:
    document = copy.deepcopy(render_json(make_run()))
    breakage(document)
    assert list(json_validator().iter_errors(document)) != []


def test_the_passing_run_fails_the_schema_when_it_claims_to_fail() -> None:
    document = render_json(make_passing_run())
    document["result"] = "fail"
    assert list(json_validator().iter_errors(document)) != []


# --- SARIF --------------------------------------------------------------------------------------


def sarif_run(run: PolicyRun, docs_base: str = "") -> dict[str, Any]:
    document = json.loads(render(run, PolicyFormat.SARIF, docs_base))
    assert [e.message for e in sarif_validator().iter_errors(document)] == []
    sarif: dict[str, Any] = document["runs"][0]
    return sarif


def test_sarif_validates_against_the_official_schema() -> None:
    for run in (make_run(), make_passing_run()):
        sarif_run(run)


def test_sarif_has_one_rule_per_failing_policy() -> None:
    run = make_run()
    sarif = sarif_run(run)
    rules = sarif["tool"]["driver"]["rules"]
    failing = [v.id for v in ordered(run.report.verdicts) if v.status is Status.FAIL]
    # no-kev passed, but an exception covers its item: its rule carries the dismissed result.
    assert [r["id"] for r in rules] == [*failing, "no-kev"]
    by_id = {r["id"]: r for r in rules}
    assert by_id["no-fixable-severe"]["defaultConfiguration"]["level"] == "error"
    assert by_id["license"]["defaultConfiguration"]["level"] == "warning"
    for rule in rules:
        assert rule["helpUri"] == f"docs/policies/{rule['id']}.md"
        assert rule["helpUri"] in rule["help"]["text"]
        assert f"]({rule['helpUri']})" in rule["help"]["markdown"]
        assert rule["shortDescription"]["text"] == BUILTINS[rule["id"]].title


def test_sarif_help_points_at_the_published_docs_when_told_where() -> None:
    rules = sarif_run(make_run(), "https://docs.example.org/policies/")["tool"]["driver"]["rules"]
    assert rules[0]["helpUri"] == "https://docs.example.org/policies/no-fixable-severe.md"


def test_sarif_has_one_result_per_failing_item() -> None:
    run = make_run()
    sarif = sarif_run(run)
    rules = sarif["tool"]["driver"]["rules"]
    kept = [r for r in sarif["results"] if "suppressions" not in r]
    expected = [
        (v.id, "error" if v.blocking else "warning", item.subject)
        for v in ordered(run.report.verdicts)
        for item in v.items
    ]
    assert [(r["ruleId"], r["level"], r["message"]["text"].split(": fails")[0]) for r in kept] == (
        expected
    )
    assert len(kept) == 2  # CVE-2024-1 (blocking) and the AGPL package (warn)
    for result in sarif["results"]:
        assert rules[result["ruleIndex"]]["id"] == result["ruleId"]
        assert result["kind"] == "fail"
        # GitHub code scanning refuses the whole log when a result has no artifact URI.
        (location,) = result["locations"]
        assert location["physicalLocation"]["artifactLocation"]["uri"] == REPO
        assert result["properties"]["policy"] == result["ruleId"]


def test_sarif_excepted_items_are_dismissed_results() -> None:
    dismissed = [r for r in sarif_run(make_run())["results"] if "suppressions" in r]
    assert [(r["ruleId"], r["properties"]["data"]["id"]) for r in dismissed] == [
        ("no-fixable-severe", "CVE-2024-2"),
        ("no-kev", "CVE-2024-2"),
    ]
    for result in dismissed:
        assert result["suppressions"] == [
            {
                "kind": "external",
                "status": "accepted",
                "justification": ACCEPTED,
                "properties": {"source": "policy.yaml"},
            }
        ]
        assert result["properties"]["blocking"] is False


def test_sarif_reports_policies_not_evaluated_as_notifications() -> None:
    sarif = sarif_run(make_run())
    assert not {"base-up-to-date", "attestations"} & {r["ruleId"] for r in sarif["results"]}
    (invocation,) = sarif["invocations"]
    assert invocation["executionSuccessful"] is False
    assert invocation["endTimeUtc"] == "2024-05-01T12:30:45Z"
    notes = invocation["toolExecutionNotifications"]
    assert [n.get("properties", {}).get("policy") for n in notes] == [
        "base-up-to-date",
        "attestations",
        None,  # the expired exception
    ]
    assert all(n["descriptor"]["id"] == NOT_EVALUATED_ID for n in notes[:2])
    assert notes[0]["message"]["text"].endswith("offline")
    assert "expired on 2025-01-31" in notes[2]["message"]["text"]
    assert sarif["properties"]["notEvaluated"] == ["base-up-to-date", "attestations"]
    assert sarif["properties"]["result"] == "fail"

    (clean,) = sarif_run(make_passing_run())["invocations"]
    assert clean["executionSuccessful"] is True
    assert "toolExecutionNotifications" not in clean


def test_sarif_fingerprints_are_unique_and_survive_a_new_tag() -> None:
    def prints(run: PolicyRun) -> list[str]:
        return [r["partialFingerprints"][FINGERPRINT_KEY] for r in sarif_run(run)["results"]]

    first = prints(make_run())
    assert len(first) == len(set(first)) == 4
    assert prints(make_run(f"{REPO}:2@sha256:{'d' * 64}")) == first
    assert prints(make_run("registry.example.com/team/other:1")) != first


# --- table --------------------------------------------------------------------------------------


def test_table_says_what_was_not_evaluated_first_then_failures_then_passes() -> None:
    text = render_text(make_run(), PolicyFormat.TABLE)
    lines = text.splitlines()
    assert lines[0] == (
        "WARNING: not evaluated: base-up-to-date (The base image is up to date): "
        "where the tag of debian:12 points now is not known: offline"
    )
    assert lines[1].startswith("WARNING: not evaluated: attestations (")
    positions = [
        text.index("WARNING: not evaluated: attestations"),
        text.index("Image:    registry.example.com/team/app:1"),
        text.index("FAIL  no-fixable-severe"),
        text.index("WARN  license"),
        text.index("PASS  no-kev"),
        text.index("PASS  supported-base"),
        text.index("PASS  non-root"),
        text.index("WARNING: 1 problem with the policies:"),
    ]
    assert positions == sorted(positions)
    assert lines[-1] == (
        "Result: FAIL: 1 policy fails the run (no-fixable-severe); "
        "1 failed as a warning (license); 3 passed; 2 not evaluated"
    )


def test_table_lists_the_items_of_each_failure() -> None:
    text = render_text(make_run(), PolicyFormat.TABLE)
    block = text[text.index("FAIL  no-fixable-severe") : text.index("WARN  license")]
    assert "  - CVE-2024-1 in libssl3 3.0.11-1 (fixed in 1.0-2)\n" in block
    assert "  Covered by exceptions (not counted):\n" in block
    assert f"  - CVE-2024-2 in zlib1g 1.2.13-1 (fixed in 1.0-2): {ACCEPTED}\n" in block
    assert "(fails the run)" in block
    warn = text[text.index("WARN  license") : text.index("PASS  no-kev")]
    assert "  - libreadline8 8.2-1.3: AGPL-3.0-only" in warn
    assert "action warn: does not fail the run" in warn


def test_table_of_a_passing_run() -> None:
    text = render_text(make_passing_run(), PolicyFormat.TABLE)
    assert not text.startswith("WARNING")
    assert "Base:     unknown\n" in text and "Database: none\n" in text
    assert "Policies: built-in defaults\n" in text
    assert text.endswith("Result: PASS: 1 failed as a warning (license); 1 passed\n")


def hostile_run() -> PolicyRun:
    evil = "evil|pkg\x1b[31m <img src=x> ~~strike~~ [link](http://x)"
    items = tuple(Item(subject=f"{evil} {n}", data={"id": f"x{n}"}) for n in range(MAX_ITEMS + 5))
    verdict = Verdict(
        id="license",
        title="No package under a denied license",
        status=Status.FAIL,
        action=Action.FAIL,
        reason=f"{len(items)} packages need a denied license",
        items=items,
        parameters={"deny": ("AGPL-3.0-only",)},
    )
    report = PolicyReport(image="./rootfs", verdicts=(verdict,))
    return PolicyRun(report, ImageInfo("./rootfs", SourceType.ROOTFS))


def test_table_escapes_what_comes_from_the_image() -> None:
    text = render_text(hostile_run(), PolicyFormat.TABLE)
    assert "\x1b" not in text
    assert "evil|pkg\\x1b[31m" in text
    assert text.count("\n  - evil") == MAX_ITEMS + 5  # the table lists every item


# --- Markdown -----------------------------------------------------------------------------------


def test_markdown_is_a_pull_request_summary() -> None:
    text = render_text(make_run(), PolicyFormat.MARKDOWN)
    lines = text.splitlines()
    assert lines[0] == "## basewatch policy: registry.example.com/team/app:1"
    # What was not evaluated first, as an alert, then the verdict line.
    assert lines[2] == "> [!WARNING]"
    assert text.index("> - **attestations**") < text.index("**Result: fail.**")
    assert (
        "**Result: fail.** 1 policy fails the run (no-fixable-severe); 1 failed as a warning "
        "(license); 3 passed; 2 not evaluated." in lines
    )
    rows = [line for line in lines if line.startswith("| **")]
    assert [row.split(" | ")[2] for row in rows] == [
        "not evaluated",
        "not evaluated",
        "**fail**",
        "warn",
        "pass",
        "pass",
        "pass",
    ]
    assert "| **no-fixable-severe** | No fixable findings at or above a severity | **fail** |" in (
        text
    )
    # A section per failing policy, with its items.
    failed = text[text.index("### Failed policies") : text.index("### Passed with exceptions")]
    assert failed.count("\n#### ") == 2
    assert "#### no-fixable-severe: No fixable findings at or above a severity\n" in failed
    assert "- CVE-2024-1 in libssl3 3.0.11-1 (fixed in 1.0-2)\n" in failed
    assert f"- CVE-2024-2 in zlib1g 1.2.13-1 (fixed in 1.0-2): {ACCEPTED}\n" in failed
    assert "Action `warn`: reported, does not fail the run." in failed
    assert "#### no-kev: No known exploited vulnerabilities" in text
    assert text.endswith(
        "### Warnings\n\n- p.yaml:12: exception for libreadline8 expired on 2025-01-31; "
        "it no longer applies\n"
    )


def test_markdown_uses_words_not_emoji() -> None:
    for run in (make_run(), make_passing_run(), hostile_run()):
        text = render_text(run, PolicyFormat.MARKDOWN)
        # Emoji and pictographs live above U+2190 (arrows, dingbats, symbols planes); "…" does not.
        assert all(ord(c) < 0x2190 for c in text), [c for c in text if ord(c) >= 0x2190]


def test_markdown_links_policies_to_the_published_docs_when_told_where() -> None:
    text = render(make_run(), PolicyFormat.MARKDOWN, "https://docs.example.org/policies").decode()
    assert "[**no-kev**](https://docs.example.org/policies/no-kev.md)" in text
    assert "#### [license](https://docs.example.org/policies/license.md): No package" in text


def test_markdown_escapes_and_cuts_long_item_lists() -> None:
    text = render_text(hostile_run(), PolicyFormat.MARKDOWN)
    assert "\x1b" not in text
    # Every `<`, `|`, `[`, `]` from the item is escaped: no HTML, no table break, no link.
    assert not re.search(r"(?<!\\)(<img|\]\(http|\|pkg)", text)
    assert "evil\\|pkg\\\\x1b\\[31m \\<img src=x\\> \\~\\~strike\\~\\~" in text
    assert text.count("\n- evil") == MAX_ITEMS
    assert "- … and 5 more (the JSON report lists them all)\n" in text
    assert "> [!WARNING]" not in text  # everything was evaluated
    assert "- **Base:** unknown" in text
