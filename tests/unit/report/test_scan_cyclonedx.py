"""`basewatch scan --format cyclonedx-json`, validated against the official CycloneDX 1.6 schema
(shipped in cyclonedx-python-lib, as in test_cyclonedx.py)."""

from __future__ import annotations

import dataclasses
import json
import re
from typing import Any

import pytest

from basewatch.models import ScanResult, Severity
from basewatch.report.sbom.cyclonedx import CycloneDXReporter
from basewatch.report.scan.cyclonedx import ScanCycloneDXReporter
from tests.unit.report.conftest import NOW, SERIAL
from tests.unit.report.cyclonedx_oracle import library_rendering
from tests.unit.report.regen import check_golden, check_golden_across_hash_seeds
from tests.unit.report.scan_fixtures import make_clean_scan_result, make_scan_result
from tests.unit.report.test_cyclonedx import properties, schema_errors


def render(result: ScanResult) -> bytes:
    return ScanCycloneDXReporter(now=NOW, serial=SERIAL).render(result)


def load(result: ScanResult) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(render(result))
    return document


def vulnerabilities(document: dict[str, Any], vuln_id: str) -> list[dict[str, Any]]:
    return [v for v in document["vulnerabilities"] if v["id"] == vuln_id]


def test_validates_against_official_schema() -> None:
    assert schema_errors(render(make_scan_result())) == []
    assert schema_errors(render(make_clean_scan_result())) == []


@pytest.mark.parametrize("name", ["scan.cdx.json", "scan-clean.cdx.json"])
def test_matches_golden(name: str) -> None:
    check_golden(name)


def test_is_what_the_library_writes() -> None:
    for result in (make_scan_result(), make_clean_scan_result()):
        document = load(result)
        expected = library_rendering(document)
        # Reading a rating, the library drops the "CVSS:3.1/" prefix that its writer keeps
        # (and that tells a 3.0 vector from a 3.1 one); compare the vectors without it.
        for item in (document, expected):
            for vulnerability in item.get("vulnerabilities", []):
                for rating in vulnerability.get("ratings", []):
                    if "vector" in rating:
                        rating["vector"] = re.sub(r"^CVSS:[0-9.]+/", "", rating["vector"])
        assert document == expected


def test_components_are_the_sbom_ones() -> None:
    result = make_scan_result()
    scan = load(result)
    sbom = json.loads(CycloneDXReporter(now=NOW, serial=SERIAL).render(result.inventory))
    assert scan["components"] == sbom["components"]
    assert scan["dependencies"] == sbom["dependencies"]
    assert "vulnerabilities" not in json.loads(render(make_clean_scan_result()))


def test_one_vulnerability_per_finding_affecting_its_component() -> None:
    document = load(make_scan_result())
    assert len(document["vulnerabilities"]) == 8 + 3
    refs = {c["bom-ref"] for c in document["components"]}
    for vulnerability in document["vulnerabilities"]:
        (target,) = vulnerability["affects"]
        assert target["ref"] in refs
    bom_refs = [v["bom-ref"] for v in document["vulnerabilities"]]
    assert len(set(bom_refs)) == len(bom_refs)
    # Two copies of requests: two entries, two components.
    copies = vulnerabilities(document, "CVE-2024-35195")
    assert len({v["affects"][0]["ref"] for v in copies}) == 2


def test_kev_finding_in_full() -> None:
    (vuln,) = vulnerabilities(load(make_scan_result()), "CVE-2023-4911")
    assert vuln["source"] == {"name": "OSV", "url": "https://osv.dev/vulnerability/CVE-2023-4911"}
    assert [r["id"] for r in vuln["references"]] == ["DEBIAN-CVE-2023-4911", "DSA-5514-1"]
    assert vuln["ratings"] == [
        {
            "method": "CVSSv31",
            "score": 7.8,
            "severity": "high",
            "vector": "CVSS:3.1/AV:L/AC:L/PR:L/UI:N/S:U/C:H/I:H/A:H",
        }
    ]
    assert vuln["recommendation"] == "Upgrade to 2.36-9+deb12u3"
    assert vuln["affects"][0]["ref"].startswith("pkg:deb/debian/libc6@2.36-9%2Bdeb12u2")
    assert vuln["affects"][0]["versions"] == [
        {"status": "affected", "version": "2.36-9+deb12u2"},
        {"status": "unaffected", "version": "2.36-9+deb12u3"},
    ]
    assert vuln["published"] == "2023-10-03T18:15:10+00:00"
    props = properties(vuln)
    assert props["basewatch:finding:kev"] == "true"
    assert props["basewatch:finding:epss"] == "0.69467"
    assert "analysis" not in vuln


