"""Harbor's report documents, held to the Pluggable Scanner API v1.2 spec itself.

Every report is validated against the spec's own component schemas, read from
../shared/fixtures/specs/harbor-scanner-adapter-openapi-v1.2.yaml: `#/components/schemas/...`
refs inlined and OpenAPI 3.0's `nullable` turned into JSON Schema, then checked with jsonschema,
once as written and once closed (no property the spec does not name, except the documented
`vendor_attributes`), which catches a misspelt field the open schema would let through. The
embedded SBOMs are validated the way the SBOM renderers' own tests do it (the vendored SPDX 2.3
schema, cyclonedx-python-lib's strict CycloneDX 1.6 validator).

Inputs are the report tests' hand-built scan of a Debian image (tests/unit/report/
scan_fixtures.py), attributed to base and app layers by basewatch's own `attribution.label`,
and a scan by the real matcher against real PyPI OSV records from ../shared/fixtures/osv.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import gzip
import json
import re
import zipfile
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import urlsplit

import jsonschema
import pytest
import yaml

from basewatch.inventory.attribution import find_base, label
from basewatch.matching.evaluate import scan_inventory
from basewatch.models import (
    BaseImage,
    BaseMethod,
    CatalogEntry,
    Confidence,
    DatabaseInfo,
    ImageInfo,
    Inventory,
    LayerInfo,
    Origin,
    OSInfo,
    Package,
    PackageType,
    ScanResult,
    Severity,
    SourceType,
)
from basewatch.report.formats import SbomFormat, sbom_renderer
from basewatch.service.harbor.reports import (
    CYCLONEDX_JSON,
    SBOM_REPORT,
    SPDX_JSON,
    VULN_REPORT_HARBOR,
    VULN_REPORT_SECURITY,
    harbor_severity,
    sbom_report,
    vulnerability_report,
)
from basewatch.vulndb.importer import import_paths
from basewatch.vulndb.sqlite import SqliteStore, rebuilding
from tests.fixtures import shared_fixture
from tests.unit.report import test_cyclonedx, test_spdx
from tests.unit.report.conftest import (
    ALPINE_LAYER,
    APP_LAYER,
    BASE_LAYER,
    NOW,
    SERIAL,
    digest,
    make_inventory,
)
from tests.unit.report.scan_fixtures import make_findings, make_scan_inventory, make_scan_result

SPEC = "specs/harbor-scanner-adapter-openapi-v1.2.yaml"
ARTIFACT = {
    "repository": "team/app",
    "digest": digest("manifest"),
    "tag": "1.4.2",
    "mime_type": "application/vnd.oci.image.manifest.v1+json",
}
SCANNER = {"name": "basewatch", "vendor": "basewatch", "version": "0.9.0"}
V2_VECTOR = "AV:N/AC:L/Au:S/C:N/I:N/A:P"
V3_VECTOR = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"
V4_VECTOR = "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N"


# --- the spec's schemas -------------------------------------------------------------------------


@functools.cache
def spec_components() -> dict[str, Any]:
    spec = yaml.safe_load(shared_fixture(SPEC).read_text(encoding="utf-8"))
    assert spec["openapi"] == "3.0.0" and spec["info"]["version"] == "1.2"
    schemas: dict[str, Any] = spec["components"]["schemas"]
    return schemas


def to_json_schema(node: Any, schemas: dict[str, Any], seen: tuple[str, ...] = ()) -> Any:
    """An OpenAPI 3.0 schema as JSON Schema: local refs inlined, `nullable` as a null type."""
    if isinstance(node, list):
        return [to_json_schema(n, schemas, seen) for n in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        name = node["$ref"].removeprefix("#/components/schemas/")
        assert name != node["$ref"], f"not a local schema ref: {node['$ref']}"
        assert name not in seen, f"recursive schema {name}"
        return to_json_schema(schemas[name], schemas, (*seen, name))
    converted = {
        key: (
            {k: to_json_schema(v, schemas, seen) for k, v in value.items()}
            if key == "properties"
            else to_json_schema(value, schemas, seen)
        )
        for key, value in node.items()
        if key != "nullable"
    }
    if node.get("nullable") is True:
        if "enum" in converted:
            converted["enum"] = [*converted["enum"], None]
        if "type" in converted:
            converted["type"] = [converted["type"], "null"]
        else:  # `oneOf`/`allOf`/`$ref` beside `nullable`: null is one more choice
            return {"anyOf": [converted, {"type": "null"}]}
    return converted


def closed(schema: Any) -> Any:
    """`schema` with every object that lists properties refusing any other."""
    if isinstance(schema, list):
        return [closed(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    result = {k: closed(v) for k, v in schema.items()}
    if "properties" in schema:
        result["properties"] = {k: closed(v) for k, v in schema["properties"].items()}
        result.setdefault("additionalProperties", False)
    return result


_RFC3339 = re.compile(
    r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$", re.ASCII
)
_URI = re.compile(
    r"^[A-Za-z][A-Za-z0-9+.-]*:([A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=]|%[0-9A-Fa-f]{2})*$"
)


def _is_date_time(value: object) -> bool:
    if not isinstance(value, str):
        return True
    if not _RFC3339.match(value):
        return False
    datetime.fromisoformat(value.upper().replace("Z", "+00:00"))  # raises on Feb 30, hour 25
    return True


def _is_uri(value: object) -> bool:
    return not isinstance(value, str) or bool(_URI.match(value))


# jsonschema checks `date-time` and `uri` only with optional packages this project does not
# install; the spec uses both, so they are checked here by RFC 3339's and RFC 3986's grammar.
FORMATS = copy.deepcopy(jsonschema.Draft4Validator.FORMAT_CHECKER)
FORMATS.checks("date-time", raises=ValueError)(_is_date_time)
FORMATS.checks("uri")(_is_uri)


def spec_errors(document: dict[str, Any], component: str) -> list[str]:
    """Where `document` breaks the spec's `component` schema, as written and closed."""
    schemas = spec_components()
    schema = to_json_schema(schemas[component], schemas)
    strict = closed(schema)
    # The spec's report object is open; basewatch's top-level vendor_attributes is documented.
    strict["properties"].setdefault("vendor_attributes", {"type": "object"})
    errors = []
    for variant in (schema, strict):
        jsonschema.Draft4Validator.check_schema(variant)
        validator = jsonschema.Draft4Validator(variant, format_checker=FORMATS)
        errors += [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(document)]
    return errors


