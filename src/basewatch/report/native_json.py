"""basewatch's own JSON inventory document, described by `basewatch/schemas/inventory.schema.json`.

Standard library only: scripts and the cache-warm path use this format, and it must start fast.
Bump `SCHEMA_VERSION` (and the schema) whenever a field changes meaning or disappears.
"""

from __future__ import annotations

import dataclasses
import json
from typing import TYPE_CHECKING, Any, ClassVar

from basewatch import __version__
from basewatch.models import Package
from basewatch.report.base import TOOL_NAME, sorted_packages

if TYPE_CHECKING:
    from basewatch.models import Inventory

SCHEMA_VERSION = "1.0"
SCHEMA_RESOURCE = "schemas/inventory.schema.json"
_PACKAGE_FIELDS = tuple(f.name for f in dataclasses.fields(Package))


class JsonReporter:
    """`--format json`: the inventory as basewatch models it, one JSON document."""

    name: ClassVar[str] = "json"
    media_type: ClassVar[str] = "application/json"

    def render(self, inventory: Inventory) -> bytes:
        return dumps(inventory_document(inventory))


def inventory_document(inventory: Inventory) -> dict[str, Any]:
    """The document as plain JSON values; packages sorted by type, name, version, arch."""
    image = inventory.image.to_dict()
    for key in ("labels", "annotations"):
        image[key] = dict(sorted(image[key].items()))
    packages = [package_dict(p) for p in sorted_packages(inventory.packages)]
    return {
        "schema_version": SCHEMA_VERSION,
        "tool": {"name": TOOL_NAME, "version": __version__},
        "image": image,
        "os": inventory.os.to_dict() if inventory.os is not None else None,
        "base": inventory.base.to_dict() if inventory.base is not None else None,
        "packages": packages,
        "warnings": list(inventory.warnings),
        "partial": inventory.partial,
    }


def package_dict(package: Package) -> dict[str, Any]:
    """`Package.to_dict()` with metadata keys sorted, built without `dataclasses.asdict`, whose
    deep copies cost a tenth of a second per few thousand packages; a test keeps the two equal."""
    data: dict[str, Any] = {name: getattr(package, name) for name in _PACKAGE_FIELDS}
    data["type"] = package.type.value
    data["origin"] = package.origin.value
    data["licenses"] = list(package.licenses)
    data["evidence"] = list(package.evidence)
    data["metadata"] = dict(sorted(package.metadata))
    return data


def dumps(document: Any) -> bytes:
    """Indented UTF-8 JSON with a final newline, keys in insertion order.

    Names read from an image may hold undecodable bytes (kept as lone surrogates); they come out
    as `\\udcXX` escapes rather than failing the whole report.
    """
    text = json.dumps(document, indent=2, ensure_ascii=False) + "\n"
    return text.encode("utf-8", "backslashreplace")


def load_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) that every `--format json` document validates against."""
    from importlib import resources  # not on the rendering path: it costs start-up time

    text = resources.files("basewatch").joinpath(SCHEMA_RESOURCE).read_text(encoding="utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema
