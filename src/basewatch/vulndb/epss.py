"""FIRST's EPSS daily CSV (plain or gzip) -> `EpssScore` values.

The file starts with a comment line `#model_version:v2025.03.14,score_date:2025-...` (older
files have none), then the header `cve,epss,percentile`.
"""

from __future__ import annotations

import csv
import gzip
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from basewatch.errors import DatabaseError

_CVE = re.compile(r"^CVE-\d{4}-\d{4,}$")
_GZIP_MAGIC = b"\x1f\x8b"
# A real row is under 50 characters and the feed holds a few hundred thousand CVEs; a gzip
# can inflate to gigabytes of one line or of rows, so both are bounded.
MAX_LINE = 4096
MAX_ROWS = 2_000_000


@dataclass(frozen=True, slots=True)
class EpssScore:
    cve: str
    score: float
    percentile: float


@dataclass(frozen=True, slots=True)
class EpssFeed:
    model_version: str
    score_date: str
    scores: tuple[EpssScore, ...]
    malformed: int = 0
    problems: tuple[str, ...] = ()


def read_epss(path: Path) -> EpssFeed:
    """Read an EPSS CSV file, gzip-compressed or not (decided by its content, not its name)."""
    try:
        with path.open("rb") as handle:
            compressed = handle.read(2) == _GZIP_MAGIC
        if compressed:
            with gzip.open(path, "rt", encoding="utf-8", newline="") as text:
                return parse_epss(text, str(path))
        with path.open("r", encoding="utf-8", newline="") as text:
            return parse_epss(text, str(path))
    except (OSError, EOFError, UnicodeDecodeError) as exc:
        raise DatabaseError(f"cannot read the EPSS file {path}: {exc}") from exc


def parse_epss(text: TextIO, origin: str = "the EPSS file") -> EpssFeed:
    """Parse EPSS CSV text; rows without a CVE id or with an out-of-range score are counted."""
    model_version = score_date = ""
    first = text.readline(MAX_LINE)
    if first.startswith("#"):
        for part in first[1:].strip().split(","):
            key, _, value = part.partition(":")
            if key.strip() == "model_version":
                model_version = value.strip()
            elif key.strip() == "score_date":
                score_date = value.strip()
        header_line = text.readline(MAX_LINE)
    else:
        header_line = first
    header = [h.strip().lower() for h in next(csv.reader([header_line]), [])]
    if not {"cve", "epss", "percentile"} <= set(header):
        raise DatabaseError(f"{origin} is not an EPSS CSV (expected a cve,epss,percentile header)")
    cve_at, score_at, percentile_at = (header.index(k) for k in ("cve", "epss", "percentile"))
    scores: dict[str, EpssScore] = {}
    problems: list[str] = []
    malformed = 0
    overlong: list[int] = []
    rows = csv.reader(_bounded_lines(text, overlong))
    line_number = 2 if model_version else 1
    while True:
        line_number += 1
        try:
            row = next(rows)
        except StopIteration:
            break
        except csv.Error as exc:  # a field over csv's limit, a NUL byte: count the row, go on
            malformed += 1
            if len(problems) < 20:
                problems.append(f"line {line_number}: not a CSV row ({exc})")
            continue
        if not row:
            continue
        try:
            cve = row[cve_at].strip()
            score = float(row[score_at])
            percentile = float(row[percentile_at])
        except (IndexError, ValueError):
            row_ok = False
        else:
            row_ok = bool(_CVE.match(cve)) and all(
                math.isfinite(v) and 0.0 <= v <= 1.0 for v in (score, percentile)
            )
        if not row_ok:
            malformed += 1
            if len(problems) < 20:
                shown = repr(row) if len(repr(row)) <= 200 else repr(row)[:200] + "..."
                problems.append(f"line {line_number}: not a CVE with scores in [0, 1]: {shown}")
            continue
        scores[cve] = EpssScore(cve, score, percentile)
        if len(scores) > MAX_ROWS:
            raise DatabaseError(
                f"{origin} holds more than {MAX_ROWS:,} CVEs, far more than the EPSS feed: refused"
            )
    if overlong:
        malformed += len(overlong)
        problems.append(f"{len(overlong)} lines over {MAX_LINE} characters were skipped")
    return EpssFeed(model_version, score_date, tuple(scores.values()), malformed, tuple(problems))


def _bounded_lines(text: TextIO, overlong: list[int]) -> Iterator[str]:
    """The lines of `text`, each read at most `MAX_LINE` characters at a time; a longer line
    is dropped (an empty line in its place) and counted in `overlong`."""
    while line := text.readline(MAX_LINE):
        if len(line) < MAX_LINE or line.endswith("\n"):
            yield line
            continue
        while (rest := text.readline(MAX_LINE)) and not rest.endswith("\n"):
            pass
        overlong.append(1)
        yield "\n"