def harbor_report(scan: ScanResult, **kwargs: Any) -> dict[str, Any]:
    options: dict[str, Any] = {"artifact": ARTIFACT, "scanner": SCANNER, "generated_at": NOW}
    report = vulnerability_report(scan, **{**options, **kwargs})
    assert spec_errors(report, "HarborVulnerabilityReport") == []
    return report


def attributed_scan() -> ScanResult:
    """The report tests' scan, its packages attributed by `attribution.label` as a real scan
    does: the Debian rootfs layer is the base (found by the catalog), the rest is the app's."""
    raw = make_scan_inventory()
    unlabelled = dataclasses.replace(
        raw,
        packages=tuple(
            dataclasses.replace(p, origin=Origin.UNKNOWN, instruction="") for p in raw.packages
        ),
    )
    catalog = [
        CatalogEntry(
            reference="debian:bookworm-slim",
            digest=digest("debian bookworm-slim index"),
            diff_ids=(BASE_LAYER,),
        )
    ]
    base = find_base(unlabelled.image, catalog)
    assert base is not None and base.layers == 1
    inventory = label(unlabelled, base)
    findings, _ = make_findings(inventory)
    return dataclasses.replace(
        make_scan_result(), inventory=inventory, findings=tuple(findings), suppressed=()
    )


def item_of(report: dict[str, Any], vuln_id: str, package: str = "") -> dict[str, Any]:
    found = [
        v
        for v in report["vulnerabilities"]
        if v["id"] == vuln_id and (not package or v["package"] == package)
    ]
    assert len(found) == 1, found
    item: dict[str, Any] = found[0]
    return item


def with_finding(**changes: Any) -> ScanResult:
    """The report tests' scan with its glibc KEV finding changed, and only that finding."""
    scan = make_scan_result()
    (finding,) = [f for f in scan.findings if f.id == "CVE-2023-4911"]
    return dataclasses.replace(scan, findings=(dataclasses.replace(finding, **changes),))


# --- the spec machinery itself ------------------------------------------------------------------


def test_the_spec_schemas_convert_fully() -> None:
    schemas = spec_components()
    for name in ("HarborVulnerabilityReport", "HarborSbomReport", "ScanRequest"):
        text = json.dumps(to_json_schema(schemas[name], schemas))
        assert "$ref" not in text and "nullable" not in text
    # ScanRequest's `parameters` is the one nullable schema: null is now accepted there
    request = to_json_schema(schemas["ScanRequest"], schemas)
    validator = jsonschema.Draft4Validator(request)
    body = {
        "registry": {"url": "https://core.harbor.domain"},
        "artifact": ARTIFACT,
        "enabled_capabilities": [{"type": "sbom", "parameters": None}],
    }
    assert list(validator.iter_errors(body)) == []


