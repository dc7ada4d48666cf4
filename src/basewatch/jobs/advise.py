"""The advise job: for an image (or each FROM image of a Dockerfile), the refresh, update and
alternative bases with their finding deltas, and a rebuild verdict."""

from __future__ import annotations

import contextlib
import dataclasses
from dataclasses import dataclass
from pathlib import Path

from basewatch.advice.advise import Advice, advise, unread_base
from basewatch.clock import today
from basewatch.errors import DockerfileReadError, LintError, UsageError
from basewatch.jobs.seams import Seams
from basewatch.lint.parse import decode, parse_dockerfile
from basewatch.lint.read import read_dockerfile
from basewatch.matching.evaluate import scan_inventory
from basewatch.models import BaseImage, BaseMethod, Confidence, Inventory, ScanResult
from basewatch.oci.reference import split_pinned
from basewatch.vulndb.eol import eol_lookup_from_table, release_cycle
from basewatch.vulndb.store import VulnStore


@dataclass(frozen=True, slots=True)
class AdviseRequest:
    """Advise on `image`, or on the external bases of the Dockerfile at `dockerfile`."""

    image: str | None = None
    dockerfile: Path | None = None
    alternatives: tuple[str, ...] = ()
    platform: str | None = None


@dataclass(frozen=True, slots=True)
class AdviseOutcome:
    advice: tuple[Advice, ...]
    database: bool  # whether a vulnerability database was there (else no finding deltas)


def advise_images(request: AdviseRequest, seams: Seams) -> AdviseOutcome:
    """One `Advice` per image advised on. Registry images are read only when the opener may
    use the network; offline, what the local catalog knows is reported instead."""
    if (request.image is None) == (request.dockerfile is None):
        raise UsageError("advise on an image or on a Dockerfile (one of them)")
    if request.image is not None:
        references = [request.image]
    else:
        assert request.dockerfile is not None  # checked above; narrows the type
        references = dockerfile_bases(request.dockerfile)
    images = seams.images
    tags = images.tags(request.platform)
    alternatives = [a for a in request.alternatives if tags is not None or _local(seams, a)]
    skipped = [a for a in request.alternatives if a not in alternatives]
    lookup = eol_lookup_from_table(seams.settings.eol_table)
    day = today(seams.clock)
    outcome: list[Advice] = []
    with contextlib.ExitStack() as stack:
        store = _open_store(seams, stack)

        def inventory_of(reference: str) -> tuple[Inventory, ScanResult | None]:
            source = images.open(images.parse(reference), seams.scanner)
            found = seams.scanner.inventory(source, platform=request.platform)
            return found, scan_inventory(found, store) if store is not None else None

        for reference in references:
            dockerfile = request.dockerfile
            if dockerfile is not None and tags is None and not _local(seams, reference):
                advice = _unread_from(seams, dockerfile, reference)
            else:
                inventory, scan = inventory_of(reference)
                if dockerfile is not None:
                    # a FROM line names the base the Dockerfile builds on, not an application
                    inventory = _as_base(inventory, reference)
                os = inventory.os
                eol = (
                    lookup(os.id, release_cycle(os.id, os.version_id))
                    if os and os.version_id
                    else None
                )
                advice = advise(inventory, scan, inventory_of, tags, alternatives, eol, day)
                if dockerfile is not None:
                    advice = dataclasses.replace(advice, image=f"{dockerfile} (FROM {reference})")
            if skipped:
                advice = dataclasses.replace(
                    advice,
                    not_checked=(
                        *advice.not_checked,
                        *(f"alternative {a}: it is in a registry (offline)" for a in skipped),
                    ),
                )
            outcome.append(advice)
        return AdviseOutcome(tuple(outcome), database=store is not None)


def _open_store(seams: Seams, stack: contextlib.ExitStack) -> VulnStore | None:
    """The read-only store when the database exists, else None (advice without deltas)."""
    if not seams.vulns.exists():
        return None
    return stack.enter_context(seams.vulns.open())


def _local(seams: Seams, reference: str) -> bool:
    try:
        return seams.images.is_local(seams.images.parse(reference))
    except UsageError:
        return True  # unusable as a reference: reading it says why


def _as_base(inventory: Inventory, reference: str) -> Inventory:
    """The FROM image as the base being advised on: all its layers are the base's."""
    image = inventory.image
    name, pinned = split_pinned(reference)
    base = BaseImage(
        reference=name,
        digest=pinned or image.manifest_digest or image.config_digest,
        method=BaseMethod.DOCKERFILE,
        confidence=Confidence.HIGH,
        layers=len(image.layers),
    )
    return dataclasses.replace(inventory, base=base)


def _unread_from(seams: Seams, dockerfile: Path, reference: str) -> Advice:
    """Offline advice on a FROM image that is in a registry: what the catalog knows of it."""
    name, pinned = split_pinned(reference)
    catalog = seams.scanner.catalog
    seen = None
    if catalog is not None:
        # the catalog records every image read before: the digest and layers it had then
        seen = next((e for e in catalog.entries() if e.reference == reference), None)
    base = BaseImage(
        reference=name,
        digest=pinned or (seen.digest if seen else ""),
        method=BaseMethod.DOCKERFILE,
        confidence=Confidence.HIGH,
        layers=len(seen.diff_ids) if seen else 0,
    )
    why = "it is in a registry, and the network may not be used"
    if seen is not None:
        why += f" (the local catalog last saw it at {seen.digest})"
    return unread_base(f"{dockerfile} (FROM {reference})", base, why)


def dockerfile_bases(path: Path) -> list[str]:
    """The external base images of a Dockerfile's stages (stage aliases, scratch and bases
    built from ARGs without a default are skipped)."""

    try:
        dockerfile = parse_dockerfile(decode(read_dockerfile(path)), str(path))
    except (DockerfileReadError, LintError) as exc:
        raise UsageError(str(exc)) from exc
    bases = [stage.base_resolved for stage in dockerfile.stages if stage.ref is not None]
    if not bases:
        raise UsageError(f"{path}: no external base image in its FROM lines")
    return list(dict.fromkeys(bases))
