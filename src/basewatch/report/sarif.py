"""What every SARIF 2.1.0 log basewatch writes shares (`scan` and `lint`): its version, its
schema, and the level a severity maps to."""

from __future__ import annotations

from typing import assert_never

from basewatch.models import Severity

SARIF_VERSION = "2.1.0"
SCHEMA_URI = "https://json.schemastore.org/sarif-2.1.0.json"


def level(severity: Severity) -> str:
    """The SARIF level for a severity: error, warning or note."""
    match severity:
        case Severity.CRITICAL | Severity.HIGH:
            return "error"
        case Severity.MEDIUM | Severity.UNKNOWN:  # unknown is not reassuring
            return "warning"
        case Severity.LOW | Severity.NEGLIGIBLE:
            return "note"
        case _:
            assert_never(severity)