def test_the_validation_rejects_what_breaks_the_spec() -> None:
    report = harbor_report(make_scan_result())
    broken = copy.deepcopy(report)
    broken["severity"] = "HIGH"
    broken["generated_at"] = "2024-05-01 12:30"
    item = broken["vulnerabilities"][0]
    item["links"] = ["not a uri"]
    item["preferred_cvss"]["score_v3"] = "9.8"
    item["fixed_version"] = "1.0"  # the spec says fix_version
    errors = spec_errors(broken, "HarborVulnerabilityReport")
    for where in (
        "['severity']",
        "['generated_at']",
        "['vulnerabilities', 0, 'links', 0]",
        "['vulnerabilities', 0, 'preferred_cvss', 'score_v3']",
        "['vulnerabilities', 0]: Additional properties",
    ):
        assert any(e.startswith(where) for e in errors), (where, errors)


# --- media types and severity -------------------------------------------------------------------


def test_media_types_are_the_ones_the_spec_defines() -> None:
    text = shared_fixture(SPEC).read_text(encoding="utf-8")
    spec = yaml.safe_load(text)
    report = spec["paths"]["/scan/{scan_request_id}/report"]["get"]
    produced = set(report["responses"][200]["content"])
    assert {VULN_REPORT_HARBOR, VULN_REPORT_SECURITY, SBOM_REPORT} <= produced
    sbom_types = spec_components()["HarborSbomReport"]["properties"]["media_type"]["enum"]
    assert sbom_types == [SPDX_JSON, CYCLONEDX_JSON]


def test_every_severity_has_its_harbor_name() -> None:
    expected = {
        Severity.UNKNOWN: "Unknown",
        Severity.NEGLIGIBLE: "Negligible",
        Severity.LOW: "Low",
        Severity.MEDIUM: "Medium",
        Severity.HIGH: "High",
        Severity.CRITICAL: "Critical",
    }
    assert {s: harbor_severity(s) for s in Severity} == expected
    assert list(expected.values()) == spec_components()["Severity"]["enum"]


def test_report_severity_is_the_highest_finding() -> None:
    scan = make_scan_result()  # zlib's MiniZip CVE is critical
    assert harbor_report(scan)["severity"] == "Critical"
    without = dataclasses.replace(
        scan, findings=tuple(f for f in scan.findings if f.severity is not Severity.CRITICAL)
    )
    assert harbor_report(without)["severity"] == "High"
    negligible = dataclasses.replace(
        scan, findings=tuple(f for f in scan.findings if f.severity is Severity.NEGLIGIBLE)
    )
    assert harbor_report(negligible)["severity"] == "Negligible"


# --- the items ----------------------------------------------------------------------------------


def test_every_finding_is_one_item_with_its_fields() -> None:
    scan = make_scan_result()
    report = harbor_report(scan)
    items = report["vulnerabilities"]
    assert len(items) == len(scan.findings) == 8
    assert sorted((i["id"], i["package"], i["version"]) for i in items) == sorted(
        (f.id, f.package.name, f.installed_version) for f in scan.findings
    )
    # suppressed findings (the ignore file's, VEX's, --only-fixed's) are not vulnerabilities
    ids = {i["id"] for i in items}
    assert not ids & {s.finding.id for s in scan.suppressed} - {f.id for f in scan.findings}
    # worst first, as every basewatch scan report lists them
    severities = [i["severity"] for i in items]
    assert severities[0] == "Critical" and severities[-1] == "Negligible"

    looney = item_of(report, "CVE-2023-4911")
    assert {k: looney[k] for k in ("package", "version", "fix_version", "severity")} == {
        "package": "libc6",
        "version": "2.36-9+deb12u2",
        "fix_version": "2.36-9+deb12u3",
        "severity": "High",
    }
    assert (
        looney["description"] == "glibc: buffer overflow in ld.so leading to privilege escalation"
    )
    assert looney["cwe_ids"] == []
    attributes = looney["vendor_attributes"]
    assert attributes["aliases"] == ["DEBIAN-CVE-2023-4911", "DSA-5514-1"]
    assert attributes["advisories"] == ["DEBIAN-CVE-2023-4911", "DSA-5514-1"]
    assert attributes["fix_status"] == "fixed"
    assert attributes["purl"] == "pkg:deb/debian/libc6@2.36-9%2Bdeb12u2?arch=amd64&distro=debian-12"
    assert (attributes["package_type"], attributes["ecosystem"]) == ("deb", "Debian:12")
    assert attributes["severity_source"] == "CVSS:3.1"

    minizip = item_of(report, "CVE-2023-45853")
    assert minizip["fix_version"] == ""
    assert minizip["vendor_attributes"]["fix_status"] == "wont-fix"
    unfixed = item_of(report, "CVE-2019-1010022")
    assert (unfixed["fix_version"], unfixed["vendor_attributes"]["fix_status"]) == ("", "not-fixed")
    pypi = item_of(report, "CVE-2024-35195")
    assert (pypi["package"], pypi["vendor_attributes"]["ecosystem"]) == ("requests", "PyPI")


