"""Matching a stored inventory and keeping the result as the image's findings snapshot.

Each evaluation replaces the snapshot and says what changed against the previous one, which is
what events are made of: findings that are new, fixed (gone), fixable (a fixed version became
known), or on CISA's KEV list since. The matching is the CLI's
(`matching.evaluate.scan_inventory`) against the same vulnerability database, opened once for a
whole batch (`Matcher`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from types import TracebackType
from typing import Any, TypeVar, cast

from sqlalchemy import Row, Table, bindparam, delete, insert, select, tuple_, update
from sqlalchemy.orm import Session

from basewatch.clock import Clock
from basewatch.errors import DatabaseError
from basewatch.jobs.seams import VulnData
from basewatch.matching.evaluate import scan_inventory
from basewatch.matching.matcher import MatchCache
from basewatch.models import Finding, Inventory, ScanResult, Severity
from basewatch.service.models import (
    Evaluation,
    Event,
    EventType,
    FindingCounts,
    FindingId,
    Image,
    ImageFinding,
)
from basewatch.vulndb.store import VulnStore

Key = tuple[str, str, str]  # (advisory, package, version)
_T = TypeVar("_T")
_FINDINGS = cast(Table, ImageFinding.__table__)
_IDS = cast(Table, FindingId.__table__)


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
    # the scan made (what the image's policies are evaluated on); None: nothing was matched
    scan: ScanResult | None = field(default=None, repr=False)


class Matcher:
    """The vulnerability database, opened once for a batch of evaluations (a context manager);
    `problem` says why nothing can be matched (no database, an unusable one)."""

    def __init__(self, vulns: VulnData) -> None:
        self.vulns = vulns
        self.problem = ""
        self._stack = contextlib.ExitStack()
        self._store: VulnStore | None = None
        self._cache = MatchCache()  # the store does not change while it is open here

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
        self._cache = MatchCache()
        self._stack.close()

    def match(self, inventory: Inventory) -> ScanResult | str:
        """The scan of `inventory`, or why there is none."""
        if self._store is None:
            return self.problem or "the database is not open"
        try:
            return scan_inventory(inventory, self._store, database=self._info, cache=self._cache)
        except DatabaseError as exc:
            return f"the database is unusable: {exc}"


def _key(finding: Finding) -> Key:
    return (finding.id, finding.package.name, finding.installed_version)


def evaluate_image(
    session: Session, digest: str, inventory: Inventory, matcher: Matcher, clock: Clock
) -> Change:
    """Match `inventory` (image `digest`) and bring its snapshot up to date, adding to the
    outbox the events the difference makes (none for a first evaluation: that is the
    baseline). Only the findings that changed are written. The caller commits, so the
    snapshot and its events are stored together or not at all."""
    now = clock.now()
    evaluation = session.get(Evaluation, digest)
    result = matcher.match(inventory)
    if isinstance(result, str):
        database = matcher.vulns.location if matcher.vulns.exists() else ""
        _record(session, evaluation, digest, now, database, [result])
        return Change(checked=False)
    table = _FINDINGS
    columns = [table.c[name] for name in ("advisory", "package", "version", *_FACTS)]
    before = {
        (row.advisory, row.package, row.version): row
        for row in session.execute(select(*columns).where(table.c.digest == digest))
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
        baseline=evaluation is None,
        scan=result,
    )
    _write_findings(session, digest, before, after, now)
    _write_ids(session, digest, result.findings)
    counts = counts_of(result.findings)
    if evaluation is None or counts != _counts_of_rows(before.values()):
        session.add(FindingCounts(digest=digest, at=now, **counts))  # its findings over time
    _record(session, evaluation, digest, now, matcher.vulns.location, list(result.unchecked))
    image = session.get(Image, digest)
    if image is not None:
        image.worst = max((f.severity.rank for f in result.findings), default=-1)
        image.findings = len(result.findings)
        image.fixable = counts["fixable"]
        image.kev = counts["kev"]
    if evaluation is not None:
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


_FACTS = ("aliases", "ecosystem", "severity", "fixed_version", "kev")  # what a finding's row says


def _facts(finding: Finding) -> dict[str, object]:
    return {
        "aliases": list(finding.aliases),
        "ecosystem": finding.package.ecosystem,
        "severity": finding.severity.value,
        "fixed_version": finding.fixed_version,
        "kev": finding.kev,
    }


def _write_findings(
    session: Session,
    digest: str,
    before: Mapping[Key, Row[Any]],
    after: Mapping[Key, Finding],
    now: datetime,
) -> None:
    """Bring the snapshot rows from `before` to `after`: the rows of findings gone deleted,
    new ones inserted, changed ones updated; an unchanged finding costs nothing."""
    table = _FINDINGS
    gone = [k for k in before if k not in after]
    for chunk in _chunks(gone, 300):
        session.execute(
            delete(table).where(
                table.c.digest == digest,
                tuple_(table.c.advisory, table.c.package, table.c.version).in_(chunk),
            )
        )
    added: list[dict[str, object]] = []
    changed: list[dict[str, object]] = []
    for key, finding in after.items():
        facts = _facts(finding)
        row = before.get(key)
        if row is None:
            added.append(
                {"digest": digest, "advisory": key[0], "package": key[1], "version": key[2]}
                | facts
                | {"first_seen": now}
            )
        elif any(getattr(row, name) != facts[name] for name in _FACTS):
            keys = {"k_advisory": key[0], "k_package": key[1], "k_version": key[2]}
            changed.append(keys | {f"v_{name}": value for name, value in facts.items()})
    if added:
        session.execute(insert(table), added)
    if changed:
        session.execute(
            update(table)
            .where(
                table.c.digest == digest,
                table.c.advisory == bindparam("k_advisory"),
                table.c.package == bindparam("k_package"),
                table.c.version == bindparam("k_version"),
            )
            .values({name: bindparam(f"v_{name}") for name in _FACTS}),
            changed,
        )


def _write_ids(session: Session, digest: str, findings: Sequence[Finding]) -> None:
    """The image's rows of `FindingId` made to match `findings`: every id and alias."""
    table = _IDS
    have = {
        (str(i), str(a))
        for i, a in session.execute(
            select(table.c.id, table.c.advisory).where(table.c.digest == digest)
        )
    }
    want = {(i, f.id) for f in findings for i in (f.id, *f.aliases) if i}
    for chunk in _chunks(sorted(have - want), 300):
        session.execute(
            delete(table).where(
                table.c.digest == digest, tuple_(table.c.id, table.c.advisory).in_(chunk)
            )
        )
    if fresh := sorted(want - have):
        session.execute(
            insert(table), [{"digest": digest, "id": i, "advisory": a} for i, a in fresh]
        )


