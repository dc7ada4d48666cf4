"""Matching a stored inventory and keeping the result as the image's findings snapshot.

Each evaluation replaces the snapshot and says what changed against the previous one (new and
fixed findings), which is what events are made of. The matching is the CLI's
(`matching.evaluate.scan_inventory`) against the same vulnerability database.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from basewatch.clock import Clock
from basewatch.errors import DatabaseError
from basewatch.jobs.seams import VulnData
from basewatch.matching.evaluate import scan_inventory
from basewatch.models import Finding, Inventory
from basewatch.service.models import Evaluation, Event, EventType, Image, ImageFinding

Key = tuple[str, str, str]  # (advisory, package, version)


@dataclass
class Change:
    """What one evaluation changed in an image's findings."""

    new: list[Key] = field(default_factory=list)
    fixed: list[Key] = field(default_factory=list)
    checked: bool = True  # False: there was no usable database, the snapshot was left alone
    # True for an image's first evaluation: its findings are the baseline, not news
    baseline: bool = False


def _key(finding: Finding) -> Key:
    return (finding.id, finding.package.name, finding.installed_version)


def evaluate_image(
    session: Session, digest: str, inventory: Inventory, vulns: VulnData, clock: Clock
) -> Change:
    """Match `inventory` (image `digest`) and replace its snapshot, adding to the outbox the
    events the difference makes (none for a first evaluation: that is the baseline). The
    caller commits, so the snapshot and its events are stored together or not at all."""
    now = clock.now()
    first = session.get(Evaluation, digest) is None
    if not vulns.exists():
        _record(session, digest, now, "", ["no vulnerability database"])
        return Change(checked=False)
    try:
        with vulns.open() as store:
            result = scan_inventory(inventory, store, database=vulns.info(store))
    except DatabaseError as exc:
        _record(session, digest, now, vulns.location, [f"the database is unusable: {exc}"])
        return Change(checked=False)
    before = {
        (row.advisory, row.package, row.version): row
        for row in session.scalars(select(ImageFinding).where(ImageFinding.digest == digest))
    }
    after = {_key(f): f for f in result.findings}
    change = Change(
        new=sorted(k for k in after if k not in before),
        fixed=sorted(k for k in before if k not in after),
        baseline=first,
    )
    session.execute(delete(ImageFinding).where(ImageFinding.digest == digest))
    session.flush()
    session.add_all(
        ImageFinding(
            digest=digest,
            advisory=key[0],
            package=key[1],
            version=key[2],
            aliases=list(finding.aliases),
            ecosystem=finding.package.ecosystem,
            severity=finding.severity.value,
            fixed_version=finding.fixed_version,
            kev=finding.kev,
            first_seen=before[key].first_seen if key in before else now,
        )
        for key, finding in sorted(after.items())
    )
    _record(session, digest, now, vulns.location, list(result.unchecked))
    if not first:
        image = session.get(Image, digest)
        repository = image.repository if image is not None else ""
        new = [_finding_document(after[k]) for k in change.new]
        fixed = [_row_document(before[k]) for k in change.fixed]
        for kind, findings in ((EventType.FINDINGS_NEW, new), (EventType.FINDINGS_FIXED, fixed)):
            if findings:
                session.add(
                    Event(
                        type=kind.value,
                        digest=digest,
                        repository=repository,
                        payload={
                            "image": {"digest": digest, "repository": repository},
                            "findings": findings,
                        },
                        created_at=now,
                    )
                )
    return change


def _finding_document(finding: Finding) -> dict[str, object]:
    return {
        "id": finding.id,
        "aliases": list(finding.aliases),
        "package": finding.package.name,
        "version": finding.installed_version,
        "severity": finding.severity.value,
        "fixed_version": finding.fixed_version,
        "kev": finding.kev,
    }


def _row_document(row: ImageFinding) -> dict[str, object]:
    return {
        "id": row.advisory,
        "aliases": list(row.aliases),
        "package": row.package,
        "version": row.version,
        "severity": row.severity,
        "fixed_version": row.fixed_version,
        "kev": row.kev,
    }


def _record(
    session: Session, digest: str, when: datetime, database: str, unchecked: list[str]
) -> None:
    session.merge(
        Evaluation(digest=digest, evaluated_at=when, database=database, unchecked=unchecked)
    )
