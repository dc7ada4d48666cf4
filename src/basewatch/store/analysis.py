"""The on-disk cache of per-layer analyses, content-addressed by layer diffID.

Writes are atomic (temporary file + rename), so an interrupted scan never leaves a half-written
entry; an unreadable entry is treated as a miss and rewritten. Entries are plain JSON objects:
their owners encode and decode them (`inventory.layers.encode_analysis`, `basewatch.codec`).
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from pathlib import Path
from typing import Any

from basewatch.errors import CacheError
from basewatch.untrusted import parse_json

log = logging.getLogger(__name__)


class AnalysisCache:
    """JSON documents stored under `root/<kind>/<algorithm>/<hex>/<detectors key>.json`.

    Kind "layers" holds one analysis per layer diffID (and, under a compressed blob's digest,
    `diff-id.json`: the diffID a verified read found that blob to hold); kind "images" one
    assembled inventory per chain of layers, so a warm rescan does not even rebuild the
    filesystem view. The scanner still checks every layer's bytes before using either.
    """

    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, layer_digest: str, detectors_key: str, kind: str = "layers") -> Path:
        """Where the entry lives; CacheError when `layer_digest` cannot name one."""
        algorithm, _, hexpart = layer_digest.partition(":")
        if not hexpart or not hexpart.isalnum() or not algorithm.isalnum():
            raise CacheError(f"{layer_digest!r} cannot name a cache entry")
        return self.root / kind / algorithm / hexpart / f"{detectors_key}.json"

    def get(
        self, layer_digest: str, detectors_key: str, kind: str = "layers"
    ) -> dict[str, Any] | None:
        path = self.path(layer_digest, detectors_key, kind)
        try:
            with path.open("rb") as handle:
                # bounded: an entry nested past the parser's limit is a miss, not a crash
                data = parse_json(handle.read(), str(path))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:  # UntrustedInput is a ValueError
            log.warning("ignoring unreadable cache entry %s: %s", path, exc)
            return None
        return data if isinstance(data, dict) else None

    def put(
        self, layer_digest: str, detectors_key: str, data: dict[str, Any], kind: str = "layers"
    ) -> None:
        path = self.path(layer_digest, detectors_key, kind)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".json")
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as handle:
                    # dumps, not dump: only dumps uses the C encoder (several times faster)
                    handle.write(json.dumps(data, separators=(",", ":")))
                os.replace(tmp, path)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
        except OSError as exc:
            raise CacheError(f"cannot write the analysis cache at {self.root}: {exc}") from exc

    def scratch_dir(self) -> Path:
        return self.root / "tmp"
