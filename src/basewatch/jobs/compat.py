"""The compat job: would an image's ELF files load, on it or transplanted onto a base?"""

from __future__ import annotations

from dataclasses import dataclass

from basewatch.compat.check import CompatChecker
from basewatch.compat.model import CompatReport
from basewatch.errors import UsageError
from basewatch.jobs.seams import Seams


@dataclass(frozen=True, slots=True)
class CompatRequest:
    """Check `image` itself, or (with `on`) its top `layers` layers or subtree `path` put
    onto the base `on`."""

    image: str
    on: str | None = None
    layers: int | None = None
    path: str | None = None
    platform: str | None = None


def compat(request: CompatRequest, seams: Seams) -> CompatReport:
    if request.on is None and (request.layers is not None or request.path is not None):
        raise UsageError("the app's layers or path only apply on a base image")
    checker = CompatChecker.around(seams.scanner)
    source = seams.images.open(seams.images.parse(request.image))
    if request.on is None:
        return checker.check(source, platform=request.platform)
    base = seams.images.open(seams.images.parse(request.on))
    return checker.check_on(
        source, base, layers=request.layers, path=request.path, platform=request.platform
    )
