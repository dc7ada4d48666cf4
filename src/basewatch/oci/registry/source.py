"""`RegistrySource`: an image in a registry, read like a local one.

Manifests and configs are fetched (or, named by digest, taken from the blob cache), the platform
is picked from an index, and each layer is downloaded into the blob cache only when the scanner
opens it, so a layer whose analysis is cached is never transferred. Downloaded layers are then
streamed through the same verifying reader as the layers of a local OCI layout.
"""

from __future__ import annotations

import contextlib
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from basewatch.errors import ImageError, RegistryError
from basewatch.models import ImageInfo, LayerInfo, SourceType
from basewatch.oci import jsondoc
from basewatch.oci.blobs import BlobLayer
from basewatch.oci.digest import parse_digest
from basewatch.oci.interface import LayerReader, OpenImage
from basewatch.oci.manifest import (
    DOCKER_SCHEMA1,
    DOCKER_SCHEMA1_SIGNED,
    image_info,
    is_index,
    layers_from_config,
    pick_platform,
    platform_of,
    require_platform,
)
from basewatch.oci.platform import Platform
from basewatch.oci.reference import RegistryRef, parse_reference
from basewatch.oci.registry.blobcache import BlobCache, BlobStream
from basewatch.oci.registry.options import RegistryOptions
from basewatch.scratch import scratch_dir

if TYPE_CHECKING:
    from basewatch.oci.registry.client import RegistryClient


@dataclass(frozen=True, slots=True)
class Resolved:
    """What a reference points at: the index (if any) and the chosen platform's manifest."""

    reference: RegistryRef
    digest: str  # what the tag points at: an index or a manifest
    media_type: str
    manifest_digest: str  # the manifest of the chosen platform (== digest without an index)
    platform: str  # the chosen platform, "" when the registry does not say
    index_digest: str = ""
    platforms: tuple[tuple[str, str], ...] = ()  # (platform, manifest digest) of an index

    def to_dict(self) -> dict[str, Any]:
        return {
            "reference": str(self.reference),
            "digest": self.digest,
            "media_type": self.media_type,
            "index_digest": self.index_digest,
            "manifest_digest": self.manifest_digest,
            "platform": self.platform,
            "platforms": [{"platform": p, "digest": d} for p, d in self.platforms],
        }


@dataclass(frozen=True, slots=True)
class _Document:
    digest: str
    media_type: str
    data: dict[str, Any]


class _Puller:
    """Fetches manifests and small blobs, through the blob cache when it has them."""

    def __init__(self, client: RegistryClient, cache: BlobCache, ref: RegistryRef) -> None:
        self.client = client
        self.cache = cache
        self.ref = ref
        self.label = str(ref)
        self.max_document_bytes = client.options.max_document_bytes

    def document(self, target: str, head_first: bool = True) -> _Document:
        digest = target if target.startswith(("sha256:", "sha512:")) else ""
        media_type = ""
        if not digest and head_first:
            head = self.client.head_manifest(self.ref, target)
            if head is not None and head.digest:
                try:
                    digest = parse_digest(head.digest, f"{self.label}: Docker-Content-Digest")
                    media_type = head.media_type
                except ImageError:
                    digest = ""
        data = self.cache.read(digest, self.max_document_bytes) if digest else None
        if data is None:
            manifest = self.client.get_manifest(self.ref, digest or target)
            data, digest = manifest.data, manifest.digest
            media_type = manifest.media_type or media_type
            self.cache.put(digest, data)
        document = jsondoc.obj(
            jsondoc.load(data, f"{self.label}: manifest {digest}"),
            f"{self.label}: manifest {digest}",
        )
        media_type = str(document.get("mediaType") or media_type)
        if (
            media_type in (DOCKER_SCHEMA1, DOCKER_SCHEMA1_SIGNED)
            or document.get("schemaVersion") == 1
        ):
            raise ImageError(
                f"{self.label}: the registry serves a Docker schema 1 manifest, which basewatch "
                "does not read (it is deprecated and unverifiable); push the image again with a "
                "current Docker, buildah or skopeo to get an OCI or schema 2 manifest"
            )
        return _Document(digest, media_type, document)

    def small_blob(self, digest: str, what: str, size: int) -> bytes:
        data = self.cache.read(digest, size)
        if data is None:
            data = self.client.get_blob(self.ref, digest, what, size)
            self.cache.put(digest, data)
        return data


