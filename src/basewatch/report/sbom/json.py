"""basewatch's own JSON inventory document, described by `basewatch/schemas/inventory.schema.json`.

Standard library only: scripts and the cache-warm path use this format, and it must start fast.
Bump `SCHEMA_VERSION` (and the schema) whenever a field changes meaning or disappears.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, ClassVar

from basewatch import __version__
from basewatch.codec import encode_base, encode_os, encode_package, image_summary
from basewatch.report.common import TOOL_NAME, sorted_packages
from basewatch.report.jsondoc import dumps

if TYPE_CHECKING:
    from basewatch.models import Inventory

SCHEMA_VERSION = "1.0"
SCHEMA_RESOURCE = "schemas/inventory.schema.json"


class JsonReporter:
    """`--format json`: the inventory as basewatch models it, one JSON document."""

    name: ClassVar[str] = "json"
    media_type: ClassVar[str] = "application/json"

    def render(self, inventory: Inventory) -> bytes:
        return dumps(inventory_document(inventory))


def inventory_document(inventory: Inventory) -> dict[str, Any]:
    """The document as plain JSON values, its parts as `basewatch.codec` writes them; packages
    sorted by type, name, version, arch."""
    return {
        "schema_version": SCHEMA_VERSION,
        "tool": {"name": TOOL_NAME, "version": __version__},
        "image": image_summary(inventory.image),
        "os": encode_os(inventory.os) if inventory.os is not None else None,
        "base": encode_base(inventory.base) if inventory.base is not None else None,
        "packages": [encode_package(p) for p in sorted_packages(inventory.packages)],
        "warnings": list(inventory.warnings),
        "partial": inventory.partial,
    }


def load_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) that every `--format json` document validates against."""
    from importlib import resources  # not on the rendering path: it costs start-up time

    text = resources.files("basewatch").joinpath(SCHEMA_RESOURCE).read_text(encoding="utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema
