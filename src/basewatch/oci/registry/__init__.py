"""Pulling images from OCI distribution registries (Docker Hub, GHCR, a local registry...).

Public API: `parse_reference`/`RegistryRef`, `RegistryOptions`, `RegistryClient` (one for as
long as its owner pulls), `RegistrySource` (an `ImageSource`), `resolve`, `BlobCache`, and the
credential stores of `basewatch.oci.registry.auth`.
httpx is imported only when a registry is actually contacted.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from basewatch.oci.reference import RegistryRef, looks_like_reference, parse_reference
from basewatch.oci.registry.options import RegistryOptions

if TYPE_CHECKING:
    from basewatch.oci.registry.blobcache import BlobCache
    from basewatch.oci.registry.client import RegistryClient
    from basewatch.oci.registry.source import RegistrySource, Resolved, resolve

_LAZY = {
    "BlobCache": "basewatch.oci.registry.blobcache",
    "RegistryClient": "basewatch.oci.registry.client",
    "RegistrySource": "basewatch.oci.registry.source",
    "Resolved": "basewatch.oci.registry.source",
    "resolve": "basewatch.oci.registry.source",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(name)
    import importlib

    return getattr(importlib.import_module(module), name)


__all__ = [
    "BlobCache",
    "RegistryClient",
    "RegistryOptions",
    "RegistryRef",
    "RegistrySource",
    "Resolved",
    "looks_like_reference",
    "parse_reference",
    "resolve",
]
