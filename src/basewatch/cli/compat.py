"""`basewatch compat`: will the image's binaries load? (and, with --on, on another base)"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from basewatch.cli.exit_codes import ExitCode
from basewatch.errors import UsageError

if TYPE_CHECKING:
    pass

COMPAT_FORMATS = ("table", "json", "markdown")
FAIL_ON = ("error", "warning")


def add_compat_parser(commands: Any) -> None:
    compat = commands.add_parser(
        "compat",
        help="predict which binaries and libraries of an image fail to load, and why",
        description=(
            "Reads every ELF file of IMAGE and predicts, following glibc's and musl's loaders, "
            "whether it loads and what the loader would print. With --on BASE, the top layers "
            "of IMAGE (--layers N, default 1) or the files under --path DIR are evaluated on "
            "BASE's filesystem instead."
        ),
    )
    compat.add_argument("image", metavar="IMAGE")
    compat.add_argument("--on", metavar="BASE", help="evaluate IMAGE's application part on BASE")
    compat.add_argument("--layers", type=int, metavar="N", help="with --on: the top N layers")
    compat.add_argument("--path", metavar="DIR", help="with --on: the files under DIR")
    compat.add_argument("-f", "--format", choices=COMPAT_FORMATS, default="table")
    compat.add_argument("-o", "--output", metavar="FILE", help="write here instead of stdout")
    compat.add_argument(
        "--fail-on",
        choices=FAIL_ON,
        metavar="SEVERITY",
        help="exit 1 when a problem at or above this severity (error, warning) is predicted",
    )
    compat.add_argument("--platform", metavar="OS/ARCH[/VARIANT]", help="default: the host's")
    compat.add_argument("--cache-dir", type=Path, metavar="DIR", help="default: the user cache dir")
    compat.add_argument("--no-cache", action="store_true", help="neither read nor write the cache")
    compat.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    from basewatch.cli.registry import add_registry_arguments

    add_registry_arguments(compat)


def run_compat(args: argparse.Namespace) -> int:
    from basewatch.cli.output import write_output
    from basewatch.cli.progress import progress_for
    from basewatch.compat import Severity
    from basewatch.report.compat_base import CompatFormat, compat_reporter_for

    if args.on is None and (args.layers is not None or args.path is not None):
        raise UsageError("--layers and --path only apply with --on BASE")
    from basewatch.cli.registry import registry_options
    from basewatch.cli.settings import settings_from
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
    write_output(compat_reporter_for(CompatFormat(args.format)).render(report), args.output)
    for warning in report.warnings:
        print(f"basewatch: warning: {warning}", file=sys.stderr)
    if args.fail_on is not None:
        threshold = Severity(args.fail_on)
        worst = report.worst()
        if worst is not None and worst.rank >= threshold.rank:
            return ExitCode.FINDINGS
    return ExitCode.OK
