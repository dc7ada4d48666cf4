"""Polling the watched repositories: which tags exist, where each points now (one HEAD request a
tag, no manifest body while nothing changed), and indexing every digest not seen before.

An image is pulled and inventoried once per digest, by the sbom job through the same seams as
the CLI (its analysis cache included); the inventory goes to the service's `InventoryStore`,
the compat job's verdict on its ELF files to `image_compat`, the attestations its registry lists
(referrers) to `image_attestations`, and its policies' verdicts to `image_policies`.
"""

from __future__ import annotations

import fnmatch
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from basewatch.clock import SYSTEM_CLOCK, Clock, today
from basewatch.errors import Error, RateLimited
from basewatch.jobs.compat import CompatChecker
from basewatch.jobs.inventory import LayerClaim, Scanner
from basewatch.jobs.sbom import SbomRequest, sbom
from basewatch.jobs.seams import (
    RegistryImages,
    Seams,
    SqliteVulnData,
    registry_options_for,
)
from basewatch.models import Inventory, Severity
from basewatch.oci.reference import RegistryRef, parse_reference
from basewatch.oci.registry.options import RegistryOptions
from basewatch.service.bases import BaseMove, Bases
from basewatch.service.compat_summary import CompatSummary, summarize, unchecked
from basewatch.service.config import ServeSettings
from basewatch.service.evaluate import Matcher, evaluate_image
from basewatch.service.inventories import SqlInventoryStore
from basewatch.service.metrics import Timings
from basewatch.service.models import Event, EventType, Image, TagMove, TagState, Watch
from basewatch.service.policies import ImagePolicies, look_up_attestations
from basewatch.settings import Settings
from basewatch.vulndb.eol import eol_lookup_from_table, release_cycle, table_identity

log = logging.getLogger(__name__)


@dataclass
class PollReport:
    """What one poll cycle did."""

    tags: int = 0  # tags looked at
    moved: list[tuple[str, str, str]] = field(default_factory=list)  # (repository, tag, digest)
    indexed: list[str] = field(default_factory=list)  # digests inventoried
    bases: list[BaseMove] = field(default_factory=list)  # base tags that moved
    eol_reached: int = 0  # images whose release reached its end of life
    errors: list[str] = field(default_factory=list)


