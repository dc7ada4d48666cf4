"""`basewatch advise`: should this image's base be refreshed, updated or replaced, and does the
image need a rebuild?

Three kinds of recommendation, each with the findings that go away and arrive and the size
change: refresh (the base's tag now points to a newer digest), update (a newer tag of the same
line: `bookworm` -> `trixie`, `3.19` -> `3.20`, `3.11-slim` -> `3.12-slim`), alternative (other
candidates the user lists). Plus a rebuild verdict with its reasons.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from basewatch.errors import Error
from basewatch.models import BaseImage, FixStatus, Inventory, Origin, PackageType, ScanResult

DEBIAN_CODENAMES = ("buster", "bullseye", "bookworm", "trixie", "forky", "duke")
_NUMERIC_TAG = re.compile(r"^v?(\d+(?:\.\d+)*)(.*)$")
_OS_TYPES = (PackageType.DEB, PackageType.APK, PackageType.RPM)


class TagSource(Protocol):
    """What advice needs from a registry: where a tag points now, and which tags exist."""

    def digests(self, reference: str) -> tuple[str, ...]:
        """What `reference` points at now: the platform manifest's digest first, then the
        index digest when there is one (a base's recorded digest may be either)."""
        ...

    def tags(self, repository: str) -> Sequence[str]:
        """Every tag of a repository ("docker.io/library/debian")."""
        ...


@dataclass(frozen=True, slots=True)
class Recommendation:
    kind: str  # "refresh", "update" or "alternative"
    reference: str
    digest: str = ""
    fixes: tuple[str, ...] = ()  # finding ids of the current base that go away
    arrives: tuple[str, ...] = ()  # finding ids the candidate brings
    size_delta: int | None = None  # compressed bytes, candidate minus current base
    changed_packages: tuple[tuple[str, str, str], ...] = ()  # (name, current, candidate)
    note: str = ""


@dataclass(frozen=True, slots=True)
class Advice:
    image: str
    base: BaseImage | None
    recommendations: tuple[Recommendation, ...]
    rebuild: bool
    reasons: tuple[str, ...]
    warnings: tuple[str, ...] = ()


def split_reference(reference: str) -> tuple[str, str]:
    """(repository, tag) of `[registry:]repo[:tag][@digest]`; tag "" when there is none."""
    without_digest = reference.removeprefix("registry:").split("@", 1)[0]
    slash = without_digest.rfind("/")
    colon = without_digest.rfind(":")
    if colon > slash:
        return without_digest[:colon], without_digest[colon + 1 :]
    return without_digest, ""


def newer_tags(tag: str, available: Sequence[str]) -> list[str]:
    """Tags of the same line as `tag` that are newer, newest first.

    Debian codenames follow the release order, keeping any suffix (`bookworm-slim` ->
    `trixie-slim`); numeric tags must keep the same suffix and the same number of parts
    (`3.11-slim` -> `3.12-slim`, never `3.12.1-slim` or `3.12-alpine`).
    """
    for index, codename in enumerate(DEBIAN_CODENAMES):
        if tag == codename or tag.startswith(codename + "-"):
            suffix = tag[len(codename) :]
            later = [c + suffix for c in DEBIAN_CODENAMES[index + 1 :]]
            return [t for t in reversed(later) if t in available]
    match = _NUMERIC_TAG.match(tag)
    if not match:
        return []
    parts = tuple(int(p) for p in match.group(1).split("."))
    suffix = match.group(2)
    found = []
    for candidate in available:
        other = _NUMERIC_TAG.match(candidate)
        if not other or other.group(2) != suffix:
            continue
        numbers = tuple(int(p) for p in other.group(1).split("."))
        if len(numbers) == len(parts) and numbers > parts:
            found.append((numbers, candidate))
    return [c for _, c in sorted(found, reverse=True)]


def finding_keys(result: ScanResult | None, base_only: bool) -> set[str]:
    """`package:id` for each finding (of the base's packages only, when asked)."""
    if result is None:
        return set()
    return {
        f"{f.package.name}:{f.id}"
        for f in result.findings
        if not base_only or f.package.origin is not Origin.APP
    }


def compare_bases(
    kind: str,
    reference: str,
    digest: str,
    current: Inventory,
    current_scan: ScanResult | None,
    candidate: Inventory,
    candidate_scan: ScanResult | None,
    note: str = "",
) -> Recommendation:
    """The finding, size and package deltas of replacing the current base with `candidate`."""
    current_keys = finding_keys(current_scan, base_only=True)
    candidate_keys = finding_keys(candidate_scan, base_only=False)
    base_layers = current.base.layers if current.base else len(current.image.layers)
    current_size = sum(layer.size for layer in current.image.layers[:base_layers])
    candidate_size = sum(layer.size for layer in candidate.image.layers)
    mine = {
        p.name: p.version
        for p in current.packages
        if p.type in _OS_TYPES and p.origin is not Origin.APP
    }
    theirs = {p.name: p.version for p in candidate.packages if p.type in _OS_TYPES}
    changed = tuple(
        sorted(
            (name, mine[name], theirs[name])
            for name in mine.keys() & theirs.keys()
            if mine[name] != theirs[name]
        )
    )
    return Recommendation(
        kind=kind,
        reference=reference,
        digest=digest,
        fixes=tuple(sorted(current_keys - candidate_keys)),
        arrives=tuple(sorted(candidate_keys - current_keys)),
        size_delta=candidate_size - current_size if current_size and candidate_size else None,
        changed_packages=changed,
        note=note,
    )


def rebuild_reasons(
    inventory: Inventory,
    scan: ScanResult | None,
    refreshed: bool,
    eol: dt.date | None,
    today: dt.date,
) -> list[str]:
    reasons = []
    if refreshed:
        reasons.append("the base image's tag now points to a newer digest")
    if scan is not None:
        fixable = [
            f for f in scan.findings if f.package.type in _OS_TYPES and f.status is FixStatus.FIXED
        ]
        if fixable:
            reasons.append(
                f"fixed versions exist for installed OS packages: a rebuild with upgrades "
                f"would fix {len(fixable)} finding(s)"
            )
    if eol is not None:
        os = inventory.os
        release = f"{os.id} {os.version_id}" if os else "the release"
        if eol < today:
            reasons.append(f"{release} reached end of life on {eol.isoformat()}")
        elif (eol - today).days <= 90:
            reasons.append(f"{release} reaches end of life on {eol.isoformat()} (within 90 days)")
    return reasons


InventoryOf = Callable[[str], tuple[Inventory, ScanResult | None]]


def advise(
    image: Inventory,
    scan: ScanResult | None,
    inventory_of: InventoryOf,
    tags: TagSource | None,
    alternatives: Sequence[str],
    eol: dt.date | None,
    today: dt.date,
) -> Advice:
    """Recommendations for `image`; `inventory_of` reads (and matches) a candidate base."""
    recommendations: list[Recommendation] = []
    warnings: list[str] = []
    base = image.base
    refreshed = False
    if base is not None and base.reference and tags is not None:
        repository, tag = split_reference(base.reference)
        tagged = f"{repository}:{tag}" if tag else repository
        try:
            pointing = tags.digests(tagged)
        except Error as exc:  # registry trouble must not hide the offline verdicts
            warnings.append(f"cannot resolve {tagged}: {exc}")
            pointing = ()
        now = pointing[0] if pointing else ""
        if now and base.digest and base.digest not in pointing:
            refreshed = True
            current, current_scan = image, scan
            candidate, candidate_scan = inventory_of(f"{tagged}@{now}")
            recommendations.append(
                compare_bases(
                    "refresh", tagged, now, current, current_scan, candidate, candidate_scan
                )
            )
        if tag:
            try:
                newer = newer_tags(tag, tags.tags(repository))
            except Error as exc:
                warnings.append(f"cannot list the tags of {repository}: {exc}")
                newer = []
            if newer:
                reference = f"{repository}:{newer[0]}"
                candidate, candidate_scan = inventory_of(reference)
                recommendations.append(
                    compare_bases("update", reference, "", image, scan, candidate, candidate_scan)
                )
    elif base is None:
        warnings.append("the base image is unknown: refresh and update advice need it")
    elif tags is None:
        warnings.append("no registry access: refresh and update advice were skipped")
    for reference in alternatives:
        candidate, candidate_scan = inventory_of(reference)
        recommendations.append(
            compare_bases("alternative", reference, "", image, scan, candidate, candidate_scan)
        )
    reasons = rebuild_reasons(image, scan, refreshed, eol, today)
    return Advice(
        image=image.image.reference,
        base=base,
        recommendations=tuple(recommendations),
        rebuild=bool(reasons),
        reasons=tuple(reasons),
        warnings=tuple(warnings),
    )
