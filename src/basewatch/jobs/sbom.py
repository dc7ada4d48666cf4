"""The sbom job: an image reference -> its inventory (every package, where it came from)."""

from __future__ import annotations

from dataclasses import dataclass

from basewatch.jobs.seams import Seams
from basewatch.models import Inventory


@dataclass(frozen=True, slots=True)
class SbomRequest:
    image: str  # any reference `parse_image_ref` takes
    platform: str | None = None


def sbom(request: SbomRequest, seams: Seams) -> Inventory:
    """Read the image and return its inventory (`partial` and `warnings` say what was not
    read)."""
    ref = seams.images.parse(request.image)
    source = seams.images.open(ref, seams.scanner)
    return seams.scanner.inventory(source, platform=request.platform)
