"""`basewatch compare REF ...`: candidate base images side by side."""

from __future__ import annotations

import argparse
import sys

from basewatch.cli.arguments import (
    add_db_argument,
    add_image_arguments,
    add_output_argument,
)
from basewatch.cli.exit_codes import ExitCode
from basewatch.cli.output import write_output
from basewatch.cli.progress import progress_for
from basewatch.cli.registry import add_registry_arguments, registry_options
from basewatch.cli.settings import settings_from
from basewatch.report.formats import CompareFormat, compare_renderer
from basewatch.report.renderer import format_choices


def add_compare_arguments(compare: argparse.ArgumentParser) -> None:
    compare.add_argument("images", metavar="IMAGE", nargs="+")
    compare.add_argument("-f", "--format", choices=format_choices(CompareFormat), default="table")
    add_output_argument(compare)
    add_db_argument(compare)
    compare.add_argument(
        "--app",
        metavar="IMAGE",
        help="also say whether this image's own files (its top layer) would load on each one",
    )
    compare.add_argument(
        "--app-layers", type=int, metavar="N", help="with --app: its top N layers are the app"
    )
    add_image_arguments(compare)

    add_registry_arguments(compare)


def run_compare(args: argparse.Namespace) -> int:
    from basewatch.advice.compare import Coverage
    from basewatch.jobs.compare import CompareRequest, compare
    from basewatch.jobs.seams import Seams

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
    write_output(compare_renderer(CompareFormat(args.format)).render(candidates), args.output)
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
