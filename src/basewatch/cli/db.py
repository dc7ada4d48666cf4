"""`basewatch db update|import|status`: fill the vulnerability database and check its age."""

from __future__ import annotations

import argparse
import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from basewatch.cli.exit_codes import ExitCode
from basewatch.errors import UsageError

_SHOWN_PROBLEMS = 5
# Where the OSV dumps come from: --osv-url, else this variable, else `osv_url` in the config
# file's [db] section, else OSV's public bucket.
OSV_URL_ENV = "BASEWATCH_OSV_URL"
_DB_SETTINGS = frozenset({"osv_url"})
# What `db update` downloads when told no ecosystem, holds none and knows no image: the
# ecosystems most base images and the programs on them draw from.
COMMON_ECOSYSTEMS = ("Debian", "Ubuntu", "Alpine", "PyPI", "npm", "Go", "Maven", "crates.io")


def add_db_parser(commands: Any) -> None:
    """Register `db` and its subcommands on the top-level subparsers."""
    from basewatch.vulndb import DEFAULT_MAX_AGE_DAYS

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
    from basewatch.vulndb import OSV_BASE_URL

    parser.add_argument(
        "--osv-url",
        "--base-url",
        dest="osv_url",
        metavar="URL",
        help=f"where the OSV dumps are fetched from (a mirror, a local server); default: "
        f"${OSV_URL_ENV}, else osv_url in the [db] section of .basewatch.toml (or "
        f"[tool.basewatch.db] in pyproject.toml), else {OSV_BASE_URL}",
    )


def resolve_osv_url(flag: str | None, directory: Path | None = None) -> str:
    """The OSV dump root: the flag, else the environment, else the config file, else OSV's.

    Raises `UsageError`, naming where the value came from, when it is not an http(s) URL.
    """
    from basewatch.config_file import config_section
    from basewatch.vulndb import OSV_BASE_URL

    if flag is not None:
        return _checked_url(flag, "--osv-url")
    from_env = os.environ.get(OSV_URL_ENV, "").strip()
    if from_env:
        return _checked_url(from_env, OSV_URL_ENV)
    section = config_section("db", directory)
    if section is not None:
        unknown = sorted(set(section.values) - _DB_SETTINGS)
        if unknown:
            raise UsageError(
                f"{section.source}: unknown setting(s) {', '.join(unknown)} "
                f"(known: {', '.join(sorted(_DB_SETTINGS))})"
            )
        value = section.values.get("osv_url")
        if value is not None:
            if not isinstance(value, str):
                raise UsageError(f"{section.source}: osv_url must be a string (a URL)")
            return _checked_url(value, f"osv_url in {section.source}")
    return OSV_BASE_URL


def _checked_url(value: str, origin: str) -> str:
    url = value.strip()
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError as exc:
        raise UsageError(f"{origin}: {value!r} is not a valid URL ({exc})") from exc
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(
            f"{origin}: {value!r} is not an http:// or https:// URL of the OSV dumps' root "
            "(e.g. https://osv-vulnerabilities.storage.googleapis.com)"
        )
    return url


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
    from basewatch.cli.settings import settings_from

    return settings_from(args).db_path


def _update(args: argparse.Namespace) -> int:
    from basewatch.cli.progress import progress_for
    from basewatch.vulndb.update import updatable_ecosystems, update

    if not args.no_eol:
        _refresh_eol(args)
        if args.eol_only:
            return ExitCode.OK
    path = _db_path(args)
    osv_url = resolve_osv_url(args.osv_url)
    ecosystems = [e for value in args.ecosystems for e in value.split(",") if e.strip()]
    missing_ok = False
    if not ecosystems:
        ecosystems = updatable_ecosystems(path)
        if not ecosystems:
            ecosystems, why = default_ecosystems()
            missing_ok = True  # a guess: one the server lacks is no reason to fail the rest
            print(
                f"basewatch: the database at {path} holds no OSV ecosystem yet: downloading "
                f"{', '.join(ecosystems)} ({why}; choose with --ecosystem)",
                file=sys.stderr,
            )
    with progress_for(quiet=args.quiet) as progress:
        report = update(
            path,
            ecosystems,
            base_url=osv_url,
            progress=progress,
            incremental=not args.full,
            missing_ok=missing_ok,
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
    for dump in report.unavailable:
        print(f"basewatch: warning: {osv_url} has no dump for {dump}", file=sys.stderr)
    return ExitCode.OK


def default_ecosystems(cache_dir: Path | None = None) -> tuple[list[str], str]:
    """The dumps `db update` fetches for a new database, and why those: the ecosystems of the
    images in the local catalog whose inventories are cached, else `COMMON_ECOSYSTEMS`."""
    from basewatch.vulndb.update import dumps_for

    found = dumps_for(catalog_ecosystems(cache_dir))
    if found:
        return found, "the ecosystems of the images basewatch has read"
    return list(COMMON_ECOSYSTEMS), "the common ones: basewatch has read no image yet"


def catalog_ecosystems(cache_dir: Path | None = None) -> list[str]:
    """The OSV ecosystems of the packages of every catalogued image whose assembled inventory
    is in the analysis cache (every image basewatch has read, unless it ran with --no-cache)."""
    import hashlib
    import json

    from basewatch.settings import user_cache_dir
    from basewatch.store.catalog import Catalog

    root = cache_dir or user_cache_dir(os.environ)
    found: set[str] = set()
    for entry in Catalog(root).entries():
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


def _refresh_eol(args: argparse.Namespace) -> None:
    """Refresh the end-of-life table (lint, compare, advise read it); a failure only warns."""
    import httpx

    from basewatch.cli.settings import settings_from
    from basewatch.errors import EolError
    from basewatch.lint.eol import ENDOFLIFE_API, refresh_eol_table, save_eol_table

    target = settings_from(args).eol_table
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
