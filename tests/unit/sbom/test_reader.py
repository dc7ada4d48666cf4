"""`read_sbom`: basewatch's own CycloneDX and SPDX output read back, peers' conventions on small
hand-written documents (spelled as Syft 1.18 and Trivy 0.59 write them), and bad input.

Real Syft and Trivy output is read in tests/integration/test_sbom_peers.py.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest
from packageurl import PackageURL

from basewatch.errors import SbomError
from basewatch.models import Inventory, Origin, OSInfo, Package, PackageType
from basewatch.report.sbom.cyclonedx import CycloneDXReporter
from basewatch.report.sbom.spdx import SpdxReporter
from basewatch.sbom.reader import SbomFormat, detect_format, parse_sbom, read_sbom
from tests.unit.report.conftest import NOW, SERIAL, make_inventory, make_minimal_inventory


def canonical(purl: str) -> str:
    return str(PackageURL.from_string(purl).to_string()) if purl else ""


def by_identity(packages: tuple[Package, ...]) -> list[Package]:
    return sorted(packages, key=lambda p: (p.identity(), p.evidence))


def write(tmp_path: Path, document: Any, name: str = "sbom.json") -> Path:
    path = tmp_path / name
    data = document if isinstance(document, bytes) else json.dumps(document).encode()
    path.write_bytes(data)
    return path


def cyclonedx(*components: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"bomFormat": "CycloneDX", "specVersion": "1.6", "components": list(components), **extra}


def spdx(*packages: dict[str, Any], version: str = "SPDX-2.3") -> dict[str, Any]:
    return {
        "spdxVersion": version,
        "SPDXID": "SPDXRef-DOCUMENT",
        "creationInfo": {"creators": ["Tool: syft-1.18.1"], "created": "2024-05-01T00:00:00Z"},
        "packages": list(packages),
    }


def spdx_package(purl: str, **extra: Any) -> dict[str, Any]:
    return {
        "SPDXID": "SPDXRef-Package-x",
        "name": PackageURL.from_string(purl).name,
        "externalRefs": [
            {
                "referenceCategory": "PACKAGE-MANAGER",
                "referenceType": "purl",
                "referenceLocator": purl,
            }
        ],
        **extra,
    }


def only(inventory: Inventory) -> Package:
    (package,) = inventory.packages
    return package


# --- basewatch's own documents -----------------------------------------------------------------


def test_own_cyclonedx_round_trips(tmp_path: Path) -> None:
    inventory = make_inventory()
    path = write(tmp_path, CycloneDXReporter(now=NOW, serial=SERIAL).render(inventory))
    back = read_sbom(path)

    assert back.image.reference == str(path)
    assert back.image.source_type == "sbom"
    assert back.image.layers == tuple(
        dataclasses.replace(layer, size=0, media_type="", empty_history=())
        for layer in inventory.image.layers
    )
    assert back.os == inventory.os
    assert back.warnings == inventory.warnings
    assert len(back.packages) == len(inventory.packages)
    for original, read in zip(
        by_identity(inventory.packages), by_identity(back.packages), strict=True
    ):
        # Everything comes back; the purl in the canonical spelling the CycloneDX library writes.
        assert dataclasses.replace(read, purl=canonical(read.purl)) == dataclasses.replace(
            original, purl=canonical(original.purl)
        )


def test_own_spdx_round_trips(tmp_path: Path) -> None:
    inventory = make_inventory()
    path = write(tmp_path, SpdxReporter(now=NOW, uuid=SERIAL).render(inventory))
    back = read_sbom(path)

    assert [(la.index, la.diff_id) for la in back.image.layers] == [
        (la.index, la.diff_id) for la in inventory.image.layers
    ]
    assert back.os == inventory.os
    assert back.warnings == inventory.warnings
    for original, read in zip(
        by_identity(inventory.packages), by_identity(back.packages), strict=True
    ):
        # SPDX has no place for type-specific metadata, and joins several licenses into one
        # expression; everything else comes back.
        assert dataclasses.replace(read, metadata=(), licenses=()) == dataclasses.replace(
            original, metadata=(), licenses=()
        )
    requests = next(p for p in back.packages if p.name == "requests" and p.origin is Origin.BASE)
    assert requests.licenses == ("Apache 2.0",)  # a LicenseRef, read back as its text


@pytest.mark.parametrize("render", ["cyclonedx", "spdx"])
def test_own_minimal_document(tmp_path: Path, render: str) -> None:
    inventory = make_minimal_inventory()
    reporter = (
        CycloneDXReporter(now=NOW, serial=SERIAL)
        if render == "cyclonedx"
        else SpdxReporter(now=NOW, uuid=SERIAL)
    )
    back = read_sbom(write(tmp_path, reporter.render(inventory)))
    assert back.packages == ()
    assert back.os is None
    assert back.warnings == ()


# --- other tools' conventions ------------------------------------------------------------------


def test_syft_deb_upstream_with_version(tmp_path: Path) -> None:
    component = {
        "type": "library",
        "name": "libc6",
        "version": "2.36-9+deb12u4",
        "purl": "pkg:deb/debian/libc6@2.36-9%2Bdeb12u4?arch=amd64&upstream=glibc&distro=debian-12",
        "properties": [
            {"name": "syft:package:type", "value": "deb"},
            {"name": "syft:location:0:layerID", "value": "sha256:" + "a" * 64},
            {"name": "syft:location:0:path", "value": "/var/lib/dpkg/status"},
        ],
    }
    binnmu = {
        "type": "library",
        "name": "libfoo1",
        "version": "1.0-2+b1",
        "purl": "pkg:deb/debian/libfoo1@1.0-2%2Bb1?arch=amd64&upstream=foo%401.0-2"
        "&distro=debian-12",
    }
    inventory = read_sbom(write(tmp_path, cyclonedx(component, binnmu)))
    libc6, libfoo = sorted(inventory.packages, key=lambda p: p.name)
    assert (libc6.name, libc6.version, libc6.arch) == ("libc6", "2.36-9+deb12u4", "amd64")
    assert (libc6.source_name, libc6.source_version) == ("glibc", "2.36-9+deb12u4")
    assert (libfoo.source_name, libfoo.source_version) == ("foo", "1.0-2")
    assert libc6.evidence == ("/var/lib/dpkg/status",)
    assert libc6.layer == "sha256:" + "a" * 64
    assert libc6.ecosystem == "Debian:12"
    assert libc6.origin is Origin.UNKNOWN
    assert inventory.os == OSInfo(
        id="debian", version_id="12", evidence=("purl distro qualifiers",)
    )


def test_rpm_epoch_and_source_rpm(tmp_path: Path) -> None:
    purl = (
        "pkg:rpm/redhat/openssl-libs@3.0.7-27.el9?arch=x86_64&epoch=1"
        "&upstream=openssl-3.0.7-27.el9.src.rpm&distro=rhel-9.4"
    )
    package = only(read_sbom(write(tmp_path, cyclonedx({"type": "library", "purl": purl}))))
    assert package.version == "1:3.0.7-27.el9"
    assert (package.source_name, package.source_version) == ("openssl", "3.0.7-27.el9")
    assert package.ecosystem == "Red Hat"
    no_source = only(
        read_sbom(
            write(tmp_path, cyclonedx({"type": "library", "purl": "pkg:rpm/fedora/bash@5.2-1"}))
        )
    )
    assert (no_source.version, no_source.source_name) == ("5.2-1", "")


def test_trivy_properties_and_bare_distro(tmp_path: Path) -> None:
    os_component = {"type": "operating-system", "name": "debian", "version": "12.5"}
    component = {
        "type": "library",
        "name": "libc6",
        "version": "2.36-9+deb12u4",
        "purl": "pkg:deb/debian/libc6@2.36-9%2Bdeb12u4?arch=amd64&distro=debian-12.5",
        "properties": [
            {"name": "aquasecurity:trivy:LayerDiffID", "value": "sha256:" + "b" * 64},
            {"name": "aquasecurity:trivy:SrcName", "value": "glibc"},
            {"name": "aquasecurity:trivy:SrcRelease", "value": "9+deb12u4"},
            {"name": "aquasecurity:trivy:SrcVersion", "value": "2.36"},
        ],
    }
    root = {
        "type": "container",
        "name": "debian:12",
        "properties": [
            {"name": "aquasecurity:trivy:DiffID", "value": "sha256:" + "b" * 64},
            {"name": "aquasecurity:trivy:DiffID", "value": "sha256:" + "c" * 64},
        ],
    }
    inventory = read_sbom(
        write(tmp_path, cyclonedx(os_component, component, metadata={"component": root}))
    )
    package = only(inventory)
    assert (package.source_name, package.source_version) == ("glibc", "2.36-9+deb12u4")
    assert package.layer == "sha256:" + "b" * 64
    assert inventory.os == OSInfo(id="debian", version_id="12.5")
    assert [layer.diff_id for layer in inventory.image.layers] == [
        "sha256:" + "b" * 64,
        "sha256:" + "c" * 64,
    ]
    # Trivy's apk purls carry the release alone: the namespace names the distribution.
    apk = {"type": "library", "purl": "pkg:apk/alpine/musl@1.2.5-r0?arch=x86_64&distro=3.20.3"}
    inventory = read_sbom(write(tmp_path, cyclonedx(apk)))
    assert inventory.os == OSInfo(
        id="alpine", version_id="3.20.3", evidence=("purl distro qualifiers",)
    )
    assert only(inventory).ecosystem == "Alpine:v3.20"
    assert (only(inventory).source_name, only(inventory).source_version) == ("musl", "1.2.5-r0")


@pytest.mark.parametrize(
    ("distro", "expected"),
    [
        ("debian-12", ("debian", "12")),
        ("alpine-3.20.3", ("alpine", "3.20.3")),
        ("opensuse-leap-15.5", ("opensuse-leap", "15.5")),
        ("3.20.3", ("alpine", "3.20.3")),
        ("wolfi", ("wolfi", "")),
    ],
)
def test_os_from_distro_qualifier(tmp_path: Path, distro: str, expected: tuple[str, str]) -> None:
    purl = f"pkg:apk/alpine/musl@1.2.5-r0?distro={distro}"
    os = read_sbom(write(tmp_path, cyclonedx({"type": "library", "purl": purl}))).os
    assert os is not None
    assert (os.id, os.version_id) == expected


def test_syft_os_component_properties(tmp_path: Path) -> None:
    os_component = {
        "type": "operating-system",
        "name": "ubuntu",
        "version": "24.04",
        "description": "Ubuntu 24.04 LTS",
        "properties": [
            {"name": "syft:distro:id", "value": "ubuntu"},
            {"name": "syft:distro:idLike:0", "value": "debian"},
            {"name": "syft:distro:versionCodename", "value": "noble"},
        ],
    }
    os = read_sbom(write(tmp_path, cyclonedx(os_component))).os
    assert os == OSInfo(
        id="ubuntu",
        version_id="24.04",
        version_codename="noble",
        pretty_name="Ubuntu 24.04 LTS",
        id_like=("debian",),
    )


def test_language_packages(tmp_path: Path) -> None:
    components = [
        {"type": "library", "name": "PyYAML", "purl": "pkg:pypi/pyyaml@6.0.1"},
        {"type": "library", "name": "core", "purl": "pkg:npm/%40babel/core@7.24.0"},
        {"type": "library", "purl": "pkg:golang/github.com/sirupsen/logrus@v1.9.3"},
        {"type": "library", "purl": "pkg:maven/org.apache.logging.log4j/log4j-core@2.17.1"},
    ]
    # Trivy nests the packages of a lock file or site-packages under an application component.
    application = {"type": "application", "name": "app", "components": components}
    packages = {p.type: p for p in read_sbom(write(tmp_path, cyclonedx(application))).packages}
    assert (packages[PackageType.PYPI].name, packages[PackageType.PYPI].ecosystem) == (
        "PyYAML",
        "PyPI",
    )
    assert packages[PackageType.NPM].name == "@babel/core"
    assert packages[PackageType.GOLANG].name == "github.com/sirupsen/logrus"
    maven = packages[PackageType.MAVEN]
    assert (maven.namespace, maven.name, maven.version) == (
        "org.apache.logging.log4j",
        "log4j-core",
        "2.17.1",
    )
    assert all(not p.source_name for p in packages.values())


def test_unknown_purl_types_are_skipped_quietly_bad_purls_counted(tmp_path: Path) -> None:
    document = cyclonedx(
        {"type": "library", "purl": "pkg:cargo/serde@1.0.200"},
        {"type": "library", "purl": "pkg:gem/rails@7.1.0"},
        {"type": "library", "purl": "not a purl"},
        {"type": "file", "name": "/etc/passwd"},
        {"type": "library", "purl": "pkg:apk/alpine/musl@1.2.5-r0"},
    )
    inventory = read_sbom(write(tmp_path, document))
    assert [p.name for p in inventory.packages] == ["musl"]
    (warning,) = inventory.warnings
    assert "1 package with an invalid purl skipped" in warning
    assert "'not a purl'" in warning


@pytest.mark.parametrize("version", ["1.4", "1.5", "1.6"])
def test_cyclonedx_versions(tmp_path: Path, version: str) -> None:
    document = cyclonedx({"type": "library", "purl": "pkg:apk/alpine/musl@1.2.5-r0"})
    document["specVersion"] = version
    assert only(read_sbom(write(tmp_path, document))).name == "musl"


@pytest.mark.parametrize("version", ["SPDX-2.2", "SPDX-2.3"])
def test_spdx_peers(tmp_path: Path, version: str) -> None:
    trivy_os = {
        "SPDXID": "SPDXRef-OperatingSystem-1",
        "name": "alpine",
        "versionInfo": "3.20.3",
        "primaryPackagePurpose": "OPERATING-SYSTEM",  # sic: Trivy's spelling
    }
    trivy = spdx_package(
        "pkg:apk/alpine/busybox-binsh@1.36.1-r29?arch=x86_64&distro=3.20.3",
        versionInfo="1.36.1-r29",
        sourceInfo="built package from: busybox 1.36.1-r29",
        licenseDeclared="GPL-2.0-only",
        annotations=[{"comment": "LayerDiffID: sha256:" + "d" * 64}],
    )
    inventory = read_sbom(write(tmp_path, spdx(trivy_os, trivy, version=version)))
    package = only(inventory)
    assert (package.name, package.version) == ("busybox-binsh", "1.36.1-r29")
    assert (package.source_name, package.source_version) == ("busybox", "1.36.1-r29")
    assert package.licenses == ("GPL-2.0-only",)
    assert package.layer == "sha256:" + "d" * 64
    assert inventory.os == OSInfo(id="alpine", version_id="3.20.3")
    syft = spdx_package(
        "pkg:apk/alpine/ssl_client@1.36.1-r29?arch=x86_64&distro=alpine-3.20.3&upstream=busybox",
        licenseDeclared="NOASSERTION",
    )
    package = only(read_sbom(write(tmp_path, spdx(syft, version=version))))
    assert (package.source_name, package.source_version, package.licenses) == (
        "busybox",
        "1.36.1-r29",
        (),
    )


# --- bad input ---------------------------------------------------------------------------------


def test_detect_format() -> None:
    assert detect_format(cyclonedx(), "x") is SbomFormat.CYCLONEDX_JSON
    assert detect_format(spdx(), "x") is SbomFormat.SPDX_JSON


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "the file is empty"),
        (b"this is not json", "not valid JSON"),
        (b'{"bomFormat": "\xff"}', "not UTF-8"),
        (b'<?xml version="1.0"?><bom xmlns="http://cyclonedx.org/schema/bom/1.6"/>', "XML"),
        (b"[1, 2, 3]", "the JSON is an array, not an SBOM"),
        (b'"pkg:apk/alpine/musl@1"', "the JSON is a single value"),
        (b'{"id": "GHSA-xxxx", "affected": []}', "not a CycloneDX or SPDX document"),
        (b'{"version": "2.1.0", "runs": []}', "not a CycloneDX or SPDX document"),
        (b'{"bomFormat": "CycloneDX", "specVersion": "1.3"}', "CycloneDX 1.3 is not supported"),
        (b'{"bomFormat": "CycloneDX"}', "(no specVersion)"),
        (b'{"spdxVersion": "SPDX-2.1"}', "SPDX-2.1 is not supported"),
        (b'{"@context": "https://spdx.org/rdf/3.0.1/spdx-context.jsonld"}', "SPDX 3"),
        (
            b'{"bomFormat": "CycloneDX", "specVersion": "1.6", "components": {}}',
            "`components` is not an array",
        ),
        (
            b'{"bomFormat": "CycloneDX", "specVersion": "1.6", "metadata": []}',
            "`metadata` is not an object",
        ),
        (b'{"spdxVersion": "SPDX-2.3", "packages": "none"}', "`packages` is not an array"),
    ],
)
def test_bad_input_is_an_sbom_error(tmp_path: Path, content: bytes, message: str) -> None:
    path = write(tmp_path, content)
    with pytest.raises(SbomError) as caught:
        read_sbom(path)
    assert message in str(caught.value)
    assert str(path) in str(caught.value)


def test_truncated_file(tmp_path: Path) -> None:
    whole = CycloneDXReporter(now=NOW, serial=SERIAL).render(make_inventory())
    path = write(tmp_path, whole[: len(whole) // 2])
    with pytest.raises(SbomError, match="truncated"):
        read_sbom(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(SbomError, match="no such file"):
        read_sbom(tmp_path / "absent.json")


def test_a_directory_is_not_an_sbom(tmp_path: Path) -> None:
    with pytest.raises(SbomError, match="a directory, not a regular file"):
        read_sbom(tmp_path)


def test_junk_entries_are_ignored(tmp_path: Path) -> None:
    document = cyclonedx(
        "not a component",  # type: ignore[arg-type]
        {"type": "library", "purl": 42, "properties": "nope", "licenses": [7]},
        {
            "type": "library",
            "purl": "pkg:apk/alpine/musl@1.2.5-r0",
            "properties": [{"name": "syft:location:x:path", "value": "/odd"}, 5],
            "licenses": [{"license": {"id": "MIT"}}, {"expression": "MIT OR Apache-2.0"}, None],
        },
    )
    package = only(parse_sbom(json.dumps(document).encode(), "sbom.json"))
    assert package.licenses == ("MIT", "MIT OR Apache-2.0")
    assert package.evidence == ()


def test_huge_property_indexes_are_not_ours() -> None:
    """`basewatch:location:<5,000 digits>:path` once reached int() and crashed the reader."""
    digits = "9" * 5000
    component = {
        "type": "library",
        "name": "openssl",
        "version": "3.0.11-1~deb12u2",
        "purl": "pkg:deb/debian/openssl@3.0.11-1~deb12u2?distro=debian-12",
        "properties": [
            {"name": f"basewatch:location:{digits}:path", "value": "/var/lib/dpkg/status"},
            {"name": f"basewatch:image:layer:{digits}:diffID", "value": "sha256:" + "a" * 64},
            {"name": f"basewatch:license:{digits}", "value": "MIT"},
        ],
    }
    inventory = parse_sbom(json.dumps(cyclonedx(component)).encode(), "sbom.json")
    assert [p.name for p in inventory.packages] == ["openssl"]
