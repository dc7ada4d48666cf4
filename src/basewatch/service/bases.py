"""Bases: the tag every indexed image was built on, polled like a watched tag.

When an image is indexed and its base is named (annotations or labels, or the catalog of layer
chains), the base's tag is resolved, the image it points at is inventoried (once per digest,
like any image) and recorded in the catalog, and the image's base digest is settled: the one
its annotations give, else the base's when the base's layers are the first layers of the
image. An image whose layers do not start with what its base tag points at now was built on an
older base: it needs a rebuild.

When a polled base tag moves, every image built on the old digest needs a rebuild, and one
`base.moved` event lists them with what the refresh fixes and brings, computed as the advise
job computes a refresh (`advice.advise.compare_bases`: the base's findings in the image
against the new base's), and the policies of every image built on the tag are evaluated again
with where it points now (`base-up-to-date`).
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from basewatch.advice.advise import RecommendationKind, compare_bases, newer_tags
from basewatch.clock import Clock
from basewatch.errors import Error, RateLimited, UsageError
from basewatch.inventory.attribution import find_base, label
from basewatch.models import CatalogEntry, Inventory, Severity
from basewatch.oci.reference import RegistryRef, parse_reference
from basewatch.service.config import ServeSettings
from basewatch.service.evaluate import Matcher
from basewatch.service.inventories import SqlInventoryStore
from basewatch.service.models import BaseTag, Event, EventType, Image, TagState
from basewatch.service.policies import ImagePolicies

log = logging.getLogger(__name__)

# (repository, digest) -> its inventory, pulled and stored once per digest
Indexer = Callable[[str, str], Inventory]
# (reference without a digest) -> where its tag points now
Resolver = Callable[[RegistryRef, str], str]
# a repository (`RegistryRef` without tag) -> its tags (every page)
TagLister = Callable[[RegistryRef], list[str]]

TAG_LIST_SECONDS = 3600.0  # how often a base's repository is listed for a newer tag


class RegistryLimits(Protocol):
    """Registries that asked to be left alone for a while (429 with or without Retry-After)."""

    def paused(self, registry: str) -> bool: ...

    def pause(self, registry: str, exc: RateLimited) -> str:
        """Leave `registry` alone for as long as it asked; says so."""
        ...


@dataclass
class BaseMove:
    """A base tag that moved, and the images built on where it pointed before."""

    reference: str
    old: str
    new: str
    images: list[str] = field(default_factory=list)


def canonical(reference: str) -> RegistryRef | None:
    """The base's tag reference (`host/name:tag`), or None when it names none."""
    try:
        ref = parse_reference(reference.strip())
    except UsageError:
        return None
    if not ref.repository:
        return None
    return dataclasses.replace(ref, tag=ref.tag or "latest", digest="", given="")


def reference_text(ref: RegistryRef) -> str:
    return f"{ref.registry}/{ref.repository}:{ref.tag}"


