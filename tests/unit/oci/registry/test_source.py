from __future__ import annotations

import tempfile
from pathlib import Path

import pytest

from basewatch.errors import DigestMismatch, ImageError, ImageNotFound, RegistryError
from basewatch.jobs.inventory import Scanner
from basewatch.oci.open import open_source
from basewatch.oci.registry.source import RegistryImage, RegistrySource
from tests.imagebuild import build_image, dpkg_status, file, write_oci_layout
from tests.unit.oci.registry.fakeregistry import HOST, FakeRegistry, options

STATUS = dpkg_status(("base-files", "12.4"), ("libc6", "2.36-9"))


def debian_image(arch: str = "amd64") -> object:
    return build_image(
        [
            [file("etc/os-release", 'ID=debian\nVERSION_ID="12"\n')],
            [file("var/lib/dpkg/status", STATUS)],
        ],
        arch=arch,
        history=["ADD rootfs /", "RUN apt-get install"],
    )


def layer_gets(registry: FakeRegistry) -> list[str]:
    return [p for p in registry.paths("GET") if "/blobs/" in p]


def test_inventory_equals_the_oci_layout_inventory(tmp_path: Path) -> None:
    image = debian_image()
    registry = FakeRegistry()
    registry.add_image("library/debian", "12", image)  # type: ignore[arg-type]
    layout = write_oci_layout(tmp_path / "layout", [(image, "12")])  # type: ignore[list-item]
    local = Scanner.default(cache_dir=tmp_path / "c1").inventory(f"oci:{layout}:12")
    source = RegistrySource(f"{HOST}/library/debian:12", options(registry, cache_dir=tmp_path))
    pulled = Scanner.default(cache_dir=tmp_path / "c2").inventory(source)
    assert pulled.image.source_type == "registry"
    assert pulled.image.manifest_digest == local.image.manifest_digest
    assert pulled.packages == local.packages
    assert {p.name for p in pulled.packages} == {"base-files", "libc6"}


def test_a_warm_rescan_downloads_no_layer(tmp_path: Path) -> None:
    registry = FakeRegistry()
    registry.add_image("library/debian", "12", debian_image())  # type: ignore[arg-type]
    ref = f"{HOST}/library/debian:12"
    scanner = Scanner.default(cache_dir=tmp_path)
    scanner.inventory(RegistrySource(ref, options(registry, cache_dir=tmp_path)))
    assert len(layer_gets(registry)) == 3  # config and two layers
    registry.requests.clear()
    scanner.inventory(RegistrySource(ref, options(registry, cache_dir=tmp_path)))
    # the tag is resolved with HEAD; manifest and config come from the blob cache
    assert [r.method for r in registry.requests] == ["HEAD"]


def test_cached_analyses_mean_no_download_even_without_blobs(tmp_path: Path) -> None:
    registry = FakeRegistry()
    registry.add_image("library/debian", "12", debian_image())  # type: ignore[arg-type]
    ref = f"{HOST}/library/debian:12"
    scanner = Scanner.default(cache_dir=tmp_path)
    scanner.inventory(RegistrySource(ref, options(registry, cache_dir=tmp_path)))
    for blob in (tmp_path / "blobs" / "sha256").iterdir():
        if blob.stat().st_size > 1000 or blob.read_bytes()[:2] == b"\x1f\x8b":
            blob.unlink()  # layers gone from the blob cache, analyses kept
    registry.requests.clear()
    scanner.inventory(RegistrySource(ref, options(registry, cache_dir=tmp_path)))
    assert layer_gets(registry) == []


def test_prefetch_downloads_only_the_layers_asked_for(tmp_path: Path) -> None:
    image = debian_image()
    registry = FakeRegistry()
    registry.add_image("library/debian", "12", image)  # type: ignore[arg-type]
    source = RegistrySource(
        f"{HOST}/library/debian:12",
        options(registry, cache_dir=tmp_path, parallel=2),
        prefetch=lambda layer: layer.index == 1,
    )
    with source.open() as opened:
        assert isinstance(opened, RegistryImage)
        path = opened.blob_path(opened.info.layers[1])
        assert path.is_file()
    second = image.layer_digests[1]  # type: ignore[attr-defined]
    assert [p.rsplit("/", 1)[1] for p in layer_gets(registry)][1:] == [second]


