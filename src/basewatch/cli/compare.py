"""`basewatch compare REF ...`: candidate base images side by side."""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import sys
from pathlib import Path
from typing import Any

from basewatch.cli.exit_codes import ExitCode


def add_compare_parser(commands: Any) -> None:
    from basewatch.report.base import COMPARE_FORMATS as FORMATS

    compare = commands.add_parser(
        "compare",
        help="compare candidate base images side by side",
        description=(
            "Size, layers, packages, libc, distribution and its end of life, findings by "
            "severity (with a vulnerability database), KEV count and age, for each image."
        ),
    )
    compare.add_argument("images", metavar="IMAGE", nargs="+")
    compare.add_argument("-f", "--format", choices=FORMATS, default="table")
    compare.add_argument("-o", "--output", metavar="FILE", help="write here instead of stdout")
    compare.add_argument("--db", type=Path, metavar="PATH", help="vulnerability database file")
    compare.add_argument(
        "--app",
        metavar="IMAGE",
        help="also say whether this image's own files (its top layer) would load on each one",
    )
    compare.add_argument(
        "--app-layers", type=int, metavar="N", help="with --app: its top N layers are the app"
    )
    compare.add_argument("--platform", metavar="OS/ARCH[/VARIANT]", help="default: the host's")
    compare.add_argument(
        "--cache-dir", type=Path, metavar="DIR", help="default: the user cache dir"
    )
    compare.add_argument("--no-cache", action="store_true", help="neither read nor write the cache")
    compare.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    from basewatch.cli.registry import add_registry_arguments

    add_registry_arguments(compare)


def _compat_verdict(args: argparse.Namespace, checker: Any, base: str) -> str:
    """One line: would the app's ELF files load on `base`?"""
    report = checker.check_on(args.app, base, layers=args.app_layers, platform=args.platform)
    failures = report.failures
    if not failures:
        return f"loads ({len(report.files)} ELF files)"
    return f"{len(failures)} of {len(report.files)} ELF files fail to load"


def run_compare(args: argparse.Namespace) -> int:
    from basewatch.advice.compare import Coverage, candidate, eol_lookup_from_table
    from basewatch.cli.output import write_output
    from basewatch.cli.progress import progress_for
    from basewatch.compat.check import CompatChecker
    from basewatch.jobs.inventory import Scanner
    from basewatch.matching.evaluate import scan_inventory
    from basewatch.report.compare_report import render
    from basewatch.store.analysis import default_cache_dir

    db_path: Path = args.db or default_cache_dir() / "vuln.db"
    store: Any = None
    if db_path.exists():
        from basewatch.vulndb.sqlite import SqliteStore

        store = SqliteStore.open(db_path, readonly=True)
    elif args.db is not None:
        from basewatch.errors import DatabaseError

        raise DatabaseError(
            f"{db_path}: no such database (run `basewatch db update` or `db import`)"
        )
    today = dt.datetime.now(dt.UTC).date()
    lookup = eol_lookup_from_table()
    candidates = []
    with progress_for(quiet=args.quiet) as progress:
        scanner = Scanner.default(
            cache_dir=args.cache_dir, use_cache=not args.no_cache, progress=progress
        )
        checker = CompatChecker.default(cache_dir=args.cache_dir, use_cache=not args.no_cache)
        for reference in args.images:
            from basewatch.cli.registry import registry_options
            from basewatch.oci.source import open_source

            options = registry_options(args, reference)
            source = open_source(reference, registry=options)
            inventory = scanner.inventory(source, platform=args.platform)
            result = scan_inventory(inventory, store) if store is not None else None
            # compat's reading of the libc, so `compare` and `compat` never disagree on it
            libc = checker.libc(reference, args.platform, options)
            found = candidate(inventory, result, lookup, today, libc)
            if args.app:
                found = dataclasses.replace(found, compat=_compat_verdict(args, checker, reference))
            candidates.append(found)
    write_output(render(args.format, candidates), args.output)
    not_checked = [c for c in candidates if c.checked in (Coverage.NONE, Coverage.PARTIAL)]
    if store is None:
        print(
            "basewatch: note: no vulnerability database: findings are not compared "
            "(`basewatch db update` or `db import` makes one)",
            file=sys.stderr,
        )
    for c in not_checked:
        what = ", ".join(c.unchecked) or "see the warnings"
        print(
            f"basewatch: warning: {c.reference}: not (fully) checked ({what}): its finding "
            "counts are not a clean verdict",
            file=sys.stderr,
        )
    if not_checked:
        return ExitCode.PARTIAL
    return ExitCode.OK
