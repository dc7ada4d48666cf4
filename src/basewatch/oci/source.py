"""Image sources: one `ImageSource` interface over every way an image can be stored locally.

`open_source(reference)` picks the source from its prefix (`docker-archive:`, `oci:`, `dir:`,
`rootfs:`) or, for a bare path, from what the path contains.
"""

from __future__ import annotations

import contextlib
import hashlib
import platform as host_platform
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, Protocol, cast, runtime_checkable

from basewatch.errors import DigestMismatch, ImageError, ImageNotFound, UsageError
from basewatch.models import ImageInfo, LayerInfo
from basewatch.oci import jsondoc
from basewatch.oci.digest import (
    HashingReader,
    digest_bytes,
    hash_stream,
    parse_digest,
    verify_bytes,
)
from basewatch.oci.layer import (
    BackgroundHash,
    FileEntry,
    Opener,
    TarLayerStream,
    is_plain_tar,
    iter_dir_entries,
    tar_entries,
    translate_read_errors,
)
from basewatch.oci.store import DirStore, FileStore, TarStore, read_small
from basewatch.oci.tarstream import TarReader

if TYPE_CHECKING:
    from basewatch.oci.registry.options import RegistryOptions

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
INDEX_TYPES = (OCI_INDEX, DOCKER_LIST)
MANIFEST_TYPES = (OCI_MANIFEST, DOCKER_MANIFEST)
REF_NAME = "org.opencontainers.image.ref.name"
PREFIXES = ("docker-archive", "oci", "dir", "rootfs")


class LayerReader(Protocol):
    """Entries of one layer, streamed once; `diff_id` is known once the stream is exhausted."""

    diff_id: str

    def entries(self) -> Iterator[tuple[FileEntry, Opener | None]]: ...


class OpenImage(Protocol):
    """An image whose manifest and config have been read and verified."""

    info: ImageInfo

    def layer(self, layer: LayerInfo) -> contextlib.AbstractContextManager[LayerReader]:
        """Open one layer for a single forward pass; blob digest and diffID are verified."""
        ...


@runtime_checkable
class VerifiableImage(Protocol):
    """An image whose layers are stored locally, so that their bytes can be checked again.

    A cached analysis may stand in for reading a layer, never for checking it: an image can
    claim any diffID in its config. The scanner hashes the stored bytes first, then uses the
    cached results only for the content those bytes are known to hold.
    """

    def verify_layers(self, layers: Sequence[LayerInfo]) -> list[str]:
        """The digest of each layer's bytes as stored (hashed now), in order. Raises
        DigestMismatch when they are not what the image says: the layer's blob digest, or for
        an uncompressed layer (where the blob is the tar) its diffID. "" for a layer that has
        nothing to check against (a `dir:` source)."""
        ...


class ImageSource(Protocol):
    """Where an image comes from. `open` reads and verifies its metadata."""

    reference: str

    def open(self, platform: str | None = None) -> contextlib.AbstractContextManager[OpenImage]: ...


# --- platforms -----------------------------------------------------------------------------------

_MACHINES = {
    "x86_64": ("amd64", ""),
    "amd64": ("amd64", ""),
    "aarch64": ("arm64", ""),
    "arm64": ("arm64", ""),
    "armv7l": ("arm", "v7"),
    "armv6l": ("arm", "v6"),
    "i386": ("386", ""),
    "i686": ("386", ""),
    "ppc64le": ("ppc64le", ""),
    "s390x": ("s390x", ""),
    "riscv64": ("riscv64", ""),
}


@dataclass(frozen=True, slots=True)
class Platform:
    os: str
    architecture: str
    variant: str = ""

    @classmethod
    def parse(cls, text: str) -> Platform:
        parts = text.strip().split("/")
        if len(parts) not in (2, 3) or not all(parts):
            raise UsageError(f"--platform {text!r}: expected OS/ARCH[/VARIANT], e.g. linux/arm64")
        return cls(parts[0], parts[1], parts[2] if len(parts) == 3 else "")

    @classmethod
    def host(cls) -> Platform:
        arch, variant = _MACHINES.get(
            host_platform.machine().lower(), (host_platform.machine(), "")
        )
        return cls("linux", arch, variant)

    def matches(self, data: dict[str, Any]) -> bool:
        if data.get("os") != self.os or data.get("architecture") != self.architecture:
            return False
        variant = data.get("variant") if isinstance(data.get("variant"), str) else ""
        if self.variant and variant and variant != self.variant:
            return False
        return not (self.variant and not variant and self.architecture == "arm")

    def __str__(self) -> str:
        return "/".join(p for p in (self.os, self.architecture, self.variant) if p)


# --- helpers shared by OCI layouts and docker archives -------------------------------------------


# Image JSON is parsed and read through `jsondoc` only (see there for what is refused and what
# is dropped with a warning); these names stay for the registry source, which shares them.
_json = jsondoc.load
_object = jsondoc.obj


def _str_pairs(value: Any, what: str = "annotations") -> tuple[tuple[str, str], ...]:
    return jsondoc.str_map(value, what)


def _annotations(descriptor: dict[str, Any]) -> dict[str, Any]:
    """A descriptor's annotations, {} when missing or not an object (as in `[]`)."""
    value = descriptor.get("annotations")
    return value if isinstance(value, dict) else {}


def layer_blobs(manifest: dict[str, Any], what: str) -> list[tuple[str, int, str]]:
    """(digest, size, mediaType) of each layer a manifest lists, every field checked."""
    blobs = []
    for i, item in enumerate(jsondoc.objects(manifest.get("layers"), f"{what}: manifest layers")):
        where = f"{what}: layer descriptor {i}"
        blobs.append(
            (
                parse_digest(item.get("digest"), f"{where} digest"),
                jsondoc.size(item.get("size"), f"{where} size"),
                jsondoc.strict_text(item.get("mediaType"), f"{where} mediaType"),
            )
        )
    return blobs


def _layers_from_config(
    config: dict[str, Any], what: str, blobs: list[tuple[str, int, str]]
) -> tuple[LayerInfo, ...]:
    """Pair the config's diffIDs and history with the manifest's layer blobs."""
    rootfs = _object(config.get("rootfs"), f"{what}: config rootfs")
    diff_ids = rootfs.get("diff_ids")
    if not isinstance(diff_ids, list):
        raise ImageError(f"{what}: config has no rootfs.diff_ids list")
    if len(diff_ids) != len(blobs):
        raise ImageError(
            f"{what}: the manifest lists {len(blobs)} layers but the config {len(diff_ids)} diffIDs"
        )
    for i, (_, size, _) in enumerate(blobs):  # also for callers that read descriptors themselves
        jsondoc.size(size, f"{what}: layer {i} size")
    history = jsondoc.optional_list(config.get("history"), f"{what}: config history")
    created: list[tuple[str, tuple[str, ...]]] = []
    pending: list[str] = []
    for item in history:
        if not isinstance(item, dict):
            continue
        line = jsondoc.text(item.get("created_by"), f"{what}: config history created_by")
        if item.get("empty_layer"):
            pending.append(line)
        else:
            created.append((line, tuple(pending)))
            pending = []
    if len(created) != len(blobs):
        created = [("", ())] * len(blobs)  # history that does not line up says nothing reliable
    layers = []
    for index, (diff_id, (digest, size, media_type), (line, empty)) in enumerate(
        zip(diff_ids, blobs, created, strict=True)
    ):
        layers.append(
            LayerInfo(
                index=index,
                diff_id=parse_digest(diff_id, f"{what}: diffID of layer {index}"),
                digest=digest,
                size=size,
                media_type=media_type,
                created_by=line,
                empty_history=empty,
            )
        )
    return tuple(layers)


