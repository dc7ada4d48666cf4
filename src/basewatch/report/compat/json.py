"""`basewatch compat --format json`: the report as data, with `schema_version`.

The document satisfies `COMPAT_SCHEMA` (JSON Schema draft 2020-12), kept here as data so that it
ships with the code. Bump `COMPAT_SCHEMA_VERSION` (basewatch.compat.model) when a field changes
meaning or disappears.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, ClassVar

from basewatch.compat.model import Cause, FileKind, LibcFamily, Severity

if TYPE_CHECKING:
    from basewatch.compat.model import CompatReport

_STRINGS = {"type": "array", "items": {"type": "string"}}
_PROBLEM = {
    "type": "object",
    "required": ["severity", "cause", "message", "subject", "fix"],
    "additionalProperties": False,
    "properties": {
        "severity": {"enum": [s.value for s in Severity]},
        "cause": {"enum": [c.value for c in Cause]},
        "message": {"type": "string"},
        "subject": {"type": "string"},
        "fix": {"type": "string"},
    },
}
_FILE = {
    "type": "object",
    "required": ["path", "layer", "kind", "libc", "machine", "interpreter", "needed", "loads",
                 "problems"],
    "additionalProperties": False,
    "properties": {
        "path": {"type": "string"},
        "layer": {"type": "integer"},
        "kind": {"enum": [k.value for k in FileKind]},
        "libc": {"enum": [f.value for f in LibcFamily]},
        "machine": {"type": "string"},
        "interpreter": {"type": "string"},
        "needed": _STRINGS,
        "loads": {"type": "boolean"},
        "problems": {"type": "array", "items": _PROBLEM},
    },
}  # fmt: skip
COMPAT_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "basewatch compat report",
    "type": "object",
    "required": ["schema_version", "image", "base", "platform", "libc", "summary", "files",
                 "warnings", "notes"],
    "additionalProperties": False,
    "properties": {
        "schema_version": {"const": "1"},
        "image": {"type": "string"},
        "base": {"type": "string"},
        "platform": {"type": "string"},
        "libc": {
            "type": "object",
            "required": ["family", "version", "path", "source"],
            "additionalProperties": False,
            "properties": {
                "family": {"enum": [f.value for f in LibcFamily]},
                "version": {"type": "string"},
                "path": {"type": "string"},
                "source": {"type": "string"},
            },
        },
        "summary": {
            "type": "object",
            "required": ["files", "loading", "failing"],
            "additionalProperties": False,
            "properties": {k: {"type": "integer", "minimum": 0}
                           for k in ("files", "loading", "failing")},
        },
        "files": {"type": "array", "items": _FILE},
        "warnings": _STRINGS,
        "notes": _STRINGS,
    },
}  # fmt: skip


class CompatJsonReporter:
    name: ClassVar[str] = "json"
    media_type: ClassVar[str] = "application/json"

    def render(self, report: CompatReport) -> bytes:
        return (json.dumps(report.to_dict(), indent=2, ensure_ascii=False) + "\n").encode(
            "utf-8", "backslashreplace"
        )
