"""`basewatch compare REF ...`: candidate base images side by side."""

from __future__ import annotations

import argparse
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


def run_compare(args: argparse.Namespace) -> int:
    from basewatch.advice.compare import Coverage
    from basewatch.cli.output import write_output
    from basewatch.cli.progress import progress_for
    from basewatch.cli.registry import registry_options
    from basewatch.cli.settings import settings_from
    from basewatch.jobs.compare import CompareRequest, compare
    from basewatch.jobs.seams import Seams
    from basewatch.report.compare_report import render

    request = CompareRequest(
        images=tuple(args.images),
        app=args.app,
        app_layers=args.app_layers,
        platform=args.platform,
        require_database=args.db is not None,
    )
    options = registry_options(args, args.images[0])
    with (
        progress_for(quiet=args.quiet) as progress,
        Seams.default(settings_from(args), options, progress=progress) as seams,
    ):
        outcome = compare(request, seams)
    candidates = list(outcome.candidates)
    store = outcome.database or None
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
