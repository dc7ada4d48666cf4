"""Severity from what an advisory says: CVSS vectors (scored here), or a qualitative rating."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

from basewatch.models import Severity

log = logging.getLogger(__name__)

# Qualitative ratings as advisories spell them (GHSA, distro urgencies, Ubuntu priorities).
_WORDS = {
    "critical": Severity.CRITICAL,
    "important": Severity.HIGH,
    "high": Severity.HIGH,
    "moderate": Severity.MEDIUM,
    "medium": Severity.MEDIUM,
    "low": Severity.LOW,
    "negligible": Severity.NEGLIGIBLE,
    "unimportant": Severity.NEGLIGIBLE,
    "untriaged": Severity.UNKNOWN,
    "not yet assigned": Severity.UNKNOWN,
    "unknown": Severity.UNKNOWN,
}


@dataclass(frozen=True, slots=True)
class Rating:
    severity: Severity
    source: str  # "CVSS:3.1", "CVSS:4.0", "GHSA", "Debian urgency"...
    score: float | None = None
    vector: str = ""


UNRATED = Rating(Severity.UNKNOWN, "")


def from_word(word: str, source: str) -> Rating | None:
    severity = _WORDS.get(word.strip().lower())
    return Rating(severity, source) if severity is not None else None


def from_score(score: float) -> Severity:
    """The CVSS v3/v4 qualitative scale."""
    if score >= 9.0:
        return Severity.CRITICAL
    if score >= 7.0:
        return Severity.HIGH
    if score >= 4.0:
        return Severity.MEDIUM
    if score > 0.0:
        return Severity.LOW
    return Severity.NEGLIGIBLE


@lru_cache(maxsize=4096)
def from_vector(kind: str, vector: str) -> Rating | None:
    """Score a CVSS vector (OSV severity types CVSS_V2, CVSS_V3, CVSS_V4)."""
    from cvss import CVSS2, CVSS3, CVSS4
    from cvss.exceptions import CVSSError

    try:
        match kind:
            case "CVSS_V4":
                score = float(CVSS4(vector).base_score)
                label = "CVSS:4.0"
            case "CVSS_V3":
                score = float(CVSS3(vector).base_score)
                label = vector.split("/", 1)[0] if vector.startswith("CVSS:3") else "CVSS:3"
            case "CVSS_V2":
                score = float(CVSS2(vector).base_score)
                label = "CVSS:2.0"
            case _:
                return None
    except (CVSSError, ValueError, KeyError, AttributeError) as exc:
        log.debug("unreadable %s vector %r: %s", kind, vector, exc)
        return None
    return Rating(from_score(score), label, score, vector)


_VECTOR_PREFERENCE = ("CVSS_V3", "CVSS_V4", "CVSS_V2")


def best_vector(severities: Iterable[tuple[str, str]]) -> Rating | None:
    """The rating of the preferred vector (v3, then v4, then v2: v3 is what most data has)."""
    ratings = {}
    for kind, vector in severities:
        if kind in _VECTOR_PREFERENCE and kind not in ratings:
            rating = from_vector(kind, vector)
            if rating is not None:
                ratings[kind] = rating
    for kind in _VECTOR_PREFERENCE:
        if kind in ratings:
            return ratings[kind]
    return None
