"""`basewatch compare --format json`: the candidates as data, with `schema_version`."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, ClassVar

from basewatch import __version__
from basewatch.advice.compare import Candidate, Coverage

SCHEMA_VERSION = "1.0"


class CompareJsonReporter:
    name: ClassVar[str] = "json"
    media_type: ClassVar[str] = "application/json"

    def render(self, candidates: Sequence[Candidate]) -> bytes:
        return render_json(candidates)


def document(candidates: Sequence[Candidate]) -> dict[str, Any]:
    return {
        "schema_version": SCHEMA_VERSION,
        "tool": {"name": "basewatch", "version": __version__},
        "candidates": [
            {
                "reference": c.reference,
                "digest": c.digest,
                "platform": c.platform,
                "compressed_bytes": c.compressed_bytes,
                "uncompressed_bytes": c.uncompressed_bytes,
                "layers": c.layers,
                "packages": c.packages,
                "libc": c.libc,
                "distribution": c.distribution,
                "eol": c.eol or None,
                "eol_status": c.eol_status,
                "created": c.created or None,
                "age_days": c.age_days,
                "checked": c.checked.value,
                "unchecked": list(c.unchecked),
                "findings": None
                if c.checked in (Coverage.NO_DATABASE, Coverage.NONE)
                else {
                    "total": c.findings_total,
                    "fixable": c.fixable_total,
                    "kev": c.kev,
                    "partial": c.checked is Coverage.PARTIAL,
                    "by_severity": {
                        k: {"total": t, "fixable": f} for k, (t, f) in c.findings.items()
                    },
                },
                "compat": c.compat or None,
                "warnings": list(c.warnings),
            }
            for c in candidates
        ],
    }


def render_json(candidates: Sequence[Candidate]) -> bytes:
    return (json.dumps(document(candidates), indent=2) + "\n").encode()