def test_index_platforms(tmp_path: Path) -> None:
    registry = FakeRegistry()
    amd, arm = debian_image("amd64"), debian_image("arm64")
    index = registry.add_index("library/debian", "12", [(amd, "amd64"), (arm, "arm64")])  # type: ignore[list-item]
    source = RegistrySource(f"{HOST}/library/debian:12", options(registry, cache_dir=tmp_path))
    resolved = source.resolve("linux/arm64")
    assert resolved.index_digest == resolved.digest == index
    assert resolved.platform == "linux/arm64"
    assert [p for p, _ in resolved.platforms] == ["linux/amd64", "linux/arm64"]
    with source.open("linux/arm64") as opened:
        assert opened.info.architecture == "arm64"
    with pytest.raises(ImageNotFound, match="linux/s390x"):
        source.resolve("linux/s390x")


def test_tampered_layer_is_refused_and_not_cached(tmp_path: Path) -> None:
    image = debian_image()
    registry = FakeRegistry()
    registry.add_image("library/debian", "12", image)  # type: ignore[arg-type]
    registry.tamper.add(image.layer_digests[0])  # type: ignore[attr-defined]
    source = RegistrySource(f"{HOST}/library/debian:12", options(registry, cache_dir=tmp_path))
    with pytest.raises(DigestMismatch):
        Scanner.default(cache_dir=tmp_path).inventory(source)
    cached = {p.name for p in (tmp_path / "blobs" / "sha256").iterdir()}
    assert image.layer_digests[0].split(":")[1] not in cached  # type: ignore[attr-defined]
    # the tampered blob's bytes are thrown away; other layers' may be kept, to resume them
    left = {p.name for p in (tmp_path / "blobs" / "tmp").iterdir()}
    digests = image.layer_digests  # type: ignore[attr-defined]
    assert left <= {f"partial-sha256-{d.split(':')[1]}" for d in digests[1:]}


def test_dropped_connection_mid_layer_recovers(tmp_path: Path) -> None:
    image = debian_image()
    registry = FakeRegistry()
    registry.add_image("library/debian", "12", image)  # type: ignore[arg-type]
    registry.drop_blob_after[image.layer_digests[1]] = 50  # type: ignore[attr-defined]
    source = RegistrySource(f"{HOST}/library/debian:12", options(registry, cache_dir=tmp_path))
    inventory = Scanner.default(cache_dir=tmp_path).inventory(source)
    assert {p.name for p in inventory.packages} == {"base-files", "libc6"}
    ranges = [r.headers.get("Range") for r in registry.requests if r.headers.get("Range")]
    assert ranges == ["bytes=50-"]


def test_no_cache_leaves_no_blobs_behind(tmp_path: Path) -> None:
    registry = FakeRegistry()
    registry.add_image("library/debian", "12", debian_image())  # type: ignore[arg-type]
    before = set(Path(tempfile.gettempdir()).glob("basewatch-*"))
    cache = tmp_path / "cache"
    source = RegistrySource(
        f"{HOST}/library/debian:12", options(registry, use_cache=False, cache_dir=cache)
    )
    Scanner.default(cache_dir=cache, use_cache=False).inventory(source)
    assert set(Path(tempfile.gettempdir()).glob("basewatch-*")) == before
    assert [p for p in cache.rglob("*") if not p.is_dir()] == []


def test_no_cache_pulls_into_the_cache_scratch_area(tmp_path: Path) -> None:
    registry = FakeRegistry()
    registry.add_image("library/debian", "12", debian_image())  # type: ignore[arg-type]
    cache = tmp_path / "cache"
    source = RegistrySource(
        f"{HOST}/library/debian:12", options(registry, use_cache=False, cache_dir=cache)
    )
    with source.open() as image:
        assert isinstance(image, RegistryImage)
        path = image.blob_path(image.info.layers[0])
        # the scratch area the next run sweeps when this one is killed, never the system's /tmp
        assert path.is_relative_to(cache / "tmp")
    assert not path.exists()
    assert [p for p in cache.rglob("*") if not p.is_dir()] == []


