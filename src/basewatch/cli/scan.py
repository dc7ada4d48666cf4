"""`basewatch scan`: inventory an image (or read an SBOM), match it, apply the policy, report."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from basewatch.cli.exit_codes import ExitCode
from basewatch.errors import UsageError
from basewatch.models import Severity

if TYPE_CHECKING:
    from basewatch.models import DatabaseInfo

# `scan` refreshes the OSV dumps it needs once they are older than this: once a day at most.
REFRESH_AFTER_SECONDS = 24 * 3600


def add_scan_parser(commands: Any) -> None:
    scan = commands.add_parser(
        "scan",
        help="find known vulnerabilities in an image or an SBOM",
        description="IMAGE is any reference `basewatch sbom` takes; or give --sbom FILE.",
    )
    scan.add_argument("image", metavar="IMAGE", nargs="?")
    scan.add_argument(
        "--sbom", type=Path, metavar="FILE", help="scan a CycloneDX or SPDX JSON SBOM"
    )
    from basewatch.report.base import canonical_format
    from basewatch.report.scan_base import scan_format_choices

    scan.add_argument(
        "-f", "--format", type=canonical_format, choices=scan_format_choices(), default="table"
    )
    scan.add_argument("-o", "--output", metavar="FILE", help="write here instead of stdout")
    scan.add_argument("--platform", metavar="OS/ARCH[/VARIANT]", help="default: the host's")
    scan.add_argument("--cache-dir", type=Path, metavar="DIR", help="default: the user cache dir")
    scan.add_argument("--no-cache", action="store_true", help="neither read nor write the cache")
    scan.add_argument("--db", type=Path, metavar="PATH", help="vulnerability database file")
    scan.add_argument(
        "--offline",
        action="store_true",
        help="never download advisories, even for ecosystems the database lacks",
    )
    scan.add_argument(
        "--skip-db-update",
        action="store_true",
        help="do not refresh the OSV dumps the database holds, however old"
        " (missing ones are still fetched unless --offline)",
    )
    from basewatch.cli.db import add_osv_url_argument

    add_osv_url_argument(scan)
    scan.add_argument(
        "--severity",
        metavar="LIST",
        help="only these severities, comma-separated (e.g. high,critical)",
    )
    scan.add_argument(
        "--only-fixed", action="store_true", help="hide findings that have no fixed version"
    )
    scan.add_argument(
        "--ignore-unfixed", action="store_true", help="the same as --only-fixed (Trivy's name)"
    )
    scan.add_argument(
        "--only-base", action="store_true", help="only findings in packages the base image brought"
    )
    scan.add_argument(
        "--ignore-base", action="store_true", help="hide findings in packages of the base image"
    )
    scan.add_argument(
        "--ignore-file",
        type=Path,
        metavar="FILE",
        help="YAML ignore rules (default: ./.basewatchignore when it exists)",
    )
    scan.add_argument(
        "--vex",
        type=Path,
        action="extend",
        nargs="+",
        default=[],
        metavar="FILE",
        help="OpenVEX documents (--vex A B, or --vex repeated); not_affected and fixed"
        " statements suppress",
    )
    scan.add_argument(
        "--fail-on",
        metavar="SEVERITY",
        help="exit 1 when a finding at or above this severity remains",
    )
    scan.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    from basewatch.cli.registry import add_registry_arguments

    add_registry_arguments(scan)


def _severities(text: str | None) -> frozenset[Severity] | None:
    if not text:
        return None
    return frozenset(_severity(word) for word in text.split(",") if word.strip())


def _severity(word: str) -> Severity:
    try:
        return Severity(word.strip().lower())
    except ValueError as exc:
        choices = ", ".join(s.value for s in Severity)
        raise UsageError(f"unknown severity {word!r} (one of: {choices})") from exc


def run_scan(args: argparse.Namespace) -> int:
    from basewatch.cli.output import write_output
    from basewatch.cli.progress import progress_for
    from basewatch.cli.settings import settings_from
    from basewatch.jobs.inventory import Scanner
    from basewatch.matching.evaluate import scan_inventory
    from basewatch.matching.policy import IGNORE_FILE, Policy, load_ignore_file, load_openvex
    from basewatch.report.scan_base import ScanFormat, scan_reporter_for

    if (args.image is None) == (args.sbom is None):
        if args.image is None and args.vex:
            # `--vex A B` takes every word after it: an IMAGE after it becomes a VEX file.
            raise UsageError(
                "give an IMAGE or --sbom FILE (one of them); --vex takes every file after it,"
                " so put IMAGE before --vex or end the list with `--`"
                " (basewatch scan --vex A.json B.json -- IMAGE)"
            )
        raise UsageError("give an IMAGE or --sbom FILE (one of them)")
    fail_on = _severity(args.fail_on) if args.fail_on else None
    ignore_path = args.ignore_file or (Path(IGNORE_FILE) if Path(IGNORE_FILE).is_file() else None)
    vex = [s for path in args.vex for s in load_openvex(path)]
    policy = Policy(
        severities=_severities(args.severity),
        only_fixed=args.only_fixed or args.ignore_unfixed,
        only_base=args.only_base,
        ignore_base=args.ignore_base,
        ignore_rules=load_ignore_file(ignore_path) if ignore_path else (),
        ignore_source=str(ignore_path or IGNORE_FILE),
        vex=vex,
        vex_source=", ".join(str(p) for p in args.vex),
    )
    settings = settings_from(args)
    db_path = settings.db_path
    with progress_for(quiet=args.quiet) as progress:
        if args.sbom is not None:
            from basewatch.sbom.reader import read_sbom

            inventory = read_sbom(args.sbom)
        else:
            from basewatch.cli.registry import image_source

            scanner = Scanner.from_settings(settings, progress)
            inventory = scanner.inventory(image_source(args, scanner), platform=args.platform)
        # Refused before any download: the filter cannot work on this image.
        policy.check_base(inventory)
        fetch_warnings = []
        if not args.offline:
            fetch_warnings = _fetch_advisories(
                db_path, inventory, progress, args.osv_url, refresh=not args.skip_db_update
            )
        store = _open_store(db_path)
        database = _database_info(db_path, store)
        result = scan_inventory(inventory, store, policy, database)
    if fetch_warnings:
        from dataclasses import replace

        result = replace(result, warnings=(*fetch_warnings, *result.warnings))
    data = scan_reporter_for(ScanFormat(args.format)).render(result)
    write_output(data, args.output)
    for warning in (*inventory.warnings, *result.warnings):
        print(f"basewatch: warning: {warning}", file=sys.stderr)
    if fail_on is not None and any(f.severity.rank >= fail_on.rank for f in result.findings):
        return ExitCode.FINDINGS
    if inventory.partial or result.unchecked:
        return ExitCode.PARTIAL
    return ExitCode.OK


def _open_store(path: Path) -> Any:
    from basewatch.vulndb.sqlite import SqliteStore

    return SqliteStore.open(path, readonly=True)


def _database_info(db_path: Path, store: Any) -> DatabaseInfo:
    """The database line of the report: each source's import time and the date of its data."""
    from basewatch.models import DatabaseInfo

    sources = store.sources()
    return DatabaseInfo(
        path=str(db_path),
        sources=tuple((s.name, s.updated_at) for s in sources),
        data_dates=tuple((s.name, s.data_date) for s in sources),
    )


