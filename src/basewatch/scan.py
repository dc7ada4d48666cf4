"""The inventory job: image reference -> layers -> per-layer analyses -> inventory.

`Scanner.default()` makes the concrete choices (detectors, cache); tests and the service inject
their own.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from basewatch.attribution import find_base, label
from basewatch.cache import AnalysisCache, default_cache_dir
from basewatch.catalog import Catalog
from basewatch.errors import CacheError
from basewatch.image.layer import translate_read_errors
from basewatch.image.source import ImageSource, OpenImage, open_source
from basewatch.inventory.assemble import assemble
from basewatch.inventory.detector import AnalysisContext, DecompressionBudget, Detector
from basewatch.inventory.layers import (
    MAX_IMAGE_ENTRIES,
    LayerAnalysis,
    analyze_layer,
    detectors_key,
)
from basewatch.models import (
    DatabaseInfo,
    ImageInfo,
    Inventory,
    LayerInfo,
    OSInfo,
    Package,
    ScanResult,
)
from basewatch.progress import NULL_PROGRESS, Progress
from basewatch.scratch import scratch_dir

if TYPE_CHECKING:
    from basewatch.matching.policy import Policy
    from basewatch.registry.options import RegistryOptions
    from basewatch.vulndb.store import VulnStore

log = logging.getLogger(__name__)


def default_detectors() -> list[Detector]:
    """Every detector basewatch ships, in the order they are asked."""
    from basewatch.inventory.apk import ApkDetector
    from basewatch.inventory.dpkg import DpkgDetector
    from basewatch.inventory.gobinary import GoBinaryDetector
    from basewatch.inventory.java import JavaDetector
    from basewatch.inventory.npm import NpmDetector
    from basewatch.inventory.osrelease import OsReleaseDetector
    from basewatch.inventory.python import PythonDetector
    from basewatch.inventory.rpm import RpmDetector

    return [
        OsReleaseDetector(),
        DpkgDetector(),
        ApkDetector(),
        RpmDetector(),
        PythonDetector(),
        NpmDetector(),
        GoBinaryDetector(),
        JavaDetector(),
    ]


@dataclass
class Scanner:
    """Builds inventories; `cache` None means every layer is read (`--no-cache`)."""

    detectors: Sequence[Detector]
    cache: AnalysisCache | None
    scratch_root: Path
    progress: Progress = field(default=NULL_PROGRESS)
    catalog: Catalog | None = None  # known images, for finding bases; None: not used

    @classmethod
    def default(
        cls,
        cache_dir: Path | None = None,
        use_cache: bool = True,
        progress: Progress = NULL_PROGRESS,
    ) -> Scanner:
        root = cache_dir or default_cache_dir()
        return cls(
            detectors=default_detectors(),
            cache=AnalysisCache(root) if use_cache else None,
            scratch_root=root / "tmp",
            progress=progress,
            catalog=Catalog(root) if use_cache else None,
        )

    def inventory(self, reference: str | ImageSource, platform: str | None = None) -> Inventory:
        """Read the image and return everything installed in it."""
        if isinstance(reference, str):
            source = open_source(reference, registry_defaults=self._registry_defaults)
        else:
            source = reference
        with source.open(platform) as image:
            info = image.info
            chain = _chain_key(info)
            inventory = self._cached_inventory(info, chain)
            if inventory is None:
                analyses = self.analyze_layers(image)
                if info.source_type == "rootfs" and analyses and analyses[0].diff_id:
                    # the diffID of a root filesystem tarball is only known once it is read
                    layer = info.layers[0]
                    info = _with_layers(info, (_layer_with_diff_id(layer, analyses[0].diff_id),))
                inventory = assemble(info, analyses)
                self._store_inventory(chain, inventory)
            info = inventory.image
        candidates = []
        if self.catalog is not None:
            diff_ids = tuple(layer.diff_id for layer in info.layers)
            candidates = list(self.catalog.candidates(diff_ids))
            self.catalog.add(info)
        return label(inventory, find_base(info, candidates))

    def _registry_defaults(self) -> RegistryOptions:
        """Registry pulls keep their blobs beside this scanner's analysis cache."""
        from basewatch.registry.options import RegistryOptions

        return RegistryOptions(cache_dir=self.scratch_root.parent, use_cache=self.cache is not None)

    def _cached_inventory(self, info: ImageInfo, chain: str) -> Inventory | None:
        if self.cache is None or not chain:
            return None
        data = self.cache.get(chain, detectors_key(self.detectors), kind="images")
        if data is None:
            return None
        try:
            diff_ids = [str(d) for d in data["diff_ids"]]
            layers = tuple(
                _layer_with_diff_id(layer, diff_id) if not layer.diff_id else layer
                for layer, diff_id in zip(info.layers, diff_ids, strict=True)
            )
            return Inventory(
                image=_with_layers(info, layers),
                os=OSInfo.from_dict(data["os"]) if data["os"] is not None else None,
                packages=tuple(Package.from_dict(p) for p in data["packages"]),
                warnings=tuple(str(w) for w in data["warnings"]),
                filesystem_bytes=int(data.get("filesystem_bytes", 0)),
            )
        except (KeyError, TypeError, ValueError):
            log.warning("ignoring a malformed cached inventory for %s", chain)
            return None

    def _store_inventory(self, chain: str, inventory: Inventory) -> None:
        if self.cache is None or not chain:
            return
        data = {
            "diff_ids": [layer.diff_id for layer in inventory.image.layers],
            "os": inventory.os.to_dict() if inventory.os is not None else None,
            "packages": [p.to_dict() for p in inventory.packages],
            "warnings": list(inventory.warnings),
            "filesystem_bytes": inventory.filesystem_bytes,
        }
        try:
            self.cache.put(chain, detectors_key(self.detectors), data, kind="images")
        except CacheError as exc:
            log.warning("%s", exc)

    def analyze_layers(self, image: OpenImage) -> list[LayerAnalysis]:
        """One analysis per layer, from the cache when possible, else by streaming the layer."""
        key = detectors_key(self.detectors)
        layers = image.info.layers
        analyses: list[LayerAnalysis] = []
        self.progress.begin(f"Reading {len(layers)} layer(s)", len(layers))
        scratch: Path | None = None
        scratch_stack = contextlib.ExitStack()
        inflate_budget = DecompressionBudget()  # one per image, across all of its layers
        try:
            for layer in layers:
                cache_key = layer.diff_id or layer.digest
                cached = self._cached(cache_key, key)
                if cached is not None:
                    analyses.append(cached)
                    self.progress.advance(f"layer {layer.index + 1} (cached)")
                    continue
                if scratch is None:
                    scratch = scratch_stack.enter_context(scratch_dir(self.scratch_root.parent))
                ctx = AnalysisContext(tmp_dir=scratch, budget=inflate_budget)
                budget = MAX_IMAGE_ENTRIES - sum(len(a.entries) for a in analyses)
                refusals = inflate_budget.refusals
                analysis = self._read_layer(image, layer, ctx, budget)
                analyses.append(analysis)
                # A layer read after the image's budget ran out says more about the image
                # than the layer: not cached, so the layer's next image reads it in full.
                if self.cache is not None and cache_key and inflate_budget.refusals == refusals:
                    try:
                        self.cache.put(cache_key, key, analysis.to_dict())
                    except CacheError as exc:
                        log.warning("%s", exc)
                self.progress.advance(f"layer {layer.index + 1}")
        finally:
            self.progress.end()
            scratch_stack.close()
        return analyses

    def _cached(self, cache_key: str, key: str) -> LayerAnalysis | None:
        if self.cache is None or not cache_key:
            return None
        data = self.cache.get(cache_key, key)
        if data is None:
            return None
        try:
            return LayerAnalysis.from_dict(data)
        except (KeyError, TypeError, ValueError, AssertionError):
            log.warning("ignoring a malformed cache entry for %s", cache_key)
            return None

    def _read_layer(
        self, image: OpenImage, layer: LayerInfo, ctx: AnalysisContext, max_entries: int
    ) -> LayerAnalysis:
        what = f"{image.info.reference}: layer {layer.index} ({layer.digest or layer.diff_id})"
        with image.layer(layer) as reader, translate_read_errors(what):
            analysis = analyze_layer(
                layer.diff_id, reader.entries(), self.detectors, ctx, max(max_entries, 0)
            )
        if not analysis.diff_id and reader.diff_id:
            analysis = LayerAnalysis(reader.diff_id, analysis.entries, analysis.results)
        return analysis


