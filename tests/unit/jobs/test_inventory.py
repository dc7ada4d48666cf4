from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from basewatch.errors import ImageError
from basewatch.jobs.inventory import Scanner, default_detectors
from basewatch.models import Inventory
from basewatch.store.analysis import AnalysisCache
from tests.fixtures import shared_fixture
from tests.imagebuild import (
    DEBIAN_OS_RELEASE,
    BuiltImage,
    Member,
    build_image,
    compress,
    directory,
    dpkg_status,
    file,
    layer_tar,
    opaque,
    sha256,
    symlink,
    whiteout,
    write_docker_archive,
    write_oci_layout,
)

STATUS = "var/lib/dpkg/status"


def scan(reference: str, cache_dir: Path, use_cache: bool = True) -> Inventory:
    return Scanner.default(cache_dir=cache_dir, use_cache=use_cache).inventory(reference)


def layered_image(tmp_path: Path) -> tuple[Path, list[str]]:
    base = [
        directory("usr/lib"),
        file("usr/lib/os-release", DEBIAN_OS_RELEASE),
        symlink("etc/os-release", "../usr/lib/os-release"),
        file(STATUS, dpkg_status(("base-files", "12.4+deb12u5"), ("libc6", "2.36-9"))),
    ]
    add_curl = [
        file(
            STATUS,
            dpkg_status(
                ("base-files", "12.4+deb12u5"),
                ("libc6", "2.36-9"),
                ("curl", "7.88.1-10", "Source: curl\n"),
                ("libcurl4", "7.88.1-10", "Source: curl\n"),
            ),
        )
    ]
    upgrade_and_purge = [
        file(
            STATUS,
            dpkg_status(
                ("base-files", "12.4+deb12u5"),
                ("libc6", "2.36-9+deb12u7"),
                ("libcurl4", "7.88.1-10", "Source: curl\n"),
            ),
        ),
        whiteout("/usr/bin/curl"),
    ]
    image = build_image([base, add_curl, upgrade_and_purge])
    layout = write_oci_layout(tmp_path / "layout", [(image, "v1")])
    return layout, image.diff_ids


def test_final_state_and_the_layer_that_really_added_each_package(tmp_path: Path) -> None:
    layout, diff_ids = layered_image(tmp_path)
    inventory = scan(f"oci:{layout}", tmp_path / "cache")
    got = {(p.name, p.version): p.layer for p in inventory.packages}
    assert got == {
        ("base-files", "12.4+deb12u5"): diff_ids[0],
        ("libc6", "2.36-9+deb12u7"): diff_ids[2],  # upgraded in layer 3: that layer brought it
        ("libcurl4", "7.88.1-10"): diff_ids[1],
    }
    assert inventory.os is not None
    assert (inventory.os.id, inventory.os.version_id) == ("debian", "12")
    assert inventory.os.evidence == ("/etc/os-release",)
    libcurl = next(p for p in inventory.packages if p.name == "libcurl4")
    assert libcurl.purl == (
        "pkg:deb/debian/libcurl4@7.88.1-10?arch=amd64&distro=debian-12&upstream=curl"
    )
    assert libcurl.ecosystem == "Debian:12"
    assert libcurl.source_name == "curl"
    assert inventory.warnings == ()


def test_database_deleted_then_recreated_restarts_attribution(tmp_path: Path) -> None:
    status = dpkg_status(("base-files", "12.4+deb12u5"))
    image = build_image(
        [
            [file(STATUS, status)],
            [opaque("/var/lib/dpkg")],
            [file(STATUS, status)],
        ]
    )
    layout = write_oci_layout(tmp_path / "l", [(image, "")])
    inventory = scan(f"oci:{layout}", tmp_path / "cache")
    assert [p.layer for p in inventory.packages] == [image.diff_ids[2]]


def _layer_entries(cache_dir: Path) -> list[Path]:
    return sorted(p for p in (cache_dir / "layers").rglob("*.json") if p.name != "diff-id.json")


