"""Hostile images, built on the fly: each must end in a clear ImageError (exit 3), quickly.

Library-level checks run in-process under a thread with a deadline (the failure they guard
against is a hang); the CLI-level ones run `basewatch` in a child bounded in time and memory.
"""

from __future__ import annotations

import gzip
import io
import json
import logging
import tarfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest
import zstandard

from basewatch.errors import ImageError
from basewatch.models import ImageInfo
from basewatch.oci.digest import parse_digest
from basewatch.oci.layer import TarLayerStream
from basewatch.oci.open import open_source
from basewatch.oci.tarstream import TarReader
from tests.bounded import run_bounded
from tests.imagebuild import (
    DEBIAN_OS_RELEASE,
    build_image,
    dpkg_status,
    file,
    layer_tar,
    sha256,
    write_docker_archive,
    write_oci_layout,
)

T = TypeVar("T")
BLOCK = 512


def bounded(call: Callable[[], T], seconds: float = 10.0) -> T:
    """`call()`, failing the test if it has not returned after `seconds` (a hang)."""
    outcome: list[Any] = []

    def run() -> None:
        try:
            outcome.append(("value", call()))
        except BaseException as exc:  # re-raised in the test's thread
            outcome.append(("error", exc))

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    assert outcome, f"still running after {seconds} s: a hang"
    kind, value = outcome[0]
    if kind == "error":
        raise value
    return value  # type: ignore[no-any-return]


# --- building hostile tars -------------------------------------------------------------------


def good_layer() -> bytes:
    return layer_tar(
        [
            file("etc/os-release", DEBIAN_OS_RELEASE),
            file("var/lib/dpkg/status", dpkg_status(("base-files", "12.4"), ("libc6", "2.36-9"))),
            file("usr/share/doc/big", b"x" * 5000),
        ]
    )


def pax_size_layer(size: str) -> bytes:
    """A small regular file whose PAX header claims `size` bytes."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo("etc/os-release")
        info.size = len(DEBIAN_OS_RELEASE)
        info.pax_headers = {"size": size}
        tar.addfile(info, io.BytesIO(DEBIAN_OS_RELEASE.encode()))
    return out.getvalue()


def with_size_field(field: bytes) -> bytes:
    """A good layer whose first header's size field is replaced (checksum fixed)."""
    data = bytearray(layer_tar([file("etc/os-release", DEBIAN_OS_RELEASE)]))
    data[124:136] = field
    data[148:156] = b" " * 8
    data[148:156] = b"%06o\0 " % sum(data[:BLOCK])
    return bytes(data)


def end_of_members(data: bytes) -> int:
    """Where the end-of-archive marker of a tar starts."""
    reader = TarReader(io.BytesIO(data), "t")
    for _ in reader:
        pass
    return len(data.rstrip(b"\0")) + (-len(data.rstrip(b"\0")) % BLOCK)


def members(data: bytes, seekable: bool) -> list[str]:
    raw = io.BytesIO(data)
    return [m.name for m in TarReader(raw, "layer", seekable=seekable)]


# --- 1. sizes --------------------------------------------------------------------------------

BAD_SIZES = {
    "pax negative": pax_size_layer("-1536"),
    "pax signed": pax_size_layer("+5"),
    "pax spaced": pax_size_layer(" 5"),
    "pax underscore": pax_size_layer("1_0"),
    "pax huge": pax_size_layer("9" * 40),
    "octal negative": with_size_field(b"-0001000\0\0\0\0"),
    "base-256 negative": with_size_field(b"\xff" * 11 + b"\x00"),
    "base-256 huge": with_size_field(b"\x80" + b"\xff" * 11),
}


@pytest.mark.parametrize("seekable", [False, True], ids=["stream", "seekable"])
@pytest.mark.parametrize("name", list(BAD_SIZES))
def test_negative_and_huge_member_sizes_are_refused(name: str, seekable: bool) -> None:
    with pytest.raises(ImageError, match=r"size|claims"):
        bounded(lambda: members(BAD_SIZES[name], seekable))


