"""`basewatch scan --format json`, validated against the schema shipped in the package.

Golden files live in tests/unit/report/golden/. After an intended change, regenerate them with
    .venv/bin/python -m tests.unit.report.regen
and review the diff.
"""

from __future__ import annotations

import copy
import dataclasses
import json
from collections.abc import Callable
from typing import Any

import jsonschema
import pytest

from basewatch.models import Severity
from basewatch.report.sbom.json import load_schema as load_inventory_schema
from basewatch.report.scan.json import (
    SCHEMA_VERSION,
    ScanJsonReporter,
    load_schema,
    scan_document,
)
from tests.unit.report.regen import check_golden
from tests.unit.report.scan_fixtures import make_clean_scan_result, make_scan_result


def validator() -> jsonschema.Draft202012Validator:
    schema = load_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(
        schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )


def render() -> dict[str, Any]:
    document: dict[str, Any] = json.loads(ScanJsonReporter().render(make_scan_result()))
    return document


@pytest.mark.parametrize("name", ["scan.json", "scan-clean.json"])
def test_matches_golden(name: str) -> None:
    check_golden(name)


def test_output_validates_against_shipped_schema() -> None:
    check = validator()
    for result in (make_scan_result(), make_clean_scan_result()):
        document = json.loads(ScanJsonReporter().render(result))
        assert [e.message for e in check.iter_errors(document)] == []


def test_schema_shares_the_inventory_definitions() -> None:
    scan, inventory = load_schema(), load_inventory_schema()
    assert scan["properties"]["schema_version"]["const"] == SCHEMA_VERSION
    for name in ("image", "layer", "os", "package", "digest"):
        assert scan["$defs"][name] == inventory["$defs"][name], name
    severities = scan["$defs"]["severity"]["enum"]
    assert sorted(severities) == sorted(s.value for s in Severity)


def test_document_shape() -> None:
    document = render()
    assert list(document) == [
        "schema_version",
        "tool",
        "unchecked",
        "image",
        "os",
        "database",
        "summary",
        "findings",
        "suppressed",
        "warnings",
        "partial",
    ]
    assert document["summary"]["findings"] == len(document["findings"]) == 8
    assert document["summary"]["by_severity"]["high"] == {"findings": 2, "fixable": 2}
    assert document["summary"]["suppressed"] == len(document["suppressed"]) == 3
    assert [f["id"] for f in document["findings"]][:2] == ["CVE-2023-45853", "CVE-2023-4911"]
    kev = document["findings"][1]
    assert kev["kev"] is True
    assert kev["package"]["name"] == "libc6"
    assert kev["package"]["purl"].startswith("pkg:deb/debian/libc6@")
    vex = next(s for s in document["suppressed"] if s["source"].startswith("vex:"))
    assert vex["finding"]["package"]["evidence"][0].startswith("/usr/lib/python3/")
    assert vex["reason"].startswith("VEX not_affected")
    assert document["database"]["sources"][0] == {
        "name": "osv:Debian:12",
        "updated_at": "2024-05-01T06:00:00Z",
    }
    assert document["partial"] is True
    assert len(document["warnings"]) == 2


def test_clean_result() -> None:
    document = json.loads(ScanJsonReporter().render(make_clean_scan_result()))
    assert document["findings"] == document["suppressed"] == document["warnings"] == []
    assert document["database"] is None
    assert document["partial"] is False


def _fixed_without_version(d: dict[str, Any]) -> None:
    d["findings"][1]["fixed_version"] = ""


def _bad_severity(d: dict[str, Any]) -> None:
    d["findings"][0]["severity"] = "severe"


def _epss_over_one(d: dict[str, Any]) -> None:
    d["findings"][0]["epss"] = 69.4


def _missing_summary_severity(d: dict[str, Any]) -> None:
    del d["summary"]["by_severity"]["unknown"]


def _suppression_without_source(d: dict[str, Any]) -> None:
    d["suppressed"][0]["source"] = ""


def _wrong_schema_version(d: dict[str, Any]) -> None:
    d["schema_version"] = "2.0"


@pytest.mark.parametrize(
    "breakage",
    [
        _fixed_without_version,
        _bad_severity,
        _epss_over_one,
        _missing_summary_severity,
        _suppression_without_source,
        _wrong_schema_version,
    ],
)
def test_broken_documents_do_not_validate(breakage: Callable[[dict[str, Any]], None]) -> None:
    document = copy.deepcopy(render())
    breakage(document)
    assert list(validator().iter_errors(document)) != []


def test_scan_document_is_json_ready() -> None:
    assert json.loads(json.dumps(scan_document(make_scan_result()))) == render()


def test_weaknesses_validate_and_documents_without_them_still_do() -> None:
    result = make_scan_result()
    first = dataclasses.replace(result.findings[0], cwe_ids=("CWE-20", "CWE-787"))
    document = json.loads(
        ScanJsonReporter().render(
            dataclasses.replace(result, findings=(first, *result.findings[1:]))
        )
    )
    (written,) = [f for f in document["findings"] if f["cwe_ids"]]
    assert (written["id"], written["cwe_ids"]) == (first.id, ["CWE-20", "CWE-787"])
    check = validator()
    assert [e.message for e in check.iter_errors(document)] == []
    older = copy.deepcopy(document)
    for finding in older["findings"]:
        del finding["cwe_ids"]
    assert [e.message for e in check.iter_errors(older)] == []
    for bad in (["CWE-x"], ["cwe-20"], "CWE-20", ["CWE-20", "CWE-20"]):
        broken = copy.deepcopy(document)
        broken["findings"][0]["cwe_ids"] = bad
        assert list(check.iter_errors(broken)) != [], bad