def test_two_copies_of_a_package_stay_two_items() -> None:
    scan = make_scan_result()
    (app_copy,) = [f for f in scan.findings if f.id == "CVE-2024-35195"]
    base_copy = next(
        p for p in scan.inventory.packages if p.name == "requests" and p is not app_copy.package
    )
    second = dataclasses.replace(app_copy, package=base_copy)
    report = harbor_report(dataclasses.replace(scan, findings=(*scan.findings, second)))
    items = [i for i in report["vulnerabilities"] if i["id"] == "CVE-2024-35195"]
    assert len(items) == 2
    assert {i["vendor_attributes"]["layer"]["diff_id"] for i in items} == {APP_LAYER, BASE_LAYER}


def test_layers_are_attributed_to_the_base_or_the_app_with_their_instruction() -> None:
    report = harbor_report(attributed_scan())
    looney = item_of(report, "CVE-2023-4911")["vendor_attributes"]
    assert looney["origin"] == "base"
    assert looney["layer"] == {"index": 0, "diff_id": BASE_LAYER, "digest": digest("base blob")}
    assert looney["instruction"] == "# debian.sh --arch 'amd64' out/ 'bookworm' '@1714348800'"
    musl = item_of(report, "CVE-2025-26519")["vendor_attributes"]
    assert musl["origin"] == "app"
    assert musl["layer"] == {"index": 1, "diff_id": ALPINE_LAYER, "digest": digest("alpine blob")}
    assert musl["instruction"] == "COPY --from=musl / /opt/musl # buildkit"
    requests = item_of(report, "CVE-2024-35195")["vendor_attributes"]
    assert (requests["origin"], requests["layer"]["index"]) == ("app", 2)
    assert requests["instruction"] == "COPY . /app # buildkit"

    base = report["vendor_attributes"]["base_image"]
    assert base == {
        "reference": "debian:bookworm-slim",
        "digest": digest("debian bookworm-slim index"),
        "method": "annotation",  # the image's annotations name it; the catalog knows its layers
        "confidence": "high",
        "layers": 1,
    }


def test_the_instruction_comes_from_the_layer_history_when_the_package_has_none() -> None:
    scan = make_scan_result()  # hand-built: packages carry a layer, not its instruction
    assert all(not p.instruction for p in scan.inventory.packages)
    report = harbor_report(scan)
    assert item_of(report, "CVE-2023-5678")["vendor_attributes"]["instruction"] == (
        "# debian.sh --arch 'amd64' out/ 'bookworm' '@1714348800'"
    )
    stated = dataclasses.replace(
        scan.findings[0].package, instruction="RUN apt-get install -y libc6"
    )
    own = harbor_report(with_finding(package=stated))
    assert own["vendor_attributes"]["base_image"] is None
    assert own["vulnerabilities"][0]["vendor_attributes"]["instruction"] == (
        "RUN apt-get install -y libc6"
    )


def test_a_package_without_a_known_layer_has_no_layer_attributes() -> None:
    scan = make_scan_result()
    (finding,) = [f for f in scan.findings if f.id == "CVE-2023-4911"]
    nowhere = dataclasses.replace(finding.package, layer="", origin=Origin.UNKNOWN)
    elsewhere = dataclasses.replace(finding.package, layer=digest("not in the image"))
    (item,) = harbor_report(with_finding(package=nowhere))["vulnerabilities"]
    assert item["vendor_attributes"]["origin"] == "unknown"
    assert "layer" not in item["vendor_attributes"]
    assert "instruction" not in item["vendor_attributes"]
    (item,) = harbor_report(with_finding(package=elsewhere))["vulnerabilities"]
    assert item["vendor_attributes"]["layer"] == {"diff_id": digest("not in the image")}


def test_kev_and_epss() -> None:
    report = harbor_report(make_scan_result())
    looney = item_of(report, "CVE-2023-4911")["vendor_attributes"]
    assert (looney["kev"], looney["epss"], looney["epss_percentile"]) == (True, 0.69467, 0.98203)
    minizip = item_of(report, "CVE-2023-45853")["vendor_attributes"]
    assert (minizip["kev"], minizip["epss"]) == (False, 0.01513)
    assert "epss_percentile" not in minizip  # unknown, not zero
    musl = item_of(report, "CVE-2025-26519")["vendor_attributes"]
    assert musl["kev"] is False and "epss" not in musl and "epss_percentile" not in musl
    zero = harbor_report(with_finding(epss=0.0, epss_percentile=0.0, kev=False))
    assert zero["vulnerabilities"][0]["vendor_attributes"]["epss"] == 0.0


