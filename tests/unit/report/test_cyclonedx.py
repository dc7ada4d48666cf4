"""`--format cyclonedx-json`, validated against the official CycloneDX 1.6 JSON schema and held
to what cyclonedx-python-lib itself writes for the same BOM (`cyclonedx_oracle`).

cyclonedx-python-lib ships the schema (bom-1.6 plus the spdx, jsf and cryptography-defs schemas
it references) and resolves those references from its own files, so validation is offline.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from cyclonedx.schema import SchemaVersion
from cyclonedx.spdx import fixup_id
from cyclonedx.validation.json import JsonStrictValidator
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from packageurl import PackageURL

from basewatch.errors import OutputError
from basewatch.models import Inventory, Origin, OSInfo, Package, PackageType
from basewatch.report import cyclonedx as cyclonedx_module
from basewatch.report.cyclonedx import _license_ids, cyclonedx_licenses
from basewatch.report.sbom.cyclonedx import CycloneDXReporter
from tests.unit.report.conftest import (
    ALPINE_LAYER,
    APP_LAYER,
    NOW,
    SERIAL,
    make_inventory,
    make_minimal_inventory,
)
from tests.unit.report.cyclonedx_oracle import library_rendering
from tests.unit.report.regen import check_golden, check_golden_across_hash_seeds


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


@pytest.mark.parametrize("name", ["sbom.cdx.json", "sbom-minimal.cdx.json"])
def test_matches_golden(name: str) -> None:
    check_golden(name)


def test_is_what_the_library_writes(inventory: Inventory, minimal_inventory: Inventory) -> None:
    for item in (inventory, minimal_inventory):
        document = load(item)
        assert library_rendering(document) == document


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
    # Properties and licenses are de-duplicated through sets before they are sorted; nothing may
    # be left in set order, which changes with the hash seed from one process to the next.
    check_golden_across_hash_seeds("sbom.cdx.json")


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
        (("MIT",), [{"license": {"id": "MIT"}}]),
        (("mit",), [{"license": {"id": "MIT"}}]),
        (("GPL-2.0+",), [{"license": {"id": "GPL-2.0-or-later"}}]),
        (
            ("Apache-2.0 WITH LLVM-exception",),
            [{"expression": "Apache-2.0 WITH LLVM-exception"}],
        ),
        (("MIT", "MIT "), [{"license": {"id": "MIT"}}]),
        (("UNKNOWN", "", "NOASSERTION"), []),
        (
            ("Apache-2.0", "MIT OR BSD-2-Clause"),
            [{"expression": "Apache-2.0 AND (MIT OR BSD-2-Clause)"}],
        ),
        (
            ("public-domain", "MIT OR BSD-2-Clause"),
            [
                {"license": {"name": "MIT OR BSD-2-Clause"}},
                {"license": {"name": "public-domain"}},
            ],
        ),
        (("GPL/2",), [{"license": {"name": "GPL/2"}}]),
        # Ids first, by id, then names, by name: the library's order, whatever the input's.
        (
            ("Zlib", "BSD-3-Clause", "Artistic", "GPL-1+"),
            [
                {"license": {"id": "BSD-3-Clause"}},
                {"license": {"id": "Zlib"}},
                {"license": {"name": "Artistic"}},
                {"license": {"name": "GPL-1+"}},
            ],
        ),
    ],
)
def test_cyclonedx_licenses(values: tuple[str, ...], expected: list[Any]) -> None:
    assert cyclonedx_licenses(values) == expected


def test_license_ids_are_the_library_ones() -> None:
    ids = _license_ids()
    assert len(ids) > 500
    assert all(fixup_id(lower) == spdx_id for lower, spdx_id in ids.items())
    assert ids["gpl-2.0-or-later"] == "GPL-2.0-or-later"


def test_cyclonedx_does_not_import_the_library() -> None:
    # cyclonedx-python-lib costs ~0.1 s to import, half a warm `basewatch sbom`.
    code = (
        "import sys\n"
        "from basewatch.report.formats import SbomFormat, sbom_renderer\n"
        "from tests.unit.report.conftest import make_inventory\n"
        "sbom_renderer(SbomFormat.CYCLONEDX_JSON).render(make_inventory())\n"
        "print(sorted(m for m in sys.modules if m.partition('.')[0] == 'cyclonedx'))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=Path(__file__).parents[3],
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.strip() == "[]"


# --- Any inventory: what the library writes, and valid ------------------------------------------

_LICENSES = st.sampled_from(
    ["MIT", "mit", "GPL-2+", "GPL-2.0+", "Apache-2.0 OR MIT", "ASL 2.0", "UNKNOWN", "Zlib", ""]
)
_PATHS = st.text(alphabet="abc/._-é", min_size=1, max_size=12).map(lambda s: "/" + s)
_SUPPLIERS = st.sampled_from(
    ["", "Jane Doe <jane@example.org>", "<only@example.org>", "Team", "x <not an email>"]
)
_TEXT = st.text(
    alphabet=st.characters(min_codepoint=32, max_codepoint=0x2FF),
    max_size=10,
)


@st.composite
def _packages(draw: st.DrawFn, layers: tuple[str, ...]) -> Package:
    kind = draw(st.sampled_from(list(PackageType)))
    name = draw(_TEXT.filter(bool))
    version = draw(_TEXT)
    namespace = draw(st.sampled_from(["", "org.example", "Org.Ex"]))
    purl = draw(st.sampled_from(["valid", "valid", "", "not a purl", "pkg:generic/x@1?b=2&a=1"]))
    if purl == "valid":
        try:
            purl = PackageURL(
                type=kind.value, namespace=namespace or None, name=name, version=version or None
            ).to_string()
        except (TypeError, ValueError):  # a name packageurl cannot spell
            purl = ""
    return Package(
        name=name,
        version=version,
        type=kind,
        arch=draw(st.sampled_from(["", "amd64", "x86_64"])),
        source_name=draw(_TEXT),
        licenses=tuple(draw(st.lists(_LICENSES, max_size=4))),
        evidence=tuple(draw(st.lists(_PATHS, max_size=12))),
        metadata=tuple(sorted({("maintainer", draw(_SUPPLIERS)), ("k", draw(_TEXT))})),
        namespace=namespace,
        purl=purl,
        layer=draw(st.sampled_from(["", *layers, "sha256:" + "0" * 64])),
        origin=draw(st.sampled_from(list(Origin))),
    )


@st.composite
def _inventories(draw: st.DrawFn) -> Inventory:
    base = draw(st.sampled_from([make_inventory(), make_minimal_inventory()]))
    layers = tuple(layer.diff_id for layer in base.image.layers)
    packages = draw(st.lists(_packages(layers), max_size=8))
    packages += draw(st.lists(st.sampled_from(packages), max_size=2)) if packages else []
    os = draw(st.sampled_from([None, base.os, OSInfo(id="x", version_id="", pretty_name="")]))
    warnings = tuple(draw(st.lists(_TEXT, max_size=2)))
    return dataclasses.replace(base, os=os, packages=tuple(packages), warnings=warnings)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_inventories())
def test_any_inventory_is_what_the_library_writes(inventory: Inventory) -> None:
    document = load(inventory)
    assert library_rendering(document) == document
    assert schema_errors(json.dumps(document)) == []


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


def test_missing_license_list_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cyclonedx_module, "_LIBRARY_SPDX_SCHEMA", ("no-such-file.json",))
    cyclonedx_module._license_ids.cache_clear()
    try:
        with pytest.raises(OutputError, match="SPDX license list"):
            cyclonedx_licenses(["MIT"])
    finally:
        cyclonedx_module._license_ids.cache_clear()
