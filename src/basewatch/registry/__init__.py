"""Pulling images from OCI distribution registries (Docker Hub, GHCR, a local registry...).

Public API: `parse_reference`/`Reference`, `RegistryOptions`, `RegistrySource` (an
`ImageSource`), `resolve`, `BlobCache`, and the credential stores of `basewatch.registry.auth`.
httpx is imported only when a registry is actually contacted.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from basewatch.registry.options import RegistryOptions
from basewatch.registry.reference import Reference, looks_like_reference, parse_reference

if TYPE_CHECKING:
    from basewatch.registry.blobcache import BlobCache
    from basewatch.registry.source import RegistrySource, Resolved, resolve

_LAZY = {
    "BlobCache": "basewatch.registry.blobcache",
    "RegistrySource": "basewatch.registry.source",
    "Resolved": "basewatch.registry.source",
    "resolve": "basewatch.registry.source",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(name)
    import importlib

    return getattr(importlib.import_module(module), name)


__all__ = [
    "BlobCache",
    "Reference",
    "RegistryOptions",
    "RegistrySource",
    "Resolved",
    "looks_like_reference",
    "parse_reference",
    "resolve",
]
