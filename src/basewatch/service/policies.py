"""Policies in the service: every indexed image carries the verdicts `basewatch policy` would
give it, made again from stored facts whenever they change, and an event on each transition.

The facts are the ones the service keeps, so no image is pulled again and no registry is asked:
the stored inventory, the scan the re-evaluation just made, the image config's `User` (from the
inventory), the end-of-life table and the clock's day, where the base's tag points now (the
polled `BaseTag`, against the digest the image row says it was built on) and the attestations
its registry listed when it was indexed (`look_up_attestations`).

A verdict that becomes `fail` makes one `policy.failed` event; one that goes from `fail` back to
`pass` one `policy.passed`. What was last told is kept (`ImagePolicy.reported`), so a verdict
that cannot be evaluated for a while (`not-evaluated`) and then fails again says nothing new,
and re-evaluating twice makes no second event. An image's first evaluation at index time tells
each failing policy; an image indexed before the service kept policies gets its verdicts
silently (the baseline). Each change of an image's failing policies leaves a `PolicyHistory`
row: the dashboard's "fail gap".
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from basewatch.clock import Clock, today
from basewatch.errors import Error
from basewatch.models import Inventory, ScanResult, Severity
from basewatch.oci.reference import RegistryRef, parse_reference
from basewatch.oci.referrers import Referrers
from basewatch.policy import (
    Attestation,
    Facts,
    PolicyConfig,
    PolicyReport,
    Status,
    Verdict,
    evaluate_all,
)
from basewatch.service.evaluate import Matcher
from basewatch.service.inventories import SqlInventoryStore
from basewatch.service.models import (
    BaseTag,
    Event,
    EventType,
    Image,
    ImageAttestations,
    ImagePolicy,
    PolicyHistory,
    TagState,
)
from basewatch.vulndb.eol import current_eol_lookup

log = logging.getLogger(__name__)

BATCH = 200  # images whose inventories are read at once
MAX_ITEMS = 50  # failing items kept per verdict (and sent in an event); `item_count` says all
_REASON = 2000  # the columns' sizes
_TITLE = 300
_SUBJECT = 500
NO_DATABASE = ":no-database"
NOT_KEPT = "the image was indexed before the service kept attestations: index it again"


def fingerprint(configs: Sequence[PolicyConfig]) -> str:
    """What tells one policy configuration from another (its ids, actions, scopes, parameters
    and exceptions, not where a file says them): images evaluated under another are evaluated
    again."""
    plain = tuple(
        dataclasses.replace(
            config,
            line=0,
            origin="",
            exceptions=tuple(dataclasses.replace(e, line=0, origin="") for e in config.exceptions),
        )
        for config in configs
    )
    return hashlib.sha256(repr(plain).encode("utf-8")).hexdigest()[:32]


def without_database(marker: str) -> str:
    """The marker of verdicts made with no usable vulnerability database (the finding
    policies not evaluated): made again once there is one, whatever changed in it."""
    return marker + NO_DATABASE


class ReferrerLister(Protocol):
    """What `look_up_attestations` needs of the watcher's `RegistryImages`."""

    def referrers(self, ref: RegistryRef, digest: str) -> Referrers | None: ...


def look_up_attestations(
    images: ReferrerLister, repository: str, digests: Iterable[str], clock: Clock, digest: str
) -> ImageAttestations:
    """The `image_attestations` row of image `digest` of `repository`: the referrers of each of
    `digests` (its platform manifest, and the index above it), through the registry client of
    `images` (`RegistryImages.referrers`); none known, and why, when the registry fails."""
    found: dict[str, dict[str, str]] = {}
    now = clock.now()
    for each in dict.fromkeys(d for d in digests if d):
        try:
            ref = parse_reference(f"{repository}@{each}")
            listed = images.referrers(ref, each)
        except Error as exc:
            why = f"the referrers of {repository}@{each} could not be listed: {exc}"
            return ImageAttestations(
                digest=digest, attestations=None, why=why[:1000], checked_at=now
            )
        if listed is None:
            return ImageAttestations(
                digest=digest,
                attestations=None,
                why="the registry may not be used (offline)",
                checked_at=now,
            )
        for item in listed.items:
            found.setdefault(
                item.digest,
                {
                    "kind": item.kind.value,
                    "artifact_type": item.artifact_type or item.media_type,
                    "digest": item.digest,
                },
            )
    return ImageAttestations(
        digest=digest, attestations=list(found.values()), why="", checked_at=now
    )


