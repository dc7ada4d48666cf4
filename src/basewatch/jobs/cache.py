"""The cache job: remove unfinished downloads and the least recently used entries beyond a size,
or everything."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from basewatch.oci.registry.blobcache import BlobCache, prune_analyses
from basewatch.settings import Settings


@dataclass(frozen=True, slots=True)
class PruneOutcome:
    root: Path
    removed: int
    freed_bytes: int
    kept: int
    kept_bytes: int


def prune_cache(
    settings: Settings, max_bytes: int | None = None, everything: bool = False
) -> PruneOutcome:
    """Prune the blob and analysis cache to `max_bytes` (None: its own limit); `everything`
    empties it, layer analyses and stored inventories included."""
    root = settings.blob_dir
    result = BlobCache(root).prune(0 if everything else max_bytes)
    freed = result.freed_bytes + (prune_analyses(root) if everything else 0)
    return PruneOutcome(root, result.removed, freed, result.kept, result.kept_bytes)
