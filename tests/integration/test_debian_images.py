"""The `basewatch sbom` command on real images, checked against the package managers' own view.

Debian images are built with mmdebstrap and packed with umoci and skopeo (see images.py); what
basewatch reports must equal what `dpkg-query` says of the same root filesystem, in every
packing, and each package must be attributed to the layer that really added it. The Alpine and
busybox images are the real ones in ../shared/fixtures.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from basewatch.cli.exit_codes import ExitCode
from tests.fixtures import shared_fixture
from tests.integration import images
from tests.integration.images import BuildImage
from tests.unit.report.cyclonedx_oracle import library_rendering
from tests.unit.report.test_cyclonedx import properties, schema_errors

pytestmark = pytest.mark.integration

DEBIAN_IMAGES = ("bookworm-minbase", "bookworm-python", "trixie-minbase", "bookworm-layered")
# What `image.source_type` says for each packing.
SOURCE_TYPES = {
    "docker-archive": "docker-archive",
    "oci-dir": "oci",
    "oci-tar": "oci",
    "dir": "dir",
    "rootfs": "rootfs",
}


@dataclass(frozen=True)
class Scan:
    returncode: int
    stderr: str
    report: dict[str, Any]


def sbom(ref: str, workdir: Path, *options: str, fmt: str = "json") -> Scan:
    """Run the real CLI in a child process; its default cache goes under `workdir`."""
    workdir.mkdir(parents=True, exist_ok=True)
    output = workdir / f"sbom-{len(list(workdir.glob('sbom-*.json')))}.json"
    env = {**os.environ, "XDG_CACHE_HOME": str(workdir / "xdg-cache")}
    command = [
        sys.executable,
        "-m",
        "basewatch",
        "sbom",
        ref,
        "--format",
        fmt,
        "-o",
        str(output),
    ]
    result = subprocess.run(
        [*command, "--quiet", *options],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        env=env,
        timeout=900,
        check=False,
    )
    report = json.loads(output.read_text(encoding="utf-8")) if output.is_file() else {}
    return Scan(result.returncode, result.stderr, report)


def ok(scan: Scan) -> dict[str, Any]:
    """The report of a scan that must have succeeded without warnings."""
    assert scan.returncode == ExitCode.OK, scan.stderr
    assert scan.report["schema_version"] == "1.0"
    assert scan.report["warnings"] == [], scan.report["warnings"]
    return scan.report


def deb_packages(report: dict[str, Any]) -> dict[images.Pkg, dict[str, Any]]:
    """The reported dpkg packages by (name, version, arch); a package reported twice fails."""
    debs = [p for p in report["packages"] if p["type"] == "deb"]
    keys = [images.Pkg(p["name"], p["version"], p["arch"]) for p in debs]
    duplicates = [key for key, count in Counter(keys).items() if count > 1]
    assert not duplicates, f"reported more than once: {duplicates}"
    return dict(zip(keys, debs, strict=True))


def cache_entries(root: Path) -> dict[str, tuple[int, int]]:
    """Every path under `root` with its size and modification time."""
    return {
        str(path.relative_to(root)): (path.lstat().st_size, path.lstat().st_mtime_ns)
        for path in sorted(root.rglob("*"))
    }


# --- Debian images: inventory, OS and layers in every packing ---------------------------------


@pytest.mark.parametrize("packing", images.PACKINGS)
@pytest.mark.parametrize("name", DEBIAN_IMAGES)
def test_debian_inventory_equals_dpkg_query(
    build_image: BuildImage, tmp_path: Path, name: str, packing: str
) -> None:
    image = build_image(images.RECIPES[name])
    report = ok(sbom(image.ref(packing), tmp_path))

    reported = deb_packages(report)
    assert set(reported) == image.packages, (
        f"missing {sorted(image.packages - set(reported))[:10]}, "
        f"extra {sorted(set(reported) - image.packages)[:10]}"
    )
    assert [p for p in report["packages"] if p["type"] != "deb"] == []
    assert report["os"]["id"] == image.recipe.os_id
    assert report["os"]["version_id"] == image.recipe.os_version_id
    assert report["image"]["source_type"] == SOURCE_TYPES[packing]
    if packing in ("dir", "rootfs"):
        return  # a root filesystem has no layers to attribute packages to
    assert [layer["diff_id"] for layer in report["image"]["layers"]] == list(image.diff_ids)
    wrong = {
        pkg.name: (record["layer"], image.layer_of(pkg))
        for pkg, record in reported.items()
        if record["layer"] != image.layer_of(pkg)
    }
    assert not wrong, f"(reported layer, layer that added it): {wrong}"


@pytest.mark.parametrize("name", DEBIAN_IMAGES)
def test_debian_cyclonedx_is_valid_and_what_the_library_writes(
    build_image: BuildImage, tmp_path: Path, name: str
) -> None:
    image = build_image(images.RECIPES[name])
    scan = sbom(image.ref("docker-archive"), tmp_path, fmt="cyclonedx-json")
    assert scan.returncode == ExitCode.OK, scan.stderr
    document = scan.report
    assert schema_errors(json.dumps(document)) == []
    assert library_rendering(document) == document

    debs = {}
    for component in document["components"]:
        if component.get("purl", "").startswith("pkg:deb/debian/"):
            props = properties(component)
            pkg = images.Pkg(
                component["name"], component["version"], props["basewatch:package:arch"]
            )
            debs[pkg] = props["basewatch:layer:diffID"]
    assert set(debs) == image.packages
    assert {pkg: image.layer_of(pkg) for pkg in debs} == debs
    (os_component,) = [c for c in document["components"] if c["type"] == "operating-system"]
    assert (os_component["name"], os_component["version"]) == (
        image.recipe.os_id,
        image.recipe.os_version_id,
    )


@pytest.mark.parametrize("packing", ["docker-archive", "oci-dir", "oci-tar"])
def test_layered_image_reports_final_state_and_adding_layer(
    build_image: BuildImage, tmp_path: Path, packing: str
) -> None:
    image = build_image(images.BOOKWORM_LAYERED)
    base, added, purged = image.layers
    # The image itself: layer 2 adds curl, layer 3 purges curl (from layer 2) and tzdata (base).
    assert {p.name for p in added.added} >= {"curl", "libcurl4"}
    assert {p.name for p in purged.removed} == {"curl", "tzdata"}
    assert purged.added == frozenset()

    report = ok(sbom(image.ref(packing), tmp_path))
    by_layer: dict[str, set[str]] = {}
    for pkg, record in deb_packages(report).items():
        by_layer.setdefault(record["layer"], set()).add(pkg.name)
    names = {name for group in by_layer.values() for name in group}
    assert "curl" not in names
    assert "tzdata" not in names
    assert by_layer[added.diff_id] == {p.name for p in added.added} - {"curl"}
    assert by_layer[base.diff_id] == {p.name for p in base.packages} - {"tzdata"}
    assert purged.diff_id not in by_layer  # a layer that only removes adds no package


def test_layered_image_really_has_whiteouts(build_image: BuildImage) -> None:
    """Guards the fixture: umoci must have turned the purge into whiteout entries."""
    image = build_image(images.BOOKWORM_LAYERED)
    with tarfile.open(image.docker_archive) as archive:
        handle = archive.extractfile("manifest.json")
        assert handle is not None
        top = json.load(handle)[0]["Layers"][-1]
        layer = archive.extractfile(top)
        assert layer is not None
        with tarfile.open(fileobj=layer) as diff:
            whiteouts = {m.name for m in diff if Path(m.name).name.startswith(".wh.")}
    assert {"usr/bin/.wh.curl", "usr/share/doc/.wh.tzdata"} <= whiteouts


@pytest.mark.parametrize("packing", ["docker-archive", "oci-dir", "oci-tar", "dir"])
def test_bare_path_is_detected_by_content(
    build_image: BuildImage, tmp_path: Path, packing: str
) -> None:
    image = build_image(images.BOOKWORM_MINBASE)
    path = {
        "docker-archive": image.docker_archive,
        "oci-dir": image.oci_dir,
        "oci-tar": image.oci_tar,
        "dir": image.rootfs,
    }[packing]
    report = ok(sbom(str(path), tmp_path))
    assert report["image"]["source_type"] == SOURCE_TYPES[packing]
    assert set(deb_packages(report)) == image.packages


def test_oci_layout_by_manifest_digest(build_image: BuildImage, tmp_path: Path) -> None:
    image = build_image(images.TRIXIE_MINBASE)
    report = ok(sbom(f"oci:{image.oci_dir}@{image.manifest_digest}", tmp_path))
    assert report["image"]["manifest_digest"] == image.manifest_digest
    assert set(deb_packages(report)) == image.packages


# --- docker-archive image selection -----------------------------------------------------------


def test_multi_image_archive_selects_by_repo_tag(
    multi_image_archive: images.MultiImageArchive, tmp_path: Path
) -> None:
    for repo_tag, image in multi_image_archive.images:
        report = ok(sbom(f"docker-archive:{multi_image_archive.path}:{repo_tag}", tmp_path))
        assert report["os"]["version_id"] == image.recipe.os_version_id
        assert set(deb_packages(report)) == image.packages
        assert [layer["diff_id"] for layer in report["image"]["layers"]] == list(image.diff_ids)


def test_multi_image_archive_without_tag_is_ambiguous(
    multi_image_archive: images.MultiImageArchive, tmp_path: Path
) -> None:
    scan = sbom(f"docker-archive:{multi_image_archive.path}", tmp_path)
    assert scan.returncode == ExitCode.USAGE, scan.stderr
    for repo_tag, _ in multi_image_archive.images:  # the message says what to choose from
        assert repo_tag in scan.stderr


def test_multi_image_archive_unknown_tag(
    multi_image_archive: images.MultiImageArchive, tmp_path: Path
) -> None:
    scan = sbom(f"docker-archive:{multi_image_archive.path}:basewatch-test/absent:1", tmp_path)
    assert scan.returncode in (ExitCode.USAGE, ExitCode.IMAGE_ERROR), scan.stderr
    assert scan.report == {}


def test_docker_archive_short_name_matches_normalized_repo_tag(
    build_image: BuildImage, tmp_path: Path
) -> None:
    """skopeo writes the fully qualified name; the short `repo:tag` a user types must match it."""
    image = build_image(images.BOOKWORM_MINBASE)
    report = ok(sbom(f"docker-archive:{image.docker_archive}:{image.recipe.repo_tag}", tmp_path))
    assert set(deb_packages(report)) == image.packages


# --- the per-layer cache ----------------------------------------------------------------------


def test_cache_is_keyed_by_diff_id_and_reused(build_image: BuildImage, tmp_path: Path) -> None:
    image = build_image(images.BOOKWORM_LAYERED)
    cache = tmp_path / "cache"
    ref = image.ref("docker-archive")
    first = ok(sbom(ref, tmp_path / "run1", "--cache-dir", str(cache)))
    names = {path.name for path in cache.rglob("*")}
    for diff_id in image.diff_ids:
        hexdigest = diff_id.split(":", 1)[1]
        assert any(hexdigest in name for name in names), f"no cache entry named by {diff_id}"
    entries = set(cache_entries(cache))

    second = ok(sbom(ref, tmp_path / "run2", "--cache-dir", str(cache)))
    assert second["packages"] == first["packages"]
    assert set(cache_entries(cache)) == entries  # everything came from the cache


def test_no_cache_leaves_cache_dir_untouched(build_image: BuildImage, tmp_path: Path) -> None:
    image = build_image(images.BOOKWORM_LAYERED)
    ref = image.ref("oci-tar")
    empty = tmp_path / "empty-cache"
    empty.mkdir()
    ok(sbom(ref, tmp_path / "run1", "--no-cache", "--cache-dir", str(empty)))
    assert list(empty.iterdir()) == []
    assert not (tmp_path / "run1" / "xdg-cache").exists()  # nor the default cache

    filled = tmp_path / "filled-cache"
    ok(sbom(ref, tmp_path / "run2", "--cache-dir", str(filled)))
    before = cache_entries(filled)
    assert before
    report = ok(sbom(ref, tmp_path / "run3", "--no-cache", "--cache-dir", str(filled)))
    assert cache_entries(filled) == before
    assert set(deb_packages(report)) == image.packages


# --- Alpine and busybox: the real images in ../shared/fixtures --------------------------------


def apk_installed(rootfs_tar: Path) -> set[tuple[str, str]]:
    """(name, version) of every package in the tarball's lib/apk/db/installed (P: and V: lines)."""
    with tarfile.open(rootfs_tar) as archive:
        member = next(
            m for m in archive if m.name.lstrip("./") == "lib/apk/db/installed" and m.isfile()
        )
        handle = archive.extractfile(member)
        assert handle is not None
        text = handle.read().decode("utf-8")
    packages = set()
    for stanza in text.split("\n\n"):
        fields = dict(line.split(":", 1) for line in stanza.splitlines() if line[1:2] == ":")
        if "P" in fields:
            packages.add((fields["P"], fields["V"]))
    return packages


