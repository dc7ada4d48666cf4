"""Per-layer analysis: one pass over a layer's entries, running the detectors that ask."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from basewatch.codec import boolean, decode_package, encode_package, items, obj, text, texts
from basewatch.errors import CodecError, ImageError, UnreadableEntry
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


# --- the wire format of an analysis, as the analysis cache keeps it ---------------------------

_ENTRY_KINDS = {k.value: k for k in EntryKind}


def encode_analysis(analysis: LayerAnalysis) -> dict[str, Any]:
    """A layer analysis as the cache keeps it: the file index as compact rows
    `[path, kind, size, mode, link]` (a layer can hold hundreds of thousands)."""
    return {
        "format": ANALYSIS_FORMAT,
        "diff_id": analysis.diff_id,
        "entries": [[e.path, e.kind.value, e.size, e.mode, e.link] for e in analysis.entries],
        "results": [_encode_result(r) for r in analysis.results],
    }


def _encode_result(result: FileResult) -> dict[str, Any]:
    return {
        "path": result.path,
        "detector": result.detector,
        "packages": [encode_package(p) for p in result.packages],
        "facts": [list(f) for f in result.facts],
        "warnings": list(result.warnings),
        "database": result.database,
    }


def decode_analysis(value: object, what: str = "layer analysis") -> LayerAnalysis:
    """The analysis `encode_analysis` wrote; CodecError when the entry is not one (of this
    format)."""
    data = obj(value, what)
    if data.get("format") != ANALYSIS_FORMAT:
        raise CodecError(
            f"{what}: format {data.get('format')!r}, this basewatch reads {ANALYSIS_FORMAT}"
        )
    return LayerAnalysis(
        diff_id=text(data, "diff_id", what, None),
        entries=tuple(_decode_entry(row, what) for row in items(data, "entries", what)),
        results=tuple(
            _decode_result(r, f"{what}.results[{i}]")
            for i, r in enumerate(items(data, "results", what))
        ),
    )


def _decode_entry(row: object, what: str) -> FileEntry:
    # the hot loop of a warm scan: one type check per field, no helper calls
    if type(row) is list and len(row) == 5:
        path, kind, size, mode, link = row
        entry_kind = _ENTRY_KINDS.get(kind) if type(kind) is str else None
        if (
            entry_kind is not None
            and type(path) is str
            and type(size) is int
            and type(mode) is int
            and type(link) is str
        ):
            return FileEntry(path, entry_kind, size, mode, link)
    raise CodecError(f"{what}.entries: {str(row)[:80]} is not [path, kind, size, mode, link]")


def _decode_result(value: object, where: str) -> FileResult:
    data = obj(value, where)
    facts = []
    for fact in items(data, "facts", where):
        if type(fact) is not list or len(fact) != 2 or not all(type(f) is str for f in fact):
            raise CodecError(f"{where}.facts: {str(fact)[:80]} is not [key, value]")
        facts.append((fact[0], fact[1]))
    return FileResult(
        path=text(data, "path", where, None),
        detector=text(data, "detector", where, None),
        packages=tuple(
            decode_package(p, f"{where}.packages[{i}]")
            for i, p in enumerate(items(data, "packages", where))
        ),
        facts=tuple(facts),
        warnings=texts(data, "warnings", where),
        database=boolean(data, "database", where),
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