# --- 2. truncation ---------------------------------------------------------------------------


def cuts() -> dict[str, bytes]:
    data = good_layer()
    end = end_of_members(data)
    return {
        "inside a header": data[: BLOCK + 100],
        "inside content": data[: end - 2000],
        "no end-of-archive marker": data[:end],
        "zero block, then a header": data[: end + BLOCK] + data[:BLOCK],
    }


@pytest.mark.parametrize("seekable", [False, True], ids=["stream", "seekable"])
@pytest.mark.parametrize("cut", list(cuts()))
def test_a_tar_that_ends_early_is_refused(cut: str, seekable: bool) -> None:
    with pytest.raises(ImageError, match=r"truncated|zero block"):
        bounded(lambda: members(cuts()[cut], seekable))


@pytest.mark.parametrize("seekable", [False, True], ids=["stream", "seekable"])
def test_a_lone_zero_block_at_the_end_is_an_end_of_archive(seekable: bool) -> None:
    """What Go's archive/tar (and so Docker) accepts: the members all arrived."""
    data = good_layer()
    lone = data[: end_of_members(data) + BLOCK]
    assert members(lone, seekable) == members(data, seekable)
    assert len(members(data, seekable)) == 3


def zstd_layer_cut_after_the_tar() -> tuple[bytes, str]:
    """A zstd layer holding every byte of the tar, its last frame cut short."""
    raw = good_layer()
    compressed = zstandard.ZstdCompressor(write_checksum=True).compress(raw)
    return compressed[:-4], sha256(raw)  # the frame's checksum is gone: the frame is not whole


def test_zstd_cut_inside_its_frame_is_refused() -> None:
    blob, diff_id = zstd_layer_cut_after_the_tar()
    stream = TarLayerStream(io.BytesIO(blob), "layer")  # no diffID to check: only the frame tells

    def read() -> None:
        for _ in stream.entries():
            pass

    with pytest.raises(ImageError, match="zstd data ends inside a frame"):
        bounded(read)
    assert diff_id  # the tar inside was complete: only the zstd framing shows the cut


def test_whole_zstd_layers_in_several_frames_are_read() -> None:
    raw = good_layer()
    compressor = zstandard.ZstdCompressor()
    half = len(raw) // 2
    blob = compressor.compress(raw[:half]) + compressor.compress(raw[half:])
    stream = TarLayerStream(io.BytesIO(blob), "layer", sha256(raw))
    assert len(list(stream.entries())) == 3
    assert stream.diff_id == sha256(raw)


# --- images around hostile layers ------------------------------------------------------------


def image_of(raw_layers: list[bytes], compression: str) -> Any:
    """An image whose layers are these exact tar bytes (build_image takes members)."""
    image = build_image([[] for _ in raw_layers], compression=compression)
    blobs = {k: v for k, v in image.blobs.items() if k not in image.layer_digests}
    descriptors, digests, diff_ids = [], [], []
    for raw in raw_layers:
        blob = {"gzip": gzip.compress(raw, mtime=0), "zstd": zstandard.compress(raw)}.get(
            compression, raw
        )
        digest = sha256(blob)
        blobs[digest] = blob
        digests.append(digest)
        diff_ids.append(sha256(raw))
        media = "application/vnd.oci.image.layer.v1.tar" + {"none": ""}.get(
            compression, f"+{compression}"
        )
        descriptors.append({"mediaType": media, "digest": digest, "size": len(blob)})
    config = {**image.config, "rootfs": {"type": "layers", "diff_ids": diff_ids}}
    return rebuild(image, config, {**image.manifest, "layers": descriptors}, blobs, digests)


