"""OCI image layouts (`oci:PATH[:TAG|@DIGEST]`): a layout directory, or a tar of one.

`index.json` is read, the image picked by tag, digest or platform (indexes may nest), and its
manifest, config and layers read from `blobs/`, every blob verified against its digest.
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
from basewatch.oci.digest import parse_digest, verify_bytes
from basewatch.oci.interface import OpenImage
from basewatch.oci.manifest import (
    DOCKER_SCHEMA1,
    image_info,
    is_index,
    layer_blobs,
    layers_from_config,
    pick_platform,
    ref_name,
    require_platform,
)
from basewatch.oci.platform import Platform
from basewatch.oci.store import DirStore, FileStore, TarStore, read_small


class OciLayoutSource:
    """`oci:PATH[:TAG|@DIGEST]`, PATH an OCI image layout directory or a tar of one."""

    def __init__(self, path: Path, tag: str = "", digest: str = "", reference: str = "") -> None:
        self.path = path
        self.tag = tag
        self.digest = digest
        self.reference = reference or f"oci:{path}"

    @contextlib.contextmanager
    def open(self, platform: str | None = None) -> Iterator[OpenImage]:
        store = open_store(self.path)
        try:
            yield self._read(store, Platform.parse(platform) if platform else None)
        finally:
            store.close()

    def _read(self, store: FileStore, wanted: Platform | None) -> StoreImage:
        label = store.label
        if not store.exists("oci-layout"):
            raise ImageError(f"{label}: not an OCI image layout (no oci-layout file)")
        index = jsondoc.obj(
            jsondoc.load(read_small(store, "index.json", "index"), f"{label}: index.json"), label
        )
        descriptor = self._pick_from_index(index, label, wanted)
        seen: set[str] = set()
        while True:
            media_type = jsondoc.strict_text(descriptor.get("mediaType"), f"{label}: mediaType")
            manifest_digest = parse_digest(descriptor.get("digest"), f"{label}: manifest digest")
            if manifest_digest in seen:
                raise ImageError(f"{label}: index {manifest_digest} refers to itself")
            seen.add(manifest_digest)
            data = self._blob(store, descriptor, "manifest")
            document = jsondoc.obj(jsondoc.load(data, f"{label}: {manifest_digest}"), label)
            media_type = jsondoc.strict_text(
                document.get("mediaType"), f"{label}: {manifest_digest} mediaType", media_type
            )
            if is_index(media_type, document):
                descriptor = pick_platform(
                    document, wanted or Platform.host(), label, explicit=bool(wanted)
                )
                continue
            if media_type == DOCKER_SCHEMA1:
                raise ImageError(f"{label}: Docker schema 1 manifests are not supported")
            break
        config_descriptor = jsondoc.obj(document.get("config"), f"{label}: manifest config")
        config_digest = parse_digest(config_descriptor.get("digest"), f"{label}: config digest")
        config_data = self._blob(store, config_descriptor, "config")
        config = jsondoc.obj(jsondoc.load(config_data, f"{label}: config"), f"{label}: config")
        if not isinstance(document.get("layers"), list):
            raise ImageError(f"{label}: manifest {manifest_digest} has no layers list")
        blobs = layer_blobs(document, label)
        paths = {i: blob_path(digest) for i, (digest, _, _) in enumerate(blobs)}
        layers = layers_from_config(config, label, blobs)
        info = image_info(
            self.reference,
            SourceType.OCI,
            config,
            config_digest,
            layers,
            manifest_digest=manifest_digest,
            annotations=jsondoc.str_map(
                document.get("annotations"), f"{label}: manifest annotations"
            ),
        )
        require_platform(info, wanted, label)
        return StoreImage(store, info, paths)

    @staticmethod
    def _blob(store: FileStore, descriptor: dict[str, Any], what: str) -> bytes:
        digest = parse_digest(descriptor.get("digest"), f"{store.label}: {what} digest")
        name = blob_path(digest)
        if not store.exists(name):
            raise ImageError(f"{store.label}: {what} blob {digest} is missing from the layout")
        data = read_small(store, name, what)
        verify_bytes(data, digest, f"{store.label}: {what} blob {digest}")
        return data

    def _pick_from_index(
        self, index: dict[str, Any], label: str, wanted: Platform | None
    ) -> dict[str, Any]:
        manifests = index.get("manifests")
        if not isinstance(manifests, list) or not manifests:
            raise ImageError(f"{label}: index.json lists no images (the layout is empty)")
        entries = [jsondoc.obj(m, f"{label}: index entry") for m in manifests]
        if self.digest:
            found = [m for m in entries if m.get("digest") == self.digest]
            if not found:
                raise ImageNotFound(f"{label}: no image with digest {self.digest}")
            return found[0]
        if self.tag:
            found = [m for m in entries if _ref_matches(m, self.tag)]
            if not found:
                raise ImageNotFound(f"{label}: no image tagged {self.tag!r} ({_tags(entries)})")
            return found[0]
        if len(entries) == 1:
            return entries[0]
        names = {ref_name(m) for m in entries}
        if len(names) > 1 or names != {""}:
            raise UsageError(
                f"{label} holds {len(entries)} images: "
                f"pick one with oci:PATH:TAG ({_tags(entries)})"
            )
        # Several untagged platform manifests side by side act as an index of their own.
        return pick_platform(
            {"manifests": entries}, wanted or Platform.host(), label, explicit=bool(wanted)
        )


def _ref_matches(descriptor: dict[str, Any], tag: str) -> bool:
    name = ref_name(descriptor)
    return name == tag or name.endswith(f":{tag}")


def _tags(entries: list[dict[str, Any]]) -> str:
    names = sorted(ref_name(m) for m in entries)
    return "tags: " + ", ".join(n or "(untagged)" for n in names)


def blob_path(digest: str) -> str:
    """Where a layout keeps the blob of `digest`: `blobs/ALGORITHM/HEX`."""
    algorithm, _, hexpart = digest.partition(":")
    return f"blobs/{algorithm}/{hexpart}"


def open_store(path: Path) -> FileStore:
    """The files of a layout directory, or of a tar of one; ImageNotFound when neither."""
    if path.is_dir():
        return DirStore(path)
    if path.is_file():
        return TarStore(path)
    raise ImageNotFound(f"{path}: no such file or directory")
