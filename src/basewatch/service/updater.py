"""The service's own `db update`: every `vulndb_update_interval`, and when asked
(`POST /api/v1/vulndb/update`), the OSV dumps of the ecosystems its stored inventories hold are
fetched (incrementally, as the CLI does) into the service's vulnerability database.

The update writes the database's change log like any other writer; the `Reevaluator` reads it,
so an update by the service and one by another process are followed the same way.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from basewatch.clock import SYSTEM_CLOCK, Clock
from basewatch.errors import Error
from basewatch.jobs.db import UpdatePlan, UpdateRequest, plan_update, update_database
from basewatch.service.config import ServeSettings
from basewatch.service.models import InventoryPackage
from basewatch.settings import Settings
from basewatch.vulndb.update import dumps_for

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class UpdateSummary:
    started_at: datetime
    finished_at: datetime
    ecosystems: tuple[str, ...]  # the dumps asked for
    changed_packages: int  # packages whose advisories changed
    unavailable: tuple[str, ...] = ()  # dumps the server does not have
    error: str = ""  # why it failed ("" when it did not); the database is left as it was
    eol_error: str = ""  # why the end-of-life table was not refreshed


class Updater:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        settings: ServeSettings,
        core: Settings,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self._sessions = sessions
        self._settings = settings
        # the CLI's settings, with the service's database
        self._core = dataclasses.replace(core, db_override=settings.vulndb)
        self._clock = clock
        self._stop = threading.Event()
        self._lock = threading.Lock()  # one update at a time
        self.last: UpdateSummary | None = None

    @property
    def running(self) -> bool:
        return self._lock.locked()

    def stop(self) -> None:
        self._stop.set()

    def run(self) -> None:
        """Update every `vulndb_update_interval` (none when it is 0) until `stop()`."""
        interval = self._settings.vulndb_update_interval
        if not interval:
            return
        while not self._stop.wait(interval):
            self.update_once()

    def trigger(self) -> bool:
        """Start an update in the background; False when one is running already."""
        if self.running:
            return False
        threading.Thread(target=self.update_once, name="Updater", daemon=True).start()
        return True

    def plan(self) -> UpdatePlan:
        """The dumps of the ecosystems the stored inventories hold; with none stored, what the
        CLI would fetch."""
        with self._sessions() as session:
            held = list(session.scalars(select(InventoryPackage.ecosystem).distinct()))
        found = dumps_for(sorted(held))
        if found:
            return UpdatePlan(tuple(found), "the ecosystems of the stored inventories")
        return plan_update(UpdateRequest(), self._core)

    def update_once(self) -> UpdateSummary | None:
        """One update (None when another is running); a failure is kept in `last`, logged, and
        leaves the database as it was."""
        if not self._lock.acquire(blocking=False):
            return None
        try:
            started = self._clock.now()
            plan = self.plan()
            try:
                outcome = update_database(
                    UpdateRequest(ecosystems=plan.ecosystems),
                    self._core,
                    clock=self._clock,
                    plan=plan,
                )
            except Error as exc:
                log.warning("the vulnerability database update failed: %s", exc)
                summary = UpdateSummary(
                    started, self._clock.now(), plan.ecosystems, 0, error=str(exc)
                )
            else:
                report = outcome.report
                summary = UpdateSummary(
                    started,
                    self._clock.now(),
                    plan.ecosystems,
                    len(report.changed) if report else 0,
                    report.unavailable if report else (),
                    eol_error=outcome.eol_error,
                )
            self.last = summary
            return summary
        finally:
            self._lock.release()
