"""`--format spdx-json`, validated against the official SPDX 2.3 JSON schema.

The schema is vendored at tests/unit/report/schemas/spdx-schema-2.3.json (see the README beside
it for where it comes from). SPDX 2.3's schema is loose, so the rules its 2.3.1 revision adds
(documentNamespace required, SPDXID and date patterns) and the spec's referential rules
(relationships and LicenseRefs point at something defined) are checked here by hand.
"""

from __future__ import annotations

import dataclasses
import json
import re
from datetime import datetime
from typing import Any
from uuid import UUID

import jsonschema
import pytest

from basewatch import __version__
from basewatch.models import Inventory, Package, PackageType
from basewatch.report.licenses import spdx_expression
from basewatch.report.sbom.spdx import SpdxReporter, safe_id
from tests.unit.report.conftest import NOW, SCHEMA_DIR, SERIAL

SPDX_ID = re.compile(r"^SPDXRef-[a-zA-Z0-9.-]+$")
DATE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")
LICENSE_REF = re.compile(r"LicenseRef-[A-Za-z0-9.-]+")


def render(inventory: Inventory, **kwargs: Any) -> dict[str, Any]:
    options: dict[str, Any] = {"now": NOW, "uuid": SERIAL, **kwargs}
    document: dict[str, Any] = json.loads(SpdxReporter(**options).render(inventory))
    return document


def schema_errors(document: dict[str, Any]) -> list[str]:
    schema = json.loads((SCHEMA_DIR / "spdx-schema-2.3.json").read_text(encoding="utf-8"))
    assert schema["title"] == "SPDX 2.3"
    validator = jsonschema.Draft7Validator(
        schema, format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER
    )
    return [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(document)]


def package(document: dict[str, Any], name: str, **match: str) -> dict[str, Any]:
    found: list[dict[str, Any]] = [
        p
        for p in document["packages"]
        if p["name"] == name and all(p.get(k) == v for k, v in match.items())
    ]
    assert len(found) == 1, found
    return found[0]


def check_spdx_rules(document: dict[str, Any]) -> None:
    """What the 2.3 schema cannot say: ids, dates, references, license refs."""
    assert document["documentNamespace"]
    assert "#" not in document["documentNamespace"]
    assert DATE.match(document["creationInfo"]["created"])
    ids = [p["SPDXID"] for p in document["packages"]]
    assert len(ids) == len(set(ids))
    assert all(SPDX_ID.match(i) for i in ids)
    known = {*ids, document["SPDXID"]}
    for rel in document["relationships"]:
        assert rel["spdxElementId"] in known
        assert rel["relatedSpdxElement"] in known
    defined = {e["licenseId"] for e in document.get("hasExtractedLicensingInfos", [])}
    used = set()
    for pkg in document["packages"]:
        for field in ("licenseDeclared", "licenseConcluded"):
            used.update(LICENSE_REF.findall(pkg[field]))
            without_refs = LICENSE_REF.sub("MIT", pkg[field])
            assert pkg[field] == "NOASSERTION" or spdx_expression(without_refs) is not None
        for ref in pkg.get("externalRefs", []):
            assert ref["referenceCategory"] == "PACKAGE-MANAGER"
            assert ref["referenceLocator"].startswith("pkg:")
    assert used == defined


def test_validates_against_official_schema(
    inventory: Inventory, minimal_inventory: Inventory
) -> None:
    for inv in (inventory, minimal_inventory, dataclasses.replace(inventory, os=None)):
        document = render(inv)
        assert schema_errors(document) == []
        check_spdx_rules(document)


def test_validator_rejects_a_broken_document(inventory: Inventory) -> None:
    document = render(inventory)
    del document["packages"][0]["downloadLocation"]
    document["relationships"][0]["relationshipType"] = "OWNS"
    document["creationInfo"]["creators"] = []
    assert len(schema_errors(document)) == 3


