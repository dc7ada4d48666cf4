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
from enum import StrEnum
from typing import Protocol, assert_never

from basewatch.advice.compare import Coverage, coverage, unchecked_of, why_unchecked
from basewatch.errors import Error
from basewatch.models import BaseImage, FixStatus, Inventory, Origin, ScanResult, is_os_package
from basewatch.oci.reference import split_pinned
from basewatch.vulndb.eol import SOON_DAYS, EolStatus, eol_status

DEBIAN_CODENAMES = ("buster", "bullseye", "bookworm", "trixie", "forky", "duke")
_NUMERIC_TAG = re.compile(r"^v?(\d+(?:\.\d+)*)(.*)$")


class TagSource(Protocol):
    """What advice needs from a registry: where a tag points now, and which tags exist."""

    def digests(self, reference: str) -> tuple[str, ...]:
        """What `reference` points at now: the platform manifest's digest first, then the
        index digest when there is one (a base's recorded digest may be either)."""
        ...

    def tags(self, repository: str) -> Sequence[str]:
        """Every tag of a repository ("docker.io/library/debian")."""
        ...


class RecommendationKind(StrEnum):
    REFRESH = "refresh"  # the base's tag now points to a newer digest
    UPDATE = "update"  # a newer tag of the same line
    ALTERNATIVE = "alternative"  # a candidate the user listed


@dataclass(frozen=True, slots=True)
class Recommendation:
    kind: RecommendationKind
    reference: str
    digest: str = ""
    fixes: tuple[str, ...] = ()  # finding ids of the current base that go away
    arrives: tuple[str, ...] = ()  # finding ids the candidate brings
    size_delta: int | None = None  # compressed bytes, candidate minus current base
    changed_packages: tuple[tuple[str, str, str], ...] = ()  # (name, current, candidate)
    note: str = ""
    # What the database could not check (ScanResult.unchecked) in the candidate and in the
    # current image: "arrives: 0" for a release with no advisories would be a false all-clear.
    candidate_unchecked: tuple[str, ...] = ()
    current_unchecked: tuple[str, ...] = ()
    candidate_checked: Coverage = Coverage.NO_DATABASE
    current_checked: Coverage = Coverage.NO_DATABASE

    @property
    def partial(self) -> bool:
        """Whether either side was not (fully) checked, so the deltas are incomplete."""
        return any(
            c in (Coverage.NONE, Coverage.PARTIAL)
            for c in (self.candidate_checked, self.current_checked)
        )


@dataclass(frozen=True, slots=True)
class Advice:
    image: str
    base: BaseImage | None
    recommendations: tuple[Recommendation, ...]
    rebuild: bool
    reasons: tuple[str, ...]
    warnings: tuple[str, ...] = ()
    # What could not be looked at (offline, no advisories): without it, "no rebuild needed"
    # would be a verdict on data basewatch never saw.
    not_checked: tuple[str, ...] = ()

    @property
    def partial(self) -> bool:
        return bool(self.not_checked) or any(r.partial for r in self.recommendations)


def split_reference(reference: str) -> tuple[str, str]:
    """(repository, tag) of `[registry:]repo[:tag][@digest]`; tag "" when there is none."""
    without_digest, _ = split_pinned(reference)
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
    kind: RecommendationKind,
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
        if is_os_package(p.type) and p.origin is not Origin.APP
    }
    theirs = {p.name: p.version for p in candidate.packages if is_os_package(p.type)}
    changed = tuple(
        sorted(
            (name, mine[name], theirs[name])
            for name in mine.keys() & theirs.keys()
            if mine[name] != theirs[name]
        )
    )
    candidate_checked = coverage(candidate_scan) if candidate_scan else Coverage.NO_DATABASE
    # an unchecked candidate has no findings to subtract: nothing can be said to go away
    fixes = (
        () if candidate_checked is Coverage.NONE else tuple(sorted(current_keys - candidate_keys))
    )
    return Recommendation(
        kind=kind,
        reference=reference,
        digest=digest,
        fixes=fixes,
        arrives=tuple(sorted(candidate_keys - current_keys)),
        size_delta=candidate_size - current_size if current_size and candidate_size else None,
        changed_packages=changed,
        note=note,
        candidate_unchecked=unchecked_of(candidate_scan) if candidate_scan else (),
        current_unchecked=unchecked_of(current_scan) if current_scan else (),
        candidate_checked=candidate_checked,
        current_checked=coverage(current_scan) if current_scan else Coverage.NO_DATABASE,
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
            f
            for f in scan.findings
            if is_os_package(f.package.type) and f.status is FixStatus.FIXED
        ]
        if fixable:
            reasons.append(
                f"fixed versions exist for installed OS packages: a rebuild with upgrades "
                f"would fix {len(fixable)} finding(s)"
            )
    if eol is not None:
        os = inventory.os
        release = f"{os.id} {os.version_id}" if os else "the release"
        match eol_status(eol, today):
            case EolStatus.ENDED:
                reasons.append(f"{release} reached end of life on {eol.isoformat()}")
            case EolStatus.ENDING:
                reasons.append(
                    f"{release} reaches end of life on {eol.isoformat()} (within {SOON_DAYS} days)"
                )
            case EolStatus.SUPPORTED | EolStatus.UNKNOWN:
                pass
            case unhandled:
                assert_never(unhandled)
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
    offline: list[str] = []
    base = image.base
    refreshed = False

    def against(kind: RecommendationKind, reference: str, read: str, digest: str = "") -> None:
        """Read the candidate `read` and recommend it (as `reference`) against the image."""
        candidate, candidate_scan = inventory_of(read)
        recommendations.append(
            compare_bases(kind, reference, digest, image, scan, candidate, candidate_scan)
        )

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
            against(RecommendationKind.REFRESH, tagged, f"{tagged}@{now}", now)
        if tag:
            try:
                newer = newer_tags(tag, tags.tags(repository))
            except Error as exc:
                warnings.append(f"cannot list the tags of {repository}: {exc}")
                newer = []
            if newer:
                reference = f"{repository}:{newer[0]}"
                against(RecommendationKind.UPDATE, reference, reference)
    elif base is None:
        warnings.append("the base image is unknown: refresh and update advice need it")
    elif tags is None:
        offline.append(
            f"whether {base.reference or 'the base'} was refreshed or has a newer tag: "
            "no registry access (offline)"
        )
    for reference in alternatives:
        against(RecommendationKind.ALTERNATIVE, reference, reference)
    reasons = rebuild_reasons(image, scan, refreshed, eol, today)
    not_checked = offline
    if scan is not None and coverage(scan) is Coverage.NONE:
        not_checked.append(f"the image's findings ({why_unchecked(unchecked_of(scan))})")
    return Advice(
        image=image.image.reference,
        base=base,
        recommendations=tuple(recommendations),
        rebuild=bool(reasons),
        reasons=tuple(reasons),
        warnings=tuple(warnings),
        not_checked=tuple(not_checked),
    )


def unread_base(image: str, base: BaseImage, why: str) -> Advice:
    """Advice on a base that could not be read (offline, and it is in a registry): nothing is
    recommended and no verdict is given, and the advice says what was not checked."""
    return Advice(
        image=image,
        base=base,
        recommendations=(),
        rebuild=False,
        reasons=(),
        not_checked=(
            f"{base.reference}: {why}: its findings, end of life, refresh and update were "
            "not checked",
        ),
    )
