"""The local catalog of known images: their diffID chains, for finding an image's base.

Every image basewatch reads is recorded (reference, digest, diffIDs); `basewatch catalog add`
records more. Entries are small JSON files under the cache directory, filed by their first
diffID, so looking for the bases of an image only reads entries that share its first layer.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from basewatch.models import CatalogEntry, ImageInfo
from basewatch.untrusted import parse_json, read_regular_file

MAX_ENTRY_BYTES = 16 << 20  # an entry lists one image's diffIDs and history

log = logging.getLogger(__name__)


class Catalog:
    def __init__(self, root: Path) -> None:
        self.root = root

    def _dir(self, first_diff_id: str) -> Path:
        return self.root / "catalog" / first_diff_id.replace(":", "-")

    def add(self, image: ImageInfo) -> CatalogEntry | None:
        """Record an image (images without layer diffIDs, such as `dir:` ones, are skipped)."""
        diff_ids = tuple(layer.diff_id for layer in image.layers)
        digest = image.manifest_digest or image.config_digest
        if not diff_ids or not all(diff_ids) or not digest:
            return None
        entry = CatalogEntry(
            reference=image.reference,
            digest=digest,
            diff_ids=diff_ids,
            created_by=tuple(layer.created_by for layer in image.layers),
        )
        folder = self._dir(diff_ids[0])
        data = {
            "reference": entry.reference,
            "digest": entry.digest,
            "diff_ids": list(entry.diff_ids),
            "created_by": list(entry.created_by),
        }
        try:
            folder.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=".json")
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(data, handle)
            os.replace(tmp, folder / f"{digest.replace(':', '-')}.json")
        except OSError as exc:  # the catalog only helps: never fail a scan over it
            log.warning("cannot record %s in the image catalog: %s", image.reference, exc)
            return None
        return entry

    def candidates(self, diff_ids: tuple[str, ...]) -> Iterator[CatalogEntry]:
        """Entries whose first layer is the image's first layer."""
        if not diff_ids:
            return
        yield from self._read(self._dir(diff_ids[0]))

    def entries(self) -> Iterator[CatalogEntry]:
        """Every entry, for `basewatch catalog list`."""
        root = self.root / "catalog"
        if root.is_dir():
            for folder in sorted(root.iterdir()):
                yield from self._read(folder)

    def _read(self, folder: Path) -> Iterator[CatalogEntry]:
        if not folder.is_dir():
            return
        for path in sorted(folder.glob("*.json")):
            try:
                data = parse_json(read_regular_file(path, max_bytes=MAX_ENTRY_BYTES), str(path))
                yield CatalogEntry(
                    reference=str(data["reference"]),
                    digest=str(data["digest"]),
                    diff_ids=tuple(str(d) for d in data["diff_ids"]),
                    created_by=tuple(str(c) for c in data.get("created_by", [])),
                )
            except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
                # UntrustedInput is a ValueError: a deep or huge entry is skipped like any other
                log.debug("ignoring unreadable catalog entry %s: %s", path, exc)