def test_missing_blob_is_a_registry_error(tmp_path: Path) -> None:
    image = debian_image()
    registry = FakeRegistry()
    registry.add_image("library/debian", "12", image)  # type: ignore[arg-type]
    del registry.blobs[image.layer_digests[0]]  # type: ignore[attr-defined]
    source = RegistrySource(f"{HOST}/library/debian:12", options(registry, cache_dir=tmp_path))
    with pytest.raises(RegistryError, match="not found"):
        Scanner.default(cache_dir=tmp_path).inventory(source)


def test_open_source_falls_back_to_the_registry(tmp_path: Path) -> None:
    assert isinstance(open_source("debian:bookworm-slim"), RegistrySource)
    assert isinstance(open_source("ghcr.io/org/app:1.2"), RegistrySource)
    forced = open_source("registry:localhost:5000/app")
    assert isinstance(forced, RegistrySource)
    assert forced.ref.registry == "localhost:5000"
    assert forced.reference == "registry:localhost:5000/app"
    with pytest.raises(ImageNotFound, match="prefix it with"):
        open_source("missing.tar")
    with pytest.raises(ImageNotFound):
        open_source(str(tmp_path / "nope"))
    local = tmp_path / "debian"
    local.mkdir()
    assert not isinstance(open_source(str(local)), RegistrySource)


def test_closing_the_image_cancels_unfinished_prefetches(tmp_path: Path) -> None:
    import time
    from collections.abc import Iterator

    import httpx

    image = debian_image()
    registry = FakeRegistry()
    registry.add_image("library/debian", "12", image)  # type: ignore[arg-type]
    slow_digest = image.layer_digests[0]  # type: ignore[attr-defined]
    started = []

    class Slow(httpx.SyncByteStream):
        def __iter__(self) -> Iterator[bytes]:
            started.append(True)
            for _ in range(1000):
                time.sleep(0.01)
                yield b"x"

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith(slow_digest):
            return httpx.Response(200, stream=Slow())
        return registry.handle(request)

    opts = options(registry, cache_dir=tmp_path)
    import dataclasses

    opts = dataclasses.replace(opts, transport=httpx.MockTransport(handler))
    source = RegistrySource(f"{HOST}/library/debian:12", opts, prefetch=lambda layer: True)
    began = time.monotonic()
    with source.open():
        while not started:
            time.sleep(0.01)
    assert time.monotonic() - began < 5
    cached = {p.name for p in (tmp_path / "blobs" / "sha256").iterdir()}
    assert slow_digest.split(":")[1] not in cached
    # only what was received of the cancelled blobs, kept aside to resume them another time
    left = {p.name for p in (tmp_path / "blobs" / "tmp").iterdir()}
    digests = image.layer_digests  # type: ignore[attr-defined]
    assert left <= {f"partial-sha256-{d.split(':')[1]}" for d in digests}


def _add_raw_manifest(registry: FakeRegistry, repo: str, tag: str, media: str, data: bytes) -> None:
    import hashlib

    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    registry.manifests[digest] = (media, data)
    registry.tags[(repo, tag)] = digest


def test_a_deeply_nested_manifest_is_refused_clearly(tmp_path: Path) -> None:
    registry = FakeRegistry()
    media = "application/vnd.oci.image.manifest.v1+json"
    _add_raw_manifest(registry, "app", "deep", media, b'{"a":' * 100_000)
    source = RegistrySource(f"{HOST}/app:deep", options(registry, cache_dir=tmp_path))
    with pytest.raises(ImageError, match="nests too deeply"):
        Scanner.default(cache_dir=tmp_path).inventory(source)


def test_index_annotations_that_are_not_an_object_are_ignored(tmp_path: Path) -> None:
    import json

    registry = FakeRegistry()
    image = debian_image()
    digest = registry.add_image("app", "", image)  # type: ignore[arg-type]
    index = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [
            {
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": digest,
                "size": len(image.manifest_bytes),  # type: ignore[attr-defined]
                "platform": {"os": "linux", "architecture": "amd64"},
                "annotations": ["not", "an", "object"],
            }
        ],
    }
    _add_raw_manifest(
        registry, "app", "1", "application/vnd.oci.image.index.v1+json", json.dumps(index).encode()
    )
    source = RegistrySource(f"{HOST}/app:1", options(registry, cache_dir=tmp_path))
    inventory = Scanner.default(cache_dir=tmp_path).inventory(source, platform="linux/amd64")
    assert {p.name for p in inventory.packages} == {"base-files", "libc6"}
