"""The advise result on an image's page: what refreshing its base, moving to the newer tag of
its line, or moving to a configured alternative would fix and bring, and the size change.

Everything comes from what the service stored, nothing is pulled: the image's inventory, and
the inventories of the base tags the watcher records (the image's base, the newer tag it found
when it listed the base's repository, the `alternatives` setting). Each is matched against the
vulnerability database as it is now and compared as the advise job compares bases
(`advice.advise.compare_bases`: the base's findings in the image against the candidate's).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from basewatch.advice.advise import Recommendation, RecommendationKind, compare_bases, newer_tags
from basewatch.jobs.seams import SqliteVulnData
from basewatch.models import Inventory, ScanResult
from basewatch.service.evaluate import Matcher
from basewatch.service.inventories import SqlInventoryStore
from basewatch.service.models import BaseTag, Image


@dataclass(frozen=True, slots=True)
class Option:
    """One base the image could be rebuilt on, and what that would change."""

    kind: RecommendationKind
    base: BaseTag
    recommendation: Recommendation

    @property
    def fixes(self) -> list[tuple[str, str]]:
        """(package, advisory id) of each finding that goes away."""
        return [_split(key) for key in self.recommendation.fixes]

    @property
    def arrives(self) -> list[tuple[str, str]]:
        return [_split(key) for key in self.recommendation.arrives]


@dataclass(slots=True)
class ImageAdvice:
    options: list[Option] = field(default_factory=list)
    not_checked: list[str] = field(default_factory=list)  # said first on the page


def _split(key: str) -> tuple[str, str]:
    package, _, advisory = key.partition(":")
    return package, advisory


def image_advice(
    db: Session,
    inventories: SqlInventoryStore,
    vulns: SqliteVulnData,
    image: Image,
    inventory: Inventory | None,
    alternatives: tuple[str, ...],
) -> ImageAdvice:
    """The refresh, update and alternative options of `image` (with what was not checked)."""
    advice = ImageAdvice()
    if inventory is None:
        advice.not_checked.append("the image's stored inventory cannot be read: no advice")
        return advice
    base = (
        db.scalar(select(BaseTag).where(BaseTag.reference == image.base_reference))
        if image.base_reference
        else None
    )
    wanted: list[tuple[RecommendationKind, BaseTag]] = []
    if base is None:
        advice.not_checked.append(
            "refresh and update: the image's base is not known (no label, annotation or "
            "matching layers)"
        )
    elif base.problem:
        advice.not_checked.append(f"refresh and update: {base.reference}: {base.problem}")
    else:
        if base.digest and image.base_digest and base.digest != image.base_digest:
            wanted.append((RecommendationKind.REFRESH, base))
        elif not image.base_digest:
            advice.not_checked.append(
                f"refresh: the digest of {base.reference} it was built on is not known"
            )
        same_line = list(
            db.scalars(
                select(BaseTag).where(BaseTag.repository == base.repository, BaseTag.id != base.id)
            )
        )
        by_tag = {row.tag: row for row in same_line if not row.problem}
        newer = newer_tags(base.tag, list(by_tag))
        if newer:
            wanted.append((RecommendationKind.UPDATE, by_tag[newer[0]]))
    chosen = {row.reference for _, row in wanted}
    for reference in alternatives:
        row = db.scalar(select(BaseTag).where(BaseTag.reference == reference))
        if row is None or not row.manifest_digest:
            why = row.problem if row is not None and row.problem else "not read yet"
            advice.not_checked.append(f"alternative {reference}: {why}")
        elif reference not in chosen and reference != image.base_reference:
            wanted.append((RecommendationKind.ALTERNATIVE, row))
    if not wanted:
        return advice
    with Matcher(vulns) as matcher:
        if matcher.problem:
            advice.not_checked.append(f"finding deltas: {matcher.problem}")
        scan = _scan(matcher, inventory)
        for kind, row in wanted:
            candidate = inventories.get(row.manifest_digest) if row.manifest_digest else None
            if candidate is None:
                advice.not_checked.append(f"{kind.value} {row.reference}: not inventoried yet")
                continue
            recommendation = compare_bases(
                kind,
                row.reference,
                row.digest,
                inventory,
                scan,
                candidate,
                _scan(matcher, candidate),
            )
            advice.options.append(Option(kind, row, recommendation))
    return advice


def _scan(matcher: Matcher, inventory: Inventory) -> ScanResult | None:
    found = matcher.match(inventory)
    return None if isinstance(found, str) else found