class Bases:
    """Records and polls the bases of indexed images (used by the `Watcher`, inside its
    cycle: one registry client and one database session at a time)."""

    def __init__(
        self,
        settings: ServeSettings,
        inventories: SqlInventoryStore,
        clock: Clock,
        policies: ImagePolicies | None = None,
    ) -> None:
        self._settings = settings
        self._inventories = inventories
        self._clock = clock
        self._policies = policies  # evaluated again on the images of a base that moved
        self._listed: dict[str, float] = {}  # repository -> when its tags were last listed

    # --- when an image is indexed ------------------------------------------------------------

    def attribute(
        self,
        session: Session,
        inventory: Inventory,
        resolve: Resolver,
        index: Indexer,
    ) -> tuple[Inventory, BaseTag | None]:
        """The inventory with its base's layers attributed (when the base is now known), and
        the base tag it was built on (recorded, resolved and inventoried when new)."""
        base = inventory.base
        if base is None or not base.reference:
            return inventory, None
        ref = canonical(base.reference)
        if ref is None:
            return inventory, None
        row = self._tag(session, ref, resolve, index)
        if row is None or not row.manifest_digest or base.layers:
            return inventory, row
        stored = self._inventories.get(row.manifest_digest)
        if stored is None:
            return inventory, row
        entry = CatalogEntry(
            reference=row.reference,
            digest=row.manifest_digest,
            diff_ids=tuple(layer.diff_id for layer in stored.image.layers),
        )
        found = find_base(inventory.image, [entry])
        if found is None or not found.layers:
            return inventory, row
        return label(inventory, found), row

    def settle(self, image: Image, inventory: Inventory, row: BaseTag | None) -> None:
        """Fill in the image's base (reference, digest) and whether it needs a rebuild."""
        if row is None:
            return
        image.base_reference = row.reference
        if row.problem or not row.digest:
            return
        if image.base_digest in (row.digest, row.manifest_digest):
            image.base_digest = row.digest
            return
        stored = self._inventories.get(row.manifest_digest) if row.manifest_digest else None
        if stored is None:
            return
        base_layers = [layer.diff_id for layer in stored.image.layers]
        layers = [layer.diff_id for layer in inventory.image.layers]
        if base_layers and layers[: len(base_layers)] == base_layers:
            image.base_digest = row.digest
        elif not image.base_digest:
            image.rebuild_needed = True
            image.rebuild_reason = (
                f"its layers do not start with those of {row.reference} ({row.digest}): "
                "it was built on an older base"
            )

    def _tag(
        self, session: Session, ref: RegistryRef, resolve: Resolver, index: Indexer
    ) -> BaseTag | None:
        text = reference_text(ref)
        row = session.scalar(select(BaseTag).where(BaseTag.reference == text))
        if row is not None:
            return row
        now = self._clock.now()
        row = BaseTag(
            reference=text,
            repository=f"{ref.registry}/{ref.repository}",
            tag=ref.tag,
            digest="",
            manifest_digest="",
            checked_at=now,
            changed_at=now,
            problem="",
        )
        if ref.registry not in self._settings.allowed_registries:
            row.problem = f"the registry {ref.registry} is not in allowed_registries: not polled"
        else:
            # pulled before the row is added: the inventory is written in a transaction of its
            # own, and SQLite has one writer at a time
            try:
                row.digest = resolve(ref, ref.tag)
                row.manifest_digest = self._inventory_of(row.repository, row.digest, index)
            except Error as exc:
                row.problem = f"cannot read it: {exc}"
        session.add(row)
        return row

    def _inventory_of(self, repository: str, digest: str, index: Indexer) -> str:
        inventory = index(repository, digest)
        return inventory.image.manifest_digest or digest

    # --- polling -------------------------------------------------------------------------------

    def poll(
        self,
        session: Session,
        resolve: Resolver,
        index: Indexer,
        matcher: Matcher,
        limits: RegistryLimits,
        tags: TagLister | None = None,
    ) -> tuple[list[BaseMove], list[str]]:
        """Look at every recorded base tag (one HEAD each); returns the moves, and problems.
        A registry no longer in `allowed_registries` is not contacted (the base says so), and
        one that asked to wait (`limits`) is left alone, as for watched tags. With `tags`, the
        candidates a rebuild could move to are recorded first (`candidates`)."""
        moves: list[BaseMove] = []
        problems: list[str] = []
        if tags is not None:
            problems.extend(self.candidates(session, resolve, index, tags, limits))
        rows = list(session.scalars(select(BaseTag).order_by(BaseTag.id)))
        for row in rows:
            ref = canonical(row.reference)
            if ref is None:
                continue
            if ref.registry not in self._settings.allowed_registries:
                row.problem = (
                    f"the registry {ref.registry} is not in allowed_registries: not polled"
                )
                continue
            if "allowed_registries" in row.problem:
                row.problem = ""  # allowed since
            if limits.paused(ref.registry):
                problems.append(f"base {row.reference}: {ref.registry} asked to wait: skipped")
                continue
            try:
                digest = resolve(ref, ref.tag)
            except RateLimited as exc:
                problems.append(f"base {row.reference}: {limits.pause(ref.registry, exc)}")
                continue
            except Error as exc:
                problems.append(f"base {row.reference}: {exc}")
                continue
            now = self._clock.now()
            row.checked_at = now
            if digest == row.digest and row.manifest_digest:
                continue
            session.commit()  # the inventory is written in a transaction of its own
            try:
                manifest = self._inventory_of(row.repository, digest, index)
            except Error as exc:
                problems.append(f"base {row.reference}@{digest}: cannot index it: {exc}")
                continue
            old, old_manifest = row.digest, row.manifest_digest
            row.digest, row.manifest_digest, row.changed_at, row.problem = digest, manifest, now, ""
            if old:
                move = self._moved(session, row, old, old_manifest, matcher)
                if move is not None:
                    moves.append(move)
            self._evaluate_policies(session, row, matcher)
            session.commit()  # the tag's new place, the images' verdicts and the event together
        return moves, problems

    def candidates(
        self,
        session: Session,
        resolve: Resolver,
        index: Indexer,
        tags: TagLister,
        limits: RegistryLimits,
    ) -> list[str]:
        """Record (resolve and inventory, like a base) what the advise job compares a base
        against: the configured `alternatives`, and the newest tag of the same line as each
        base in use (`3.20` -> `3.21`, `bookworm-slim` -> `trixie-slim`; each repository
        listed at most once an hour). They are polled like bases from then on; the image
        pages compare each image's base with them. Returns the problems met."""
        problems: list[str] = []
        wanted: list[RegistryRef] = []
        for text in self._settings.alternatives:
            ref = canonical(text)
            if ref is not None:
                wanted.append(ref)
        used = session.execute(
            select(BaseTag.repository, BaseTag.tag)
            .where(BaseTag.reference.in_(select(Image.base_reference).distinct()))
            .order_by(BaseTag.repository, BaseTag.tag)
        ).all()
        now = time.monotonic()
        listed: dict[str, list[str] | None] = {}
        for repository, tag in used:
            ref = canonical(f"{repository}:{tag}")
            if ref is None or not tag or ref.registry not in self._settings.allowed_registries:
                continue
            last = self._listed.get(repository)
            if repository not in listed and last is not None and now - last < TAG_LIST_SECONDS:
                continue
            if limits.paused(ref.registry):
                continue
            if repository not in listed:
                try:
                    listed[repository] = tags(ref)
                except RateLimited as exc:
                    problems.append(f"base {repository}: {limits.pause(ref.registry, exc)}")
                    listed[repository] = None
                except Error as exc:
                    problems.append(f"base {repository}: cannot list its tags: {exc}")
                    listed[repository] = None
                self._listed[repository] = now
            available = listed[repository]
            newer = newer_tags(tag, available) if available else []
            if newer:
                found = canonical(f"{repository}:{newer[0]}")
                if found is not None:
                    wanted.append(found)
        for ref in wanted:
            if limits.paused(ref.registry):
                continue
            known = session.scalar(
                select(BaseTag.id).where(BaseTag.reference == reference_text(ref))
            )
            if known is not None:
                continue
            session.commit()  # the inventory is written in a transaction of its own
            row = self._tag(session, ref, resolve, index)
            if row is not None and row.problem:
                problems.append(f"candidate {row.reference}: {row.problem}")
            session.commit()
        return problems

    def _evaluate_policies(self, session: Session, row: BaseTag, matcher: Matcher) -> None:
        """The policies of every image built on `row`'s tag, with where it points now (those
        built on where it pointed before fail `base-up-to-date`; any built on where it points
        now pass it again)."""
        if self._policies is None:
            return
        images = list(
            session.scalars(
                select(Image)
                .where(Image.base_reference == row.reference)
                .order_by(Image.repository, Image.digest)
            )
        )
        self._policies.reevaluate(session, images, self._inventories, matcher)

    def _moved(
        self, session: Session, row: BaseTag, old: str, old_manifest: str, matcher: Matcher
    ) -> BaseMove | None:
        dependents = list(
            session.scalars(
                select(Image)
                .where(
                    Image.base_reference == row.reference,
                    Image.base_digest.in_([old, old_manifest]),
                )
                .order_by(Image.repository, Image.digest)
            )
        )
        move = BaseMove(row.reference, old, row.digest, [i.digest for i in dependents])
        if not dependents:
            return move
        candidate = self._inventories.get(row.manifest_digest)
        candidate_scan = None
        if candidate is not None:
            scanned = matcher.match(candidate)
            candidate_scan = None if isinstance(scanned, str) else scanned
        tags = tags_of(session, [i.digest for i in dependents])
        listed: list[dict[str, object]] = []
        worst = Severity.UNKNOWN
        for image in dependents:
            fixes: list[str] = []
            arrives: list[str] = []
            unchecked: set[str] = {matcher.problem} if matcher.problem else set()
            current = self._inventories.get(image.manifest_digest)
            if current is None or candidate is None:
                unchecked.add("an inventory is missing: no finding deltas")
            else:
                scanned = matcher.match(current)
                current_scan = None if isinstance(scanned, str) else scanned
                refresh = compare_bases(
                    RecommendationKind.REFRESH,
                    row.reference,
                    row.digest,
                    current,
                    current_scan,
                    candidate,
                    candidate_scan,
                )
                fixes, arrives = list(refresh.fixes), list(refresh.arrives)
                unchecked.update(refresh.current_unchecked, refresh.candidate_unchecked)
                gone = set(fixes)
                for finding in current_scan.findings if current_scan else ():
                    if f"{finding.package.name}:{finding.id}" in gone:
                        worst = max(worst, finding.severity, key=lambda s: s.rank)
            image.rebuild_needed = True
            image.rebuild_reason = (
                f"{row.reference} moved to {row.digest}: "
                f"a rebuild on it fixes {len(fixes)} finding(s)"
            )
            entry: dict[str, object] = {
                "digest": image.digest,
                "repository": image.repository,
                "tags": tags.get(image.digest, []),
                "fixes": fixes,
                "arrives": arrives,
                "not_checked": sorted(unchecked),
            }
            listed.append(entry)
        session.add(
            Event(
                type=EventType.BASE_MOVED.value,
                digest=row.digest,
                repository=row.repository,
                severity=worst.value,
                payload={
                    "base": {"reference": row.reference, "from": old, "to": row.digest},
                    "images": listed,
                },
                created_at=self._clock.now(),
            )
        )
        return move


def tags_of(session: Session, digests: list[str]) -> dict[str, list[str]]:
    """The watched tags that point at each of `digests` now."""
    found: dict[str, list[str]] = {}
    if digests:
        for state in session.scalars(
            select(TagState).where(TagState.digest.in_(digests)).order_by(TagState.tag)
        ):
            found.setdefault(state.digest, []).append(state.tag)
    return found
