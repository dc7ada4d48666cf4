"""Layers stored as blobs, read once and verified as they are read (`BlobLayer`), and images
whose layers are the blobs of a `FileStore` (`StoreImage`: OCI layouts, docker archives).

Local layouts, root filesystem tarballs and the registry's blob cache all read layers here.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import BinaryIO, cast

from basewatch.errors import DigestMismatch, ImageError
from basewatch.models import ImageInfo, LayerInfo
from basewatch.oci.digest import HashingReader, hash_stream
from basewatch.oci.interface import LayerReader
from basewatch.oci.layer import (
    BackgroundHash,
    FileEntry,
    Opener,
    TarLayerStream,
    is_plain_tar,
    tar_entries,
    translate_read_errors,
)
from basewatch.oci.store import FileStore
from basewatch.oci.tarstream import TarReader

_VERIFY_THREADS = 4  # hashlib releases the GIL: layers are hashed side by side


class BlobLayer:
    """A layer stored as a blob: hashed as stored and once decompressed.

    An uncompressed blob that can be reopened is hashed by a second reader in a thread while
    the tar is parsed with seeks, which skips the content nobody asked for; everything else is
    streamed once.
    """

    def __init__(
        self,
        raw: BinaryIO,
        layer: LayerInfo,
        label: str,
        reopen: Callable[[], BinaryIO] | None = None,
    ) -> None:
        self._what = f"{label}: layer {layer.index} ({layer.digest or layer.diff_id})"
        if layer.media_type.endswith("+encrypted"):
            raise ImageError(f"{self._what}: encrypted layers ({layer.media_type}) cannot be read")
        self._raw = raw
        self._layer = layer
        self._reopen = reopen
        self.diff_id = layer.diff_id

    def entries(self) -> Iterator[tuple[FileEntry, Opener | None]]:
        raw, layer = self._raw, self._layer
        if self._reopen is not None and _seekable(raw) and is_plain_tar(raw):
            yield from self._seekable_entries()
            return
        blob = HashingReader(raw, layer.digest, self._what) if layer.digest else None
        stream = TarLayerStream(cast(BinaryIO, blob) if blob else raw, self._what, layer.diff_id)
        yield from stream.entries()
        if blob is not None:
            blob.verify()
        self.diff_id = stream.diff_id

    def _seekable_entries(self) -> Iterator[tuple[FileEntry, Opener | None]]:
        assert self._reopen is not None
        what, layer = self._what, self._layer
        algorithm = (layer.diff_id or layer.digest or "sha256:").split(":", 1)[0]
        hashing = BackgroundHash(self._reopen, algorithm)
        try:
            with translate_read_errors(what):
                yield from tar_entries(TarReader(self._raw, what, seekable=True), what)
        finally:
            digest = hashing.result()
        # Uncompressed: the blob as stored is the tar, so one hash answers for both names.
        for expected, name in ((layer.diff_id, "diffID"), (layer.digest, "blob digest")):
            if expected and digest != expected:
                raise DigestMismatch(
                    f"{what}: content hashes to {digest}, but its {name} is {expected}"
                    " (the blob is corrupt or was tampered with)"
                )
        self.diff_id = digest


def _seekable(raw: BinaryIO) -> bool:
    try:
        return bool(raw.seekable())
    except (AttributeError, OSError):
        return False


class StoreImage:
    """An opened image whose layer `i` is the blob `paths[i]` of `store` (an `OpenImage` and a
    `VerifiableImage`)."""

    def __init__(self, store: FileStore, info: ImageInfo, paths: dict[int, str]) -> None:
        self.store = store
        self.info = info
        self._paths = paths

    def _name(self, layer: LayerInfo) -> str:
        name = self._paths[layer.index]
        if not self.store.exists(name):
            raise ImageError(
                f"{self.store.label}: the manifest names layer blob {layer.digest or name}, "
                "which is not in the image"
            )
        return name

    @contextlib.contextmanager
    def layer(self, layer: LayerInfo) -> Iterator[LayerReader]:
        name = self._name(layer)
        with self.store.open(name) as raw:
            yield BlobLayer(raw, layer, self.store.label, reopen=lambda: self.store.open(name))

    def verify_layers(self, layers: Sequence[LayerInfo]) -> list[str]:
        if len(layers) > 1 and self.store.independent_reads:
            with ThreadPoolExecutor(
                min(_VERIFY_THREADS, len(layers)), thread_name_prefix="basewatch-verify"
            ) as pool:
                return list(pool.map(self._verify, layers))
        return [self._verify(layer) for layer in layers]

    def _verify(self, layer: LayerInfo) -> str:
        what = f"{self.store.label}: layer {layer.index} ({layer.digest or layer.diff_id})"
        with self.store.open(self._name(layer)) as raw:
            plain = is_plain_tar(raw)
            # an uncompressed blob is the tar itself: its hash must also be the diffID
            claims = [(layer.digest, "blob digest")]
            if plain:
                claims.insert(0, (layer.diff_id, "diffID"))
            algorithm = next((d for d, _ in claims if d), "sha256:").split(":", 1)[0]
            digest = hash_stream(raw, algorithm)
        for expected, name in claims:
            if expected and expected.startswith(f"{algorithm}:") and digest != expected:
                raise DigestMismatch(
                    f"{what}: content hashes to {digest}, but its {name} is {expected}"
                    " (the blob is corrupt or was tampered with)"
                )
        return digest