def _resolve(puller: _Puller, platform: str | None) -> tuple[Resolved, _Document]:
    ref = puller.ref
    wanted = Platform.parse(platform) if platform else None
    top = puller.document(ref.target)
    document, index_digest, chosen = top, "", ""
    platforms: tuple[tuple[str, str], ...] = ()
    seen = {top.digest}
    while is_index(document.media_type, document.data):
        index_digest = document.digest
        entries = [m for m in document.data.get("manifests") or [] if isinstance(m, dict)]
        platforms = tuple(
            (platform_of(m), str(m.get("digest", "")))
            for m in entries
            if dict(jsondoc.str_map(m.get("annotations"), "index entry annotations")).get(
                "vnd.docker.reference.type"
            )
            != "attestation-manifest"
        )
        descriptor = pick_platform(
            document.data, wanted or Platform.host(), puller.label, explicit=bool(wanted)
        )
        chosen = platform_of(descriptor)
        digest = parse_digest(descriptor.get("digest"), f"{puller.label}: index entry digest")
        if digest in seen:
            raise ImageError(f"{puller.label}: index {digest} refers to itself")
        seen.add(digest)
        document = puller.document(digest)
    resolved = Resolved(
        reference=ref,
        digest=top.digest,
        media_type=top.media_type,
        manifest_digest=document.digest,
        platform=chosen,
        index_digest=index_digest,
        platforms=platforms,
    )
    return resolved, document


class RegistryImage:
    """An opened registry image; layers are downloaded on demand, or ahead with `prefetch`."""

    def __init__(
        self,
        info: ImageInfo,
        resolved: Resolved,
        client: RegistryClient,
        cache: BlobCache,
        parallel: int,
        attempts: int,
    ) -> None:
        self.info = info
        self.resolved = resolved
        self._client = client
        self._cache = cache
        self._parallel = max(parallel, 1)
        self._attempts = attempts
        self._futures: dict[str, Future[Path]] = {}
        self._executor: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()
        self._closed = threading.Event()

    def prefetch(self, layers: Iterable[LayerInfo]) -> None:
        """Start downloading these layers, at most `parallel` at a time."""
        with self._lock:
            for layer in layers:
                if not layer.digest or layer.digest in self._futures:
                    continue
                if self._cache.get(layer.digest) is not None:
                    continue
                if self._executor is None:
                    self._executor = ThreadPoolExecutor(
                        self._parallel, thread_name_prefix="basewatch-pull"
                    )
                self._futures[layer.digest] = self._executor.submit(self._download, layer)

    def _download(self, layer: LayerInfo) -> Path:
        from basewatch.oci.registry.deadline import cancellable

        ref = self.resolved.reference
        digest = layer.digest
        # the size was checked when the manifest was read: never more than that is received;
        # closing the image interrupts even a read that waits for a stalled server
        with cancellable(self._closed):
            return self._cache.fetch(
                digest,
                lambda offset: self._open_blob(digest, offset, layer.size),
                size=layer.size,
                attempts=self._attempts,
                what=f"{ref}: layer {layer.index} ({digest})",
            )

    @contextlib.contextmanager
    def _open_blob(self, digest: str, offset: int, size: int) -> Iterator[BlobStream]:
        with self._client.open_blob(self.resolved.reference, digest, offset, size) as stream:
            yield BlobStream(stream.start, self._unless_closed(stream.chunks))

    def _unless_closed(self, chunks: Iterator[bytes]) -> Iterator[bytes]:
        # a prefetch still running when the scan ends (an error, Ctrl-C) stops at the next chunk
        for chunk in chunks:
            if self._closed.is_set():
                raise RegistryError(f"{self.info.reference}: download cancelled")
            yield chunk

    def blob_path(self, layer: LayerInfo) -> Path:
        """The verified layer blob in the cache, downloading it if needed."""
        if not layer.digest:
            raise ImageError(f"{self.info.reference}: layer {layer.index} has no digest")
        with self._lock:
            future = self._futures.pop(layer.digest, None)
        if future is not None:
            path = future.result()
            if path.is_file():
                return path
        return self._cache.get(layer.digest) or self._download(layer)

    @contextlib.contextmanager
    def layer(self, layer: LayerInfo) -> Iterator[LayerReader]:
        path = self.blob_path(layer)
        label = str(self.resolved.reference)
        with path.open("rb") as raw:
            yield BlobLayer(raw, layer, label, reopen=lambda: path.open("rb"))

    def close(self) -> None:
        self._closed.set()
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            for future in self._futures.values():
                if future.done() and not future.cancelled():
                    future.exception()  # a prefetch nobody asked for: its error is moot
            self._futures.clear()


LayerFilter = Callable[[LayerInfo], bool]