@pytest.mark.parametrize(("version", "count"), [("3.20.3", 14), ("3.18.9", 15)])
def test_alpine_inventory_equals_apk_database(tmp_path: Path, version: str, count: int) -> None:
    path = shared_fixture(f"images/alpine-minirootfs-{version}-x86_64.tar.gz")
    expected = apk_installed(path)
    assert len(expected) == count

    report = ok(sbom(f"rootfs:{path}", tmp_path))
    reported = [(p["name"], p["version"]) for p in report["packages"] if p["type"] == "apk"]
    assert sorted(reported) == sorted(expected)
    assert len(report["packages"]) == len(reported)
    assert report["os"]["id"] == "alpine"
    assert report["os"]["version_id"] == version


@pytest.mark.parametrize("libc", ["glibc", "musl"])
def test_busybox_has_no_packages(tmp_path: Path, libc: str) -> None:
    path = shared_fixture(f"images/busybox-1.38.0-{libc}-amd64.oci.tar")
    report = ok(sbom(f"oci:{path}", tmp_path))
    assert report["packages"] == []
    assert len(report["image"]["layers"]) == 1


# --- the image builder itself -------------------------------------------------------------------


def test_apt_sources_follow_the_machine_configuration(tmp_path: Path) -> None:
    (tmp_path / "sources.list.d").mkdir()
    (tmp_path / "sources.list").write_text(
        "# deb file:///srv/old/debian bookworm main\n"
        "deb [arch=amd64 signed-by=/k.gpg] file:///srv/mirror/debian/ bookworm main contrib\n"
        "deb file:///srv/vendor cloud-sdk-bookworm main\n",
        encoding="utf-8",
    )
    (tmp_path / "sources.list.d" / "debian.sources").write_text(
        "Types: deb\nURIs: file:///srv/vendor2\nSuites: nodistro\nComponents: main\n\n"
        "Types: deb-src deb\nURIs: file:///srv/security/debian-security\n"
        "Suites: bookworm-security\nComponents: main\n",
        encoding="utf-8",
    )
    assert images.apt_sources("trixie", tmp_path) == [
        "deb file:///srv/mirror/debian trixie main",
        "deb file:///srv/mirror/debian trixie-updates main",
        "deb file:///srv/security/debian-security trixie-security main",
    ]
    assert images.apt_sources("sid", tmp_path) == ["deb file:///srv/mirror/debian sid main"]
    assert images.apt_sources("bookworm", tmp_path / "none") == []