def rebuild(
    image: Any,
    config: dict[str, Any],
    manifest: dict[str, Any],
    blobs: dict[str, bytes] | None = None,
    layer_digests: list[str] | None = None,
) -> Any:
    """The image with this config and manifest (digests recomputed, so both verify)."""
    blobs = dict(image.blobs if blobs is None else blobs)
    blobs.pop(sha256(image.config_bytes), None)
    blobs.pop(sha256(image.manifest_bytes), None)
    config_bytes = json.dumps(config).encode()
    manifest = {
        **manifest,
        "config": {**manifest["config"], "digest": sha256(config_bytes), "size": len(config_bytes)},
    }
    manifest_bytes = json.dumps(manifest).encode()
    blobs[sha256(config_bytes)] = config_bytes
    blobs[sha256(manifest_bytes)] = manifest_bytes
    image.config, image.config_bytes = config, config_bytes
    image.manifest, image.manifest_bytes = manifest, manifest_bytes
    image.blobs = blobs
    image.diff_ids = config["rootfs"]["diff_ids"]
    image.layer_digests = layer_digests if layer_digests is not None else image.layer_digests
    return image


FORMATS = ["rootfs", "rootfs-gzip", "docker-archive", "oci-none", "oci-gzip", "oci-zstd"]


def reference_for(raw: bytes, fmt: str, tmp_path: Path) -> str:
    if fmt == "rootfs":
        path = tmp_path / "rootfs.tar"
        path.write_bytes(raw)
        return f"rootfs:{path}"
    if fmt == "rootfs-gzip":
        path = tmp_path / "rootfs.tar.gz"
        path.write_bytes(gzip.compress(raw))
        return f"rootfs:{path}"
    if fmt == "docker-archive":
        archive = write_docker_archive(tmp_path / "a.tar", [(image_of([raw], "none"), ["x:1"])])
        return f"docker-archive:{archive}"
    image = image_of([raw], fmt.split("-")[1])
    return f"oci:{write_oci_layout(tmp_path / 'layout', [(image, 'v1')])}"


def sbom(reference: str, *extra: str) -> list[str]:
    return ["sbom", "-q", "-f", "json", "--no-cache", *extra, reference]


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_negative_pax_size_is_refused_in_every_layer_format(fmt: str, tmp_path: Path) -> None:
    """It used to rewind the reader onto its own header: a 2.5 KB layer that never ends."""
    result = run_bounded(sbom(reference_for(pax_size_layer("-1536"), fmt, tmp_path)), timeout=20)
    result.check_refused(3)
    assert "PAX size '-1536' is not a decimal size" in result.stderr


@pytest.mark.parametrize("fmt", ["rootfs", "docker-archive", "oci-none"])
def test_a_truncated_uncompressed_layer_is_refused(fmt: str, tmp_path: Path) -> None:
    """Digests name the truncated bytes: only the tar itself shows that it was cut."""
    data = good_layer()
    result = run_bounded(sbom(reference_for(data[: end_of_members(data)], fmt, tmp_path)))
    result.check_refused(3)
    assert "end-of-archive marker (truncated tar)" in result.stderr


def test_a_truncated_zstd_rootfs_is_refused(tmp_path: Path) -> None:
    blob, _ = zstd_layer_cut_after_the_tar()
    (tmp_path / "rootfs.tar.zst").write_bytes(blob)
    result = run_bounded(sbom(f"rootfs:{tmp_path / 'rootfs.tar.zst'}"))
    result.check_refused(3)
    assert "zstd data ends inside a frame" in result.stderr


@pytest.mark.parametrize("fmt", ["docker-archive", "oci-tar"])
def test_a_huge_size_in_the_outer_tar_is_refused(fmt: str, tmp_path: Path) -> None:
    image = image_of([good_layer()], "none")
    if fmt == "docker-archive":
        path = write_docker_archive(tmp_path / "a.tar", [(image, ["x:1"])])
    else:
        layout = write_oci_layout(tmp_path / "layout", [(image, "v1")])
        path = tmp_path / "layout.tar"
        with tarfile.open(path, "w") as tar:
            tar.add(layout / "oci-layout", arcname="oci-layout")
            tar.add(layout / "index.json", arcname="index.json")
            tar.add(layout / "blobs", arcname="blobs")
    data = bytearray(path.read_bytes())
    data[124:136] = b"\x80" + b"\xff" * 11  # the first member: base-256, about 2**88 bytes
    data[148:156] = b" " * 8
    data[148:156] = b"%06o\0 " % sum(data[:BLOCK])
    path.write_bytes(bytes(data))
    prefix = "docker-archive" if fmt == "docker-archive" else "oci"
    result = run_bounded(sbom(f"{prefix}:{path}"))
    result.check_refused(3)
    assert "not a readable tar archive" in result.stderr or "truncated or corrupt" in result.stderr


