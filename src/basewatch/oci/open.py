"""The one place that knows local images from registry images: `open_image(ref)` is the
`ImageSource` for any `ImageRef`, and `open_source(text)` parses a user's reference first."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, assert_never

from basewatch.oci.archive import DockerArchiveSource
from basewatch.oci.interface import ImageSource
from basewatch.oci.layout import OciLayoutSource
from basewatch.oci.reference import ImageRef, LocalKind, LocalRef, RegistryRef, parse_image_ref
from basewatch.oci.registry.source import RegistrySource
from basewatch.oci.rootfs import DirSource, RootfsSource

if TYPE_CHECKING:
    from basewatch.oci.registry.client import RegistryClient
    from basewatch.oci.registry.options import RegistryOptions
    from basewatch.oci.registry.source import LayerFilter


def open_image(
    ref: ImageRef,
    registry: RegistryOptions | None = None,
    *,
    client: RegistryClient | None = None,
    prefetch: LayerFilter | None = None,
) -> ImageSource:
    """The source of `ref`. A registry image is pulled with `registry` options (else those of
    `client`, else the defaults) through `client` when one is given, so that its connections
    and tokens serve several images; `prefetch` says which of its layers to download ahead.
    Nothing is read until the source is opened (a local path's kind was read by the parser)."""
    match ref:
        case RegistryRef():
            # imported here: a local scan skips the registry modules at start-up (12-17 ms measured)

            return RegistrySource(
                ref, registry, reference=ref.text, prefetch=prefetch, client=client
            )
        case LocalRef():
            return _local(ref)
        case _:
            assert_never(ref)


def _local(ref: LocalRef) -> ImageSource:
    match ref.kind:
        case LocalKind.DOCKER_ARCHIVE:
            return DockerArchiveSource(ref.path, ref.tag, ref.text)
        case LocalKind.OCI:
            return OciLayoutSource(ref.path, tag=ref.tag, digest=ref.digest, reference=ref.text)
        case LocalKind.DIR:
            return DirSource(ref.path, ref.text)
        case LocalKind.ROOTFS:
            return RootfsSource(ref.path, ref.text)
        case _:
            assert_never(ref.kind)


def open_source(
    reference: str,
    registry: RegistryOptions | None = None,
    registry_defaults: Callable[[], RegistryOptions] | None = None,
    *,
    client: RegistryClient | None = None,
) -> ImageSource:
    """`open_image(parse_image_ref(reference))`: raises UsageError/ImageNotFound when the
    reference is unusable. For a registry image without `registry` options,
    `registry_defaults` makes them (it is called for registry references only)."""
    ref = parse_image_ref(reference)
    if isinstance(ref, RegistryRef) and registry is None and registry_defaults is not None:
        registry = registry_defaults()
    return open_image(ref, registry, client=client)