def test_document_header(inventory: Inventory) -> None:
    document = render(inventory)
    assert document["spdxVersion"] == "SPDX-2.3"
    assert document["dataLicense"] == "CC0-1.0"
    assert document["SPDXID"] == "SPDXRef-DOCUMENT"
    assert document["name"] == "localhost:5000/team/app:1.4.2"
    assert document["documentNamespace"] == (
        f"https://spdx.org/spdxdocs/localhost-5000-team-app-1.4.2-{SERIAL}"
    )
    assert document["creationInfo"] == {
        "created": "2024-05-01T12:30:45Z",
        "creators": [f"Tool: basewatch-{__version__}"],
    }
    assert document["comment"].startswith("Partial result: /var/lib/rpm/rpmdb.sqlite")


def test_output_is_deterministic(inventory: Inventory) -> None:
    shuffled = dataclasses.replace(inventory, packages=inventory.packages[::-1])
    assert render(inventory) == render(shuffled)
    other = render(inventory, uuid=UUID(int=7))
    assert other["documentNamespace"] != render(inventory)["documentNamespace"]


def test_naive_now_is_utc(minimal_inventory: Inventory) -> None:
    document = render(minimal_inventory, now=datetime(2024, 1, 2, 3, 4, 5))
    assert document["creationInfo"]["created"] == "2024-01-02T03:04:05Z"


def test_image_is_the_described_root(inventory: Inventory) -> None:
    document = render(inventory)
    root = document["packages"][0]
    assert root["primaryPackagePurpose"] == "CONTAINER"
    assert root["SPDXID"].startswith("SPDXRef-DocumentRoot-Image-")
    assert root["versionInfo"] == inventory.image.manifest_digest
    assert root["checksums"] == [
        {"algorithm": "SHA256", "checksumValue": inventory.image.manifest_digest[7:]}
    ]
    assert root["externalRefs"][0]["referenceLocator"].startswith("pkg:oci/app@sha256")
    relationships = document["relationships"]
    assert relationships[0] == {
        "spdxElementId": "SPDXRef-DOCUMENT",
        "relationshipType": "DESCRIBES",
        "relatedSpdxElement": root["SPDXID"],
    }
    contained = {r["relatedSpdxElement"] for r in relationships[1:]}
    assert all(r["spdxElementId"] == root["SPDXID"] for r in relationships[1:])
    assert all(r["relationshipType"] == "CONTAINS" for r in relationships[1:])
    assert contained == {p["SPDXID"] for p in document["packages"][1:]}


def test_operating_system_package(inventory: Inventory) -> None:
    os = package(render(inventory), "debian")
    assert os["primaryPackagePurpose"] == "OPERATING_SYSTEM"
    assert os["versionInfo"] == "12"
    assert os["SPDXID"] == "SPDXRef-OperatingSystem-debian-12"


def test_packages(inventory: Inventory) -> None:
    document = render(inventory)
    libc = package(document, "libc6")
    assert libc["versionInfo"] == "2.36-9+deb12u4"
    assert libc["downloadLocation"] == "NOASSERTION"
    assert libc["licenseConcluded"] == "NOASSERTION"
    assert libc["filesAnalyzed"] is False
    assert libc["supplier"] == "Person: GNU Libc Maintainers (debian-glibc@lists.debian.org)"
    assert libc["externalRefs"] == [
        {
            "referenceCategory": "PACKAGE-MANAGER",
            "referenceType": "purl",
            "referenceLocator": "pkg:deb/debian/libc6@2.36-9%2Bdeb12u4?arch=amd64&distro=debian-12",
        }
    ]
    assert libc["SPDXID"].startswith("SPDXRef-Package-deb-libc6-")
    assert "layer 0 (sha256:" in libc["sourceInfo"]
    assert libc["sourceInfo"].endswith("found in /var/lib/dpkg/status")
    assert "origin: base" in libc["comment"]
    assert "source package: glibc 2.36-9+deb12u4" in libc["comment"]
    assert "primaryPackagePurpose" not in libc

    rpm = package(document, "openssl-libs")
    assert rpm["supplier"] == "Organization: Red Hat, Inc."
    assert rpm["versionInfo"] == "1:3.0.7-27.el9"
    assert package(document, "@babel/core")["primaryPackagePurpose"] == "LIBRARY"
    assert package(document, "org.apache.logging.log4j:log4j-core")["versionInfo"] == "2.17.1"
    assert package(document, "github.com/sirupsen/logrus")["licenseDeclared"] == "NOASSERTION"
    requests = [p for p in document["packages"] if p["name"] == "requests"]
    assert len({p["SPDXID"] for p in requests}) == 2


