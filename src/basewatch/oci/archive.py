"""Docker archives (`docker-archive:PATH[:REPO:TAG]`): what `docker save` (or skopeo) writes.

`manifest.json` lists the images of the archive; the one asked for by tag (or the only one) is
read, its config verified against the digest its name carries, its layers read as they are
stored in the tar.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from basewatch.errors import ImageError, ImageNotFound, UsageError
from basewatch.models import SourceType
from basewatch.oci import jsondoc
from basewatch.oci.blobs import StoreImage
from basewatch.oci.digest import digest_bytes, verify_bytes
from basewatch.oci.interface import OpenImage
from basewatch.oci.manifest import image_info, layers_from_config, require_platform
from basewatch.oci.platform import Platform
from basewatch.oci.store import TarStore, read_small


class DockerArchiveSource:
    """`docker-archive:PATH[:repo:tag]`: the output of `docker save` (or skopeo's equivalent)."""

    def __init__(self, path: Path, tag: str = "", reference: str = "") -> None:
        self.path = path
        self.tag = tag
        self.reference = reference or f"docker-archive:{path}"

    @contextlib.contextmanager
    def open(self, platform: str | None = None) -> Iterator[OpenImage]:
        if not self.path.is_file():
            raise ImageNotFound(f"{self.path}: no such file")
        store = TarStore(self.path)
        try:
            image = self._read(store)
            if platform:
                require_platform(image.info, Platform.parse(platform), str(self.path))
            yield image
        finally:
            store.close()

    def _read(self, store: TarStore) -> StoreImage:
        label = store.label
        if not store.exists("manifest.json"):
            raise ImageError(f"{label}: not a docker archive (no manifest.json)")
        manifest = jsondoc.load(
            read_small(store, "manifest.json", "manifest"), f"{label}: manifest.json"
        )
        if not isinstance(manifest, list) or not manifest:
            raise ImageError(f"{label}: manifest.json lists no images (the archive is empty)")
        entries = [jsondoc.obj(m, f"{label}: manifest entry") for m in manifest]
        entry = self._pick(entries, label)
        config_name = entry.get("Config")
        if not isinstance(config_name, str):
            raise ImageError(f"{label}: manifest entry has no Config")
        config_data = read_small(store, config_name, "config")
        config_digest = digest_bytes(config_data)
        named = _digest_from_name(config_name)
        if named and named != config_digest:
            verify_bytes(config_data, named, f"{label}: config {config_name}")
        config = jsondoc.obj(jsondoc.load(config_data, f"{label}: config"), f"{label}: config")
        layer_names = entry.get("Layers")
        if not isinstance(layer_names, list) or not all(isinstance(n, str) for n in layer_names):
            raise ImageError(f"{label}: manifest entry has no Layers list")
        sources = jsondoc.optional_obj(entry.get("LayerSources"), f"{label}: LayerSources")
        blobs = []
        paths = {}
        for i, name in enumerate(layer_names):
            digest = _digest_from_name(name)
            media_type = ""
            source_info = sources.get(digest) if digest else None
            if isinstance(source_info, dict):
                media_type = jsondoc.strict_text(
                    source_info.get("mediaType"), f"{label}: LayerSources mediaType"
                )
            if not store.exists(name):
                raise ImageError(
                    f"{label}: the manifest names layer {name}, which is not in the archive"
                )
            blobs.append((digest, store.size(name), media_type))
            paths[i] = name
        layers = layers_from_config(config, label, blobs)
        info = image_info(
            self.reference,
            SourceType.DOCKER_ARCHIVE,
            config,
            config_digest,
            layers,
            repo_tags=jsondoc.texts(entry.get("RepoTags"), f"{label}: RepoTags"),
        )
        return StoreImage(store, info, paths)

    def _pick(self, entries: list[dict[str, Any]], label: str) -> dict[str, Any]:
        def tags_of(entry: dict[str, Any]) -> list[str]:
            tags = entry.get("RepoTags")
            return [t for t in tags if isinstance(t, str)] if isinstance(tags, list) else []

        if self.tag:
            wanted = {self.tag, f"docker.io/{self.tag}", f"docker.io/library/{self.tag}"}
            for entry in entries:
                if wanted & set(tags_of(entry)):
                    return entry
            available = sorted(t for e in entries for t in tags_of(e))
            raise ImageNotFound(
                f"{label}: no image tagged {self.tag!r}; "
                f"available: {', '.join(available) or 'none'}"
            )
        if len(entries) > 1:
            available = sorted(t for e in entries for t in tags_of(e))
            raise UsageError(
                f"{label} holds {len(entries)} images: pick one with "
                f"docker-archive:PATH:REPO:TAG ({', '.join(available) or 'untagged'})"
            )
        return entries[0]


def _digest_from_name(name: str) -> str:
    """sha256:HEX when a member name carries the digest (blobs/sha256/HEX, HEX.json, HEX.tar)."""
    stem = name.rsplit("/", 1)[-1].split(".", 1)[0]
    is_hex = len(stem) == 64 and all(c in "0123456789abcdef" for c in stem)
    if is_hex and (name.startswith("blobs/sha256/") or name.endswith((".json", ".tar"))):
        return f"sha256:{stem}"
    return ""
