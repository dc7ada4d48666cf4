"""Per-layer analysis: one pass over a layer's entries, running the detectors that ask."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from basewatch.errors import ImageError, UnreadableEntry
from basewatch.inventory.detector import AnalysisContext, Detector, FileResult
from basewatch.models import EntryKind
from basewatch.oci.layer import STREAM_ERRORS, FileEntry, Opener

log = logging.getLogger(__name__)

ANALYSIS_FORMAT = 2  # bump when LayerAnalysis's serialised form changes
# The file index is kept for every entry of every layer; a layer can hold millions of empty
# entries in a few megabytes of gzip, so their number is capped per image. The largest real
# images hold a few hundred thousand files; at the cap the index is a few hundred MiB.
MAX_IMAGE_ENTRIES = 2_000_000


@dataclass(frozen=True, slots=True)
class LayerAnalysis:
    """Everything basewatch keeps of one layer: its file index and what detectors found."""

    diff_id: str
    entries: tuple[FileEntry, ...]
    results: tuple[FileResult, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": ANALYSIS_FORMAT,
            "diff_id": self.diff_id,
            "entries": [e.to_row() for e in self.entries],
            "results": [r.to_dict() for r in self.results],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LayerAnalysis:
        if data.get("format") != ANALYSIS_FORMAT:
            raise ValueError("analysis format changed")
        return cls(
            diff_id=data["diff_id"],
            entries=tuple(FileEntry.from_row(row) for row in data["entries"]),
            results=tuple(FileResult.from_dict(r) for r in data["results"]),
        )


def detectors_key(detectors: Sequence[Detector]) -> str:
    """A short digest of every detector's name and version: part of each cache key."""
    text = ";".join(sorted(f"{d.name}={d.version}" for d in detectors))
    return hashlib.sha256(f"{ANALYSIS_FORMAT};{text}".encode()).hexdigest()[:16]


def analyze_layer(
    diff_id: str,
    entries: Iterable[tuple[FileEntry, Opener | None]],
    detectors: Sequence[Detector],
    ctx: AnalysisContext,
    max_entries: int = MAX_IMAGE_ENTRIES,
) -> LayerAnalysis:
    """Read the layer once: index every entry, and feed wanted files to their detectors."""
    index: list[FileEntry] = []
    results: list[FileResult] = []
    for entry, opener in entries:
        if len(index) >= max_entries:
            raise ImageError(
                f"layer {diff_id or '(unknown diffID)'}: the image holds more than"
                f" {MAX_IMAGE_ENTRIES:,} entries (files, directories, links); refusing a hostile"
                " or broken layer"
            )
        index.append(entry)
        if entry.kind is not EntryKind.FILE or opener is None:
            continue
        wanting = [d for d in detectors if d.wants(entry.path, entry.size, entry.mode)]
        if not wanting:
            continue
        if len(wanting) == 1:
            result = _run(wanting[0], entry, opener, ctx)
            if result is not None:
                results.append(result)
            continue
        # Several detectors want the same file: read it once into the scratch area.
        with opener() as stream, ctx.spooled_file(stream) as copy:
            for detector in wanting:
                result = _run(detector, entry, lambda: copy.open("rb"), ctx)
                if result is not None:
                    results.append(result)
    return LayerAnalysis(diff_id, tuple(index), tuple(results))


def _run(
    detector: Detector, entry: FileEntry, opener: Opener, ctx: AnalysisContext
) -> FileResult | None:
    try:
        with opener() as stream:
            return detector.analyze(entry.path, stream, entry.size, ctx)
    except UnreadableEntry as exc:
        return FileResult(entry.path, detector.name, warnings=(str(exc),))
    except STREAM_ERRORS:
        raise  # the layer itself is broken: an image error, raised by the caller
    except Exception as exc:  # a detector bug must not lose the rest of the image
        log.debug("detector %s failed on %s", detector.name, entry.path, exc_info=True)
        return FileResult(
            entry.path,
            detector.name,
            warnings=(f"{entry.path}: {detector.name} detector failed ({exc!r})",),
        )