def test_cwe_ids_are_the_findings() -> None:
    report = harbor_report(with_finding(cwe_ids=("CWE-20", "CWE-787")))
    assert report["vulnerabilities"][0]["cwe_ids"] == ["CWE-20", "CWE-787"]
    assert harbor_report(with_finding())["vulnerabilities"][0]["cwe_ids"] == []


def test_links_are_the_http_references_only() -> None:
    references = (
        "https://security-tracker.debian.org/tracker/CVE-2023-4911",
        "http://www.openwall.com/lists/oss-security/2023/10/03/2",
        "ftp://ftp.example.org/pub/patch.diff",
        "mailto:security@example.org",
        "javascript:alert(1)",
        "https://security-tracker.debian.org/tracker/CVE-2023-4911",  # repeated
        "www.example.org/no-scheme",
        "https:///no-host",
        "https://example.org/a path with spaces",
        "https://[::1/broken-ipv6",
        "  https://lists.debian.org/debian-security-announce/2023/msg00207.html  ",
        "HTTPS://EXAMPLE.ORG/UPPER",
        "https://bugs.example.org/show?id=1|2&ä=ö",
    )
    report = harbor_report(with_finding(references=references))
    assert report["vulnerabilities"][0]["links"] == [
        "https://security-tracker.debian.org/tracker/CVE-2023-4911",
        "http://www.openwall.com/lists/oss-security/2023/10/03/2",
        "https://lists.debian.org/debian-security-announce/2023/msg00207.html",
        "HTTPS://EXAMPLE.ORG/UPPER",
        "https://bugs.example.org/show?id=1%7C2&%C3%A4=%C3%B6",
    ]
    assert harbor_report(with_finding(references=()))["vulnerabilities"][0]["links"] == []


@pytest.mark.parametrize(
    ("score", "vector", "source", "expected", "v4"),
    [
        (9.8, V3_VECTOR, "CVSS:3.1", {"score_v3": 9.8, "vector_v3": V3_VECTOR}, None),
        (
            7.5,
            "CVSS:3.0/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N",
            "CVSS:3.0",
            {"score_v3": 7.5, "vector_v3": "CVSS:3.0/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N"},
            None,
        ),
        (4.0, V2_VECTOR, "CVSS:2.0", {"score_v2": 4.0, "vector_v2": V2_VECTOR}, None),
        # the vector decides, whatever the rating's source says
        (4.0, V2_VECTOR, "Debian urgency", {"score_v2": 4.0, "vector_v2": V2_VECTOR}, None),
        (None, V3_VECTOR, "CVSS:3.1", {"vector_v3": V3_VECTOR}, None),
        # no vector: the score is placed by its source, or left out when that says nothing
        (6.1, "", "CVSS:3.1", {"score_v3": 6.1}, None),
        (6.1, "", "GHSA", None, None),
        (None, "", "Debian urgency", None, None),
        # v4 has no field in the spec: kept among basewatch's attributes
        (9.3, V4_VECTOR, "CVSS:4.0", None, {"score": 9.3, "vector": V4_VECTOR}),
    ],
)
def test_preferred_cvss_follows_the_vector_version(
    score: float | None,
    vector: str,
    source: str,
    expected: dict[str, Any] | None,
    v4: dict[str, Any] | None,
) -> None:
    scan = with_finding(cvss_score=score, cvss_vector=vector, severity_source=source)
    (item,) = harbor_report(scan)["vulnerabilities"]
    assert item.get("preferred_cvss") == expected
    assert item["vendor_attributes"].get("cvss_v4") == v4


# --- what was not checked -----------------------------------------------------------------------


def test_what_was_not_checked_comes_first() -> None:
    report = harbor_report(make_scan_result())
    attributes = report["vendor_attributes"]
    assert list(attributes) == ["not_checked", "partial", "summary", "base_image", "database"]
    assert attributes["not_checked"] == {
        "packages": 1,
        "ecosystems": [
            {"ecosystem": "Go", "packages": 1, "names": [], "notice": "not checked: Go, 1 package"}
        ],
        "without_ecosystem": 0,
        "inventory_partial": True,  # the image's rpm database was unreadable
        "warnings": [
            "/var/lib/rpm/rpmdb.sqlite: database disk image is malformed;"
            " rpm packages may be missing",
            "no advisories for ecosystem Go: 1 golang package was not checked",
        ],
    }
    assert attributes["partial"] is True
    assert attributes["summary"] == {
        "packages": 11,
        "checked": 10,
        "findings": 8,
        "fixable": 6,
        "kev": 1,
        "suppressed": 3,
    }
    assert attributes["database"]["sources"][0] == {
        "name": "osv:Debian:12",
        "updated_at": "2024-05-01T06:00:00Z",
    }
    assert "path" not in attributes["database"]