SEVERITY_COUNTS = ("critical", "high", "medium", "low", "other")  # other: negligible, unknown
COUNTED = (
    *SEVERITY_COUNTS,
    "fixable",
    "kev",
    *(f"fixable_{name}" for name in SEVERITY_COUNTS),
)


def _count(counts: dict[str, int], severity: str, fixable: bool, kev: bool) -> None:
    name = severity if severity in SEVERITY_COUNTS else "other"
    counts[name] += 1
    if fixable:
        counts["fixable"] += 1
        counts[f"fixable_{name}"] += 1
    counts["kev"] += kev


def counts_of(findings: Sequence[Finding]) -> dict[str, int]:
    """What `FindingCounts` keeps of an image's findings."""
    counts = dict.fromkeys(COUNTED, 0)
    for finding in findings:
        _count(counts, finding.severity.value, bool(finding.fixed_version), finding.kev)
    return counts


def _counts_of_rows(rows: Iterable[Row[Any]]) -> dict[str, int]:
    """`counts_of` for the rows of a stored snapshot."""
    counts = dict.fromkeys(COUNTED, 0)
    for row in rows:
        _count(counts, row.severity, bool(row.fixed_version), bool(row.kev))
    return counts


def _chunks(items: Sequence[_T], size: int) -> Iterator[Sequence[_T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


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


def _row_document(row: Row[Any]) -> dict[str, object]:
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
    session: Session,
    evaluation: Evaluation | None,
    digest: str,
    when: datetime,
    database: str,
    unchecked: list[str],
) -> None:
    if evaluation is None:
        session.add(
            Evaluation(digest=digest, evaluated_at=when, database=database, unchecked=unchecked)
        )
        return
    evaluation.evaluated_at = when
    evaluation.database = database
    if evaluation.unchecked != unchecked:
        evaluation.unchecked = unchecked