def test_licenses(inventory: Inventory) -> None:
    document = render(inventory)
    assert package(document, "libc6")["licenseDeclared"] == "LGPL-2.1-or-later AND LicenseRef-GPL-2"
    assert package(document, "libssl3")["licenseDeclared"] == (
        "Apache-2.0 AND LicenseRef-Artistic AND LicenseRef-GPL-1"
    )
    assert package(document, "cryptography")["licenseDeclared"] == "Apache-2.0 OR BSD-3-Clause"
    assert package(document, "openssl-libs")["licenseDeclared"] == "LicenseRef-ASL-2.0"
    extracted = {e["licenseId"]: e for e in document["hasExtractedLicensingInfos"]}
    assert extracted["LicenseRef-ASL-2.0"]["extractedText"] == "ASL 2.0"
    assert extracted["LicenseRef-GPL-2"]["name"] == "GPL-2+"
    # "Apache 2.0" (pip) and "ASL 2.0" (rpm) sanitise differently; both kept, each defined once.
    assert extracted["LicenseRef-Apache-2.0"]["extractedText"] == "Apache 2.0"


def test_colliding_license_refs_stay_distinct(minimal_inventory: Inventory) -> None:
    packages = (
        Package(name="a", version="1", type=PackageType.DEB, licenses=("GPL 2+",)),
        Package(name="b", version="1", type=PackageType.DEB, licenses=("GPL/2+",)),
        Package(name="c", version="1", type=PackageType.DEB, licenses=("LicenseRef-Custom",)),
        Package(name="d", version="1", type=PackageType.DEB, licenses=("MIT OR GPL-2+",)),
        Package(name="e", version="1", type=PackageType.PYPI, licenses=("UNKNOWN",)),
    )
    document = render(dataclasses.replace(minimal_inventory, packages=packages))
    assert schema_errors(document) == []
    check_spdx_rules(document)
    a, b = package(document, "a")["licenseDeclared"], package(document, "b")["licenseDeclared"]
    assert a == "LicenseRef-GPL-2"
    assert b.startswith("LicenseRef-GPL-2-")
    assert package(document, "c")["licenseDeclared"] == "LicenseRef-Custom"
    assert package(document, "d")["licenseDeclared"] == "LicenseRef-MIT-OR-GPL-2"
    assert package(document, "e")["licenseDeclared"] == "NOASSERTION"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("MIT", "MIT"),
        ("mit", "MIT"),
        ("gpl-2.0+ or mit", "GPL-2.0-or-later OR MIT"),
        ("Apache-2.0 WITH LLVM-exception", "Apache-2.0 WITH LLVM-exception"),
        ("(MIT)", "MIT"),
        ("GPL-2+", None),
        ("MIT OR", None),
        ("MIT/X11", None),
        ("", None),
        ("   ", None),
    ],
)
def test_spdx_expression(value: str, expected: str | None) -> None:
    assert spdx_expression(value) == expected


def test_safe_id() -> None:
    assert safe_id("@babel/core") == "babel-core"
    assert safe_id("localhost:5000/a_b:1.0") == "localhost-5000-a-b-1.0"
    assert safe_id("///") == "unnamed"
