"""The database jobs: update the OSV dumps (and the end-of-life table), import files, and
report each source's age."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from basewatch.clock import SYSTEM_CLOCK, Clock
from basewatch.errors import EolError
from basewatch.progress import NULL_PROGRESS, Progress
from basewatch.settings import Settings
from basewatch.store.catalog import Catalog
from basewatch.vulndb import COMMON_ECOSYSTEMS
from basewatch.vulndb.eol import refresh_eol_table, save_eol_table
from basewatch.vulndb.importer import ImportResult
from basewatch.vulndb.sqlite import SqliteStore, rebuilding
from basewatch.vulndb.status import DatabaseStatus, status
from basewatch.vulndb.update import UpdateReport


@dataclass(frozen=True, slots=True)
class UpdateRequest:
    ecosystems: tuple[str, ...] = ()  # none: those held, else those of images read, else common
    incremental: bool = True
    osv: bool = True  # update the OSV dumps
    eol: bool = True  # refresh the end-of-life table


@dataclass(frozen=True, slots=True)
class UpdateOutcome:
    report: UpdateReport | None  # None when the OSV dumps were not asked for
    plan: UpdatePlan | None  # what was fetched (None when the OSV dumps were not asked for)
    eol_cycles: int | None  # release cycles of the refreshed table; None when not refreshed
    eol_error: str = ""  # why the end-of-life table was not refreshed (the old one stays)


@dataclass(frozen=True, slots=True)
class UpdatePlan:
    """The OSV dumps an update fetches; `why` is set when they are a guess (none named, none
    held), and then one the server lacks is no reason to fail the others."""

    ecosystems: tuple[str, ...]
    why: str | None = None


def plan_update(request: UpdateRequest, settings: Settings) -> UpdatePlan:
    """The dumps to fetch: those named, else those the database holds, else a guess."""
    from basewatch.vulndb.update import updatable_ecosystems

    if request.ecosystems:
        return UpdatePlan(request.ecosystems)
    held = updatable_ecosystems(settings.db_path)
    if held:
        return UpdatePlan(tuple(held))
    guessed, why = default_ecosystems(settings)
    return UpdatePlan(tuple(guessed), why)


def update_database(
    request: UpdateRequest,
    settings: Settings,
    progress: Progress = NULL_PROGRESS,
    clock: Clock = SYSTEM_CLOCK,
    plan: UpdatePlan | None = None,
) -> UpdateOutcome:
    """Refresh the end-of-life table (a failure only says why), then the OSV dumps of `plan`
    (default: `plan_update(request, settings)`)."""
    from basewatch.vulndb.update import update

    cycles: int | None = None
    eol_error = ""
    if request.eol:
        try:
            cycles = refresh_eol(settings)
        except (EolError, OSError) as exc:
            eol_error = str(exc)
    if not request.osv:
        return UpdateOutcome(None, None, cycles, eol_error)
    chosen = plan or plan_update(request, settings)
    report = update(
        settings.db_path,
        list(chosen.ecosystems),
        base_url=settings.osv_url,
        progress=progress,
        now=clock.now(),
        incremental=request.incremental,
        missing_ok=chosen.why is not None,
    )
    return UpdateOutcome(report, chosen, cycles, eol_error)


def refresh_eol(settings: Settings) -> int:
    """Download the end-of-life table into `settings.eol_table`; returns its cycle count."""
    import httpx

    with httpx.Client(timeout=30.0, follow_redirects=True) as client:
        table = refresh_eol_table(client, base_url=settings.eol_url)
    save_eol_table(table, settings.eol_table)
    return len(table.cycles)


def default_ecosystems(settings: Settings) -> tuple[list[str], str]:
    """The dumps `db update` fetches for a new database, and why those: the ecosystems of the
    images in the local catalog whose inventories are cached, else `COMMON_ECOSYSTEMS`."""
    from basewatch.vulndb.update import dumps_for

    found = dumps_for(catalog_ecosystems(settings))
    if found:
        return found, "the ecosystems of the images basewatch has read"
    return list(COMMON_ECOSYSTEMS), "the common ones: basewatch has read no image yet"


def catalog_ecosystems(settings: Settings) -> list[str]:
    """The OSV ecosystems of the packages of every catalogued image whose assembled inventory
    is in the analysis cache (every image basewatch has read, unless it ran without cache)."""
    root = settings.analysis_dir
    found: set[str] = set()
    for entry in Catalog(settings.catalog_dir).entries():
        # The key `Scanner` files an image's inventory under: its chain of diffIDs.
        chain = hashlib.sha256("\n".join(entry.diff_ids).encode()).hexdigest()
        folder = root / "images" / "sha256" / chain
        for cached in sorted(folder.glob("*.json")) if folder.is_dir() else ():
            try:
                data = json.loads(cached.read_bytes())
                found.update(str(p["ecosystem"]) for p in data["packages"] if p.get("ecosystem"))
            except (OSError, ValueError, KeyError, TypeError, AttributeError):
                continue  # an unreadable cache entry only loses a hint
    return sorted(found)


def import_files(
    paths: Sequence[Path], settings: Settings, progress: Progress = NULL_PROGRESS
) -> tuple[ImportResult, ...]:
    """Import OSV records, secdb files, KEV and EPSS feeds into the database, atomically."""
    from basewatch.vulndb.importer import import_paths

    with rebuilding(settings.db_path) as store:
        return import_paths(store, list(paths), progress)


@dataclass(frozen=True, slots=True)
class StatusOutcome:
    report: DatabaseStatus
    advisories: int


def database_status(
    settings: Settings, max_age_days: float, clock: Clock = SYSTEM_CLOCK
) -> StatusOutcome:
    """Each source of the database, its data's age and whether it is stale."""

    with SqliteStore.open(settings.db_path, readonly=True) as store:
        return StatusOutcome(status(store, clock.now(), max_age_days), store.count_advisories())
