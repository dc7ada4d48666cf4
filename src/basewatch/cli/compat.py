"""`basewatch compat`: will the image's binaries load? (and, with --on, on another base)"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from basewatch.cli.arguments import add_image_arguments, add_output_argument
from basewatch.cli.exit_codes import ExitCode
from basewatch.cli.output import write_output
from basewatch.cli.progress import progress_for
from basewatch.cli.registry import add_registry_arguments, registry_options
from basewatch.cli.settings import settings_from
from basewatch.errors import UsageError
from basewatch.report.formats import CompatFormat, compat_renderer
from basewatch.report.renderer import format_choices

if TYPE_CHECKING:
    pass

FAIL_ON = ("error", "warning")


def add_compat_arguments(compat: argparse.ArgumentParser) -> None:
    compat.add_argument("image", metavar="IMAGE")
    compat.add_argument("--on", metavar="BASE", help="evaluate IMAGE's application part on BASE")
    compat.add_argument("--layers", type=int, metavar="N", help="with --on: the top N layers")
    compat.add_argument("--path", metavar="DIR", help="with --on: the files under DIR")
    compat.add_argument("-f", "--format", choices=format_choices(CompatFormat), default="table")
    add_output_argument(compat)
    compat.add_argument(
        "--fail-on",
        choices=FAIL_ON,
        metavar="SEVERITY",
        help="exit 1 when a problem at or above this severity (error, warning) is predicted",
    )
    add_image_arguments(compat)

    add_registry_arguments(compat)


def run_compat(args: argparse.Namespace) -> int:
    from basewatch.compat import Severity

    if args.on is None and (args.layers is not None or args.path is not None):
        raise UsageError("--layers and --path only apply with --on BASE")
    from basewatch.jobs.compat import CompatRequest, compat
    from basewatch.jobs.seams import Seams

    request = CompatRequest(
        image=args.image, on=args.on, layers=args.layers, path=args.path, platform=args.platform
    )
    options = registry_options(args, args.image)
    with (
        progress_for(quiet=args.quiet) as progress,
        Seams.default(settings_from(args), options, progress=progress) as seams,
    ):
        report = compat(request, seams)
    write_output(compat_renderer(CompatFormat(args.format)).render(report), args.output)
    for warning in report.warnings:
        print(f"basewatch: warning: {warning}", file=sys.stderr)
    if args.fail_on is not None:
        threshold = Severity(args.fail_on)
        worst = report.worst()
        if worst is not None and worst.rank >= threshold.rank:
            return ExitCode.FINDINGS
    return ExitCode.OK
