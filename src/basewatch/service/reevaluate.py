"""Re-evaluation on data change: when the vulnerability database changes (an update by this
service or by any other process on the same file), only the stored inventories that hold a
changed (ecosystem, package) are matched again, from the store, without touching a registry.

What changed comes from the database's own change log (`VulnStore.changes_since`): the service
remembers which log it read and its last entry (`service_state.vulndb_seq`, "log:entry"), so a
restart resumes there, a change made while it was down is not missed, and a database replaced by
another one (whose log starts again) or entries dropped unread make every image be matched again.

Each image matched again has its policies evaluated again on that match (`policies`); so do the
images whose verdicts were made under another policy configuration, or without a database when
there is one now (a check's second step).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from basewatch.clock import SYSTEM_CLOCK, Clock
from basewatch.errors import DatabaseError
from basewatch.jobs.seams import SqliteVulnData
from basewatch.service.config import ServeSettings
from basewatch.service.evaluate import Change, Matcher, evaluate_image
from basewatch.service.inventories import SqlInventoryStore
from basewatch.service.models import Bookmark, Evaluation, FindingId, Image
from basewatch.service.policies import ImagePolicies, without_database
from basewatch.settings import Settings
from basewatch.vulndb.store import EVERYTHING, KEV_CHANGE, PackageKey

log = logging.getLogger(__name__)
BOOKMARK = "vulndb_seq"
_T = TypeVar("_T")
BATCH = 200  # images re-matched per transaction: no writer waits long behind a big change


@dataclass
class Reevaluation:
    """What one check did."""

    seq: int = 0  # the change-log entry read up to
    packages: int = 0  # changed packages seen
    images: dict[str, Change] = field(default_factory=dict)  # digest -> what changed
    deferred: int = 0  # images handed to a fleet's workers to match again
    # images whose policies were evaluated only because their verdicts were made under
    # another policy configuration, or never (indexed before the service kept policies)
    policies: int = 0


class Reevaluator:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        settings: ServeSettings,
        core: Settings,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self._sessions = sessions
        self._settings = settings
        self._vulns = SqliteVulnData(settings.vulndb, core.osv_url)
        self._clock = clock
        self._inventories = SqlInventoryStore(sessions, clock)
        self._policies = ImagePolicies(settings.policies, core.eol_table, clock)
        self._stop = threading.Event()
        self.pending = 0  # images left to re-match in the check running now
        # called after a check that re-matched images (events may be in the outbox): the
        # dispatcher's wake, so delivery does not wait for its next look
        self.on_events: Callable[[], None] = _nothing
        # a fleet's: queue the digests to match again as batch jobs (None: match them here)
        self.defer: Callable[[Sequence[str]], None] | None = None

    def stop(self) -> None:
        self._stop.set()

    def run(self) -> None:
        """Check every `vulndb_check_interval` until `stop()`."""
        while not self._stop.is_set():
            try:
                report = self.check()
                if report.images or report.policies:
                    self.on_events()
            except DatabaseError as exc:
                log.warning("cannot read the vulnerability database: %s", exc)
            except Exception:  # a bug: keep watching, say so loudly
                log.exception("re-evaluation failed")
            self._stop.wait(self._settings.vulndb_check_interval)

    def check(self) -> Reevaluation:
        """Re-match the images holding a package changed since the last check (and evaluate
        their policies again), then evaluate the policies of images whose verdicts were made
        under another policy configuration, or never."""
        report = self._changes()
        if not self._stop.is_set():
            report.policies = self._stale_policies()
        return report

    def _stale_policies(self) -> int:
        """Evaluate the policies of every image whose verdicts are not of the configuration
        in force (a policy file changed, or images indexed before the service kept them), or
        were made without a database when there is one now (or with one when it is gone)."""
        done = 0
        marker = self._policies.fingerprint
        bare = without_database(marker)

        def stale(session: Session, wanted: str) -> list[str]:
            query = select(Image.digest).where(Image.policy_config != wanted)
            return list(session.scalars(query.order_by(Image.digest)))

        with self._sessions() as session:
            # one query when nothing is stale: the database is opened only when something is
            digests = stale(session, marker if self._vulns.exists() else bare)
            if not digests:
                return 0
        with self._sessions() as session, Matcher(self._vulns) as matcher:
            if matcher.problem:  # a database that cannot be used: made as without one
                digests = stale(session, bare)
            for chunk in _chunks(digests, BATCH):
                if self._stop.is_set():
                    break
                images = list(session.scalars(select(Image).where(Image.digest.in_(chunk))))
                done += self._policies.reevaluate(session, images, self._inventories, matcher)
                session.commit()
        if done:
            log.info("policies evaluated on %d image(s) under the configuration in force", done)
        return done

    def _changes(self) -> Reevaluation:
        if not self._vulns.exists():
            return Reevaluation()
        with self._sessions() as session:
            mark = session.get(Bookmark, BOOKMARK)
            logged, _, count = (mark.value if mark is not None else "").rpartition(":")
            seen = int(count or 0)
        with self._vulns.open() as store:
            log_name = store.change_log()
            newest, changed = store.changes_since(seen)
            if (logged and logged != log_name) or newest < seen:
                # not the log that was read: another database at the same path
                log.warning("the vulnerability database was replaced: every image is re-matched")
                newest, changed, seen = store.changes_since(0)[0], frozenset({EVERYTHING}), -1
        report = Reevaluation(seq=newest, packages=len(changed))
        if newest == seen:
            return report
        bookmark = f"{log_name}:{newest}"
        with self._sessions() as session:
            digests = self._affected(session, changed)
            if self.defer is not None:  # a fleet: the workers match them again, in batches
                self.defer(digests)
                report.deferred = len(digests)
                session.merge(Bookmark(key=BOOKMARK, value=bookmark))
                session.commit()
                return report
        with self._sessions() as session, Matcher(self._vulns) as matcher:
            self.pending = len(digests)
            try:
                for chunk in _chunks(digests, BATCH):
                    if self._stop.is_set():
                        return report  # the bookmark stays: the next start does the rest
                    report.images.update(self._match(session, chunk, matcher))
                    # each image's snapshot and its events together; a re-evaluation cut short
                    # is repeated whole, and an image already matched again diffs to nothing:
                    # no event twice
                    session.commit()
                    self.pending -= len(chunk)
                session.merge(Bookmark(key=BOOKMARK, value=bookmark))
                session.commit()  # the last snapshots and the bookmark
            finally:
                self.pending = 0
        return report

    def _affected(self, session: Session, changed: frozenset[PackageKey]) -> list[str]:
        """The digests of the images holding a changed package, or a CVE that joined or left
        the KEV catalog (every image when what changed is not known), sorted."""
        everything = EVERYTHING in changed
        cves = sorted(name for ecosystem, name in changed if ecosystem == KEV_CHANGE)
        if everything:
            return sorted(session.scalars(select(Image.digest)))
        manifests = self._inventories.by_packages(k for k in changed if k[0] != KEV_CHANGE)
        digests: set[str] = set()
        for chunk in _chunks(cves, 500):
            digests.update(session.scalars(select(FindingId.digest).where(FindingId.id.in_(chunk))))
        for chunk in _chunks(sorted(manifests), 500):
            digests.update(
                session.scalars(select(Image.digest).where(Image.manifest_digest.in_(chunk)))
            )
        return sorted(digests)

    def reevaluate(self, digests: Sequence[str]) -> dict[str, Change]:
        """Match these images again (a fleet's batch job) and evaluate their policies, in one
        transaction: a batch cut short is run again whole, and an image already matched again
        diffs to nothing, so no event is written twice."""
        with self._sessions() as session, Matcher(self._vulns) as matcher:
            changes = self._match(session, digests, matcher)
            session.commit()
        return changes

    def _match(
        self, session: Session, digests: Sequence[str], matcher: Matcher
    ) -> dict[str, Change]:
        images = list(
            session.scalars(select(Image).where(Image.digest.in_(digests)).order_by(Image.digest))
        )
        # held here, so the session finds them without a query an image
        list(session.scalars(select(Evaluation).where(Evaluation.digest.in_(digests))))
        # the batch's inventories in one query, each manifest decoded once
        stored = self._inventories.get_many(session, {image.manifest_digest for image in images})
        self._policies.prefetch(session, images)  # their verdicts and facts at once
        changes: dict[str, Change] = {}
        for image in images:
            inventory = stored.get(image.manifest_digest)
            if inventory is not None:
                change = evaluate_image(session, image.digest, inventory, matcher, self._clock)
                changes[image.digest] = change
                self._policies.evaluate(session, image, inventory, change.scan)
        return changes


def _chunks(items: Sequence[_T], size: int) -> Iterator[Sequence[_T]]:
    """`items` in slices of at most `size`: an IN list stays within every database's limits."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _nothing() -> None:
    return None
