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
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return digest, len(data)


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
    raw_layers = [rootfs.read_bytes()] + [
        gzip.compress(layer_tar(members), mtime=0) for members in extra
    ]
    descriptors: list[dict[str, Any]] = []
    diff_ids: list[str] = []
    for data in raw_layers:
        digest, size = _blob(layout, data)
        diff_ids.append("sha256:" + hashlib.sha256(gzip.decompress(data)).hexdigest())
        descriptors.append(
            {
                "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                "digest": digest,
                "size": size,
            }
        )
    history = [{"created_by": "ADD rootfs /", "created": "2026-01-01T00:00:00Z"}]
    history += [
        {"created_by": f"RUN step {n}", "created": "2026-01-01T00:00:00Z"}
        for n in range(1, len(extra) + 1)
    ]
    config = {
        "architecture": "amd64",
        "os": "linux",
        "created": "2026-01-01T00:00:00Z",
        "config": {"Labels": labels or {}},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
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
    manifest_digest, manifest_size = _blob(layout, json.dumps(manifest).encode())
    index = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [
            {
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": manifest_digest,
                "size": manifest_size,
                "annotations": {"org.opencontainers.image.ref.name": tag},
            }
        ],
    }
    (layout / "oci-layout").write_text(json.dumps({"imageLayoutVersion": "1.0.0"}))
    (layout / "index.json").write_text(json.dumps(index))
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