# --- 3, 4, 5. image JSON ---------------------------------------------------------------------

DEEP = b'{"a":' * 100_000 + b"1" + b"}" * 100_000


def deep_layout(tmp_path: Path, which: str) -> Path:
    image = build_image([[file("etc/os-release", DEBIAN_OS_RELEASE)]])
    layout = write_oci_layout(tmp_path / "layout", [(image, "v1")])
    if which == "index":
        (layout / "index.json").write_bytes(DEEP)
        return layout
    deep_digest = sha256(DEEP)
    (layout / "blobs" / "sha256" / deep_digest.split(":")[1]).write_bytes(DEEP)
    index = json.loads((layout / "index.json").read_text())
    if which == "manifest":
        index["manifests"][0]["digest"] = deep_digest
    else:
        manifest = {**image.manifest, "config": {**image.manifest["config"], "digest": deep_digest}}
        data = json.dumps(manifest).encode()
        (layout / "blobs" / "sha256" / sha256(data).split(":")[1]).write_bytes(data)
        index["manifests"][0]["digest"] = sha256(data)
    (layout / "index.json").write_text(json.dumps(index))
    return layout


def open_info(reference: str) -> ImageInfo:
    with open_source(reference).open() as image:
        return image.info


@pytest.mark.parametrize("which", ["index", "manifest", "config"])
def test_deeply_nested_oci_json_is_refused(which: str, tmp_path: Path) -> None:
    layout = deep_layout(tmp_path, which)
    with pytest.raises(ImageError, match="nests too deeply"):
        open_info(f"oci:{layout}")


def test_deeply_nested_docker_archive_manifest_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "a.tar"
    with tarfile.open(path, "w") as tar:
        info = tarfile.TarInfo("manifest.json")
        info.size = len(DEEP)
        tar.addfile(info, io.BytesIO(DEEP))
    with pytest.raises(ImageError, match="nests too deeply"):
        open_info(f"docker-archive:{path}")
    run_bounded(sbom(f"docker-archive:{path}")).check_refused(3)


ODD_CONFIG_FIELDS: dict[str, Callable[[dict[str, Any]], None]] = {
    "Env is a number": lambda c: c["config"].update(Env=5),
    "Env holds a non-string": lambda c: c["config"].update(Env=["A=1", 7, {"x": 1}]),
    "Labels is a list": lambda c: c["config"].update(Labels=["a", "b"]),
    "a label is not a string": lambda c: c["config"].update(Labels={"a": "1", "b": [1]}),
    "config is a string": lambda c: c.update(config="x"),
    "history is an object": lambda c: c.update(history={"created_by": "x"}),
    "created_by is a number": lambda c: c.update(history=[{"created_by": 5}]),
    "os is a list": lambda c: c.update(os=["linux"]),
    "created is a number": lambda c: c.update(created=5),
}


