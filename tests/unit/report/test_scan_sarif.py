"""`basewatch scan --format sarif`, validated against the official SARIF 2.1.0 JSON schema.

The schema is vendored in tests/unit/report/schemas/ (see its README for where it came from).
Golden files live in tests/unit/report/golden/. After an intended change, regenerate them with
    .venv/bin/python -m tests.unit.report.regen
and review the diff.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from typing import Any

import jsonschema
import pytest

from basewatch.models import Finding, FixStatus, ScanResult, Severity
from basewatch.report.sarif import level
from basewatch.report.scan.sarif import FINGERPRINT_KEY, SarifReporter, fingerprint
from tests.unit.report.conftest import SCHEMA_DIR
from tests.unit.report.regen import check_golden
from tests.unit.report.scan_fixtures import make_clean_scan_result, make_scan_result

SARIF_SCHEMA = SCHEMA_DIR / "sarif-schema-2.1.0.json"
SARIF_SCHEMA_SHA256 = "c3b4bb2d6093897483348925aaa73af03b3e3f4bd4ca38cef26dcb4212a2682e"


def validator() -> jsonschema.Draft4Validator:
    schema = json.loads(SARIF_SCHEMA.read_text(encoding="utf-8"))
    jsonschema.Draft4Validator.check_schema(schema)
    return jsonschema.Draft4Validator(
        schema, format_checker=jsonschema.Draft4Validator.FORMAT_CHECKER
    )


def render(result: ScanResult) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(SarifReporter().render(result))
    return document


def run_of(result: ScanResult) -> dict[str, Any]:
    run: dict[str, Any] = render(result)["runs"][0]
    return run


def test_matches_golden() -> None:
    check_golden("scan.sarif")


def test_vendored_schema_is_the_official_one() -> None:
    assert hashlib.sha256(SARIF_SCHEMA.read_bytes()).hexdigest() == SARIF_SCHEMA_SHA256
    schema = json.loads(SARIF_SCHEMA.read_text(encoding="utf-8"))
    assert schema["id"].startswith("https://docs.oasis-open.org/sarif/sarif/v2.1.0/")


def test_validates_against_official_schema() -> None:
    check = validator()
    for result in (make_scan_result(), make_clean_scan_result()):
        assert [e.message for e in check.iter_errors(render(result))] == []


def test_validator_rejects_a_broken_log() -> None:
    document = render(make_scan_result())
    document["runs"][0]["results"][0]["level"] = "fatal"
    document["runs"][0]["results"][1]["suppressions"] = [{"kind": "ignored"}]
    del document["version"]
    assert len(list(validator().iter_errors(document))) >= 3


def test_one_rule_per_vulnerability_id() -> None:
    run = run_of(make_scan_result())
    rules = run["tool"]["driver"]["rules"]
    ids = [rule["id"] for rule in rules]
    assert ids == sorted(set(ids))
    # CVE-2024-35195 affects both copies of requests (one suppressed): one rule, two results.
    assert ids.count("CVE-2024-35195") == 1
    assert sum(r["ruleId"] == "CVE-2024-35195" for r in run["results"]) == 2
    for result in run["results"]:
        assert rules[result["ruleIndex"]]["id"] == result["ruleId"]


def test_rule_severity_for_code_scanning() -> None:
    rules = {r["id"]: r for r in run_of(make_scan_result())["tool"]["driver"]["rules"]}
    kev = rules["CVE-2023-4911"]
    assert kev["defaultConfiguration"]["level"] == "error"
    assert kev["properties"]["security-severity"] == "7.8"
    assert kev["helpUri"] == "https://osv.dev/vulnerability/CVE-2023-4911"
    # Debian calls it unimportant: its CVSS 9.8 must not make it a critical alert.
    unimportant = rules["CVE-2019-1010022"]
    assert unimportant["defaultConfiguration"]["level"] == "note"
    assert float(unimportant["properties"]["security-severity"]) < 4.0
    # No CVSS score: a score standing for the severity.
    assert rules["CVE-2024-6119"]["properties"]["security-severity"] == "5.5"


@pytest.mark.parametrize(
    ("severity", "expected"),
    [
        (Severity.CRITICAL, "error"),
        (Severity.HIGH, "error"),
        (Severity.MEDIUM, "warning"),
        (Severity.UNKNOWN, "warning"),
        (Severity.LOW, "note"),
        (Severity.NEGLIGIBLE, "note"),
    ],
)
def test_level(severity: Severity, expected: str) -> None:
    assert level(severity) == expected


def test_result_locations_name_the_evidence_in_the_image() -> None:
    run = run_of(make_scan_result())
    assert (
        "localhost:5000/team/app:1.4.2"
        in run["originalUriBaseIds"]["IMAGE_ROOT"]["description"]["text"]
    )
    result = next(r for r in run["results"] if r["ruleId"] == "CVE-2023-4911")
    (location,) = result["locations"]
    artifact = location["physicalLocation"]["artifactLocation"]
    assert artifact == {"uri": "var/lib/dpkg/status", "uriBaseId": "IMAGE_ROOT"}
    assert location["logicalLocations"][0]["kind"] == "package"
    assert location["logicalLocations"][0]["fullyQualifiedName"].startswith("pkg:deb/debian/libc6@")
    assert location["message"]["text"] == (
        "/var/lib/dpkg/status in localhost:5000/team/app:1.4.2, layer 0"
    )
    assert "Fixed in 2.36-9+deb12u3." in result["message"]["text"]
    log4j = dataclasses.replace(
        result_package(make_scan_result(), "CVE-2023-4911"),
        evidence=("/app/lib/my app.jar!/BOOT-INF/lib/x:y.jar",),
    )
    scan = make_scan_result()
    finding = dataclasses.replace(scan.findings[-1], package=log4j)
    run = run_of(dataclasses.replace(scan, findings=(finding,), suppressed=()))
    uri = run["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
    assert uri == "app/lib/my%20app.jar!/BOOT-INF/lib/x%3Ay.jar"


def result_package(result: ScanResult, vuln_id: str) -> Any:
    return next(f.package for f in result.findings if f.id == vuln_id)


def test_suppressed_findings_are_dismissed_results() -> None:
    run = run_of(make_scan_result())
    suppressed = [r for r in run["results"] if "suppressions" in r]
    assert len(suppressed) == 3
    vex = next(r for r in suppressed if r["ruleId"] == "CVE-2024-35195")
    assert vex["suppressions"] == [
        {
            "kind": "external",
            "status": "accepted",
            "justification": "VEX not_affected: vulnerable_code_not_in_execute_path",
            "properties": {"source": "vex:vex/app.openvex.json"},
        }
    ]
    # Kept results come first, worst first.
    kept = [r for r in run["results"] if "suppressions" not in r]
    assert run["results"][: len(kept)] == kept
    assert kept[0]["ruleId"] == "CVE-2023-45853"


def test_warnings_are_tool_notifications() -> None:
    (invocation,) = run_of(make_scan_result())["invocations"]
    # Go was not checked and the inventory is partial: not a successful run.
    assert invocation["executionSuccessful"] is False
    texts = [n["message"]["text"] for n in invocation["toolExecutionNotifications"]]
    assert texts[0] == "not checked: Go, 1 package"
    assert texts[2] == "no advisories for ecosystem Go: 1 golang package was not checked"
    (clean,) = run_of(make_clean_scan_result())["invocations"]
    assert "toolExecutionNotifications" not in clean


def _finding(vuln_id: str) -> Finding:
    scan = make_scan_result()
    return next(
        f for f in (*scan.findings, *(s.finding for s in scan.suppressed)) if f.id == vuln_id
    )


def test_fingerprints_are_unique_and_in_every_result() -> None:
    run = run_of(make_scan_result())
    prints = [r["partialFingerprints"][FINGERPRINT_KEY] for r in run["results"]]
    assert len(prints) == len(set(prints)) == 11


def test_fingerprint_survives_an_upgrade_that_does_not_fix() -> None:
    finding = _finding("CVE-2024-6119")
    package = finding.package
    upgraded = dataclasses.replace(
        package,
        version="42.0.8",
        purl="pkg:pypi/cryptography@42.0.8",
        evidence=(package.evidence[0].replace("42.0.5", "42.0.8"),),
        layer="sha256:" + "0" * 64,  # rebuilt layer
    )
    later = dataclasses.replace(finding, package=upgraded, installed_version="42.0.8")
    assert fingerprint(later) == fingerprint(finding)


def test_fingerprint_changes_with_what_identifies_the_finding() -> None:
    finding = _finding("CVE-2023-4911")
    assert fingerprint(dataclasses.replace(finding, id="CVE-2023-0001")) != fingerprint(finding)
    other_arch = dataclasses.replace(finding.package, arch="i386", purl="")
    assert fingerprint(dataclasses.replace(finding, package=other_arch)) != fingerprint(finding)
    # Two copies of requests, same version, different places: different alerts.
    scan = make_scan_result()
    copies = [
        f
        for f in (*scan.findings, *(s.finding for s in scan.suppressed))
        if f.id == "CVE-2024-35195"
    ]
    assert len({fingerprint(f) for f in copies}) == 2
    # Severity, fix status and scores change as advisories are updated: not the identity.
    rescored = dataclasses.replace(
        finding, severity=Severity.CRITICAL, status=FixStatus.NOT_FIXED, epss=0.9, kev=False
    )
    assert fingerprint(rescored) == fingerprint(finding)


def test_fingerprint_key_is_golden() -> None:
    # Changing the recipe reopens every alert on every dashboard: bump the key's version then.
    assert FINGERPRINT_KEY == "basewatchFinding/v1"
    recipe = "\0".join(("CVE-2023-4911", "deb", "debian", "libc6", "amd64", "/var/lib/dpkg/status"))
    expected = hashlib.sha256(recipe.encode()).hexdigest()[:32]
    assert fingerprint(_finding("CVE-2023-4911")) == expected == "b2f778643d81c7aa3bb0bddd05d01fa4"


def test_rules_are_tagged_with_the_weaknesses_of_all_their_findings() -> None:
    scan = make_scan_result()

    def with_cwes(finding: Finding) -> Finding:
        if finding.id != "CVE-2024-35195":
            return finding
        # the two copies of requests: one rule, tagged with what either names
        cwes = ("CWE-670",) if finding in scan.findings else ("CWE-20", "CWE-670")
        return dataclasses.replace(finding, cwe_ids=cwes)

    tagged = dataclasses.replace(
        scan,
        findings=tuple(map(with_cwes, scan.findings)),
        suppressed=tuple(
            dataclasses.replace(s, finding=with_cwes(s.finding)) for s in scan.suppressed
        ),
    )
    rules = {r["id"]: r for r in run_of(tagged)["tool"]["driver"]["rules"]}
    assert rules["CVE-2024-35195"]["properties"]["tags"][-2:] == [
        "external/cwe/cwe-020",
        "external/cwe/cwe-670",
    ]
    assert not any(
        t.startswith("external/cwe/") for t in rules["CVE-2023-4911"]["properties"]["tags"]
    )
    assert [e.message for e in validator().iter_errors(render(tagged))] == []
