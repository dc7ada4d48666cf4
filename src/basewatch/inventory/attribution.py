"""Which layers of an image are its base: annotations, the local catalog, or the history.

Packages are then labelled `base` or `app` by the layer that introduced them.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable

from basewatch.models import (
    BaseImage,
    BaseMethod,
    CatalogEntry,
    Confidence,
    ImageInfo,
    Inventory,
    Origin,
)

# The last instruction of most official base images: a default command, in a layer of its own.
_BASE_TAIL = re.compile(r"^(/bin/sh -c #\(nop\) +)?CMD\b", re.IGNORECASE)


def find_base(image: ImageInfo, candidates: Iterable[CatalogEntry]) -> BaseImage | None:
    """The base of `image`: (1) annotations/labels, with the layer count from the catalog when
    it knows that digest; (2) the longest catalogued image whose diffIDs are a proper prefix of
    this image's; (3) the history, where the base's default command ends the base layers."""
    diff_ids = tuple(layer.diff_id for layer in image.layers)
    prefixes = [
        c
        for c in candidates
        if 0 < len(c.diff_ids) < len(diff_ids) and diff_ids[: len(c.diff_ids)] == c.diff_ids
    ]
    longest = max(prefixes, key=lambda c: len(c.diff_ids), default=None)
    name, digest = image.base_name(), image.base_digest()
    if name or digest:
        known = next((c for c in prefixes if digest and c.digest == digest), longest)
        return BaseImage(
            reference=name or (known.reference if known else ""),
            digest=digest or (known.digest if known else ""),
            method=BaseMethod.ANNOTATION,
            confidence=Confidence.HIGH if known else Confidence.MEDIUM,
            layers=len(known.diff_ids) if known else _history_boundary(image),
        )
    if longest is not None:
        return BaseImage(
            reference=longest.reference,
            digest=longest.digest,
            method=BaseMethod.CATALOG,
            confidence=Confidence.HIGH,
            layers=len(longest.diff_ids),
        )
    boundary = _history_boundary(image)
    if boundary:
        return BaseImage(
            reference="",
            digest="",
            method=BaseMethod.HISTORY,
            confidence=Confidence.LOW,
            layers=boundary,
        )
    return None


def _history_boundary(image: ImageInfo) -> int:
    """Layers up to the last default command followed by more layers (0 when none is seen)."""
    boundary = 0
    for index, layer in enumerate(image.layers):
        if index and any(_BASE_TAIL.match(line.strip()) for line in layer.empty_history):
            boundary = index
    return boundary


def label(inventory: Inventory, base: BaseImage | None) -> Inventory:
    """Mark each package `base` or `app` by the layer that introduced it (when the base is
    known), with that layer's history instruction."""
    layers = {layer.diff_id: layer for layer in inventory.image.layers if layer.diff_id}
    packages = []
    for package in inventory.packages:
        layer = layers.get(package.layer)
        if layer is None:
            packages.append(package)
            continue
        origin = package.origin
        if base is not None and base.layers > 0:
            origin = Origin.BASE if layer.index < base.layers else Origin.APP
        packages.append(dataclasses.replace(package, origin=origin, instruction=layer.created_by))
    return dataclasses.replace(inventory, packages=tuple(packages), base=base)