def _chain_key(info: ImageInfo) -> str:
    """Names the whole stack of layers (their diffIDs, or blob digests before those are known);
    "" when a layer has neither, as with `dir:` sources, which are never cached."""
    keys = [layer.diff_id or layer.digest for layer in info.layers]
    if not keys or not all(keys):
        return ""
    return "sha256:" + hashlib.sha256("\n".join(keys).encode()).hexdigest()


def _with_layers(info: ImageInfo, layers: tuple[LayerInfo, ...]) -> ImageInfo:
    import dataclasses

    return dataclasses.replace(info, layers=layers)


def _layer_with_diff_id(layer: LayerInfo, diff_id: str) -> LayerInfo:
    import dataclasses

    return dataclasses.replace(layer, diff_id=diff_id)


def scan_inventory(
    inventory: Inventory,
    store: VulnStore,
    policy: Policy | None = None,
    database: DatabaseInfo | None = None,
) -> ScanResult:
    """Match an inventory against the store and apply the user's policy."""
    from basewatch.matching.matcher import match_inventory
    from basewatch.matching.policy import Policy

    outcome = match_inventory(inventory, store)
    kept, suppressed, policy_warnings = (policy or Policy()).apply(outcome.findings)
    warnings = [*outcome.warnings, *policy_warnings]
    if outcome.unmatched_ecosystems:
        warnings.append(
            "no advisories in the database for "
            + ", ".join(sorted(outcome.unmatched_ecosystems))
            + ": those packages were not checked (run `basewatch db update` or `db import`)"
        )
    return ScanResult(
        inventory=inventory,
        findings=tuple(kept),
        suppressed=tuple(suppressed),
        database=database,
        warnings=tuple(warnings),
        unchecked=tuple(sorted(outcome.unmatched_ecosystems)),
    )