def test_second_scan_is_served_from_the_cache(tmp_path: Path) -> None:
    layout, diff_ids = layered_image(tmp_path)
    cache_dir = tmp_path / "cache"
    first = scan(f"oci:{layout}", cache_dir)
    entries = _layer_entries(cache_dir)
    assert sorted(p.parent.name for p in entries) == sorted(d.split(":")[1] for d in diff_ids)
    # Without the assembled inventory, each layer's cached analysis answers: with the top
    # layer's emptied, the packages its dpkg status lists are gone from the warm scan.
    for path in (cache_dir / "images").rglob("*.json"):
        path.unlink()
    assert scan(f"oci:{layout}", cache_dir) == first
    for path in (cache_dir / "images").rglob("*.json"):
        path.unlink()
    top = next(p for p in entries if p.parent.name == diff_ids[-1].split(":")[1])
    top.write_text(json.dumps({**json.loads(top.read_text()), "results": []}))
    assert first.packages
    assert not scan(f"oci:{layout}", cache_dir).packages
    scan(f"oci:{layout}", tmp_path / "other-cache", use_cache=False)
    assert not (tmp_path / "other-cache" / "layers").exists()  # --no-cache stores nothing


def test_a_warm_scan_still_needs_the_layers_bytes(tmp_path: Path) -> None:
    """The cache spares analysing a layer, not checking it: no blob, no answer."""
    layout, _ = layered_image(tmp_path)
    cache_dir = tmp_path / "cache"
    scan(f"oci:{layout}", cache_dir)
    for blob in (layout / "blobs" / "sha256").iterdir():
        if blob.stat().st_size > 4096 or not blob.read_bytes().startswith(b"{"):
            blob.unlink()
    with pytest.raises(ImageError, match="not in the image"):
        scan(f"oci:{layout}", cache_dir)


def test_corrupt_cache_entry_is_ignored_and_rewritten(tmp_path: Path) -> None:
    layout, _ = layered_image(tmp_path)
    cache_dir = tmp_path / "cache"
    first = scan(f"oci:{layout}", cache_dir)
    entries = [*(cache_dir / "layers").rglob("*.json"), *(cache_dir / "images").rglob("*.json")]
    # three layer analyses, three blob digest -> diffID bindings (gzip layers), the image
    assert len(entries) == 7
    for entry in entries:
        entry.write_text("{ truncated")
    assert scan(f"oci:{layout}", cache_dir) == first
    assert all(
        entry.read_text().startswith("{") and entry.read_text() != "{ truncated"
        for entry in entries
    )


@pytest.mark.parametrize(
    ("kind", "damage"),
    [
        ("images", lambda d: {**d, "schema_version": 0}),  # another basewatch version wrote it
        ("images", lambda d: {**d, "packages": [{**d["packages"][0], "version": 7}]}),
        ("images", lambda d: {**d, "image": {**d["image"], "layers": "all"}}),
        ("layers", lambda d: {**d, "format": 1}),
        ("layers", lambda d: {**d, "entries": [["/x", "file", "1", 0, ""]]}),
        ("layers", lambda d: {**d, "entries": [["/x", "file"]]}),
        ("layers", lambda d: {**d, "results": [{"path": "/x", "detector": "d", "facts": [["k"]]}]}),
    ],
)
def test_a_cache_entry_of_wrong_types_is_a_miss(
    tmp_path: Path, kind: str, damage: Any, caplog: pytest.LogCaptureFixture
) -> None:
    layout, _ = layered_image(tmp_path)
    cache_dir = tmp_path / "cache"
    first = scan(f"oci:{layout}", cache_dir)
    if kind == "layers":  # else the assembled inventory answers before any layer's analysis
        for path in (cache_dir / "images").rglob("*.json"):
            path.unlink()
    entries = list((cache_dir / "images").rglob("*.json")) or _layer_entries(cache_dir)
    for path in entries:
        path.write_text(json.dumps(damage(json.loads(path.read_text()))))
    assert scan(f"oci:{layout}", cache_dir) == first
    assert "ignoring" in caplog.text and "Traceback" not in caplog.text
    assert scan(f"oci:{layout}", cache_dir) == first  # rewritten, and good again