def _fetch_advisories(
    db_path: Path, inventory: Any, progress: Any, base_url: str | None, refresh: bool
) -> list[str]:
    """Download the OSV dumps this image needs that the database lacks, and (with `refresh`)
    bring those it holds up to date when they are more than a day old.

    A dump counts as held when the database has it (even one without records for this
    release, such as a brand-new distribution release) or records for its ecosystem (imported
    from files). Refreshing is incremental: only the records changed since the last update.
    A dump the server does not have, or a failed download, is a warning, not a failure: the
    scan goes on with what the database holds and says what was not checked.
    """
    from datetime import UTC, datetime, timedelta

    from basewatch.cli.db import resolve_osv_url
    from basewatch.errors import DatabaseError
    from basewatch.vulndb.update import SOURCE_PREFIX, dumps_for, needed_ecosystems, update

    needed = needed_ecosystems(inventory)
    with_records: set[str] = set()
    held: dict[str, str] = {}  # dump -> when it was last updated
    if db_path.exists():
        try:
            store = _open_store(db_path)
            with_records = set(store.ecosystems())
            held = {
                s.name.removeprefix(SOURCE_PREFIX): s.updated_at
                for s in store.sources()
                if s.name.startswith(SOURCE_PREFIX)
            }
        except DatabaseError:
            pass  # unreadable: scan reports it when it opens the database
    missing = [
        dump for dump in dumps_for(e for e in needed if e not in with_records) if dump not in held
    ]
    stale = []
    if refresh:
        limit = datetime.now(UTC) - timedelta(seconds=REFRESH_AFTER_SECONDS)
        stale = [d for d in dumps_for(needed) if d in held and _before(held[d], limit)]
    if not missing and not stale:
        if not db_path.exists():
            _create_empty(db_path)  # nothing to download, but the scan needs a database
        return []
    try:
        report = update(
            db_path,
            [*missing, *stale],
            resolve_osv_url(base_url),
            progress=progress,
            missing_ok=True,
        )
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


def _create_empty(db_path: Path) -> None:
    """A first scan of an image without packages of any ecosystem: an empty database."""
    from basewatch.vulndb.sqlite import rebuilding

    with rebuilding(db_path):
        pass


def _before(updated_at: str, limit: Any) -> bool:
    """Whether the ISO time `updated_at` is before `limit` (an unreadable time is)."""
    from basewatch.vulndb.status import parse_time

    moment = parse_time(updated_at)
    return moment is None or bool(moment < limit)
