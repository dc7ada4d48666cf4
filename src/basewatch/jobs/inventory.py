"""The inventory job: image reference -> layers -> per-layer analyses -> inventory.

`Scanner.default()` makes the concrete choices (detectors, cache); tests and the service inject
their own.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from basewatch.codec import decode_inventory, encode_inventory
from basewatch.errors import CacheError, CodecError, ImageError
from basewatch.inventory.apk import ApkDetector
from basewatch.inventory.assemble import assemble
from basewatch.inventory.attribution import find_base, label
from basewatch.inventory.detector import AnalysisContext, DecompressionBudget, Detector
from basewatch.inventory.dpkg import DpkgDetector
from basewatch.inventory.gobinary import GoBinaryDetector
from basewatch.inventory.java import JavaDetector
from basewatch.inventory.layers import (
    MAX_IMAGE_ENTRIES,
    LayerAnalysis,
    analyze_layer,
    decode_analysis,
    detectors_key,
    encode_analysis,
)
from basewatch.inventory.npm import NpmDetector
from basewatch.inventory.osrelease import OsReleaseDetector
from basewatch.inventory.python import PythonDetector
from basewatch.inventory.rpm import RpmDetector
from basewatch.models import ImageInfo, Inventory, LayerInfo, SourceType
from basewatch.oci.digest import parse_digest
from basewatch.oci.interface import ImageSource, OpenImage, VerifiableImage
from basewatch.oci.layer import translate_read_errors
from basewatch.oci.open import open_image
from basewatch.oci.reference import ImageRef, LocalRef, RegistryRef, parse_image_ref
from basewatch.oci.registry.options import RegistryOptions
from basewatch.progress import NULL_PROGRESS, Progress
from basewatch.scratch import scratch_dir
from basewatch.settings import Settings
from basewatch.store.analysis import AnalysisCache
from basewatch.store.catalog import Catalog
from basewatch.store.inventory import FileInventoryStore, InventoryStore

if TYPE_CHECKING:
    from basewatch.oci.registry.options import RegistryOptions

log = logging.getLogger(__name__)

# The name of the cache entry, beside a blob digest's analyses, that records the diffID which an
# earlier verified read found that (compressed) blob to hold.
_BINDING = "diff-id"


class LayerClaim(Protocol):
    """Who reads a layer when several processes share their analyses (a fleet's workers)."""

    def claim(self, key: str) -> bool:
        """Hold `key` for the rest of the job; True when another process held it first and
        this waited for it (what it guarded may be done now: look again)."""
        ...


def default_detectors() -> list[Detector]:
    """Every detector basewatch ships, in the order they are asked."""

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
    # where each inventory is kept by manifest digest, for the service; None: not kept
    inventories: InventoryStore | None = None
    # a fleet worker's claims: a layer no process has analysed is downloaded by one at a time
    claims: LayerClaim | None = None

    @classmethod
    def default(
        cls,
        cache_dir: Path,
        use_cache: bool = True,
        progress: Progress = NULL_PROGRESS,
    ) -> Scanner:
        """Every detector; the analysis cache and catalog under `cache_dir` (unless not
        `use_cache`), and scratch files in its `tmp/`."""
        return cls(
            detectors=default_detectors(),
            cache=AnalysisCache(cache_dir) if use_cache else None,
            scratch_root=cache_dir / "tmp",
            progress=progress,
            catalog=Catalog(cache_dir) if use_cache else None,
            inventories=FileInventoryStore(cache_dir) if use_cache else None,
        )

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        progress: Progress = NULL_PROGRESS,
        cache: AnalysisCache | None = None,
    ) -> Scanner:
        """The scanner `settings` ask for; `cache` in place of the analysis cache under
        `settings.analysis_dir` (a fleet worker's, shared), unless the cache is not used."""
        if cache is None:
            cache = AnalysisCache(settings.analysis_dir)
        return cls(
            detectors=default_detectors(),
            cache=cache if settings.use_cache else None,
            scratch_root=settings.scratch_root / "tmp",
            progress=progress,
            catalog=Catalog(settings.catalog_dir) if settings.use_cache else None,
            inventories=FileInventoryStore(settings.analysis_dir) if settings.use_cache else None,
        )

    def inventory(
        self, reference: str | ImageRef | ImageSource, platform: str | None = None
    ) -> Inventory:
        """Read the image and return everything installed in it. A reference (text or
        `ImageRef`) in a registry is pulled with default options (blobs beside this scanner's
        cache, anonymous): jobs pass an `ImageSource` from their `ImageOpener` instead."""
        source = self.source_of(reference)
        with source.open(platform) as image:
            info = image.info
            verified: dict[int, str] = {}
            inventory = self._cached_inventory(image, verified)
            warm = inventory is not None
            if inventory is None:
                analyses = self.analyze_layers(image, verified)
                if info.source_type is SourceType.ROOTFS and analyses and analyses[0].diff_id:
                    # the diffID of a root filesystem tarball is only known once it is read
                    layer = info.layers[0]
                    info = _with_layers(info, (_layer_with_diff_id(layer, analyses[0].diff_id),))
                inventory = assemble(info, analyses)
                self._store_inventory(_chain_key([a.diff_id for a in analyses]), inventory)
            info = inventory.image
        candidates = []
        if self.catalog is not None:
            diff_ids = tuple(layer.diff_id for layer in info.layers)
            candidates = list(self.catalog.candidates(diff_ids))
            self.catalog.add(info)
        labelled = label(inventory, find_base(info, candidates))
        self._keep(labelled, warm)
        return labelled

    def _keep(self, inventory: Inventory, warm: bool) -> None:
        """Store the inventory by manifest digest (images without one are not kept). A warm
        scan of a digest already stored writes nothing: the scan that filled the cache stored
        it, and encoding thousands of packages again would cost a warm scan a sixth of its
        time (only the reference it was read by, and a base found since, would differ)."""
        digest = inventory.image.manifest_digest
        if self.inventories is None or not digest:
            return
        try:
            if not (warm and self.inventories.has(digest)):
                self.inventories.put(digest, inventory)
        except CacheError as exc:  # the store only serves later lookups: never fail a scan
            log.warning("%s", exc)

    # --- which cached results may stand for which layers --------------------------------------
    #
    # A cache entry is named by content (a diffID), but the image only *claims* its layers'
    # diffIDs: a tampered image can claim the diffID of a layer scanned before. So the cache may
    # spare the analysis of a layer, never its verification: before a cached result is used,
    # the layer's stored bytes are hashed (`VerifiableImage`), and the result is used only for
    # the diffID those bytes are known to hold. An uncompressed blob is its tar, so its hash is
    # its diffID; a compressed blob's hash is bound to a diffID by an earlier read that checked
    # both (the `_BINDING` entry).

    def _claimed_key(self, layer: LayerInfo) -> str:
        """The diffID the image claims for a layer (or, for a root filesystem tarball, which
        an earlier read found its blob to hold); "" when there is none to look up."""
        if layer.diff_id:
            return layer.diff_id
        if not layer.digest:
            return ""
        return self._bound_diff_id(layer.digest) or layer.digest

    def _bound_diff_id(self, blob_digest: str) -> str:
        if self.cache is None or not blob_digest:
            return ""
        data = self.cache.get(blob_digest, _BINDING)
        try:
            return parse_digest(data.get("diff_id"), "cache") if data is not None else ""
        except ImageError:
            log.warning("ignoring a malformed cache entry for %s", blob_digest)
            return ""

    def _verified_keys(
        self, image: OpenImage, layers: Sequence[LayerInfo], verified: dict[int, str]
    ) -> list[str]:
        """For each layer, the diffID its stored bytes are known to hold, or "" when that is
        not known (it must then be read, which verifies it). Raises DigestMismatch when the
        bytes are not what the image says they are, as reading them would."""
        todo = [layer for layer in layers if layer.index not in verified]
        if todo:
            for layer, digest in zip(todo, self._stored_digests(image, todo), strict=True):
                verified[layer.index] = digest
        keys = []
        for layer in layers:
            digest = verified[layer.index]
            if not digest:
                keys.append("")
                continue
            bound = digest if digest == layer.diff_id else self._bound_diff_id(digest)
            if layer.diff_id:
                keys.append(layer.diff_id if bound == layer.diff_id else "")
            else:
                keys.append(bound or digest)  # a root filesystem tarball: what it is known to be
        return keys

    @staticmethod
    def _stored_digests(image: OpenImage, layers: Sequence[LayerInfo]) -> list[str]:
        if isinstance(image, VerifiableImage):
            return image.verify_layers(layers)
        if image.info.source_type is SourceType.REGISTRY:
            # Registry blobs are addressed by digest, and every byte pulled is checked against
            # it (the blob cache does), so the manifest's digest is what the bytes will be.
            return [layer.digest for layer in layers]
        return [""] * len(layers)  # nothing to check against: always read

    def _cached_inventory(self, image: OpenImage, verified: dict[int, str]) -> Inventory | None:
        if self.cache is None:
            return None
        info = image.info
        claimed = [self._claimed_key(layer) for layer in info.layers]
        chain = _chain_key(claimed)
        if not chain:
            return None
        data = self.cache.get(chain, detectors_key(self.detectors), kind="images")
        if data is None:
            return None
        if self._verified_keys(image, info.layers, verified) != claimed:
            return None  # some layer is not known to hold what the entry was made from
        try:
            cached = decode_inventory(data, f"cached inventory {chain}")
        except CodecError as exc:
            log.warning("ignoring %s", exc)
            return None
        diff_ids = [layer.diff_id for layer in cached.image.layers]
        if diff_ids != claimed:
            log.warning("ignoring cached inventory %s: it names other layers", chain)
            return None
        # what the image says of itself (reference, tags, digests) comes from the image read now
        layers = tuple(
            _layer_with_diff_id(layer, diff_id) if not layer.diff_id else layer
            for layer, diff_id in zip(info.layers, diff_ids, strict=True)
        )
        return dataclasses.replace(cached, image=_with_layers(info, layers))

    def _registry_defaults(self) -> RegistryOptions:
        """Registry pulls keep their blobs beside this scanner's analysis cache."""

        return RegistryOptions(cache_dir=self.scratch_root.parent, use_cache=self.cache is not None)

    def _store_inventory(self, chain: str, inventory: Inventory) -> None:
        if self.cache is None or not chain:
            return
        try:
            self.cache.put(
                chain, detectors_key(self.detectors), encode_inventory(inventory), kind="images"
            )
        except CacheError as exc:
            log.warning("%s", exc)

    def analyze_layers(
        self, image: OpenImage, verified: dict[int, str] | None = None
    ) -> list[LayerAnalysis]:
        """One analysis per layer, from the cache when possible, else by streaming the layer.

        `verified` holds the stored digests of layers already hashed in this scan (by index).
        """
        key = detectors_key(self.detectors)
        layers = image.info.layers
        verified = {} if verified is None else verified
        cached: dict[int, LayerAnalysis] = {}
        for layer in layers:
            claimed = self._claimed_key(layer)
            found = self._cached(claimed, key)
            if found is not None and found.diff_id in ("", claimed):
                cached[layer.index] = found
        if cached:  # hashed together: the layers of a local image are checked side by side
            candidates = [layer for layer in layers if layer.index in cached]
            keys = self._verified_keys(image, candidates, verified)
            for layer, known in zip(candidates, keys, strict=True):
                if known != self._claimed_key(layer):
                    del cached[layer.index]  # not known to be that content: read it
        analyses: list[LayerAnalysis] = []
        self.progress.begin(f"Reading {len(layers)} layer(s)", len(layers))
        scratch: Path | None = None
        scratch_stack = contextlib.ExitStack()
        inflate_budget = DecompressionBudget()  # one per image, across all of its layers
        try:
            for layer in layers:
                if layer.index in cached:
                    analyses.append(cached[layer.index])
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
                if inflate_budget.refusals == refusals:
                    self._store_analysis(layer, analysis, key)
                self.progress.advance(f"layer {layer.index + 1}")
        finally:
            self.progress.end()
            scratch_stack.close()
        return analyses

    def _store_analysis(self, layer: LayerInfo, analysis: LayerAnalysis, key: str) -> None:
        """Cache a layer just read, under the diffID the read verified, and bind its blob
        digest to that diffID, so that hashing the blob is enough to find it again."""
        content = analysis.diff_id
        if self.cache is None or not content:
            return
        try:
            self.cache.put(content, key, encode_analysis(analysis))
            if layer.digest and layer.digest != content:
                self.cache.put(layer.digest, _BINDING, {"diff_id": content})
        except CacheError as exc:
            log.warning("%s", exc)

    def source_of(self, reference: str | ImageRef | ImageSource) -> ImageSource:
        """The source of a reference, opened with this scanner's default registry options."""
        if isinstance(reference, str):
            reference = parse_image_ref(reference)
        if isinstance(reference, RegistryRef | LocalRef):
            return open_image(reference, self._registry_defaults())
        return reference

    def layer_is_uncached(self, layer: LayerInfo) -> bool:
        """Whether this layer must be read (a registry pull downloads those ahead). With
        `claims`, a layer that must be is claimed first; when another process held the claim,
        it has most likely just stored the analysis, so the cache is asked again."""
        if self.layer_is_cached(layer):
            return False
        if self.claims is None:
            return True
        content = self._claimed_key(layer) or layer.digest
        if not content:
            return True
        waited = self.claims.claim(f"layer {content} {detectors_key(self.detectors)}")
        return not (waited and self.layer_is_cached(layer))

    def layer_is_cached(self, layer: LayerInfo) -> bool:
        """Whether a cached analysis may spare reading this layer (its bytes still get
        checked): for deciding which registry layers to download ahead."""
        if self.cache is None:
            return False
        claimed = self._claimed_key(layer)
        if not claimed or self._cached(claimed, detectors_key(self.detectors)) is None:
            return False
        return not (layer.digest and layer.digest != claimed) or (
            self._bound_diff_id(layer.digest) == claimed
        )

    def _cached(self, cache_key: str, key: str) -> LayerAnalysis | None:
        if self.cache is None or not cache_key:
            return None
        data = self.cache.get(cache_key, key)
        if data is None:
            return None
        try:
            return decode_analysis(data, f"cached analysis of {cache_key}")
        except CodecError as exc:
            log.warning("ignoring %s", exc)
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


def _chain_key(keys: Sequence[str]) -> str:
    """Names the whole stack of layers by their diffIDs; "" when one is not known, as with
    `dir:` sources, which are never cached."""
    if not keys or not all(keys):
        return ""
    return "sha256:" + hashlib.sha256("\n".join(keys).encode()).hexdigest()


def _with_layers(info: ImageInfo, layers: tuple[LayerInfo, ...]) -> ImageInfo:
    return dataclasses.replace(info, layers=layers)


def _layer_with_diff_id(layer: LayerInfo, diff_id: str) -> LayerInfo:
    return dataclasses.replace(layer, diff_id=diff_id)