def test_warm_scan_uses_the_assembled_inventory(tmp_path: Path) -> None:
    layout, _ = layered_image(tmp_path)
    cache_dir = tmp_path / "cache"
    first = scan(f"oci:{layout}", cache_dir)
    # With the per-layer analyses gone, the assembled inventory of the image still answers
    # (marked here, to tell it from a fresh read).
    for entry in _layer_entries(cache_dir):
        entry.unlink()
    (image_entry,) = (cache_dir / "images").rglob("*.json")
    data = json.loads(image_entry.read_text())
    image_entry.write_text(json.dumps({**data, "warnings": ["from the cache"]}))
    warm = scan(f"oci:{layout}", cache_dir)
    assert warm.warnings == ("from the cache",)
    assert warm.packages == first.packages


def test_os_inferred_from_packages_when_no_release_file(tmp_path: Path) -> None:
    image = build_image(
        [[file("var/lib/dpkg/status.d/base-files", dpkg_status(("base-files", "12.4+deb12u5")))]]
    )
    archive = write_docker_archive(tmp_path / "d.tar", [(image, ["distroless:1"])])
    inventory = scan(f"docker-archive:{archive}", tmp_path / "c")
    assert inventory.os is not None
    assert (inventory.os.id, inventory.os.version_id, inventory.os.distroless) == (
        "debian",
        "12",
        True,
    )


def test_real_alpine_minirootfs_matches_its_apk_database(tmp_path: Path) -> None:
    for version, count in (("3.20.3", 14), ("3.18.9", 15)):
        path = shared_fixture(f"images/alpine-minirootfs-{version}-x86_64.tar.gz")
        inventory = scan(f"rootfs:{path}", tmp_path / "cache")
        assert inventory.os is not None
        assert (inventory.os.id, inventory.os.version_id) == ("alpine", version)
        assert len(inventory.packages) == count
        assert {p.type.value for p in inventory.packages} == {"apk"}
        musl = next(p for p in inventory.packages if p.name == "musl")
        assert musl.ecosystem == f"Alpine:v{version.rsplit('.', 1)[0]}"
        assert musl.purl.startswith(f"pkg:apk/alpine/musl@{musl.version}?arch=x86_64")
        assert musl.layer == inventory.image.layers[0].diff_id
        assert musl.layer.startswith("sha256:")


def test_default_detectors_have_unique_names() -> None:
    names = [d.name for d in default_detectors()]
    assert len(names) == len(set(names))


def test_cache_refuses_odd_keys(tmp_path: Path) -> None:
    cache = AnalysisCache(tmp_path)
    assert cache.get("sha256:" + "a" * 64, "k") is None
    with pytest.raises(Exception, match="cannot name a cache entry"):
        cache.get("sha256:../../etc", "k")


def _jar(pom: str) -> bytes:
    import io
    import zipfile

    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as jar:
        jar.writestr("META-INF/MANIFEST.MF", "Manifest-Version: 1.0\r\n\r\n")
        jar.writestr("META-INF/maven/org.example/demo/pom.properties", pom)
    return out.getvalue()