def test_no_findings_does_not_look_clean_when_nothing_was_checked() -> None:
    go = Package(
        "github.com/sirupsen/logrus",
        "v1.9.3",
        PackageType.GOLANG,
        ecosystem="Go",
        purl="pkg:golang/github.com/sirupsen/logrus@v1.9.3",
    )
    fedora_rpm = Package("openssl-libs", "3.2.2-3.fc41", PackageType.RPM)  # OSV has no Fedora
    scan = ScanResult(
        inventory=Inventory(ImageInfo("app:1", SourceType.REGISTRY), None, (go, fedora_rpm)),
        findings=(),
        unchecked=("Go",),
    )
    report = harbor_report(scan)
    assert report["vulnerabilities"] == []
    assert report["severity"] == "Unknown"
    first, value = next(iter(report["vendor_attributes"].items()))
    assert first == "not_checked"
    assert (value["packages"], value["without_ecosystem"]) == (2, 1)
    assert [e["notice"] for e in value["ecosystems"]] == ["not checked: Go, 1 package"]
    assert report["vendor_attributes"]["partial"] is True
    assert report["vendor_attributes"]["summary"]["checked"] == 0


def test_a_fully_checked_clean_scan_says_so() -> None:
    package = Package("requests", "2.32.3", PackageType.PYPI, ecosystem="PyPI")
    scan = ScanResult(
        inventory=Inventory(ImageInfo("app:1", SourceType.REGISTRY), None, (package,)),
        findings=(),
        database=DatabaseInfo("vuln.db", (("osv:PyPI", "2024-05-01T06:00:00Z"),)),
    )
    attributes = harbor_report(scan)["vendor_attributes"]
    assert attributes["not_checked"]["packages"] == 0
    assert attributes["not_checked"]["ecosystems"] == []
    assert attributes["partial"] is False
    assert attributes["summary"]["checked"] == 1
    assert attributes["base_image"] is None


def test_generated_at_is_rfc3339_utc_and_artifact_is_echoed() -> None:
    scan = make_scan_result()
    report = harbor_report(scan)
    assert report["generated_at"] == "2024-05-01T12:30:45Z"
    assert (report["artifact"], report["scanner"]) == (ARTIFACT, SCANNER)
    paris = datetime(2024, 5, 1, 14, 30, 45, 120000, tzinfo=timezone(timedelta(hours=2)))
    assert harbor_report(scan, generated_at=paris)["generated_at"] == "2024-05-01T12:30:45.120000Z"
    naive = datetime(2024, 5, 1, 12, 30, 45)
    assert harbor_report(scan, generated_at=naive)["generated_at"] == "2024-05-01T12:30:45Z"


# --- a real scan --------------------------------------------------------------------------------

# Releases of 2018, with the advisories PyPI's OSV records published since.
REAL_PACKAGES = {"requests": "2.19.0", "urllib3": "1.24.1", "jinja2": "2.10"}


@pytest.fixture(scope="module")
def pypi_store(tmp_path_factory: pytest.TempPathFactory) -> SqliteStore:
    """The real PyPI records naming REAL_PACKAGES, with EPSS scores for two of their CVEs."""
    root = tmp_path_factory.mktemp("records")
    with zipfile.ZipFile(shared_fixture("osv/PyPI.zip")) as archive:
        for info in archive.infolist():
            record = json.loads(archive.read(info))
            names = {a.get("package", {}).get("name") for a in record.get("affected", [])}
            if names & set(REAL_PACKAGES):
                (root / info.filename).write_bytes(archive.read(info))
    epss = root / "epss_scores.csv.gz"
    epss.write_bytes(
        gzip.compress(
            b"#model_version:v2023.03.01,score_date:2024-05-01T00:00:00+0000\n"
            b"cve,epss,percentile\nCVE-2018-18074,0.00512,0.76\nCVE-2019-11324,0.0031,0.69\n"
        )
    )
    path = tmp_path_factory.mktemp("db") / "vuln.db"
    with rebuilding(path) as writable:
        import_paths(writable, sorted(root.iterdir()))
    return SqliteStore.open(path)