@dataclass
class PolicyChange:
    """What one evaluation of an image's policies changed."""

    failed: list[str] = field(default_factory=list)  # policy ids told as failed
    passed: list[str] = field(default_factory=list)  # ... and as passed again
    changed: bool = False  # some verdict was written
    report: PolicyReport | None = None


@dataclass
class _Stored:
    verdicts: dict[str, ImagePolicy]
    attestations: ImageAttestations | None


class ImagePolicies:
    """The configured policies, evaluated on one image at a time in the caller's session (the
    caller commits: verdicts, history and events are stored together or not at all)."""

    def __init__(self, configs: Sequence[PolicyConfig], eol_table: Path, clock: Clock) -> None:
        self.configs = list(configs)
        self.fingerprint = fingerprint(self.configs)
        self._clock = clock
        self._eol_table = eol_table
        # what `prefetch` read for the batch a thread is evaluating: each thread its own (a
        # fleet worker runs several jobs at once on one ImagePolicies)
        self._batch = threading.local()

    @property
    def _stored(self) -> dict[str, _Stored]:
        stored: dict[str, _Stored] = self._batch.__dict__.setdefault("stored", {})
        return stored

    @_stored.setter
    def _stored(self, value: dict[str, _Stored]) -> None:
        self._batch.stored = value

    @property
    def _bases(self) -> dict[str, BaseTag | None]:
        bases: dict[str, BaseTag | None] = self._batch.__dict__.setdefault("bases", {})
        return bases

    @_bases.setter
    def _bases(self, value: dict[str, BaseTag | None]) -> None:
        self._batch.bases = value

    # --- reading what is stored ---------------------------------------------------------------

    def prefetch(self, session: Session, images: Sequence[Image]) -> None:
        """Read the stored verdicts, attestations and base tags of a batch of images in three
        queries, so evaluating each of them asks nothing more."""
        digests = [i.digest for i in images]
        self._stored = {d: _Stored({}, None) for d in digests}
        self._bases = {}
        if not digests:
            return
        for row in session.scalars(select(ImagePolicy).where(ImagePolicy.digest.in_(digests))):
            self._stored[row.digest].verdicts[row.policy] = row
        for found in session.scalars(
            select(ImageAttestations).where(ImageAttestations.digest.in_(digests))
        ):
            self._stored[found.digest].attestations = found
        references = sorted({i.base_reference for i in images if i.base_reference})
        self._bases = dict.fromkeys(references)
        if references:
            for base in session.scalars(select(BaseTag).where(BaseTag.reference.in_(references))):
                self._bases[base.reference] = base

    def _stored_of(self, session: Session, digest: str) -> _Stored:
        stored = self._stored.pop(digest, None)
        if stored is not None:
            return stored
        verdicts = {
            row.policy: row
            for row in session.scalars(select(ImagePolicy).where(ImagePolicy.digest == digest))
        }
        return _Stored(verdicts, session.get(ImageAttestations, digest))

    def _base_tag(self, session: Session, reference: str) -> BaseTag | None:
        if reference in self._bases:
            return self._bases[reference]
        return session.scalar(select(BaseTag).where(BaseTag.reference == reference))

    # --- the facts -----------------------------------------------------------------------------

    def facts(
        self,
        session: Session,
        image: Image,
        inventory: Inventory,
        scan: ScanResult | None,
        attestations: ImageAttestations | None = None,
    ) -> Facts:
        """What the policies see of `image`, from what is stored (`attestations`: its row)."""
        base = inventory.base
        if base is not None and base.digest != image.base_digest:
            # the digest the image row settled on (the base tag's, once its layers matched)
            inventory = _with_base_digest(inventory, image.base_digest)
        base_now, base_why = self._base_now(session, image)
        known, why = _attestations_of(attestations)
        return Facts(
            inventory=inventory,
            scan=scan,
            today=today(self._clock),
            eol=current_eol_lookup(self._eol_table),
            user=inventory.image.user,
            base_now=base_now,
            base_now_why=base_why,
            attestations=known,
            attestations_why=why,
        )

    def _base_now(self, session: Session, image: Image) -> tuple[str | None, str]:
        """Where the base's tag points now, as last polled (the digest the image was built on
        when that is what it points at, index or platform manifest); else None and why."""
        if not image.base_reference:
            return None, "the image's base is not known by a tag, so none is polled"
        row = self._base_tag(session, image.base_reference)
        if row is None:
            return None, f"{image.base_reference} is not polled"
        if row.problem:
            return None, row.problem
        if not row.digest:
            return None, f"where {row.reference} points has not been read yet"
        if image.base_digest and image.base_digest in (row.digest, row.manifest_digest):
            return image.base_digest, ""
        return row.digest, ""

    # --- evaluating and keeping the verdicts ----------------------------------------------------

    def evaluate(
        self,
        session: Session,
        image: Image,
        inventory: Inventory,
        scan: ScanResult | None,
        *,
        indexed: bool = False,
    ) -> PolicyChange:
        """Evaluate every configured policy on `image` and keep the verdicts, adding to the
        session the events of the transitions (`indexed`: its first evaluation, at index time,
        tells each failing policy; the first one of an image indexed before is silent)."""
        stored = self._stored_of(session, image.digest)
        facts = self.facts(session, image, inventory, scan, stored.attestations)
        report = evaluate_all(self.configs, facts, image.repository)
        change = self._keep(session, image, report, stored.verdicts, indexed, scan is not None)
        change.report = report
        return change

    def reevaluate(
        self,
        session: Session,
        images: Sequence[Image],
        inventories: SqlInventoryStore,
        matcher: Matcher,
    ) -> int:
        """Evaluate the policies of `images` again from their stored inventories, each matched
        anew (its findings snapshot is left to the re-evaluation); returns how many were."""
        done = 0
        for start in range(0, len(images), BATCH):
            batch = images[start : start + BATCH]
            stored = inventories.get_many(session, {i.manifest_digest for i in batch})
            self.prefetch(session, batch)
            for image in batch:
                inventory = stored.get(image.manifest_digest)
                if inventory is None:
                    continue
                scanned = matcher.match(inventory)
                scan = None if isinstance(scanned, str) else scanned
                self.evaluate(session, image, inventory, scan)
                done += 1
        self._stored, self._bases = {}, {}  # the rows of images without an inventory
        return done

    def _keep(
        self,
        session: Session,
        image: Image,
        report: PolicyReport,
        stored: dict[str, ImagePolicy],
        indexed: bool,
        matched: bool,
    ) -> PolicyChange:
        now = self._clock.now()
        announce = indexed or image.policy_failed is not None
        change = PolicyChange()
        failing_before = sorted(p for p, row in stored.items() if row.status == Status.FAIL.value)
        told: list[tuple[EventType, Verdict, str, list[dict[str, str]]]] = []
        for verdict in report.verdicts:
            items = _items(verdict)
            row = stored.pop(verdict.id, None)
            previous = row.status if row is not None else "none"
            before_items = list(row.items) if row is not None else []
            if row is None:
                row = ImagePolicy(
                    digest=image.digest, policy=verdict.id, reported="", changed_at=now
                )
                _fill(row, verdict, items)
                session.add(row)
                change.changed = True
            elif _differs(row, verdict, items):
                _fill(row, verdict, items)
                row.changed_at = now
                change.changed = True
            if verdict.status is Status.FAIL and row.reported != Status.FAIL.value:
                if announce:
                    told.append((EventType.POLICY_FAILED, verdict, previous, []))
                    change.failed.append(verdict.id)
                row.reported = Status.FAIL.value
            elif verdict.status is Status.PASS and row.reported != Status.PASS.value:
                if announce and row.reported == Status.FAIL.value:
                    told.append((EventType.POLICY_PASSED, verdict, previous, before_items))
                    change.passed.append(verdict.id)
                row.reported = Status.PASS.value
        for row in stored.values():  # policies no longer configured, or out of its scope now
            session.delete(row)
            change.changed = True
        failing = sorted(v.id for v in report.verdicts if v.status is Status.FAIL)
        if failing != failing_before:
            session.add(PolicyHistory(digest=image.digest, at=now, failing=failing))
        blocking = report.failed
        if image.policy_failed is not blocking:
            image.policy_failed = blocking
        marker = self.fingerprint if matched else without_database(self.fingerprint)
        if image.policy_config != marker:
            image.policy_config = marker
        if told:
            tags = _tags(session, image.digest)
            for kind, verdict, previous, resolved in told:
                session.add(_event(kind, image, tags, verdict, previous, resolved, now))
        return change