@pytest.mark.parametrize("odd", list(ODD_CONFIG_FIELDS))
def test_descriptive_config_fields_of_the_wrong_type_are_dropped_with_a_warning(
    odd: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    image = build_image([[file("etc/os-release", DEBIAN_OS_RELEASE)]], labels={"ok": "1"})
    config = json.loads(image.config_bytes)
    ODD_CONFIG_FIELDS[odd](config)
    rebuild(image, config, image.manifest)
    layout = write_oci_layout(tmp_path / "layout", [(image, "v1")])
    with caplog.at_level(logging.WARNING):
        info = open_info(f"oci:{layout}")
    assert "ignor" in caplog.text
    assert all(isinstance(v, str) for pair in info.labels for v in pair)
    assert all(isinstance(e, str) for e in info.env)
    assert isinstance(info.os, str) and isinstance(info.created, str)


@pytest.mark.parametrize("annotations", [["a", "b"], "text", 5])
def test_annotations_that_are_not_an_object_are_ignored(
    annotations: object, tmp_path: Path
) -> None:
    image = build_image([[file("etc/os-release", DEBIAN_OS_RELEASE)]])
    rebuild(image, image.config, {**image.manifest, "annotations": annotations})
    layout = write_oci_layout(tmp_path / "layout", [(image, "")])
    index = json.loads((layout / "index.json").read_text())
    index["manifests"][0]["annotations"] = annotations  # where tags are looked up
    (layout / "index.json").write_text(json.dumps(index))
    assert open_info(f"oci:{layout}").annotations == ()
    with pytest.raises(ImageError, match="no image tagged"):
        open_info(f"oci:{layout}:v1")


@pytest.mark.parametrize("size", [-1, "12", True, 2**64, None])
def test_a_layer_size_that_is_not_a_byte_count_is_refused(size: object, tmp_path: Path) -> None:
    """A negative size was copied into the JSON output, breaking its own schema."""
    image = build_image([[file("etc/os-release", DEBIAN_OS_RELEASE)]])
    layers = [{**image.manifest["layers"][0], "size": size}]
    if size is None:
        del layers[0]["size"]
    rebuild(image, image.config, {**image.manifest, "layers": layers})
    layout = write_oci_layout(tmp_path / "layout", [(image, "v1")])
    if size is None:  # absent: unknown, which is not a lie
        assert open_info(f"oci:{layout}").layers[0].size == 0
        return
    with pytest.raises(ImageError, match="byte count"):
        open_info(f"oci:{layout}")


def test_a_digest_with_a_trailing_newline_is_not_a_digest(tmp_path: Path) -> None:
    digest = sha256(b"x")
    assert parse_digest(digest, "t") == digest
    for bad in (f"{digest}\n", f"{digest}\r\n", f" {digest}", f"{digest}0", digest.upper()):
        with pytest.raises(ImageError, match="not a valid digest"):
            parse_digest(bad, "t")
    image = build_image([[file("etc/os-release", DEBIAN_OS_RELEASE)]])
    layout = write_oci_layout(tmp_path / "layout", [(image, "v1")])
    index = json.loads((layout / "index.json").read_text())
    index["manifests"][0]["digest"] += "\n"
    (layout / "index.json").write_text(json.dumps(index))
    with pytest.raises(ImageError, match="not a valid digest"):
        open_info(f"oci:{layout}")


def test_a_deep_value_where_a_digest_belongs_is_refused_not_printed(tmp_path: Path) -> None:
    image = build_image([[file("etc/os-release", DEBIAN_OS_RELEASE)]])
    layout = write_oci_layout(tmp_path / "layout", [(image, "v1")])
    index = json.loads((layout / "index.json").read_text())
    deep: Any = "x"
    for _ in range(900):  # parses, but is too deep to print within the recursion limit
        deep = [deep]
    index["manifests"][0]["digest"] = deep
    (layout / "index.json").write_bytes(json.dumps(index).encode())
    with pytest.raises(ImageError, match="an array is not a valid digest"):
        open_info(f"oci:{layout}")


def test_a_deeply_nested_cache_entry_is_a_miss(tmp_path: Path) -> None:
    from basewatch.jobs.inventory import Scanner

    image = build_image([[file("etc/os-release", DEBIAN_OS_RELEASE)]])
    layout = write_oci_layout(tmp_path / "layout", [(image, "v1")])
    cache_dir = tmp_path / "cache"
    first = Scanner.default(cache_dir=cache_dir).inventory(f"oci:{layout}")
    entries = [*(cache_dir / "layers").rglob("*.json"), *(cache_dir / "images").rglob("*.json")]
    assert entries
    for entry in entries:
        entry.write_bytes(DEEP)
    assert Scanner.default(cache_dir=cache_dir).inventory(f"oci:{layout}") == first
