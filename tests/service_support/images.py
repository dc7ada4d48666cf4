"""Images built on images, as a registry sees them after `docker build`: a real root filesystem
tarball as the first layer (the Alpine fixture), more layers on top, and the labels a build
sets (`org.opencontainers.image.base.name`), written as an OCI layout for skopeo to push."""

from __future__ import annotations

import gzip
import hashlib
import json
import shutil
import tarfile
from pathlib import Path
from typing import Any

from tests.imagebuild import Member, layer_tar

ALPINE = "images/alpine-minirootfs-3.20.3-x86_64.tar.gz"
APK_DB = "lib/apk/db/installed"


def _blob(layout: Path, data: bytes) -> tuple[str, int]:
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    path = layout / "blobs" / "sha256" / digest.split(":", 1)[1]
    if not path.exists():  # content-addressed: what is there is this
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return digest, len(data)


def gzip_layer(data: bytes) -> tuple[bytes, str]:
    """A gzip-compressed layer as it is, with its diffID (the digest of the tar inside)."""
    return data, "sha256:" + hashlib.sha256(gzip.decompress(data)).hexdigest()


def write_image(
    layout: Path,
    layers: list[tuple[bytes, str]],
    steps: list[str],
    labels: dict[str, str] | None = None,
) -> tuple[str, int]:
    """The blobs of one linux/amd64 image in `layout`: its gzip `layers` (as `gzip_layer`
    gives them), the first added as a root filesystem and each other by one of `steps`;
    (manifest digest, size). The layout's index is the caller's."""
    descriptors: list[dict[str, Any]] = []
    for data, _ in layers:
        digest, size = _blob(layout, data)
        descriptors.append(
            {
                "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                "digest": digest,
                "size": size,
            }
        )
    history = [{"created_by": "ADD rootfs /", "created": "2026-01-01T00:00:00Z"}]
    history += [{"created_by": step, "created": "2026-01-01T00:00:00Z"} for step in steps]
    config = {
        "architecture": "amd64",
        "os": "linux",
        "created": "2026-01-01T00:00:00Z",
        "config": {"Labels": labels or {}},
        "rootfs": {"type": "layers", "diff_ids": [diff_id for _, diff_id in layers]},
        "history": history,
    }
    config_digest, config_size = _blob(layout, json.dumps(config).encode())
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": config_digest,
            "size": config_size,
        },
        "layers": descriptors,
    }
    return _blob(layout, json.dumps(manifest).encode())


def write_index(layout: Path, manifests: list[tuple[str, int, str]]) -> None:
    """`layout`'s oci-layout and index.json, naming each (manifest digest, size, tag)."""
    index = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [
            {
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": digest,
                "size": size,
                "annotations": {"org.opencontainers.image.ref.name": tag},
            }
            for digest, size, tag in manifests
        ],
    }
    (layout / "oci-layout").write_text(json.dumps({"imageLayoutVersion": "1.0.0"}))
    (layout / "index.json").write_text(json.dumps(index))


def stacked_layout(
    layout: Path,
    tag: str,
    rootfs: Path,
    extra: list[list[Member]],
    labels: dict[str, str] | None = None,
) -> Path:
    """An OCI layout of one linux/amd64 image: `rootfs` (a gzip tarball, as it is), then one
    layer per entry of `extra`, tagged `tag`."""
    shutil.rmtree(layout, ignore_errors=True)
    layout.mkdir(parents=True)
    layers = [gzip_layer(rootfs.read_bytes())]
    layers += [gzip_layer(gzip.compress(layer_tar(members), mtime=0)) for members in extra]
    steps = [f"RUN step {n}" for n in range(1, len(extra) + 1)]
    digest, size = write_image(layout, layers, steps, labels)
    write_index(layout, [(digest, size, tag)])
    return layout


def apk_database(rootfs: Path) -> str:
    """The apk database (`/lib/apk/db/installed`) of a root filesystem tarball."""
    with tarfile.open(rootfs, "r:gz") as tar:
        for member in tar.getmembers():
            if member.name.lstrip("./") == APK_DB:
                found = tar.extractfile(member)
                assert found is not None
                return found.read().decode()
    raise AssertionError(f"{rootfs} has no {APK_DB}")


def upgraded(rootfs: Path, old: str, new: str) -> list[Member]:
    """A layer that rewrites the apk database as an `apk upgrade` would: every package at
    version `old` is at `new` afterwards."""
    text = apk_database(rootfs)
    assert f"V:{old}\n" in text
    return [Member(APK_DB, text.replace(f"V:{old}\n", f"V:{new}\n").encode())]


def app_layer(name: str = "app") -> list[Member]:
    return [Member(f"srv/{name}/main.sh", b"#!/bin/sh\necho hello\n", mode=0o755)]
