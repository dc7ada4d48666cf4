"""The compare job: candidate base images side by side (size, packages, libc, end of life,
findings), and optionally whether an application's files would load on each."""

from __future__ import annotations

import contextlib
import dataclasses
from dataclasses import dataclass

from basewatch.advice.compare import Candidate, candidate
from basewatch.clock import today
from basewatch.jobs.compat import CompatChecker
from basewatch.jobs.seams import Seams, missing_database
from basewatch.matching.evaluate import scan_inventory
from basewatch.vulndb.eol import eol_lookup_from_table


@dataclass(frozen=True, slots=True)
class CompareRequest:
    images: tuple[str, ...]
    app: str | None = None  # an application image: would its top `app_layers` load on each?
    app_layers: int | None = None
    platform: str | None = None
    require_database: bool = False  # a missing database is an error, not "no findings"


@dataclass(frozen=True, slots=True)
class CompareOutcome:
    candidates: tuple[Candidate, ...]
    database: bool  # whether findings were compared


def compare(request: CompareRequest, seams: Seams) -> CompareOutcome:
    images = seams.images
    if not seams.vulns.exists() and request.require_database:
        raise missing_database(seams.vulns.location)
    lookup = eol_lookup_from_table(seams.settings.eol_table)
    day = today(seams.clock)
    checker = CompatChecker.around(seams.scanner)
    found: list[Candidate] = []
    with contextlib.ExitStack() as stack:
        store = stack.enter_context(seams.vulns.open()) if seams.vulns.exists() else None
        for reference in request.images:
            ref = images.parse(reference)
            inventory = seams.scanner.inventory(
                images.open(ref, seams.scanner), platform=request.platform
            )
            result = scan_inventory(inventory, store) if store is not None else None
            # compat's reading of the libc, so `compare` and `compat` never disagree on it
            libc = checker.libc(images.open(ref), request.platform)
            row = candidate(inventory, result, lookup, day, libc)
            if request.app is not None:
                row = dataclasses.replace(
                    row, compat=_loads(request.app, request, seams, checker, reference)
                )
            found.append(row)
    return CompareOutcome(tuple(found), database=store is not None)


def _loads(
    app: str, request: CompareRequest, seams: Seams, checker: CompatChecker, base: str
) -> str:
    """One line: would the app's ELF files load on `base`? The app is read through the same
    opener as the candidates: the same registry options and credentials."""
    images = seams.images
    report = checker.check_on(
        images.open(images.parse(app)),
        images.open(images.parse(base)),
        layers=request.app_layers,
        platform=request.platform,
    )
    failures = report.failures
    if not failures:
        return f"loads ({len(report.files)} ELF files)"
    return f"{len(failures)} of {len(report.files)} ELF files fail to load"
