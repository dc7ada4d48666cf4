"""Build small, real-format images for tests: layer tars, OCI layouts and docker archives.

Everything is produced with the standard library exactly as `docker save`, skopeo and umoci
lay it out, so the readers under test see the same structures as with real images.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import zstandard

# (path, content) for a file; (path, None) for a directory; (path, "->target") via `symlink`
LayerSpec = list["Member"]


@dataclass(frozen=True)
class Member:
    name: str
    data: bytes | None = None  # None: a directory (unless link is set)
    symlink: str = ""
    hardlink: str = ""
    mode: int = 0o644


def file(name: str, data: bytes | str, mode: int = 0o644) -> Member:
    return Member(name, data.encode() if isinstance(data, str) else data, mode=mode)


def directory(name: str) -> Member:
    return Member(name, None, mode=0o755)


def symlink(name: str, target: str) -> Member:
    return Member(name, None, symlink=target)


def hardlink(name: str, target: str) -> Member:
    return Member(name, None, hardlink=target)


def whiteout(path: str) -> Member:
    parent, _, base = path.rpartition("/")
    return Member(f"{parent}/.wh.{base}".lstrip("/"), b"")


def opaque(directory_path: str) -> Member:
    return Member(f"{directory_path.strip('/')}/.wh..wh..opq", b"")


def layer_tar(members: list[Member]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for m in members:
            info = tarfile.TarInfo(m.name)
            info.mode = m.mode
            info.mtime = 1_700_000_000
            if m.symlink:
                info.type, info.linkname = tarfile.SYMTYPE, m.symlink
                tar.addfile(info)
            elif m.hardlink:
                info.type, info.linkname = tarfile.LNKTYPE, m.hardlink
                tar.addfile(info)
            elif m.data is None:
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
            else:
                info.size = len(m.data)
                tar.addfile(info, io.BytesIO(m.data))
    return out.getvalue()


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def compress(data: bytes, how: str) -> bytes:
    if how == "gzip":
        return gzip.compress(data, mtime=0)
    if how == "zstd":
        return zstandard.ZstdCompressor().compress(data)
    return data


_MEDIA = {
    "gzip": "application/vnd.oci.image.layer.v1.tar+gzip",
    "zstd": "application/vnd.oci.image.layer.v1.tar+zstd",
    "none": "application/vnd.oci.image.layer.v1.tar",
}


@dataclass
class BuiltImage:
    config: dict[str, Any]
    config_bytes: bytes
    manifest: dict[str, Any]
    manifest_bytes: bytes
    blobs: dict[str, bytes] = field(default_factory=dict)  # digest -> content
    diff_ids: list[str] = field(default_factory=list)
    layer_digests: list[str] = field(default_factory=list)


def build_image(
    layers: list[list[Member]],
    compression: str = "gzip",
    arch: str = "amd64",
    labels: dict[str, str] | None = None,
    history: list[str | tuple[str, bool]] | None = None,
) -> BuiltImage:
    """An image; `history` lines are layer-creating, or (line, True) for an empty layer."""
    blobs: dict[str, bytes] = {}
    diff_ids, descriptors, digests = [], [], []
    for members in layers:
        raw = layer_tar(members)
        blob = compress(raw, compression)
        digest = sha256(blob)
        blobs[digest] = blob
        diff_ids.append(sha256(raw))
        digests.append(digest)
        descriptors.append({"mediaType": _MEDIA[compression], "digest": digest, "size": len(blob)})
    config = {
        "architecture": arch,
        "os": "linux",
        "created": "2024-01-01T00:00:00Z",
        "config": {"Labels": labels or {}},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": [
            {"created_by": item[0], "empty_layer": True}
            if isinstance(item, tuple) and item[1]
            else {"created_by": item if isinstance(item, str) else item[0]}
            for item in (history or [])
        ],
    }
    config_bytes = json.dumps(config).encode()
    blobs[sha256(config_bytes)] = config_bytes
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": sha256(config_bytes),
            "size": len(config_bytes),
        },
        "layers": descriptors,
    }
    manifest_bytes = json.dumps(manifest).encode()
    blobs[sha256(manifest_bytes)] = manifest_bytes
    return BuiltImage(config, config_bytes, manifest, manifest_bytes, blobs, diff_ids, digests)


def write_oci_layout(
    root: Path, images: list[tuple[BuiltImage, str]], platforms: bool = False
) -> Path:
    """An OCI layout directory; each image tagged with its ref.name (empty: untagged)."""
    (root / "blobs" / "sha256").mkdir(parents=True, exist_ok=True)
    (root / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    manifests = []
    for image, tag in images:
        for digest, data in image.blobs.items():
            (root / "blobs" / "sha256" / digest.split(":")[1]).write_bytes(data)
        entry: dict[str, Any] = {
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": sha256(image.manifest_bytes),
            "size": len(image.manifest_bytes),
        }
        if tag:
            entry["annotations"] = {"org.opencontainers.image.ref.name": tag}
        if platforms:
            entry["platform"] = {"os": "linux", "architecture": image.config["architecture"]}
        manifests.append(entry)
    index: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
    }
    index["manifests"] = manifests
    (root / "index.json").write_text(json.dumps(index))
    return root


def tar_directory(root: Path, out: Path) -> Path:
    with tarfile.open(out, "w") as tar:
        for path in sorted(root.rglob("*")):
            tar.add(path, arcname=str(path.relative_to(root)), recursive=False)
    return out


def write_docker_archive(out: Path, images: list[tuple[BuiltImage, list[str]]]) -> Path:
    """`docker save` layout: manifest.json, <config hex>.json, <layer id>/layer.tar (plain)."""
    manifest = []
    with tarfile.open(out, "w") as tar:

        def add(name: str, data: bytes) -> None:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))

        for image, tags in images:
            config_name = sha256(image.config_bytes).split(":")[1] + ".json"
            add(config_name, image.config_bytes)
            layer_names = []
            for digest in image.layer_digests:
                raw = _decompress(image.blobs[digest])
                name = f"{sha256(raw).split(':')[1]}/layer.tar"
                add(name, raw)
                layer_names.append(name)
            manifest.append({"Config": config_name, "RepoTags": tags, "Layers": layer_names})
        add("manifest.json", json.dumps(manifest).encode())
    return out


def _decompress(blob: bytes) -> bytes:
    if blob[:2] == b"\x1f\x8b":
        return gzip.decompress(blob)
    if blob[:4] == b"\x28\xb5\x2f\xfd":
        return zstandard.ZstdDecompressor().decompress(blob, max_output_size=1 << 30)
    return blob


DPKG_STANZA = """Package: {name}
Status: install ok installed
Priority: optional
Architecture: amd64
Version: {version}
{extra}Description: test package {name}

"""


def dpkg_status(*packages: tuple[str, str] | tuple[str, str, str]) -> str:
    """A dpkg status file; a third item is extra fields ("Source: x\\n")."""
    out = []
    for item in packages:
        name, version = item[0], item[1]
        extra = item[2] if len(item) > 2 else ""
        out.append(DPKG_STANZA.format(name=name, version=version, extra=extra))
    return "".join(out)


DEBIAN_OS_RELEASE = """PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"
NAME="Debian GNU/Linux"
VERSION_ID="12"
VERSION="12 (bookworm)"
VERSION_CODENAME=bookworm
ID=debian
"""