def _items(verdict: Verdict) -> list[dict[str, str]]:
    found: list[dict[str, str]] = []
    for item in verdict.items[:MAX_ITEMS]:
        entry = {"subject": item.subject[:_SUBJECT], "id": str(item.data.get("id") or "")[:300]}
        severity = item.data.get("severity")
        if isinstance(severity, str) and severity:
            entry["severity"] = severity
        found.append(entry)
    return found


def _fill(row: ImagePolicy, verdict: Verdict, items: list[dict[str, str]]) -> None:
    row.title = verdict.title[:_TITLE]
    row.status = verdict.status.value
    row.action = verdict.action.value
    row.reason = verdict.reason[:_REASON]
    row.items = items
    row.item_count = len(verdict.items)


def _differs(row: ImagePolicy, verdict: Verdict, items: list[dict[str, str]]) -> bool:
    return (
        row.status != verdict.status.value
        or row.action != verdict.action.value
        or row.reason != verdict.reason[:_REASON]
        or row.item_count != len(verdict.items)
        or row.title != verdict.title[:_TITLE]
        or row.items != items
    )


def _event(
    kind: EventType,
    image: Image,
    tags: list[str],
    verdict: Verdict,
    previous: str,
    resolved: list[dict[str, str]],
    when: datetime,
) -> Event:
    items = _items(verdict)
    severities = [Severity(i["severity"]) for i in items if i.get("severity") in _SEVERITIES]
    severity = max(severities, key=lambda s: s.rank, default=Severity.UNKNOWN)
    verb = "fails" if kind is EventType.POLICY_FAILED else "passes"
    payload: dict[str, Any] = {
        "image": {"digest": image.digest, "repository": image.repository, "tags": tags},
        "policy": {
            "id": verdict.id,
            "title": verdict.title,
            "action": verdict.action.value,
            "reason": verdict.reason[:_REASON],
        },
        "status": verdict.status.value,
        "previous": previous,
        "items": items,
        "item_count": len(verdict.items),
        "summary": f"{verb} {verdict.id} ({verdict.action.value}): {verdict.reason}"[:_REASON],
    }
    if kind is EventType.POLICY_PASSED:
        payload["resolved"] = resolved  # what failed it before
    return Event(
        type=kind.value,
        digest=image.digest,
        repository=image.repository,
        severity=severity.value,
        payload=payload,
        created_at=when,
    )


_SEVERITIES = frozenset(s.value for s in Severity)


def _tags(session: Session, digest: str) -> list[str]:
    return sorted(
        str(t) for t in session.scalars(select(TagState.tag).where(TagState.digest == digest))
    )


def _with_base_digest(inventory: Inventory, digest: str) -> Inventory:
    assert inventory.base is not None
    return dataclasses.replace(inventory, base=dataclasses.replace(inventory.base, digest=digest))


def _attestations_of(
    row: ImageAttestations | None,
) -> tuple[tuple[Attestation, ...] | None, str]:
    if row is None:
        return None, NOT_KEPT
    if row.attestations is None:
        return None, row.why or "they could not be listed"
    return (
        tuple(
            Attestation(
                kind=str(a.get("kind", "")),
                artifact_type=str(a.get("artifact_type", "")),
                digest=str(a.get("digest", "")),
            )
            for a in row.attestations
        ),
        "",
    )
