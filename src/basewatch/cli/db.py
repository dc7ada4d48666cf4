"""`basewatch db update|import|status`: fill the vulnerability database and check its age."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from basewatch.cli.exit_codes import ExitCode
from basewatch.cli.progress import progress_for
from basewatch.cli.settings import settings_from
from basewatch.defaults import ENV_OSV_URL, OSV_BASE_URL
from basewatch.vulndb import COMMON_ECOSYSTEMS, DEFAULT_MAX_AGE_DAYS

_SHOWN_PROBLEMS = 5


def add_db_arguments(db: argparse.ArgumentParser) -> None:
    """Register `db` and its subcommands on the top-level subparsers."""
    sub = db.add_subparsers(dest="db_command", metavar="SUBCOMMAND", required=True)

    update = sub.add_parser(
        "update",
        help="download OSV ecosystem dumps (default: those already in the database)",
        description=(
            "Download <osv-url>/<ECOSYSTEM>/all.zip for each ecosystem, conditionally, and "
            "swap it in atomically. A failed download leaves the database as it was. Without "
            "--ecosystem: those the database holds; for a new database, those of the images "
            "basewatch has read (its catalog), else " + ", ".join(COMMON_ECOSYSTEMS) + "."
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
    add_osv_url_argument(update)
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


def add_osv_url_argument(parser: argparse.ArgumentParser) -> None:
    """`--osv-url` (and its older name `--base-url`), for `db update` and `scan`."""
    parser.add_argument(
        "--osv-url",
        "--base-url",
        dest="osv_url",
        metavar="URL",
        help=f"where the OSV dumps are fetched from (a mirror, a local server); default: "
        f"${ENV_OSV_URL}, else osv_url in the [db] section of .basewatch.toml (or "
        f"[tool.basewatch.db] in pyproject.toml), else {OSV_BASE_URL}",
    )


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--db", type=Path, metavar="PATH", help="default: <cache dir>/vuln.db")


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


def _update(args: argparse.Namespace) -> int:
    from basewatch.jobs.db import UpdateRequest, plan_update, update_database

    settings = settings_from(args)
    request = UpdateRequest(
        ecosystems=tuple(e for value in args.ecosystems for e in value.split(",") if e.strip()),
        incremental=not args.full,
        osv=not args.eol_only,
        eol=not args.no_eol,
    )
    plan = plan_update(request, settings) if request.osv else None
    if plan is not None and plan.why is not None:
        print(
            f"basewatch: the database at {settings.db_path} holds no OSV ecosystem yet: "
            f"downloading {', '.join(plan.ecosystems)} ({plan.why}; choose with --ecosystem)",
            file=sys.stderr,
        )
    with progress_for(quiet=args.quiet) as progress:
        outcome = update_database(request, settings, progress, plan=plan)
    if outcome.eol_error:
        print(
            f"basewatch: warning: end-of-life dates not refreshed ({outcome.eol_error}); "
            "the previous table stays in use",
            file=sys.stderr,
        )
    elif outcome.eol_cycles is not None:
        print(f"end-of-life dates: {outcome.eol_cycles} release cycles (updated)")
    report = outcome.report
    if report is None:
        return ExitCode.OK
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
    for dump in report.unavailable:
        print(f"basewatch: warning: {settings.osv_url} has no dump for {dump}", file=sys.stderr)
    return ExitCode.OK


def _import(args: argparse.Namespace) -> int:
    from basewatch.jobs.db import import_files

    settings = settings_from(args)
    with progress_for(quiet=args.quiet) as progress:
        results = import_files(args.paths, settings, progress)
    for result in results:
        details = [f"{result.records} {'CVEs' if result.kind.per_cve else 'records'}"]
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
    from basewatch.jobs.db import database_status
    from basewatch.vulndb.status import format_age

    settings = settings_from(args)
    outcome = database_status(settings, args.max_age_days)
    report = outcome.report
    print(f"database: {settings.db_path} ({outcome.advisories} advisories)")
    # DATA: the newest record's date (or the feed's own); "?" when the data carries none.
    # The age that counts is that one, not the import's: a 2020 file imported today is old.
    header = ("SOURCE", "RECORDS", "DATA", "DATA-AGE", "IMPORTED", "MALFORMED", "")
    rows = [
        (
            row.source.name,
            str(row.source.records),
            row.source.data_date or "?",
            format_age(row.data_age) if row.data_age is not None else "?",
            row.source.updated_at,
            str(row.source.malformed),
            "stale" if row.stale else "",
        )
        for row in report.sources
    ]
    widths = [max(len(r[i]) for r in (header, *rows)) for i in range(len(header))]
    for row_values in (header, *rows):
        cells = [
            value.rjust(width) if index in (1, 5) else value.ljust(width)
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
