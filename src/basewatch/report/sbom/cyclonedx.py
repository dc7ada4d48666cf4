"""`basewatch sbom --format cyclonedx-json`: the inventory's CycloneDX 1.6 JSON BOM.

The document itself (`report.cyclonedx.bom_document`) is shared with `scan --format
cyclonedx-json`, so a consumer sees the same component bom-refs in both.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, ClassVar
from uuid import UUID, uuid4

from basewatch.report.cyclonedx import bom_document
from basewatch.report.jsondoc import dumps

if TYPE_CHECKING:
    from basewatch.models import Inventory


class CycloneDXReporter:
    """Renders CycloneDX 1.6 JSON. `now` and `serial` make the output reproducible."""

    name: ClassVar[str] = "cyclonedx-json"
    media_type: ClassVar[str] = "application/vnd.cyclonedx+json; version=1.6"

    def __init__(self, *, now: datetime | None = None, serial: UUID | None = None) -> None:
        self._now = now
        self._serial = serial

    def render(self, inventory: Inventory) -> bytes:
        now = self._now or datetime.now(UTC).replace(microsecond=0)
        document, _ = bom_document(inventory, now=now, serial=self._serial or uuid4())
        return dumps(document)