def _image_info(
    reference: str,
    source_type: str,
    config: dict[str, Any],
    config_digest: str,
    layers: tuple[LayerInfo, ...],
    manifest_digest: str = "",
    annotations: tuple[tuple[str, str], ...] = (),
    repo_tags: tuple[str, ...] = (),
) -> ImageInfo:
    what = f"{reference}: config"
    inner = jsondoc.optional_obj(config.get("config"), f"{what} config")
    return ImageInfo(
        reference=reference,
        source_type=source_type,
        manifest_digest=manifest_digest,
        config_digest=config_digest,
        os=jsondoc.text(config.get("os"), f"{what} os"),
        architecture=jsondoc.text(config.get("architecture"), f"{what} architecture"),
        variant=jsondoc.text(config.get("variant"), f"{what} variant"),
        created=jsondoc.text(config.get("created"), f"{what} created"),
        layers=layers,
        labels=jsondoc.str_map(inner.get("Labels"), f"{what} Labels"),
        env=jsondoc.texts(inner.get("Env"), f"{what} Env"),
        annotations=annotations,
        repo_tags=repo_tags,
    )


class _BlobLayer:
    """A layer stored as a blob of a FileStore: hashed as stored and once decompressed.

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


_VERIFY_THREADS = 4  # hashlib releases the GIL: layers are hashed side by side


class _StoreImage:
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
            yield _BlobLayer(raw, layer, self.store.label, reopen=lambda: self.store.open(name))

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


# --- OCI image layout ----------------------------------------------------------------------------


class OciLayoutSource:
    """`oci:PATH[:TAG|@DIGEST]`, PATH an OCI image layout directory or a tar of one."""

    def __init__(self, path: Path, tag: str = "", digest: str = "", reference: str = "") -> None:
        self.path = path
        self.tag = tag
        self.digest = digest
        self.reference = reference or f"oci:{path}"

    @contextlib.contextmanager
    def open(self, platform: str | None = None) -> Iterator[OpenImage]:
        store = _open_store(self.path)
        try:
            yield self._read(store, Platform.parse(platform) if platform else None)
        finally:
            store.close()

    def _read(self, store: FileStore, wanted: Platform | None) -> _StoreImage:
        label = store.label
        if not store.exists("oci-layout"):
            raise ImageError(f"{label}: not an OCI image layout (no oci-layout file)")
        index = _object(
            _json(read_small(store, "index.json", "index"), f"{label}: index.json"), label
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
            document = _object(_json(data, f"{label}: {manifest_digest}"), label)
            media_type = jsondoc.strict_text(
                document.get("mediaType"), f"{label}: {manifest_digest} mediaType", media_type
            )
            if media_type in INDEX_TYPES or (not media_type and "manifests" in document):
                descriptor = _pick_platform(
                    document, wanted or Platform.host(), label, explicit=bool(wanted)
                )
                continue
            if media_type == "application/vnd.docker.distribution.manifest.v1+json":
                raise ImageError(f"{label}: Docker schema 1 manifests are not supported")
            break
        config_descriptor = _object(document.get("config"), f"{label}: manifest config")
        config_digest = parse_digest(config_descriptor.get("digest"), f"{label}: config digest")
        config_data = self._blob(store, config_descriptor, "config")
        config = _object(_json(config_data, f"{label}: config"), f"{label}: config")
        if not isinstance(document.get("layers"), list):
            raise ImageError(f"{label}: manifest {manifest_digest} has no layers list")
        blobs = layer_blobs(document, label)
        paths = {i: _blob_path(digest) for i, (digest, _, _) in enumerate(blobs)}
        layers = _layers_from_config(config, label, blobs)
        info = _image_info(
            self.reference,
            "oci",
            config,
            config_digest,
            layers,
            manifest_digest=manifest_digest,
            annotations=_str_pairs(document.get("annotations"), f"{label}: manifest annotations"),
        )
        if (
            wanted is not None
            and info.os
            and not wanted.matches(
                {"os": info.os, "architecture": info.architecture, "variant": info.variant}
            )
        ):
            raise ImageNotFound(f"{label}: the image is {info.platform}, not {wanted}")
        return _StoreImage(store, info, paths)

    @staticmethod
    def _blob(store: FileStore, descriptor: dict[str, Any], what: str) -> bytes:
        digest = parse_digest(descriptor.get("digest"), f"{store.label}: {what} digest")
        name = _blob_path(digest)
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
        entries = [_object(m, f"{label}: index entry") for m in manifests]
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
        names = {_ref_name(m) for m in entries}
        if len(names) > 1 or names != {""}:
            raise UsageError(
                f"{label} holds {len(entries)} images: "
                f"pick one with oci:PATH:TAG ({_tags(entries)})"
            )
        # Several untagged platform manifests side by side act as an index of their own.
        return _pick_platform(
            {"manifests": entries}, wanted or Platform.host(), label, explicit=bool(wanted)
        )


def _ref_name(descriptor: dict[str, Any]) -> str:
    name = _annotations(descriptor).get(REF_NAME)
    return name if isinstance(name, str) else ""


def _ref_matches(descriptor: dict[str, Any], tag: str) -> bool:
    name = _ref_name(descriptor)
    return name == tag or name.endswith(f":{tag}")


def _tags(entries: list[dict[str, Any]]) -> str:
    names = sorted(_ref_name(m) for m in entries)
    return "tags: " + ", ".join(n or "(untagged)" for n in names)


def _pick_platform(
    index: dict[str, Any], wanted: Platform, label: str, explicit: bool
) -> dict[str, Any]:
    listed = jsondoc.optional_list(index.get("manifests"), f"{label}: index manifests")
    manifests = [m for m in listed if isinstance(m, dict)]
    candidates = []
    for item in manifests:
        if _annotations(item).get("vnd.docker.reference.type") == "attestation-manifest":
            continue
        candidates.append(item)
    with_platform = [m for m in candidates if isinstance(m.get("platform"), dict)]
    for item in with_platform:
        if wanted.matches(item["platform"]):
            return item
    if not with_platform and len(candidates) == 1:
        return candidates[0]
    offered = sorted(
        str(
            Platform(
                jsondoc.text(p.get("os"), f"{label}: platform os"),
                jsondoc.text(p.get("architecture"), f"{label}: platform architecture"),
                jsondoc.text(p.get("variant"), f"{label}: platform variant"),
            )
        )
        for p in (m["platform"] for m in with_platform)
    )
    hint = "" if explicit else " (the host's; choose with --platform)"
    raise ImageNotFound(
        f"{label}: no image for platform {wanted}{hint}; available: {', '.join(offered) or 'none'}"
    )


def _blob_path(digest: str) -> str:
    algorithm, _, hexpart = digest.partition(":")
    return f"blobs/{algorithm}/{hexpart}"


def _open_store(path: Path) -> FileStore:
    if path.is_dir():
        return DirStore(path)
    if path.is_file():
        return TarStore(path)
    raise ImageNotFound(f"{path}: no such file or directory")


# --- docker save archives ------------------------------------------------------------------------


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
            if platform and image.info.os:
                wanted = Platform.parse(platform)
                info = image.info
                if not wanted.matches(
                    {"os": info.os, "architecture": info.architecture, "variant": info.variant}
                ):
                    raise ImageNotFound(f"{self.path}: the image is {info.platform}, not {wanted}")
            yield image
        finally:
            store.close()

    def _read(self, store: TarStore) -> _StoreImage:
        label = store.label
        if not store.exists("manifest.json"):
            raise ImageError(f"{label}: not a docker archive (no manifest.json)")
        manifest = _json(read_small(store, "manifest.json", "manifest"), f"{label}: manifest.json")
        if not isinstance(manifest, list) or not manifest:
            raise ImageError(f"{label}: manifest.json lists no images (the archive is empty)")
        entries = [_object(m, f"{label}: manifest entry") for m in manifest]
        entry = self._pick(entries, label)
        config_name = entry.get("Config")
        if not isinstance(config_name, str):
            raise ImageError(f"{label}: manifest entry has no Config")
        config_data = read_small(store, config_name, "config")
        config_digest = digest_bytes(config_data)
        named = _digest_from_name(config_name)
        if named and named != config_digest:
            verify_bytes(config_data, named, f"{label}: config {config_name}")
        config = _object(_json(config_data, f"{label}: config"), f"{label}: config")
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
        layers = _layers_from_config(config, label, blobs)
        info = _image_info(
            self.reference,
            "docker-archive",
            config,
            config_digest,
            layers,
            repo_tags=jsondoc.texts(entry.get("RepoTags"), f"{label}: RepoTags"),
        )
        return _StoreImage(store, info, paths)

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


# --- root filesystems ----------------------------------------------------------------------------


class _SingleLayerImage:
    def __init__(self, info: ImageInfo, reader_factory: Any) -> None:
        self.info = info
        self._factory = reader_factory

    def verify_layers(self, layers: Sequence[LayerInfo]) -> list[str]:
        # A root filesystem tarball's digest was computed from its bytes when it was opened
        # (a `dir:` source has none, and is never cached).
        return [layer.digest for layer in layers]

    @contextlib.contextmanager
    def layer(self, layer: LayerInfo) -> Iterator[LayerReader]:
        with self._factory() as reader:
            yield reader


class _DirLayer:
    def __init__(self, root: Path) -> None:
        self._root = root
        self.diff_id = ""

    def entries(self) -> Iterator[tuple[FileEntry, Opener | None]]:
        return iter_dir_entries(str(self._root))


class DirSource:
    """`dir:PATH`: an unpacked root filesystem on the host, read as one layer."""

    def __init__(self, path: Path, reference: str = "") -> None:
        self.path = path
        self.reference = reference or f"dir:{path}"

    @contextlib.contextmanager
    def open(self, platform: str | None = None) -> Iterator[OpenImage]:
        if not self.path.is_dir():
            raise ImageNotFound(f"{self.path}: no such directory")
        info = ImageInfo(
            reference=self.reference,
            source_type="dir",
            layers=(LayerInfo(index=0, diff_id=""),),
        )

        @contextlib.contextmanager
        def reader() -> Iterator[LayerReader]:
            yield _DirLayer(self.path)

        yield _SingleLayerImage(info, reader)


class RootfsSource:
    """`rootfs:PATH.tar[.gz|.zst]`: a root filesystem tarball, read as a one-layer image.

    Its diffID is only known after reading it, so the layer is identified by the digest of
    the file as stored (`digest`), which is what the analysis cache is keyed by.
    """

    def __init__(self, path: Path, reference: str = "") -> None:
        self.path = path
        self.reference = reference or f"rootfs:{path}"

    @contextlib.contextmanager
    def open(self, platform: str | None = None) -> Iterator[OpenImage]:
        if not self.path.is_file():
            raise ImageNotFound(f"{self.path}: no such file")
        hasher = hashlib.sha256()
        with self.path.open("rb") as handle:
            while chunk := handle.read(1 << 20):
                hasher.update(chunk)
        digest = f"sha256:{hasher.hexdigest()}"
        size = self.path.stat().st_size
        layer = LayerInfo(index=0, diff_id="", digest=digest, size=size)
        info = ImageInfo(reference=self.reference, source_type="rootfs", layers=(layer,))
        label = str(self.path)

        @contextlib.contextmanager
        def reader() -> Iterator[LayerReader]:
            with self.path.open("rb") as raw:
                yield _BlobLayer(raw, layer, label, reopen=lambda: self.path.open("rb"))

        yield _SingleLayerImage(info, reader)


# --- references ----------------------------------------------------------------------------------


def open_source(
    reference: str,
    registry: RegistryOptions | None = None,
    registry_defaults: Callable[[], RegistryOptions] | None = None,
) -> ImageSource:
    """The ImageSource for a user's reference; raises UsageError/ImageNotFound when unusable.

    `registry:REF`, and any reference that names no local path but parses as an image
    reference (`debian:bookworm`), is pulled from a registry with the `registry` options, or
    those `registry_defaults` makes (called only for registry references, so local scans never
    import the registry client).
    """
    if registry is None and registry_defaults is not None and not _is_local(reference):
        registry = registry_defaults()
    prefix, sep, rest = reference.partition(":")
    if sep and prefix == "registry":
        return _registry_source(rest, reference, registry)
    if sep and prefix in PREFIXES:
        if not rest:
            raise UsageError(f"{reference!r}: a path must follow '{prefix}:'")
        match prefix:
            case "docker-archive":
                path, selector = _split_existing(rest)
                return DockerArchiveSource(path, selector, reference)
            case "oci":
                return _oci_source(rest, reference)
            case "dir":
                return DirSource(Path(rest), reference)
            case "rootfs":
                return RootfsSource(Path(rest), reference)
    return _detect(reference, registry)


def _split_existing(rest: str) -> tuple[Path, str]:
    """Split PATH[:SELECTOR]; PATH may contain colons, so the longest existing path wins."""
    if Path(rest).exists():
        return Path(rest), ""
    cut = len(rest)
    while (cut := rest.rfind(":", 0, cut)) > 0:
        if Path(rest[:cut]).exists():
            return Path(rest[:cut]), rest[cut + 1 :]
    return Path(rest), ""


def _oci_source(rest: str, reference: str) -> OciLayoutSource:
    if "@" in rest:
        path_text, _, digest = rest.rpartition("@")
        if Path(path_text).exists() or not Path(rest).exists():
            return OciLayoutSource(
                Path(path_text), digest=parse_digest(digest, reference), reference=reference
            )
    path, tag = _split_existing(rest)
    return OciLayoutSource(path, tag=tag, reference=reference)


def _registry_source(rest: str, reference: str, registry: RegistryOptions | None) -> ImageSource:
    from basewatch.oci.registry.source import RegistrySource

    if not rest:
        raise UsageError(f"{reference!r}: an image reference must follow 'registry:'")
    return RegistrySource(rest, registry, reference=reference)


def _is_local(reference: str) -> bool:
    prefix, sep, _ = reference.partition(":")
    return (bool(sep) and prefix in PREFIXES) or Path(reference).exists()


_PATH_SUFFIXES = (".tar", ".tgz", ".gz", ".zst", ".tar.gz", ".tar.zst", ".json")


def _looks_like_path(reference: str) -> bool:
    if reference.startswith(("/", ".", "~")) or "\\" in reference:
        return True
    last = reference.rsplit("/", 1)[-1]
    return last.endswith(_PATH_SUFFIXES)


def _detect(reference: str, registry: RegistryOptions | None = None) -> ImageSource:
    path = Path(reference)
    if not path.exists():
        if ":" in reference or "/" in reference:
            path, _selector = _split_existing(reference)
            if path.exists():
                return _detect_path(path, reference, _selector)
        if not _looks_like_path(reference):
            from basewatch.oci.reference import looks_like_reference

            if looks_like_reference(reference):
                return _registry_source(reference, reference, registry)
        raise ImageNotFound(
            f"{reference!r}: no such file or directory (prefix it with docker-archive:, oci:, "
            "dir: or rootfs: to say what it is, or registry: for an image in a registry)"
        )
    return _detect_path(path, reference, "")


def _detect_path(path: Path, reference: str, selector: str) -> ImageSource:
    if path.is_dir():
        if (path / "oci-layout").is_file():
            return OciLayoutSource(path, tag=selector, reference=reference)
        return DirSource(path, reference)
    with path.open("rb") as handle:
        head = handle.read(4)
    if head.startswith(b"\x1f\x8b") or head == b"\x28\xb5\x2f\xfd":
        return RootfsSource(path, reference)
    store = TarStore(path)
    try:
        if store.exists("oci-layout") and not store.exists("manifest.json"):
            return OciLayoutSource(path, tag=selector, reference=reference)
        if store.exists("manifest.json"):
            return DockerArchiveSource(path, selector, reference)
        if store.exists("oci-layout"):
            return OciLayoutSource(path, tag=selector, reference=reference)
    finally:
        store.close()
    return RootfsSource(path, reference)


__all__ = [
    "DirSource",
    "DockerArchiveSource",
    "ImageSource",
    "LayerReader",
    "OciLayoutSource",
    "OpenImage",
    "Platform",
    "RootfsSource",
    "VerifiableImage",
    "open_source",
]
