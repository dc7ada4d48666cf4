"""The compat job: would an image's ELF files load, on it or transplanted onto a base?

image -> per-layer ELF facts (cached by the scanner's analysis cache) -> final filesystem ->
loader model. `CompatChecker.default()` makes the concrete choices (detectors, cache), as
`Scanner.default()` does; tests inject their own.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from basewatch.compat.check import Layer, evaluate, evaluate_on
from basewatch.compat.detector import ElfDetector, FactCache
from basewatch.compat.facts import ImageFiles
from basewatch.compat.loader import LoaderModel
from basewatch.compat.model import CompatReport, LibcInfo
from basewatch.errors import UsageError
from basewatch.inventory.apk import ApkDetector
from basewatch.inventory.detector import Detector
from basewatch.inventory.dpkg import DpkgDetector
from basewatch.jobs.inventory import Scanner
from basewatch.jobs.seams import Seams
from basewatch.models import ImageInfo
from basewatch.oci.interface import ImageSource
from basewatch.progress import NULL_PROGRESS, Progress


def compat_detectors(file_cache: FactCache | None = None) -> list[Detector]:
    """ELF and loader-config facts, plus the package databases that name the libc version.

    `file_cache` keeps ELF facts by content digest across layers and images.
    """

    return [ElfDetector(cache=file_cache), ApkDetector(), DpkgDetector()]


@dataclass
class CompatChecker:
    """Predicts which ELF files of an image load, on that image or transplanted onto a base."""

    scanner: Scanner

    @classmethod
    def default(
        cls,
        cache_dir: Path,
        use_cache: bool = True,
        progress: Progress = NULL_PROGRESS,
    ) -> CompatChecker:
        return cls.around(
            Scanner.default(cache_dir=cache_dir, use_cache=use_cache, progress=progress)
        )

    @classmethod
    def around(cls, scanner: Scanner) -> CompatChecker:
        """A checker sharing `scanner`'s cache, catalog and progress, with compat's detectors."""
        return cls(replace(scanner, detectors=compat_detectors(scanner.cache)))

    def read(
        self, image_source: str | ImageSource, platform: str | None = None
    ) -> tuple[ImageInfo, list[Layer]]:
        """The image's metadata and, per layer, its entries and compat facts."""
        source = self.scanner.source_of(image_source)
        with source.open(platform) as image:
            analyses = self.scanner.analyze_layers(image)
        return image.info, [(a.entries, a.results) for a in analyses]

    def libc(self, source: str | ImageSource, platform: str | None = None) -> LibcInfo:
        """The C library the image provides, as the loader model reads it (every command that
        names an image's libc asks this, so they cannot disagree)."""
        info, layers = self.read(source, platform)
        files = ImageFiles.from_layers(layers)
        return LoaderModel(files, info.architecture, info.env_value("LD_LIBRARY_PATH")).libc

    def check(self, source: str | ImageSource, platform: str | None = None) -> CompatReport:
        """Every ELF of the image and whether it loads there."""
        opened = self.scanner.source_of(source)
        info, layers = self.read(opened, platform)
        return evaluate(opened.reference, info, layers)

    def check_on(
        self,
        image: str | ImageSource,
        base_image: str | ImageSource,
        layers: int | None = None,
        path: str | None = None,
        platform: str | None = None,
    ) -> CompatReport:
        """The ELF files of IMAGE's top `layers` layers (or under `path`) put onto BASE."""
        source = self.scanner.source_of(image)
        base = self.scanner.source_of(base_image)
        app_info, app_layers = self.read(source, platform)
        base_info, base_layers = self.read(base, platform)
        return evaluate_on(
            source.reference,
            app_layers,
            base.reference,
            base_info,
            base_layers,
            layers,
            path,
            library_path=app_info.env_value("LD_LIBRARY_PATH"),
        )


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
