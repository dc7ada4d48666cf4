"""The catalog job: record images by reference (manifest and config only, never their layers),
so the images built on them are attributed to them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from basewatch.jobs.seams import Seams
from basewatch.models import CatalogEntry
from basewatch.store.catalog import Catalog


@dataclass(frozen=True, slots=True)
class Recorded:
    reference: str
    entry: CatalogEntry | None  # None: the image has no layer digests to record


def record_images(
    references: Sequence[str], seams: Seams, platform: str | None = None
) -> list[Recorded]:
    """Open each image (its manifest and config) and add it to the catalog."""
    catalog = Catalog(seams.settings.catalog_dir)
    recorded = []
    for reference in references:
        source = seams.images.open(seams.images.parse(reference))
        with source.open(platform) as image:
            recorded.append(Recorded(reference, catalog.add(image.info)))
    return recorded
