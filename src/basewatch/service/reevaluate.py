"""Re-evaluation on data change: when the vulnerability database changes (an update by this
service or by any other process on the same file), only the stored inventories that hold a
changed (ecosystem, package) are matched again, from the store, without touching a registry.

What changed comes from the database's own change log (`VulnStore.changes_since`): the service
remembers the last entry it read (`service_state.vulndb_seq`), so a restart resumes there and a
change made while it was down is not missed.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from basewatch.clock import SYSTEM_CLOCK, Clock
from basewatch.errors import DatabaseError
from basewatch.jobs.seams import SqliteVulnData
from basewatch.service.config import ServeSettings
from basewatch.service.evaluate import Change, evaluate_image
from basewatch.service.inventories import SqlInventoryStore
from basewatch.service.models import Bookmark, Image
from basewatch.settings import Settings

log = logging.getLogger(__name__)
BOOKMARK = "vulndb_seq"


@dataclass
class Reevaluation:
    """What one check did."""

    seq: int = 0  # the change-log entry read up to
    packages: int = 0  # changed packages seen
    images: dict[str, Change] = field(default_factory=dict)  # digest -> what changed


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
        self._stop = threading.Event()

    def stop(self) -> None:
        self._stop.set()

    def run(self) -> None:
        """Check every `vulndb_check_interval` until `stop()`."""
        while not self._stop.is_set():
            try:
                self.check()
            except DatabaseError as exc:
                log.warning("cannot read the vulnerability database: %s", exc)
            except Exception:  # a bug: keep watching, say so loudly
                log.exception("re-evaluation failed")
            self._stop.wait(self._settings.vulndb_check_interval)

    def check(self) -> Reevaluation:
        """Re-match the images holding a package changed since the last check."""
        if not self._vulns.exists():
            return Reevaluation()
        with self._sessions() as session:
            mark = session.get(Bookmark, BOOKMARK)
            seen = int(mark.value) if mark is not None else 0
        with self._vulns.open() as store:
            newest, changed = store.changes_since(seen)
        report = Reevaluation(seq=newest, packages=len(changed))
        if newest == seen:
            return report
        manifests: set[str] = set()
        for ecosystem, name in sorted(changed):
            manifests.update(self._inventories.by_package(ecosystem, name))
        with self._sessions() as session:
            images = (
                list(
                    session.scalars(
                        select(Image)
                        .where(Image.manifest_digest.in_(sorted(manifests)))
                        .order_by(Image.digest)
                    )
                )
                if manifests
                else []
            )
            for image in images:
                if self._stop.is_set():
                    return report  # the bookmark stays: the next start does these again
                inventory = self._inventories.get(image.manifest_digest)
                if inventory is None:
                    continue
                report.images[image.digest] = evaluate_image(
                    session, image.digest, inventory, self._vulns, self._clock
                )
            session.merge(Bookmark(key=BOOKMARK, value=str(newest)))
            session.commit()  # the new snapshots and the bookmark, together
        return report