class Watcher:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        settings: ServeSettings,
        core: Settings,
        clock: Clock = SYSTEM_CLOCK,
        registry: RegistryOptions | None = None,
    ) -> None:
        self._sessions = sessions
        self._settings = settings
        self._core = core
        self._clock = clock
        self._registry = registry_options_for(core, settings.registry_options(registry))
        self.inventories = SqlInventoryStore(sessions, clock)
        self.policies = ImagePolicies(settings.policies, core.eol_table, clock)
        self.bases = Bases(settings, self.inventories, clock, self.policies)
        self._vulns = SqliteVulnData(settings.vulndb, core.osv_url)
        self._eol = eol_lookup_from_table(core.eol_table)
        self._eol_file = table_identity(
            core.eol_table
        )  # the refreshed table the lookup was read from
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._lock = threading.Lock()  # one cycle at a time
        # registry -> when (time.monotonic) it may be asked again, after it kept answering 429
        self._paused: dict[str, float] = {}
        self.timings: Timings | None = None  # set by the app that serves /metrics
        self.cycles = 0  # poll cycles finished
        # called after each cycle (it may have written events): the dispatcher's wake
        self.on_events: Callable[[], None] = _nothing
        # the scanner of each image indexed: the CLI's, from the settings; a fleet worker's
        # shares its layer analyses through PostgreSQL
        self.make_scanner: Callable[[], Scanner] = lambda: Scanner.from_settings(core)

    # --- the loop --------------------------------------------------------------------------

    def wake(self) -> None:
        """Poll now (a watch was added, a push event arrived) instead of at the next interval."""
        self._wake.set()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()

    def run(self) -> None:
        """Poll every `poll_interval` until `stop()`; a failed cycle is logged, not fatal."""
        while not self._stop.is_set():
            try:
                report = self.poll_once()
                for problem in report.errors:
                    log.warning("%s", problem)
                self.on_events()
            except Exception:  # a bug: keep watching, say so loudly
                log.exception("a poll cycle failed")
            self._wake.wait(self._settings.poll_interval)
            self._wake.clear()

    # --- one cycle -------------------------------------------------------------------------

    def poll_once(self) -> PollReport:
        started = time.monotonic()
        report = self._poll()
        self.cycles += 1
        if self.timings is not None:
            self.timings.poll.observe(time.monotonic() - started)
        return report

    def _poll(self) -> PollReport:
        report = PollReport()
        with self._lock, self._sessions() as session:
            watches = list(session.scalars(select(Watch).order_by(Watch.id)))
            images = RegistryImages(self._registry)
            try:
                for watch in watches:
                    if self._stop.is_set():
                        break
                    self._poll_watch(session, images, watch, report)
                if not self._stop.is_set():
                    self._poll_bases(session, images, report)
            finally:
                images.close()
        return report

    def poll_bases(self) -> PollReport:
        """Only the second half of a cycle: the bases' tags (a base that moved is inventoried,
        its images' rebuild signals set) and end-of-life dates; a fleet's scheduler asks a
        worker for it once a cycle, while other workers poll the watched tags."""
        report = PollReport()
        with self._lock, self._sessions() as session:
            images = RegistryImages(self._registry)
            try:
                self._poll_bases(session, images, report)
            finally:
                images.close()
        return report

    def _poll_bases(self, session: Session, images: RegistryImages, report: PollReport) -> None:
        with Matcher(self._vulns) as matcher:
            moves, problems = self.bases.poll(
                session,
                lambda ref, tag: self.tag_digest(images, ref, tag),
                lambda repo, found: self._inventory(images, repo, found, store=True),
                matcher,
                self,
                lambda ref: images.client().list_tags(ref),
            )
        report.bases.extend(moves)
        report.errors.extend(problems)
        report.eol_reached = self._eol_check(session)

    def _poll_watch(
        self, session: Session, images: RegistryImages, watch: Watch, report: PollReport
    ) -> None:
        ref = parse_reference(watch.repository)
        if ref.registry not in self._settings.allowed_registries:
            report.errors.append(
                f"{watch.repository}: {ref.registry} is no longer in allowed_registries: skipped"
            )
            return
        if self.paused(ref.registry):
            report.errors.append(f"{watch.repository}: {ref.registry} asked to wait: skipped")
            return
        try:
            tags = images.client().list_tags(ref)
        except RateLimited as exc:
            report.errors.append(self.pause(ref.registry, exc))
            return
        except Error as exc:
            report.errors.append(f"{watch.repository}: cannot list its tags: {exc}")
            return
        for tag in sorted(t for t in tags if any(fnmatch.fnmatchcase(t, g) for g in watch.tags)):
            if self._stop.is_set():
                return
            report.tags += 1
            try:
                digest = self.tag_digest(images, ref, tag)
            except RateLimited as exc:
                report.errors.append(self.pause(ref.registry, exc))
                return
            except Error as exc:
                report.errors.append(f"{watch.repository}:{tag}: {exc}")
                continue
            if self.record_tag(session, watch.repository, tag, digest):
                report.moved.append((watch.repository, tag, digest))
            # committed before indexing: the store writes in a transaction of its own (and
            # SQLite has one writer at a time)
            session.commit()
            if session.get(Image, digest) is None:
                started = time.monotonic()
                try:
                    self._index(session, images, watch.repository, digest)
                    if self.timings is not None:
                        self.timings.index.observe(time.monotonic() - started)
                    report.indexed.append(digest)
                except Error as exc:
                    report.errors.append(f"{watch.repository}@{digest}: cannot index it: {exc}")
            session.commit()

    def paused(self, registry: str) -> bool:
        return self._paused.get(registry, 0.0) > time.monotonic()

    def pause(self, registry: str, exc: RateLimited) -> str:
        """Leave `registry` alone for as long as it asked (a poll interval when it did not
        say): the rest of its tags, and its bases, wait for a later cycle."""
        wait = exc.retry_after or self._settings.poll_interval
        self._paused[registry] = time.monotonic() + wait
        return f"{exc} (not asked again for {wait:.0f}s)"

    def tag_digest(self, images: RegistryImages, ref: RegistryRef, tag: str) -> str:
        """Where `tag` points: HEAD's Docker-Content-Digest, else what a GET resolves."""
        head = images.client().head_manifest(ref, tag)
        if head is not None and head.digest:
            return head.digest
        return images.resolve(f"{ref.registry}/{ref.repository}:{tag}").digest

    def record_tag(self, session: Session, repository: str, tag: str, digest: str) -> bool:
        """Keep where `tag` points; True when it moved (or is new)."""
        now = self._clock.now()
        state = session.scalar(
            select(TagState).where(TagState.repository == repository, TagState.tag == tag)
        )
        if state is not None and state.digest == digest:
            state.checked_at = now
            return False
        if state is None:
            session.add(
                TagState(
                    repository=repository, tag=tag, digest=digest, checked_at=now, changed_at=now
                )
            )
        else:
            state.digest, state.checked_at, state.changed_at = digest, now, now
        session.add(TagMove(repository=repository, tag=tag, digest=digest, seen_at=now))
        return True

    def index_artifact(
        self,
        repository: str,
        digest: str,
        registry: RegistryOptions | None = None,
        claims: LayerClaim | None = None,
    ) -> bool:
        """Index `repository@digest` (Harbor asked for it, or a fleet's poll found it) pulled
        with `registry`'s options (its credentials; None: the watcher's) unless it is indexed
        already; True when it was pulled now. Its base is attributed and polled, and it is
        re-evaluated, like a watched image's. `claims` (a fleet worker's) makes the layers no
        other worker has analysed yet wait for the one reading them."""
        images = RegistryImages(
            self._registry
            if registry is None
            else registry_options_for(self._core, self._settings.registry_options(registry))
        )
        try:
            with self._sessions() as session:
                if session.get(Image, digest) is not None:
                    return False
                started = time.monotonic()
                self._index(session, images, repository, digest, claims)
                session.commit()
                if self.timings is not None:
                    self.timings.index.observe(time.monotonic() - started)
                return True
        finally:
            images.close()

    @property
    def registry_options(self) -> RegistryOptions:
        return self._registry

    def _index(
        self,
        session: Session,
        images: RegistryImages,
        repository: str,
        digest: str,
        claims: LayerClaim | None = None,
    ) -> None:
        inventory = self._inventory(images, repository, digest, store=False, claims=claims)
        inventory, base = self.bases.attribute(
            session,
            inventory,
            lambda ref, tag: self.tag_digest(images, ref, tag),
            lambda repo, found: self._inventory(images, repo, found, store=True, claims=claims),
        )
        # read before this transaction writes anything (SQLite has one writer at a time)
        compat = self._compat(images, repository, digest, claims)
        manifest = inventory.image.manifest_digest or digest
        # the only time the registry is asked for its attestations: policies read them stored
        attestations = look_up_attestations(
            images, repository, (manifest, digest), self._clock, digest
        )
        self.inventories.put_in(session, manifest, inventory)
        row = image_row(digest, manifest, repository, inventory, self._clock)
        self.bases.settle(row, inventory, base)
        row.release, row.eol = self._release(inventory)
        image = session.merge(row)
        session.flush()
        session.merge(compat.row(digest))
        session.merge(attestations)
        with Matcher(self._vulns) as matcher:
            change = evaluate_image(session, digest, inventory, matcher, self._clock)
            self.policies.evaluate(session, image, inventory, change.scan, indexed=True)

    def _scanner(self, claims: LayerClaim | None) -> Scanner:
        scanner = self.make_scanner()
        return scanner if claims is None else replace(scanner, claims=claims)

    def _inventory(
        self,
        images: RegistryImages,
        repository: str,
        digest: str,
        *,
        store: bool,
        claims: LayerClaim | None = None,
    ) -> Inventory:
        """The inventory of `repository@digest` by the sbom job (stored when `store`)."""
        seams = Seams(
            images=images,
            vulns=self._vulns,
            scanner=self._scanner(claims),
            settings=self._core,
            clock=self._clock,
        )
        inventory = sbom(SbomRequest(f"{repository}@{digest}"), seams)
        if store:
            self.inventories.put(inventory.image.manifest_digest or digest, inventory)
        return inventory

    def _compat(
        self,
        images: RegistryImages,
        repository: str,
        digest: str,
        claims: LayerClaim | None = None,
    ) -> CompatSummary:
        """Whether the ELF files of `repository@digest` load on its own filesystem, by the
        compat job's checker; a check that fails is recorded as not run, never fatal."""
        started = time.monotonic()
        # sharing the scanner's analysis cache: a layer's ELF facts are read once, and the
        # layers sbom just pulled come from the blob cache
        checker = CompatChecker.around(self._scanner(claims))
        try:
            source = images.open(images.parse(f"{repository}@{digest}"), checker.scanner)
            summary = summarize(checker.check(source), self._clock.now())
        except Error as exc:
            log.warning("%s@%s: cannot check its ELF files: %s", repository, digest, exc)
            summary = unchecked(str(exc), self._clock.now())
        log.debug(
            "%s@%s: ELF files checked in %.2fs", repository, digest, time.monotonic() - started
        )
        return summary

    def _release(self, inventory: Inventory) -> tuple[str, str]:
        """The release an image runs ("Alpine Linux 3.20") and its end of life (ISO day)."""
        os = inventory.os
        if os is None or not os.version_id:
            return "", ""
        cycle = release_cycle(os.id, os.version_id)
        eol = self._eol(os.id, cycle)
        return os.pretty_name or f"{os.id} {os.version_id}", eol.isoformat() if eol else ""

    # --- end of life ---------------------------------------------------------------------------

    def _eol_refresh(self, session: Session) -> int:
        """When the end-of-life table was refreshed (by `db update`, this service's or another
        process's), read it again and bring every image's end of life up to date; returns how
        many changed. A release whose support was extended may reach its end again later."""
        seen = table_identity(self._core.eol_table)
        if seen == self._eol_file:
            return 0
        self._eol_file = seen
        self._eol = eol_lookup_from_table(self._core.eol_table)
        day = today(self._clock).isoformat()
        dates: dict[str, str] = {}  # manifest -> its release's end of life, decoded once
        changed = 0
        for image in session.scalars(select(Image).where(Image.release != "")):
            if image.manifest_digest not in dates:
                inventory = self.inventories.get(image.manifest_digest)
                dates[image.manifest_digest] = (
                    self._release(inventory)[1] if inventory is not None else image.eol
                )
            eol = dates[image.manifest_digest]
            if eol == image.eol:
                continue
            image.eol = eol
            if image.eol_reached_at is not None and (not eol or eol >= day):
                image.eol_reached_at = None
            changed += 1
        session.commit()
        if changed:
            log.info(
                "end-of-life table refreshed: %d image(s) have a new end-of-life date", changed
            )
        return changed

    def _eol_check(self, session: Session) -> int:
        """One `eol.reached` event for each image whose release's end of life has passed."""
        self._eol_refresh(session)
        day = today(self._clock).isoformat()
        reached = list(
            session.scalars(
                select(Image)
                .where(Image.eol != "", Image.eol < day, Image.eol_reached_at.is_(None))
                .order_by(Image.digest)
            )
        )
        now = self._clock.now()
        for image in reached:
            image.eol_reached_at = now
            session.add(
                Event(
                    type=EventType.EOL_REACHED.value,
                    digest=image.digest,
                    repository=image.repository,
                    severity=Severity.UNKNOWN.value,
                    payload={
                        "image": {"digest": image.digest, "repository": image.repository},
                        "release": image.release,
                        "eol": image.eol,
                        "summary": f"{image.release} reached end of life on {image.eol}",
                    },
                    created_at=now,
                )
            )
        if reached:  # `supported-base` fails now: their policies are evaluated again
            with Matcher(self._vulns) as matcher:
                self.policies.reevaluate(session, reached, self.inventories, matcher)
        session.commit()
        return len(reached)


def image_row(
    digest: str, manifest: str, repository: str, inventory: Inventory, clock: Clock
) -> Image:
    """The row of an image just indexed: what its inventory says of it and its base."""
    base = inventory.base
    return Image(
        digest=digest,
        manifest_digest=manifest,
        repository=repository,
        platform=inventory.image.platform,
        base_reference=base.reference if base else "",
        base_digest=base.digest if base else "",
        base_method=base.method.value if base else "",
        packages=len(inventory.packages),
        partial=inventory.partial,
        indexed_at=clock.now(),
        rebuild_needed=False,
        rebuild_reason="",
        release="",
        eol="",
    )


def _nothing() -> None:
    return None
