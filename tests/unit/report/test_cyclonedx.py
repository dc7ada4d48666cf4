"""`--format cyclonedx-json`, validated against the official CycloneDX 1.6 JSON schema.

cyclonedx-python-lib ships the schema (bom-1.6 plus the spdx, jsf and cryptography-defs schemas
it references) and resolves those references from its own files, so validation is offline.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from cyclonedx.model.license import DisjunctiveLicense, LicenseExpression
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator

from basewatch.models import Inventory, Package, PackageType
from basewatch.report.cyclonedx import CycloneDXReporter, cyclonedx_licenses
from tests.unit.report.conftest import ALPINE_LAYER, APP_LAYER, NOW, SERIAL


def render(inventory: Inventory, **kwargs: Any) -> bytes:
    return CycloneDXReporter(now=NOW, serial=SERIAL, **kwargs).render(inventory)


def schema_errors(document: bytes | str) -> list[str]:
    text = document.decode() if isinstance(document, bytes) else document
    errors = JsonStrictValidator(SchemaVersion.V1_6).validate_str(text, all_errors=True)
    return [str(e) for e in errors] if errors is not None else []


def load(inventory: Inventory) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(render(inventory))
    return document


def component(document: dict[str, Any], name: str, **match: str) -> dict[str, Any]:
    found: list[dict[str, Any]] = [
        c
        for c in document["components"]
        if c["name"] == name and all(c.get(k) == v for k, v in match.items())
    ]
    assert len(found) == 1, found
    return found[0]


def properties(item: dict[str, Any]) -> dict[str, str]:
    return {p["name"]: p["value"] for p in item.get("properties", [])}


def test_validates_against_official_schema(
    inventory: Inventory, minimal_inventory: Inventory
) -> None:
    assert schema_errors(render(inventory)) == []
    assert schema_errors(render(minimal_inventory)) == []


def test_validator_rejects_a_broken_bom(inventory: Inventory) -> None:
    document = load(inventory)
    document["components"][0]["type"] = "gadget"
    document["metadata"]["component"]["hashes"][0]["alg"] = "CRC32"
    del document["specVersion"]
    assert len(schema_errors(json.dumps(document))) >= 2


def test_header_serial_and_timestamp_are_injected(inventory: Inventory) -> None:
    document = load(inventory)
    assert list(document)[:5] == ["$schema", "bomFormat", "specVersion", "serialNumber", "version"]
    assert document["specVersion"] == "1.6"
    assert document["serialNumber"] == f"urn:uuid:{SERIAL}"
    assert document["metadata"]["timestamp"] == "2024-05-01T12:30:45+00:00"
    tool = document["metadata"]["tools"]["components"][0]
    assert (tool["type"], tool["name"]) == ("application", "basewatch")


def test_output_is_deterministic(inventory: Inventory) -> None:
    shuffled = dataclasses.replace(inventory, packages=inventory.packages[::-1])
    assert render(inventory) == render(shuffled)
    other = CycloneDXReporter(now=NOW, serial=UUID(int=1)).render(inventory)
    assert other != render(inventory)


def test_output_does_not_depend_on_hash_seed() -> None:
    # The library keeps components, properties and occurrences in sorted sets: an element that
    # compares neither less nor equal would be ordered by its hash, which changes per process.
    code = (
        "import sys\n"
        "from basewatch.report.cyclonedx import CycloneDXReporter\n"
        "from tests.unit.report.conftest import NOW, SERIAL, make_inventory\n"
        "reporter = CycloneDXReporter(now=NOW, serial=SERIAL)\n"
        "sys.stdout.buffer.write(reporter.render(make_inventory()))\n"
    )
    root = Path(__file__).parents[3]
    outputs = {
        subprocess.run(
            [sys.executable, "-c", code],
            cwd=root,
            env={**os.environ, "PYTHONHASHSEED": seed},
            capture_output=True,
            check=True,
        ).stdout
        for seed in ("1", "2", "3")
    }
    assert len(outputs) == 1


def test_default_serial_and_time_are_fresh(minimal_inventory: Inventory) -> None:
    first = json.loads(CycloneDXReporter().render(minimal_inventory))
    second = json.loads(CycloneDXReporter().render(minimal_inventory))
    assert first["serialNumber"] != second["serialNumber"]
    assert schema_errors(json.dumps(first)) == []


def test_image_is_the_container_metadata_component(inventory: Inventory) -> None:
    root = load(inventory)["metadata"]["component"]
    digest = inventory.image.manifest_digest
    assert root["type"] == "container"
    assert root["name"] == "localhost:5000/team/app:1.4.2"
    assert root["version"] == digest
    assert root["hashes"] == [{"alg": "SHA-256", "content": digest.removeprefix("sha256:")}]
    assert root["purl"].startswith("pkg:oci/app@sha256")
    assert "repository_url=localhost:5000/team/app" in root["purl"]
    props = properties(root)
    assert props["basewatch:image:platform"] == "linux/amd64"
    assert props["basewatch:image:baseName"] == "debian:bookworm-slim"
    assert props["basewatch:image:layer:2:diffID"] == APP_LAYER
    assert props["basewatch:image:labels:maintainer"] == "Team App <app@example.org>"


def test_operating_system_component(inventory: Inventory) -> None:
    os = component(load(inventory), "debian")
    assert os["type"] == "operating-system"
    assert os["version"] == "12"
    assert os["description"] == "Debian GNU/Linux 12 (bookworm)"
    assert properties(os)["basewatch:distro:versionCodename"] == "bookworm"


def test_package_components(inventory: Inventory) -> None:
    document = load(inventory)
    libc = component(document, "libc6")
    assert libc["type"] == "library"
    assert libc["purl"] == "pkg:deb/debian/libc6@2.36-9%2Bdeb12u4?arch=amd64&distro=debian-12"
    assert libc["bom-ref"] == libc["purl"]
    assert "group" not in libc
    assert libc["supplier"] == {
        "name": "GNU Libc Maintainers",
        "contact": [{"email": "debian-glibc@lists.debian.org"}],
    }
    props = properties(libc)
    assert props["basewatch:package:sourceName"] == "glibc"
    assert props["basewatch:package:origin"] == "base"
    assert props["basewatch:package:ecosystem"] == "Debian:12"
    assert props["basewatch:layer:index"] == "0"
    assert props["basewatch:location:0:path"] == "/var/lib/dpkg/status"
    assert props["basewatch:metadata:installed_size"] == "12991"
    assert libc["evidence"] == {
        "occurrences": [
            {"bom-ref": f"{libc['bom-ref']}:evidence:0", "location": "/var/lib/dpkg/status"}
        ]
    }

    musl = component(document, "musl")
    assert properties(musl)["basewatch:layer:diffID"] == ALPINE_LAYER
    assert musl["supplier"]["name"] == "Timo Teräs"

    rpm = component(document, "openssl-libs")
    assert "epoch=1" in rpm["purl"]
    assert rpm["version"] == "1:3.0.7-27.el9"
    assert rpm["supplier"] == {"name": "Red Hat, Inc."}

    babel = component(document, "@babel/core")
    assert babel["purl"] == "pkg:npm/%40babel/core@7.24.0"
    go = component(document, "github.com/sirupsen/logrus")
    assert go["purl"] == "pkg:golang/github.com/sirupsen/logrus@v1.9.3"
    maven = component(document, "log4j-core")
    assert maven["group"] == "org.apache.logging.log4j"


def test_bom_refs_are_unique_even_for_a_shared_purl(inventory: Inventory) -> None:
    document = load(inventory)
    refs = [document["metadata"]["component"]["bom-ref"]]
    refs += [c["bom-ref"] for c in document["components"]]
    assert len(refs) == len(set(refs))
    requests = [c for c in document["components"] if c["name"] == "requests"]
    assert len(requests) == 2
    assert {c["purl"] for c in requests} == {"pkg:pypi/requests@2.31.0"}
    assert all(c["bom-ref"].startswith("basewatch:package:") for c in requests)


def test_dependency_graph_is_minimal_and_closed(inventory: Inventory) -> None:
    document = load(inventory)
    root = document["metadata"]["component"]["bom-ref"]
    by_ref = {c["bom-ref"]: c for c in document["components"]}
    graph = {d["ref"]: d.get("dependsOn", []) for d in document["dependencies"]}
    known = set(by_ref) | {root}
    assert set(graph) <= known
    assert all(set(deps) <= known for deps in graph.values())

    os_ref = component(document, "debian")["bom-ref"]
    root_children = {by_ref[r]["name"] for r in graph[root] if r != os_ref}
    assert os_ref in graph[root]
    assert root_children == {
        "requests",
        "cryptography",
        "@babel/core",
        "github.com/sirupsen/logrus",
        "log4j-core",
    }
    assert {by_ref[r]["name"] for r in graph[os_ref]} == {
        "libc6",
        "zlib1g",
        "libssl3",
        "musl",
        "openssl-libs",
    }


def test_without_os_packages_hang_from_the_image(inventory: Inventory) -> None:
    document = load(dataclasses.replace(inventory, os=None))
    assert schema_errors(json.dumps(document)) == []
    graph = {d["ref"]: d.get("dependsOn", []) for d in document["dependencies"]}
    assert len(graph["basewatch:image"]) == len(inventory.packages)
    assert all(c["type"] == "library" for c in document["components"])


def test_licenses(inventory: Inventory) -> None:
    document = load(inventory)
    assert component(document, "libc6")["licenses"] == [
        {"license": {"id": "LGPL-2.1-or-later"}},
        {"license": {"name": "GPL-2+"}},
    ]
    assert component(document, "cryptography")["licenses"] == [
        {"expression": "Apache-2.0 OR BSD-3-Clause"}
    ]
    assert component(document, "openssl-libs")["licenses"] == [{"license": {"name": "ASL 2.0"}}]
    assert "licenses" not in component(document, "github.com/sirupsen/logrus")


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ((), []),
        (("MIT",), [DisjunctiveLicense(id="MIT")]),
        (("mit",), [DisjunctiveLicense(id="MIT")]),
        (("GPL-2.0+",), [DisjunctiveLicense(id="GPL-2.0-or-later")]),
        (
            ("Apache-2.0 WITH LLVM-exception",),
            [LicenseExpression("Apache-2.0 WITH LLVM-exception")],
        ),
        (("MIT", "MIT "), [DisjunctiveLicense(id="MIT")]),
        (("UNKNOWN", "", "NOASSERTION"), []),
        (
            ("Apache-2.0", "MIT OR BSD-2-Clause"),
            [LicenseExpression("Apache-2.0 AND (MIT OR BSD-2-Clause)")],
        ),
        (
            ("MIT OR BSD-2-Clause", "public-domain"),
            [
                DisjunctiveLicense(name="MIT OR BSD-2-Clause"),
                DisjunctiveLicense(name="public-domain"),
            ],
        ),
        (("GPL/2",), [DisjunctiveLicense(name="GPL/2")]),
    ],
)
def test_cyclonedx_licenses(values: tuple[str, ...], expected: list[Any]) -> None:
    assert cyclonedx_licenses(values) == expected


def test_partial_result_is_flagged(inventory: Inventory, minimal_inventory: Inventory) -> None:
    props = properties(load(inventory)["metadata"])
    assert props["basewatch:partial"] == "true"
    assert props["basewatch:warning:0"].startswith("/var/lib/rpm/rpmdb.sqlite")
    assert properties(load(minimal_inventory)["metadata"]) == {"basewatch:partial": "false"}


def test_minimal_inventory(minimal_inventory: Inventory) -> None:
    document = load(minimal_inventory)
    root = document["metadata"]["component"]
    assert (root["type"], root["name"]) == ("container", "./rootfs")
    assert "version" not in root
    assert "purl" not in root
    assert document.get("components", []) == []


def test_invalid_purl_is_kept_as_a_property(minimal_inventory: Inventory) -> None:
    package = Package(name="x", version="1", type=PackageType.PYPI, purl="not a purl")
    document = load(dataclasses.replace(minimal_inventory, packages=(package,)))
    assert schema_errors(json.dumps(document)) == []
    (only,) = document["components"]
    assert "purl" not in only
    assert properties(only)["basewatch:package:purl"] == "not a purl"