def real_inventory() -> Inventory:
    """A two-layer image: Debian's rootfs (the base, known to the catalog), then a layer of
    `pip install` and a Go binary."""
    base_layer, app_layer = digest("bookworm rootfs"), digest("pip install layer")
    image = ImageInfo(
        reference="registry.example/team/api:2.0",
        source_type=SourceType.REGISTRY,
        manifest_digest=digest("api manifest"),
        layers=(
            LayerInfo(0, base_layer, digest("rootfs blob"), created_by="# debian.sh bookworm"),
            LayerInfo(
                1,
                app_layer,
                digest("pip blob"),
                created_by="RUN /bin/sh -c pip install -r requirements.txt # buildkit",
            ),
        ),
    )
    packages = [
        Package(
            name,
            version,
            PackageType.PYPI,
            evidence=(f"/usr/local/lib/python3.11/site-packages/{name}-{version}.dist-info",),
            ecosystem="PyPI",
            purl=f"pkg:pypi/{name}@{version}",
            layer=app_layer,
        )
        for name, version in REAL_PACKAGES.items()
    ]
    # Debian's own python3-urllib3 copy would be matched through the deb: a pip copy in the
    # base layer is matched as PyPI, and attributed to the base.
    packages.append(dataclasses.replace(packages[1], layer=base_layer, evidence=("/usr/lib/x",)))
    packages.append(
        Package(
            "github.com/gin-gonic/gin",
            "v1.9.0",
            PackageType.GOLANG,
            ecosystem="Go",
            layer=app_layer,
        )
    )
    inventory = Inventory(image, OSInfo("debian", "12"), tuple(packages))
    catalog = [CatalogEntry("debian:bookworm", digest("bookworm index"), (base_layer,))]
    return label(inventory, find_base(image, catalog))


def test_a_real_scan_reports_exactly_its_findings(pypi_store: SqliteStore) -> None:
    inventory = real_inventory()
    assert inventory.base == BaseImage(
        "debian:bookworm", digest("bookworm index"), BaseMethod.CATALOG, Confidence.HIGH, 1
    )
    scan = scan_inventory(
        inventory,
        pypi_store,
        database=DatabaseInfo(
            "vuln.db", tuple((s.name, s.updated_at) for s in pypi_store.sources())
        ),
    )
    assert len(scan.findings) >= 15  # 2018 releases of requests, urllib3 and jinja2
    report = harbor_report(scan)
    items = report["vulnerabilities"]

    def key(item_id: str, package: str, version: str, layer: str) -> tuple[str, ...]:
        return (item_id, package, version, layer)

    assert sorted(
        key(i["id"], i["package"], i["version"], i["vendor_attributes"]["layer"]["diff_id"])
        for i in items
    ) == sorted(
        key(f.id, f.package.name, f.installed_version, f.package.layer) for f in scan.findings
    )
    by_key = {(f.id, f.package.layer): f for f in scan.findings}
    assert len(by_key) == len(scan.findings) == len(items)
    for item in items:
        finding = by_key[(item["id"], item["vendor_attributes"]["layer"]["diff_id"])]
        attributes = item["vendor_attributes"]
        assert attributes["aliases"] == list(finding.aliases)
        assert attributes["advisories"] == list(finding.advisories)
        assert item["fix_version"] == finding.fixed_version
        assert item["severity"] == harbor_severity(finding.severity)
        assert item["description"] == finding.summary
        assert all(urlsplit(link).scheme in ("http", "https") for link in item["links"])
        assert set(item["links"]) <= set(finding.references)
        assert attributes["origin"] == (
            "base" if finding.package.layer == inventory.image.layers[0].diff_id else "app"
        )

    # CVE-2018-18074 is one finding for requests although PyPA and GitHub both published it
    proxy = item_of(report, "CVE-2018-18074")
    assert "GHSA-x84v-xcm2-53pg" in proxy["vendor_attributes"]["aliases"]
    assert "PYSEC-2018-28" in proxy["vendor_attributes"]["advisories"]
    assert proxy["fix_version"] == "2.20.0"
    assert (proxy["vendor_attributes"]["epss"], proxy["vendor_attributes"]["kev"]) == (
        0.00512,
        False,
    )
    assert proxy["vendor_attributes"]["instruction"] == (
        "RUN /bin/sh -c pip install -r requirements.txt # buildkit"
    )
    # the urllib3 copy in the base layer and the one pip installed are reported apart
    crlf = [i for i in items if i["id"] == "CVE-2019-11236"]
    assert sorted(i["vendor_attributes"]["origin"] for i in crlf) == ["app", "base"]
    # a record with a CVSS v3 vector gives its score and vector
    scored = [i for i in items if "preferred_cvss" in i]
    assert scored and all(i["preferred_cvss"]["vector_v3"].startswith("CVSS:3") for i in scored)
    # Go has no advisories in this database: said first, although nothing was found for it
    not_checked = report["vendor_attributes"]["not_checked"]
    assert [e["notice"] for e in not_checked["ecosystems"]] == ["not checked: Go, 1 package"]
    assert report["vendor_attributes"]["database"]["sources"]