def test_ratings_keep_a_distribution_severity_apart_from_cvss() -> None:
    document = load(make_scan_result())
    (unimportant,) = vulnerabilities(document, "CVE-2019-1010022")
    assert unimportant["ratings"] == [
        {
            "method": "CVSSv3",
            "score": 9.8,
            "severity": "critical",  # what CVSS says of its score...
            "vector": "CVSS:3.0/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
        },
        # ...and what Debian, whose severity basewatch reports, says.
        {"method": "other", "severity": "info", "source": {"name": "Debian urgency"}},
    ]
    assert "recommendation" not in unimportant
    (cvss2,) = [v for v in document["vulnerabilities"] if v["id"] == "CVE-2010-4756"]
    assert {
        "method": "CVSSv2",
        "score": 4.0,
        "severity": "medium",
        "vector": "AV:N/AC:L/Au:S/C:N/I:N/A:P",
    } in cvss2["ratings"]
    (ghsa,) = vulnerabilities(document, "CVE-2024-6119")
    assert ghsa["ratings"] == [
        {"method": "other", "severity": "medium", "source": {"name": "GHSA"}}
    ]


def test_cvss4_vector() -> None:
    result = make_scan_result()
    finding = dataclasses.replace(
        result.findings[0],
        severity=Severity.HIGH,
        severity_source="CVSS:4.0",
        cvss_score=8.7,
        cvss_vector="CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:N/VA:N/SC:N/SI:N/SA:N",
    )
    document = load(dataclasses.replace(result, findings=(finding,), suppressed=()))
    assert document["vulnerabilities"][0]["ratings"][0]["method"] == "CVSSv4"
    assert schema_errors(json.dumps(document)) == []


def test_wont_fix_and_suppressions_become_analysis() -> None:
    document = load(make_scan_result())
    (minizip,) = vulnerabilities(document, "CVE-2023-45853")
    assert minizip["analysis"] == {"response": ["will_not_fix"]}

    requests = vulnerabilities(document, "CVE-2024-35195")
    (vex,) = [v for v in requests if "analysis" in v]
    assert vex["analysis"] == {
        "detail": "Suppressed by vex:vex/app.openvex.json: VEX not_affected: "
        "vulnerable_code_not_in_execute_path",
        "justification": "code_not_reachable",
        "state": "not_affected",
    }
    assert properties(vex)["basewatch:suppression:source"] == "vex:vex/app.openvex.json"

    (ignored,) = vulnerabilities(document, "CVE-2024-0727")
    assert ignored["analysis"] == {
        "detail": "Suppressed by .basewatchignore: PKCS12 files are never parsed by this service"
    }


def test_vex_fixed_is_resolved() -> None:
    result = make_scan_result()
    suppression = dataclasses.replace(result.suppressed[1], reason="VEX fixed")
    document = load(dataclasses.replace(result, suppressed=(suppression,)))
    (vex,) = [v for v in document["vulnerabilities"] if "state" in v.get("analysis", {})]
    assert vex["analysis"]["state"] == "resolved"


def test_scan_facts_are_bom_properties() -> None:
    props = properties(load(make_scan_result())["metadata"])
    assert props["basewatch:database:source:0:name"] == "osv:Debian:12"
    assert props["basewatch:scan:warning:0"].startswith("no advisories for ecosystem Go")
    assert props["basewatch:partial"] == "true"


def test_finding_on_a_package_outside_the_inventory_still_points_at_a_component() -> None:
    result = make_scan_result()
    stray = dataclasses.replace(
        result.findings[0].package, name="stray", purl="pkg:deb/debian/stray@1"
    )
    finding = dataclasses.replace(result.findings[0], package=stray)
    document = load(dataclasses.replace(result, findings=(finding,), suppressed=()))
    refs = {c["bom-ref"] for c in document["components"]}
    assert document["vulnerabilities"][0]["affects"][0]["ref"] in refs
    assert schema_errors(json.dumps(document)) == []


def test_bad_reference_urls_are_left_out() -> None:
    result = make_scan_result()
    finding = dataclasses.replace(
        result.findings[0], references=("https://example.org/%zz", "https://example.org/ok")
    )
    document = load(dataclasses.replace(result, findings=(finding,), suppressed=()))
    assert document["vulnerabilities"][0]["advisories"] == [{"url": "https://example.org/ok"}]


def test_output_does_not_depend_on_hash_seed() -> None:
    # The library keeps vulnerabilities, ratings and references in sorted sets (see
    # test_cyclonedx.py): the order must come from their content, never from their hashes.
    check_golden_across_hash_seeds("scan.cdx.json")
