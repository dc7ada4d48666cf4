"""Matching a stored inventory and keeping the result as the image's findings snapshot.

Each evaluation replaces the snapshot and says what changed against the previous one, which is
what events are made of: findings that are new, fixed (gone), fixable (a fixed version became
known), or on CISA's KEV list since. The matching is the CLI's
(`matching.evaluate.scan_inventory`) against the same vulnerability database, opened once for a
whole batch (`Matcher`).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from datetime import datetime
from types import TracebackType

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from basewatch.clock import Clock
from basewatch.errors import DatabaseError
from basewatch.jobs.seams import VulnData
from basewatch.matching.evaluate import scan_inventory
from basewatch.models import Finding, Inventory, ScanResult, Severity
from basewatch.service.models import (
    Evaluation,
    Event,
    EventType,
    FindingId,
    Image,
    ImageFinding,
)
from basewatch.vulndb.store import VulnStore

Key = tuple[str, str, str]  # (advisory, package, version)


@dataclass
class Change:
    """What one evaluation changed in an image's findings."""

    new: list[Key] = field(default_factory=list)
    fixed: list[Key] = field(default_factory=list)
    fixable: list[Key] = field(default_factory=list)  # had no fixed version, have one now
    kev: list[Key] = field(default_factory=list)  # on the KEV list now, were not (or are new)
    checked: bool = True  # False: there was no usable database, the snapshot was left alone
    # True for an image's first evaluation: its findings are the baseline, not news
    baseline: bool = False


class Matcher:
    """The vulnerability database, opened once for a batch of evaluations (a context manager);
    `problem` says why nothing can be matched (no database, an unusable one)."""

    def __init__(self, vulns: VulnData) -> None:
        self.vulns = vulns
        self.problem = ""
        self._stack = contextlib.ExitStack()
        self._store: VulnStore | None = None

    def __enter__(self) -> Matcher:
        if not self.vulns.exists():
            self.problem = "no vulnerability database"
            return self
        try:
            self._store = self._stack.enter_context(self.vulns.open())
            self._info = self.vulns.info(self._store)
        except DatabaseError as exc:
            self.problem = f"the database is unusable: {exc}"
            self._stack.close()
            self._store = None
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._store = None
        self._stack.close()

    def match(self, inventory: Inventory) -> ScanResult | str:
        """The scan of `inventory`, or why there is none."""
        if self._store is None:
            return self.problem or "the database is not open"
        try:
            return scan_inventory(inventory, self._store, database=self._info)
        except DatabaseError as exc:
            return f"the database is unusable: {exc}"


def _key(finding: Finding) -> Key:
    return (finding.id, finding.package.name, finding.installed_version)


def evaluate_image(
    session: Session, digest: str, inventory: Inventory, matcher: Matcher, clock: Clock
) -> Change:
    """Match `inventory` (image `digest`) and replace its snapshot, adding to the outbox the
    events the difference makes (none for a first evaluation: that is the baseline). The
    caller commits, so the snapshot and its events are stored together or not at all."""
    now = clock.now()
    first = session.get(Evaluation, digest) is None
    result = matcher.match(inventory)
    if isinstance(result, str):
        database = matcher.vulns.location if matcher.vulns.exists() else ""
        _record(session, digest, now, database, [result])
        return Change(checked=False)
    before = {
        (row.advisory, row.package, row.version): row
        for row in session.scalars(select(ImageFinding).where(ImageFinding.digest == digest))
    }
    after = {_key(f): f for f in result.findings}
    change = Change(
        new=sorted(k for k in after if k not in before),
        fixed=sorted(k for k in before if k not in after),
        fixable=sorted(
            k
            for k in after
            if k in before and after[k].fixed_version and not before[k].fixed_version
        ),
        kev=sorted(k for k in after if after[k].kev and (k not in before or not before[k].kev)),
        baseline=first,
    )
    session.execute(delete(ImageFinding).where(ImageFinding.digest == digest))
    session.execute(delete(FindingId).where(FindingId.digest == digest))
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
    ids = {(i, f.id) for f in result.findings for i in (f.id, *f.aliases) if i}
    session.add_all(FindingId(digest=digest, id=i, advisory=a) for i, a in sorted(ids))
    _record(session, digest, now, matcher.vulns.location, list(result.unchecked))
    if not first:
        image = session.get(Image, digest)
        repository = image.repository if image is not None else ""
        gone = [_row_document(before[k]) for k in change.fixed]
        for kind, keys in (
            (EventType.FINDINGS_NEW, change.new),
            (EventType.FINDINGS_FIXABLE, change.fixable),
            (EventType.KEV_ADDED, change.kev),
        ):
            if keys:
                findings = [finding_document(after[k]) for k in keys]
                add_event(session, kind, digest, repository, findings, now)
        if gone:
            add_event(session, EventType.FINDINGS_FIXED, digest, repository, gone, now)
    return change


def add_event(
    session: Session,
    kind: EventType,
    digest: str,
    repository: str,
    findings: list[dict[str, object]],
    when: datetime,
) -> None:
    """An event about findings of one image; its severity is the highest of theirs."""
    severity = max(
        (Severity(str(f["severity"])) for f in findings),
        key=lambda s: s.rank,
        default=Severity.UNKNOWN,
    )
    session.add(
        Event(
            type=kind.value,
            digest=digest,
            repository=repository,
            severity=severity.value,
            payload={"image": {"digest": digest, "repository": repository}, "findings": findings},
            created_at=when,
        )
    )


def finding_document(finding: Finding) -> dict[str, object]:
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