# --- SBOM reports -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("media_type", "fmt"),
    [(SPDX_JSON, SbomFormat.SPDX_JSON), (CYCLONEDX_JSON, SbomFormat.CYCLONEDX_JSON)],
)
def test_the_sbom_is_what_basewatch_sbom_writes(media_type: str, fmt: SbomFormat) -> None:
    inventory = make_inventory()
    report = sbom_report(
        inventory, media_type, artifact=ARTIFACT, scanner=SCANNER, generated_at=NOW, uuid=SERIAL
    )
    assert spec_errors(report, "HarborSbomReport") == []
    assert report["media_type"] == media_type
    assert report["generated_at"] == "2024-05-01T12:30:45Z"
    assert (report["artifact"], report["scanner"]) == (ARTIFACT, SCANNER)
    written = sbom_renderer(fmt, now=NOW, uuid=SERIAL).render(inventory)
    assert report["sbom"] == json.loads(written)


def test_the_embedded_spdx_document_is_valid_spdx() -> None:
    for inventory in (make_inventory(), attributed_scan().inventory):
        report = sbom_report(
            inventory, SPDX_JSON, artifact=ARTIFACT, scanner=SCANNER, generated_at=NOW
        )
        assert test_spdx.schema_errors(report["sbom"]) == []
        test_spdx.check_spdx_rules(report["sbom"])
        assert report["sbom"]["creationInfo"]["created"] == "2024-05-01T12:30:45Z"


def test_the_embedded_cyclonedx_bom_is_valid_cyclonedx() -> None:
    for inventory in (make_inventory(), attributed_scan().inventory):
        report = sbom_report(
            inventory, CYCLONEDX_JSON, artifact=ARTIFACT, scanner=SCANNER, generated_at=NOW
        )
        assert test_cyclonedx.schema_errors(json.dumps(report["sbom"])) == []
        assert report["sbom"]["metadata"]["timestamp"] == NOW.isoformat()


def test_sbom_serials_are_fresh_unless_pinned() -> None:
    inventory = make_inventory()
    options: dict[str, Any] = {"artifact": ARTIFACT, "scanner": SCANNER, "generated_at": NOW}
    first = sbom_report(inventory, CYCLONEDX_JSON, **options)["sbom"]["serialNumber"]
    second = sbom_report(inventory, CYCLONEDX_JSON, **options)["sbom"]["serialNumber"]
    assert first != second
    pinned = sbom_report(inventory, CYCLONEDX_JSON, uuid=SERIAL, **options)
    assert pinned["sbom"]["serialNumber"] == SERIAL.urn


def test_sbom_vendor_attributes_say_what_the_inventory_may_miss_first() -> None:
    inventory = attributed_scan().inventory
    report = sbom_report(inventory, SPDX_JSON, artifact=ARTIFACT, scanner=SCANNER, generated_at=NOW)
    attributes = report["vendor_attributes"]
    assert list(attributes) == ["not_checked", "packages", "base_image"]
    assert attributes["not_checked"] == {
        "inventory_partial": True,
        "warnings": [
            "/var/lib/rpm/rpmdb.sqlite: database disk image is malformed;"
            " rpm packages may be missing"
        ],
    }
    assert attributes["packages"] == len(inventory.packages) == 11
    assert attributes["base_image"]["reference"] == "debian:bookworm-slim"
    complete = dataclasses.replace(inventory, warnings=(), base=None)
    attributes = sbom_report(
        complete, SPDX_JSON, artifact=ARTIFACT, scanner=SCANNER, generated_at=NOW
    )["vendor_attributes"]
    assert attributes["not_checked"] == {"inventory_partial": False, "warnings": []}
    assert attributes["base_image"] is None


@pytest.mark.parametrize(
    "media_type",
    [
        "application/json",
        "application/vnd.cyclonedx+json; version=1.6",
        "application/spdx+json; version=2.3",
        SBOM_REPORT,
        "",
    ],
)
def test_other_sbom_media_types_are_refused(media_type: str) -> None:
    with pytest.raises(ValueError, match="unsupported SBOM media type"):
        sbom_report(
            make_inventory(), media_type, artifact=ARTIFACT, scanner=SCANNER, generated_at=NOW
        )


def test_packages_of_a_distribution_with_no_advisory_source_are_counted_once(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    from basewatch.matching.evaluate import scan_inventory
    from basewatch.models import OSInfo
    from tests.unit.matching.test_evaluate import RPMS, image_inventory, real_pypi_store

    store = real_pypi_store(tmp_path_factory)
    fedora = OSInfo(id="fedora", version_id="39", pretty_name="Fedora Linux 39")
    result = scan_inventory(image_inventory(fedora), store)
    report = harbor_report(result)
    assert report["vulnerabilities"] == []
    not_checked = report["vendor_attributes"]["not_checked"]
    assert not_checked["packages"] == RPMS  # the scan's own entry, not counted again
    assert [e["ecosystem"] for e in not_checked["ecosystems"]] == ["fedora 39 (rpm)"]
    assert not_checked["without_ecosystem"] == 0
    assert report["vendor_attributes"]["partial"] is True