LANGUAGE_LAYER = [
    file(
        "usr/lib/python3/dist-packages/requests-2.28.1.dist-info/METADATA",
        "Metadata-Version: 2.1\nName: requests\nVersion: 2.28.1\nLicense: Apache 2.0\n\n"
        "long text\n",
    ),
    file(
        "usr/lib/python3/dist-packages/requests-2.28.1.dist-info/WHEEL",
        "Wheel-Version: 1.0\nGenerator: bdist_wheel\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    ),
    file(
        "app/node_modules/@scope/left-pad/package.json",
        '{"name": "@scope/left-pad", "version": "1.3.0", "license": "MIT"}',
    ),
    file("app/lib/demo.jar", _jar("groupId=org.example\nartifactId=demo\nversion=4.2\n")),
]


@pytest.mark.parametrize("compression", ["gzip", "none"])
def test_language_packages_are_found_through_the_whole_pipeline(
    compression: str, tmp_path: Path
) -> None:
    image = build_image([LANGUAGE_LAYER], compression=compression)
    layout = write_oci_layout(tmp_path / "l", [(image, "")])
    inventory = scan(f"oci:{layout}", tmp_path / "cache", use_cache=False)
    assert inventory.warnings == ()
    got = {(p.type.value, p.purl) for p in inventory.packages}
    assert got == {
        ("pypi", "pkg:pypi/requests@2.28.1"),
        ("npm", "pkg:npm/%40scope/left-pad@1.3.0"),
        ("maven", "pkg:maven/org.example/demo@4.2"),
    }
    requests = next(p for p in inventory.packages if p.name == "requests")
    assert requests.meta("wheel_tags") == "py3-none-any"
    assert requests.layer == image.diff_ids[0]


def test_entry_count_is_capped_per_image(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A layer of millions of empty entries is a few megabytes of gzip: the index must not grow
    # without bound. Two layers of 60 entries against a cap of 100: the second one trips it.
    import basewatch.inventory.layers as layers
    import basewatch.jobs.inventory as scan_module

    monkeypatch.setattr(layers, "MAX_IMAGE_ENTRIES", 100)
    monkeypatch.setattr(scan_module, "MAX_IMAGE_ENTRIES", 100)
    first = [directory("a"), *(file(f"a/{i}", "") for i in range(59))]
    second = [directory("b"), *(file(f"b/{i}", "") for i in range(59))]
    layout = write_oci_layout(tmp_path / "layout", [(build_image([first, second]), "v1")])
    with pytest.raises(ImageError, match="more than 100 entries"):
        scan(f"oci:{layout}:v1", tmp_path / "cache")
    # One layer alone fits, and so does the same image once the cap allows it.
    alone = write_oci_layout(tmp_path / "alone", [(build_image([first]), "v1")])
    assert scan(f"oci:{alone}:v1", tmp_path / "cache").packages == ()
    monkeypatch.setattr(scan_module, "MAX_IMAGE_ENTRIES", 120)
    assert scan(f"oci:{layout}:v1", tmp_path / "cache").packages == ()


def test_one_decompression_budget_spans_every_layer_and_spent_layers_are_not_cached(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The budget is the image's: a second layer's archives draw on what the first left, and
    a layer read with the budget spent is not cached as if that were the layer's own truth."""
    import functools
    import os
    import zipfile

    import basewatch.jobs.inventory as scan_module
    from basewatch.inventory.detector import DecompressionBudget
    from basewatch.inventory.layers import detectors_key
    from tests.unit.inventory.test_java_bombs import zipped

    inner = zipped({"blob.bin": os.urandom(1 << 20)}, zipfile.ZIP_STORED)
    outer = zipped({"lib/inner-1.0.jar": inner}, zipfile.ZIP_STORED)
    monkeypatch.setattr(
        scan_module, "DecompressionBudget", functools.partial(DecompressionBudget, 3 << 20)
    )
    built = build_image(
        [
            [file("etc/os-release", DEBIAN_OS_RELEASE), file("opt/a/app-1.0.jar", outer)],
            [file("opt/b/app-1.0.jar", outer)],
            [file("opt/c/app-1.0.jar", outer)],
        ]
    )
    archive = write_docker_archive(tmp_path / "img.tar", [(built, ["test/jars:1"])])
    inventory = scan(f"docker-archive:{archive}", tmp_path / "cache")
    assert any("budget" in w for w in inventory.warnings), inventory.warnings
    cache = AnalysisCache(tmp_path / "cache")
    key = detectors_key(default_detectors())
    cached = [cache.get(layer.diff_id, key) is not None for layer in inventory.image.layers]
    assert cached[0] is True
    assert cached[-1] is False


# --- a cached result never stands in for checking a layer ----------------------------------


def _package_names(inventory: Inventory) -> set[str]:
    return {p.name for p in inventory.packages}


def _genuine_and_evil() -> tuple[list[Any], list[Any]]:
    genuine = [file("etc/os-release", DEBIAN_OS_RELEASE), file(STATUS, dpkg_status(("good", "1")))]
    evil = [file("etc/os-release", DEBIAN_OS_RELEASE), file(STATUS, dpkg_status(("evil", "6")))]
    return genuine, evil


def _claiming(image: BuiltImage, diff_ids: list[str]) -> BuiltImage:
    """The image with its config claiming other diffIDs (config and manifest re-hashed, so
    that only the layers themselves can tell)."""
    config = {**image.config, "rootfs": {"type": "layers", "diff_ids": diff_ids}}
    config_bytes = json.dumps(config).encode()
    manifest = {
        **image.manifest,
        "config": {**image.manifest["config"], "digest": sha256(config_bytes)},
    }
    manifest_bytes = json.dumps(manifest).encode()
    blobs = {k: v for k, v in image.blobs.items() if k in image.layer_digests}
    blobs[sha256(config_bytes)] = config_bytes
    blobs[sha256(manifest_bytes)] = manifest_bytes
    return BuiltImage(
        config, config_bytes, manifest, manifest_bytes, blobs, diff_ids, image.layer_digests
    )


@pytest.mark.parametrize("extra_layer", [False, True], ids=["image entry", "layer entries"])
@pytest.mark.parametrize("fmt", ["docker-archive", "oci-gzip", "oci-none"])
def test_a_tampered_image_claiming_a_cached_diff_id_is_refused_warm_as_cold(
    fmt: str, extra_layer: bool, tmp_path: Path
) -> None:
    """With one layer the assembled inventory is at stake, with two each layer's analysis."""
    genuine, evil = _genuine_and_evil()
    extra = [[file("opt/extra", "x")]] if extra_layer else []
    compression = "none" if fmt != "oci-gzip" else "gzip"
    good = build_image([genuine, *extra], compression=compression)
    bad = _claiming(build_image([evil, *extra], compression=compression), good.diff_ids)

    def reference(image: BuiltImage, name: str) -> str:
        if fmt == "docker-archive":
            return f"docker-archive:{write_docker_archive(tmp_path / f'{name}.tar', [(image, [])])}"
        return f"oci:{write_oci_layout(tmp_path / name, [(image, '')])}"

    cache_dir = tmp_path / "cache"
    assert "good" in _package_names(scan(reference(good, "good"), cache_dir))
    with pytest.raises(ImageError, match="tampered"):
        scan(reference(bad, "cold"), tmp_path / "cold-cache")
    with pytest.raises(ImageError, match="tampered"):
        scan(reference(bad, "warm"), cache_dir)


def test_a_blob_swapped_under_its_digest_is_refused_warm(tmp_path: Path) -> None:
    genuine, evil = _genuine_and_evil()
    good = build_image([genuine])
    layout = write_oci_layout(tmp_path / "layout", [(good, "")])
    cache_dir = tmp_path / "cache"
    assert "good" in _package_names(scan(f"oci:{layout}", cache_dir))
    swapped = build_image([evil]).blobs
    evil_blob = next(data for digest, data in swapped.items() if data[:2] == b"\x1f\x8b")
    (layout / "blobs" / "sha256" / good.layer_digests[0].split(":")[1]).write_bytes(evil_blob)
    with pytest.raises(ImageError, match="tampered"):
        scan(f"oci:{layout}", cache_dir)


def test_a_tampered_rootfs_tarball_is_read_again(tmp_path: Path) -> None:
    """A root filesystem tarball is named by the hash of its bytes: new bytes, new answer."""
    genuine, evil = _genuine_and_evil()
    path = tmp_path / "rootfs.tar.gz"
    cache_dir = tmp_path / "cache"
    path.write_bytes(compress(layer_tar(genuine), "gzip"))
    assert "good" in _package_names(scan(f"rootfs:{path}", cache_dir))
    assert "good" in _package_names(scan(f"rootfs:{path}", cache_dir))  # warm
    path.write_bytes(compress(layer_tar(evil), "gzip"))
    assert _package_names(scan(f"rootfs:{path}", cache_dir)) == {"evil"}


def test_an_opaque_image_root_hides_every_lower_layer(tmp_path: Path) -> None:
    lower = [file("etc/os-release", DEBIAN_OS_RELEASE), file(STATUS, dpkg_status(("old", "1")))]
    for marker in (".wh..wh..opq", "./.wh..wh..opq"):
        upper = [Member(marker, b""), file("etc/hostname", "x")]
        layout = write_oci_layout(
            tmp_path / marker.strip("./"), [(build_image([lower, upper]), "")]
        )
        inventory = scan(f"oci:{layout}", tmp_path / "cache", use_cache=False)
        assert inventory.packages == ()
        assert inventory.os is None
