"""From per-layer analyses to the image's inventory: final state, layer attribution, purls."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from basewatch.inventory.detector import FileResult
from basewatch.inventory.dpkg import STATUS, STATUS_D
from basewatch.inventory.layers import LayerAnalysis
from basewatch.inventory.osinfo import detect_os
from basewatch.inventory.ownership import mark_owned
from basewatch.inventory.purl import ecosystem_for, purl_for
from basewatch.inventory.python import join_wheel_tags
from basewatch.models import EntryKind, ImageInfo, Inventory, OSInfo, Package
from basewatch.oci.filesystem import FileSystemView

Identity = tuple[str, str, str, str, str]


def assemble(image: ImageInfo, analyses: Sequence[LayerAnalysis]) -> Inventory:
    """The inventory of the final filesystem that `analyses` (one per layer, in order) describe."""
    view = FileSystemView.from_layers(a.entries for a in analyses)
    live: list[tuple[int, FileResult]] = []
    for index, analysis in enumerate(analyses):
        for result in analysis.results:
            entry = view.lstat(result.path)
            if entry is not None and entry[1] == index and entry[0].kind is EntryKind.FILE:
                live.append((index, result))

    joined = join_wheel_tags(result for _, result in live)
    live = [(index, result) for (index, _), result in zip(live, joined, strict=True)]

    warnings: list[str] = []
    packages: list[Package] = []
    for index, result in live:
        warnings.extend(result.warnings)
        history = _history(result.path, index, analyses) if result.database else []
        for package in result.packages:
            layer = _introduced_in(package, index, history)
            packages.append(dataclasses.replace(package, layer=analyses[layer].diff_id))

    packages = mark_owned(_merge_duplicates(packages), (result for _, result in live))
    facts_by_path = {result.path: result.facts for _, result in live if result.facts}

    def facts(path: str) -> tuple[tuple[str, str], ...] | None:
        resolved = view.resolve(path)
        if resolved.entry is None:
            return None
        return facts_by_path.get(resolved.path)

    distroless = any(
        r.path.startswith(STATUS_D) and r.packages for _, r in live
    ) and not view.exists(STATUS)
    os = detect_os(facts, packages, distroless)
    final = tuple(sorted((_identify(p, os) for p in packages), key=_order))
    return Inventory(
        image=image,
        os=os,
        packages=final,
        warnings=tuple(dict.fromkeys(warnings)),
        filesystem_bytes=sum(e.size for e, _ in view.walk() if e.kind is EntryKind.FILE),
    )


def _history(
    path: str, final_index: int, analyses: Sequence[LayerAnalysis]
) -> list[tuple[int, frozenset[Identity]]]:
    """Earlier versions of a database file, newest first: (layer, package identities).

    Stops at a layer whose successor deleted the file (whiteout or opaque directory): what came
    before that was gone, and cannot have introduced anything still present.
    """
    history = []
    for index in range(final_index - 1, -1, -1):
        if _deletes(analyses[index + 1], path):
            break
        # A version that could not be read says nothing either way: look further back.
        earlier = [
            r for r in analyses[index].results if r.path == path and (r.packages or not r.warnings)
        ]
        if earlier:
            history.append((index, frozenset(p.identity() for r in earlier for p in r.packages)))
    return history


def _introduced_in(
    package: Package, final_index: int, history: list[tuple[int, frozenset[Identity]]]
) -> int:
    """The earliest layer from which the package is in every version of its database file.

    A database is rewritten by every layer that installs or removes anything, so the layer that
    last wrote it says nothing about this package; walking back until the package (same name,
    version and arch) is missing finds the layer that really added it.
    """
    identity = package.identity()
    introduced = final_index
    for index, identities in history:
        if identity not in identities:
            break
        introduced = index
    return introduced


def _deletes(analysis: LayerAnalysis, path: str) -> bool:
    for entry in analysis.entries:
        if entry.kind is EntryKind.WHITEOUT and (
            path == entry.path or path.startswith(entry.path + "/")
        ):
            return True
        if entry.kind is EntryKind.OPAQUE and path.startswith(entry.path.rstrip("/") + "/"):
            return True
    return False


def _merge_duplicates(packages: list[Package]) -> list[Package]:
    """One record per package: an image can hold the same database twice (rpm's old and new
    locations, a copied site-packages); the evidence of each copy is kept."""
    merged: dict[tuple[Identity, str], Package] = {}
    for package in packages:
        key = (package.identity(), package.layer)
        if key in merged:
            first = merged[key]
            evidence = tuple(dict.fromkeys(first.evidence + package.evidence))
            merged[key] = dataclasses.replace(first, evidence=evidence)
        else:
            merged[key] = package
    return list(merged.values())


def _identify(package: Package, os: OSInfo | None) -> Package:
    return dataclasses.replace(
        package, ecosystem=ecosystem_for(package, os), purl=purl_for(package, os)
    )


def _order(package: Package) -> tuple[str, str, str, str, str, tuple[str, ...]]:
    return (
        package.type.value,
        package.namespace,
        package.name,
        package.version,
        package.arch,
        package.evidence,
    )
