"""The scan job: an image (or an SBOM) -> inventory -> the advisories it needs, fetched when
missing or stale -> findings under the user's policy."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from basewatch.errors import DatabaseError
from basewatch.jobs.seams import Seams
from basewatch.matching.evaluate import scan_inventory
from basewatch.matching.policy import Policy
from basewatch.models import Inventory, ScanResult
from basewatch.vulndb.status import parse_time
from basewatch.vulndb.update import SOURCE_PREFIX, dumps_for, needed_ecosystems

# A scan refreshes the OSV dumps it needs once they are older than this: once a day at most.
REFRESH_AFTER = timedelta(days=1)


@dataclass(frozen=True, slots=True)
class ScanRequest:
    """Scan `image`, or the SBOM at `sbom` (exactly one of them)."""

    image: str | None = None
    sbom: Path | None = None
    platform: str | None = None
    policy: Policy = dataclasses.field(default_factory=Policy)
    fetch: bool = True  # download the advisories the database lacks for this image
    refresh: bool = True  # and refresh those held that are more than a day old


@dataclass(frozen=True, slots=True)
class ScanOutcome:
    inventory: Inventory
    result: ScanResult


def scan(request: ScanRequest, seams: Seams) -> ScanOutcome:
    """Inventory, fetch what the database lacks, match, apply the policy."""
    if request.sbom is not None:
        from basewatch.sbom.reader import read_sbom

        inventory = read_sbom(request.sbom)
    elif request.image is not None:
        ref = seams.images.parse(request.image)
        source = seams.images.open(ref, seams.scanner)
        inventory = seams.scanner.inventory(source, platform=request.platform)
    else:
        raise ValueError("a ScanRequest names an image or an SBOM")
    # Refused before any download: the filter cannot work on this image.
    request.policy.check_base(inventory)
    fetch_warnings: list[str] = []
    if request.fetch:
        fetch_warnings = fetch_advisories(seams, inventory, refresh=request.refresh)
    with seams.vulns.open() as store:
        result = scan_inventory(inventory, store, request.policy, seams.vulns.info(store))
    if fetch_warnings:
        result = dataclasses.replace(result, warnings=(*fetch_warnings, *result.warnings))
    return ScanOutcome(inventory, result)


def fetch_advisories(seams: Seams, inventory: Inventory, refresh: bool) -> list[str]:
    """Download the OSV dumps this image needs that the database lacks, and (with `refresh`)
    bring those it holds up to date when they are more than a day old.

    A dump counts as held when the database has it (even one without records for this
    release, such as a brand-new distribution release) or records for its ecosystem (imported
    from files). Refreshing is incremental: only the records changed since the last update.
    A dump the server does not have, or a failed download, is a warning, not a failure: the
    scan goes on with what the database holds and says what was not checked.
    """
    vulns = seams.vulns
    needed = needed_ecosystems(inventory)
    with_records: set[str] = set()
    held: dict[str, str] = {}  # dump -> when it was last updated
    if vulns.exists():
        try:
            with vulns.open() as store:
                with_records = set(store.ecosystems())
                held = {
                    s.name.removeprefix(SOURCE_PREFIX): s.updated_at
                    for s in store.sources()
                    if s.name.startswith(SOURCE_PREFIX)
                }
        except DatabaseError:
            pass  # unreadable: the scan reports it when it opens the database
    missing = [
        dump for dump in dumps_for(e for e in needed if e not in with_records) if dump not in held
    ]
    stale = []
    if refresh:
        limit = seams.clock.now() - REFRESH_AFTER
        stale = [d for d in dumps_for(needed) if d in held and _before(held[d], limit)]
    if not missing and not stale:
        if not vulns.exists():
            vulns.create_empty()  # nothing to download, but the scan needs a database
        return []
    try:
        report = vulns.update([*missing, *stale], seams.progress)
    except DatabaseError as exc:
        if not missing:
            return [f"could not refresh the advisories for {', '.join(stale)}: {exc}"]
        return [f"could not fetch advisories for {', '.join(missing + stale)}: {exc}"]
    return [
        f"could not refresh the advisories for {dump}: the server no longer has its dump; "
        f"using those of {held[dump]}"
        if dump in held
        else f"OSV publishes no advisories for {dump}"
        for dump in report.unavailable
    ]


def _before(updated_at: str, limit: datetime) -> bool:
    """Whether the ISO time `updated_at` is before `limit` (an unreadable time is)."""
    moment = parse_time(updated_at)
    return moment is None or moment < limit