class RegistrySource:
    """`[registry:]HOST/NAME[:TAG][@DIGEST]`: an image pulled from an OCI distribution registry.

    `prefetch`, when set, says which layers will be read; those are downloaded in parallel as
    soon as the image is opened (the CLI sets it to "the analysis of this layer is not cached").
    `client`, when given, is used (never closed) instead of a client made for each pull, so
    that its connections and tokens serve every image its owner reads; `options` default to
    the client's.
    """

    def __init__(
        self,
        ref: RegistryRef | str,
        options: RegistryOptions | None = None,
        reference: str = "",
        prefetch: LayerFilter | None = None,
        client: RegistryClient | None = None,
    ) -> None:
        self.ref = parse_reference(ref) if isinstance(ref, str) else ref
        self.options = options or (client.options if client is not None else RegistryOptions())
        self.reference = reference or str(self.ref)
        self.prefetch = prefetch
        self.client = client

    @contextlib.contextmanager
    def _session(self) -> Iterator[tuple[RegistryClient, BlobCache]]:
        options = self.options
        # No cache directory given: nothing is kept, and the scratch area is the system's.
        root = options.cache_dir if options.cache_dir is not None else Path(tempfile.gettempdir())
        with contextlib.ExitStack() as stack:
            if options.use_cache and options.cache_dir is not None:
                cache = BlobCache(root, options.max_cache_bytes)
            else:
                # Without the cache, blobs go to the cache's scratch area, never the system's
                # /tmp: removed when the pull ends (SIGTERM too), and swept by the next run
                # after a SIGKILL.

                scratch = stack.enter_context(scratch_dir(root, prefix="pull-"))
                cache = BlobCache(scratch, max_bytes=0)
            client = self.client
            if client is None:
                from basewatch.oci.registry.client import RegistryClient  # httpx: when pulling

                client = stack.enter_context(RegistryClient(options))
            yield client, cache

    def resolve(self, platform: str | None = None) -> Resolved:
        """The digests the reference resolves to (HEAD requests where the registry allows)."""
        with self._session() as (client, cache):
            resolved, _ = _resolve(_Puller(client, cache, self.ref), platform)
            return resolved

    @contextlib.contextmanager
    def open(self, platform: str | None = None) -> Iterator[OpenImage]:
        with self._session() as (client, cache):
            puller = _Puller(client, cache, self.ref)
            resolved, document = _resolve(puller, platform)
            image = self._image(puller, resolved, document, platform)
            try:
                if self.prefetch is not None:
                    image.prefetch(layer for layer in image.info.layers if self.prefetch(layer))
                yield image
            finally:
                image.close()

    def _image(
        self, puller: _Puller, resolved: Resolved, document: _Document, platform: str | None
    ) -> RegistryImage:
        label = puller.label
        manifest = document.data
        config_descriptor = jsondoc.obj(manifest.get("config"), f"{label}: manifest config")
        config_digest = parse_digest(config_descriptor.get("digest"), f"{label}: config digest")
        config_size = _declared_size(
            config_descriptor, self.options.max_document_bytes, f"{label}: config {config_digest}"
        )
        config_data = puller.small_blob(config_digest, "config", config_size)
        config = jsondoc.obj(
            jsondoc.load(config_data, f"{label}: config {config_digest}"), f"{label}: config"
        )
        descriptors = manifest.get("layers")
        if not isinstance(descriptors, list):
            raise ImageError(f"{label}: manifest {document.digest} has no layers list")
        blobs = []
        for i, item in enumerate(descriptors):
            item = jsondoc.obj(item, f"{label}: layer descriptor {i}")
            digest = parse_digest(item.get("digest"), f"{label}: layer {i} digest")
            size = _declared_size(
                item, self.options.max_layer_bytes, f"{label}: layer {i} ({digest})"
            )
            blobs.append((digest, size, str(item.get("mediaType", ""))))
        layers = layers_from_config(config, label, blobs)
        info = image_info(
            self.reference,
            SourceType.REGISTRY,
            config,
            config_digest,
            layers,
            manifest_digest=document.digest,
            annotations=jsondoc.str_map(manifest.get("annotations"), "annotations"),
            repo_tags=(str(self.ref),) if self.ref.tag else (),
        )
        require_platform(info, Platform.parse(platform) if platform else None, label)
        options = self.options
        return RegistryImage(
            info, resolved, puller.client, puller.cache, options.parallel, options.retries + 1
        )


def _declared_size(descriptor: dict[str, Any], limit: int, what: str) -> int:
    """The descriptor's `size`, which bounds what is downloaded: refused when it is missing,
    not a count, or over `limit`."""
    size = descriptor.get("size")
    if isinstance(size, bool) or not isinstance(size, int):
        given = "none" if size is None else repr(size)
        raise ImageError(
            f"{what}: the manifest gives no valid size ({given}), so basewatch cannot bound "
            "the download; the manifest is broken or hostile"
        )
    if size < 0 or size > limit:
        raise ImageError(
            f"{what}: the manifest says it has {size} bytes, outside 0 to {limit}; refused "
            "(the manifest is broken or hostile)"
        )
    return size


def resolve(
    reference: str | RegistryRef,
    platform: str | None = None,
    options: RegistryOptions | None = None,
    client: RegistryClient | None = None,
) -> Resolved:
    """Resolve a registry reference to its index and platform-manifest digests (through
    `client` when given: see `RegistrySource`)."""
    return RegistrySource(reference, options, client=client).resolve(platform)
