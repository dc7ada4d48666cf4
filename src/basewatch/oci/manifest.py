"""OCI and Docker manifests, indexes and image configs: media types, and the parsing that local
layouts, docker archives and registries share.

Image JSON is read through `jsondoc` only (see there for what is refused and what is dropped
with a warning); every function here takes the parsed document and a label for messages.
"""

from __future__ import annotations

from typing import Any

from basewatch.errors import ImageError, ImageNotFound, Remedy
from basewatch.models import ImageInfo, LayerInfo, SourceType
from basewatch.oci import jsondoc
from basewatch.oci.digest import parse_digest
from basewatch.oci.platform import Platform

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_SCHEMA1 = "application/vnd.docker.distribution.manifest.v1+json"
DOCKER_SCHEMA1_SIGNED = "application/vnd.docker.distribution.manifest.v1+prettyjws"
INDEX_TYPES = (OCI_INDEX, DOCKER_LIST)
MANIFEST_TYPES = (OCI_MANIFEST, DOCKER_MANIFEST)
# What a registry is asked for. Schema 1 is asked for too, so that a registry holding only that
# says so plainly.
ACCEPT = ", ".join(
    (OCI_INDEX, DOCKER_LIST, OCI_MANIFEST, DOCKER_MANIFEST, DOCKER_SCHEMA1_SIGNED, DOCKER_SCHEMA1)
)
REF_NAME = "org.opencontainers.image.ref.name"
_REFERENCE_TYPE = "vnd.docker.reference.type"  # BuildKit marks its attestations with it

# (digest, size, mediaType) of one layer blob, as a manifest lists it
LayerBlob = tuple[str, int, str]


def is_index(media_type: str, document: dict[str, Any]) -> bool:
    """Whether a document is an index (an untyped one is when it lists `manifests`)."""
    return media_type in INDEX_TYPES or (not media_type and "manifests" in document)


def annotations_of(descriptor: dict[str, Any]) -> dict[str, Any]:
    """A descriptor's annotations, {} when missing or not an object (as in `[]`)."""
    value = descriptor.get("annotations")
    return value if isinstance(value, dict) else {}


def ref_name(descriptor: dict[str, Any]) -> str:
    """The `org.opencontainers.image.ref.name` of an index entry, "" when it has none."""
    name = annotations_of(descriptor).get(REF_NAME)
    return name if isinstance(name, str) else ""


def is_attestation(descriptor: dict[str, Any]) -> bool:
    """Whether an index entry is a BuildKit attestation rather than an image."""
    return annotations_of(descriptor).get(_REFERENCE_TYPE) == "attestation-manifest"


def platform_of(descriptor: dict[str, Any]) -> str:
    """An index entry's platform as `OS/ARCH[/VARIANT]`, "" when it names none."""
    platform = descriptor.get("platform")
    if not isinstance(platform, dict):
        return ""
    return str(
        Platform(
            str(platform.get("os", "")),
            str(platform.get("architecture", "")),
            str(platform.get("variant", "")),
        )
    )


def pick_platform(
    index: dict[str, Any], wanted: Platform, label: str, explicit: bool
) -> dict[str, Any]:
    """The index entry for `wanted` (attestations skipped; a lone entry without a platform is
    taken); raises ImageNotFound listing the platforms offered. `explicit`: the user asked."""
    listed = jsondoc.optional_list(index.get("manifests"), f"{label}: index manifests")
    manifests = [m for m in listed if isinstance(m, dict)]
    candidates = [m for m in manifests if not is_attestation(m)]
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
    hint = "" if explicit else " (the host's)"
    raise ImageNotFound(
        f"{label}: no image for platform {wanted}{hint}; available: {', '.join(offered) or 'none'}",
        remedy=None if explicit else Remedy.CHOOSE_PLATFORM,
    )


def require_platform(info: ImageInfo, wanted: Platform | None, label: str) -> None:
    """Raise ImageNotFound when the image's config names a platform other than `wanted`."""
    if wanted is None or not info.os:
        return
    actual = {"os": info.os, "architecture": info.architecture, "variant": info.variant}
    if not wanted.matches(actual):
        raise ImageNotFound(f"{label}: the image is {info.platform}, not {wanted}")


def layer_blobs(manifest: dict[str, Any], what: str) -> list[LayerBlob]:
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


def layers_from_config(
    config: dict[str, Any], what: str, blobs: list[LayerBlob]
) -> tuple[LayerInfo, ...]:
    """Pair the config's diffIDs and history with the manifest's layer blobs."""
    rootfs = jsondoc.obj(config.get("rootfs"), f"{what}: config rootfs")
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


def image_info(
    reference: str,
    source_type: SourceType,
    config: dict[str, Any],
    config_digest: str,
    layers: tuple[LayerInfo, ...],
    manifest_digest: str = "",
    annotations: tuple[tuple[str, str], ...] = (),
    repo_tags: tuple[str, ...] = (),
) -> ImageInfo:
    """The ImageInfo of an image config (its platform, creation time, labels, Env)."""
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
        user=jsondoc.text(inner.get("User"), f"{what} User").strip() or None,
        annotations=annotations,
        repo_tags=repo_tags,
    )
