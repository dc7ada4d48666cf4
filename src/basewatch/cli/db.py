"""`basewatch db update|import|status`: fill the vulnerability database and check its age."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from basewatch.cli.exit_codes import ExitCode
from basewatch.errors import UsageError

# Exit code for a missing, unreadable or failed-to-update database.

_SHOWN_PROBLEMS = 5


def add_db_parser(commands: Any) -> None:
    """Register `db` and its subcommands on the top-level subparsers."""
    from basewatch.vulndb import DEFAULT_MAX_AGE_DAYS, OSV_BASE_URL

    db = commands.add_parser(
        "db",
        help="download, import and inspect the vulnerability database",
        description="The vulnerability database: OSV advisories plus KEV and EPSS, one file.",
    )
    sub = db.add_subparsers(dest="db_command", metavar="SUBCOMMAND", required=True)

    update = sub.add_parser(
        "update",
        help="download OSV ecosystem dumps (default: those already in the database)",
        description=(
            "Download <base-url>/<ECOSYSTEM>/all.zip for each ecosystem, conditionally, and "
            "swap it in atomically. A failed download leaves the database as it was."
        ),
    )
    update.add_argument(
        "--ecosystem",
        dest="ecosystems",
        action="extend",
        nargs="+",
        default=[],
        metavar="E",
        help="an OSV ecosystem (Debian, Alpine, PyPI, Go...); repeatable",
    )
    update.add_argument("--base-url", default=OSV_BASE_URL, metavar="URL", help="OSV dump root")
    update.add_argument(
        "--full",
        action="store_true",
        help="download whole dumps, never only the records changed since the last update",
    )
    update.add_argument(
        "--eol-base-url",
        metavar="URL",
        help="end-of-life API root (default: the endoflife.date API)",
    )
    eol = update.add_mutually_exclusive_group()
    eol.add_argument("--no-eol", action="store_true", help="do not refresh end-of-life dates")
    eol.add_argument("--eol-only", action="store_true", help="only refresh the end-of-life dates")
    _common(update)

    load = sub.add_parser(
        "import",
        help="import local files: OSV zips, directories and records, secdb, KEV, EPSS",
        description=(
            "PATH is an OSV zip (an ecosystem's all.zip), a directory of OSV .json/.yaml "
            "records, one record, an Alpine/Wolfi/Chainguard secdb .json, the CISA KEV .json "
            "or an EPSS .csv[.gz]. Malformed records are counted and skipped."
        ),
    )
    load.add_argument("paths", nargs="+", type=Path, metavar="PATH")
    _common(load)

    show = sub.add_parser("status", help="list the sources in the database and their ages")
    show.add_argument("--db", type=Path, metavar="PATH", help="default: <cache dir>/vuln.db")
    show.add_argument(
        "--max-age-days",
        type=float,
        default=DEFAULT_MAX_AGE_DAYS,
        metavar="N",
        help=f"warn about sources older than this (default: {DEFAULT_MAX_AGE_DAYS:g})",
    )


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--db", type=Path, metavar="PATH", help="default: <cache dir>/vuln.db")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bar")


def run_db(args: argparse.Namespace) -> int:
    """Run a parsed `db` command; returns the exit code (errors are mapped by `cli.main`)."""
    match args.db_command:
        case "update":
            return _update(args)
        case "import":
            return _import(args)
        case "status":
            return _status(args)
        case _:  # pragma: no cover - argparse refuses unknown subcommands
            return ExitCode.USAGE


def _db_path(args: argparse.Namespace) -> Path:
    if args.db is not None:
        return Path(args.db)
    from basewatch.cache import default_cache_dir

    return default_cache_dir() / "vuln.db"


def _update(args: argparse.Namespace) -> int:
    from basewatch.cli.progress import progress_for
    from basewatch.vulndb.update import updatable_ecosystems, update

    if not args.no_eol:
        _refresh_eol(args)
        if args.eol_only:
            return ExitCode.OK
    path = _db_path(args)
    ecosystems = [e for value in args.ecosystems for e in value.split(",") if e.strip()]
    if not ecosystems:
        ecosystems = updatable_ecosystems(path)
        if not ecosystems:
            raise UsageError(
                f"the database at {path} holds no OSV ecosystem yet: name some with "
                "--ecosystem (e.g. --ecosystem Debian PyPI)"
            )
    with progress_for(quiet=args.quiet) as progress:
        report = update(
            path, ecosystems, base_url=args.base_url, progress=progress, incremental=not args.full
        )
    for result in report.results:
        if result.changed and result.fetched is not None:
            print(
                f"{result.ecosystem}: {result.records} records "
                f"(updated: {result.fetched} changed records fetched)"
            )
        elif result.changed:
            print(f"{result.ecosystem}: {result.records} records (updated)")
        else:
            print(f"{result.ecosystem}: not modified ({result.records} records)")
        _warn_problems(result.ecosystem, result.malformed, result.problems)
    return ExitCode.OK


def _refresh_eol(args: argparse.Namespace) -> None:
    """Refresh the end-of-life table (lint, compare, advise read it); a failure only warns."""
    import httpx

    from basewatch.cache import default_cache_dir
    from basewatch.lint.eol import (
        CACHE_FILE,
        ENDOFLIFE_API,
        EolError,
        refresh_eol_table,
        save_eol_table,
    )

    target = default_cache_dir() / CACHE_FILE
    try:
        with httpx.Client(timeout=30.0, follow_redirects=True) as client:
            table = refresh_eol_table(client, base_url=args.eol_base_url or ENDOFLIFE_API)
        save_eol_table(table, target)
    except (EolError, OSError) as exc:
        print(
            f"basewatch: warning: end-of-life dates not refreshed ({exc}); "
            "the previous table stays in use",
            file=sys.stderr,
        )
        return
    print(f"end-of-life dates: {len(table.cycles)} release cycles (updated)")


def _import(args: argparse.Namespace) -> int:
    from basewatch.cli.progress import progress_for
    from basewatch.vulndb.importer import import_paths
    from basewatch.vulndb.sqlite import rebuilding

    path = _db_path(args)
    with progress_for(quiet=args.quiet) as progress, rebuilding(path) as store:
        results = import_paths(store, args.paths, progress)
    for result in results:
        details = [f"{result.records} {'CVEs' if result.kind in ('kev', 'epss') else 'records'}"]
        if result.withdrawn:
            details.append(f"{result.withdrawn} withdrawn")
        if result.skipped:
            details.append(f"{result.skipped} skipped")
        if result.malformed:
            details.append(f"{result.malformed} malformed")
        sources = ", ".join(result.sources) or "nothing"
        print(f"{result.path}: {', '.join(details)} -> {sources}")
        _warn_problems(result.path, result.malformed, result.problems)
    return ExitCode.OK


def _status(args: argparse.Namespace) -> int:
    from basewatch.vulndb.sqlite import SqliteStore
    from basewatch.vulndb.status import format_age, status

    path = _db_path(args)
    with SqliteStore.open(path, readonly=True) as store:
        report = status(store, datetime.now(UTC), args.max_age_days)
        advisories = store.count_advisories()
    print(f"database: {path} ({advisories} advisories)")
    header = ("SOURCE", "RECORDS", "UPDATED", "AGE", "MALFORMED", "")
    rows = [
        (
            row.source.name,
            str(row.source.records),
            row.source.updated_at,
            format_age(row.age) if row.age is not None else "?",
            str(row.source.malformed),
            "stale" if row.stale else "",
        )
        for row in report.sources
    ]
    widths = [max(len(r[i]) for r in (header, *rows)) for i in range(len(header))]
    for row_values in (header, *rows):
        cells = [
            value.rjust(width) if index in (1, 4) else value.ljust(width)
            for index, (value, width) in enumerate(zip(row_values, widths, strict=True))
        ]
        print("  ".join(cells).rstrip())
    for warning in report.warnings:
        print(f"basewatch: warning: {warning}", file=sys.stderr)
    return ExitCode.OK


def _warn_problems(what: str, malformed: int, problems: tuple[str, ...]) -> None:
    if not malformed:
        return
    print(f"basewatch: warning: {what}: {malformed} malformed records skipped", file=sys.stderr)
    for problem in problems[:_SHOWN_PROBLEMS]:
        print(f"basewatch: warning:   {problem}", file=sys.stderr)
    if malformed > _SHOWN_PROBLEMS:
        print(
            f"basewatch: warning:   ... and {malformed - _SHOWN_PROBLEMS} more "
            "(run with --verbose for all)",
            file=sys.stderr,
        )
