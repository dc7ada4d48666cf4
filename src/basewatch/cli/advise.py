"""`basewatch advise IMAGE` (or `--dockerfile PATH`): refresh, update, alternatives, rebuild."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

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
from basewatch.errors import UsageError
from basewatch.report.formats import AdviseFormat, advise_renderer
from basewatch.report.renderer import format_choices


def add_advise_arguments(advise: argparse.ArgumentParser) -> None:

    advise.add_argument("image", metavar="IMAGE", nargs="?")
    advise.add_argument(
        "--dockerfile", type=Path, metavar="PATH", help="advise on the FROM lines of a Dockerfile"
    )
    advise.add_argument(
        "--alternative",
        action="extend",
        nargs="+",
        default=[],
        metavar="REF",
        help="candidate bases to compare with (--alternative A B, or repeated)",
    )
    advise.add_argument("-f", "--format", choices=format_choices(AdviseFormat), default="table")
    add_output_argument(advise)
    add_db_argument(advise)
    advise.add_argument(
        "--offline", action="store_true", help="no registry: only what local data can answer"
    )
    advise.add_argument("--fail-on", choices=("rebuild",), help="exit 1 when a rebuild is needed")
    add_image_arguments(advise)
    add_registry_arguments(advise)


def run_advise(args: argparse.Namespace) -> int:
    from basewatch.jobs.advise import AdviseRequest, advise_images, dockerfile_bases
    from basewatch.jobs.seams import Seams

    if (args.image is None) == (args.dockerfile is None):
        raise UsageError("give an IMAGE or --dockerfile PATH (one of them)")
    request = AdviseRequest(
        image=args.image,
        dockerfile=args.dockerfile,
        alternatives=tuple(args.alternative),
        platform=args.platform,
    )
    # the password (--password-stdin) belongs to the registry of the first image read
    first = args.image if args.image is not None else dockerfile_bases(args.dockerfile)[0]
    options = registry_options(args, first)
    with (
        progress_for(quiet=args.quiet) as progress,
        Seams.default(
            settings_from(args), options, offline=args.offline, progress=progress
        ) as seams,
    ):
        outcome = advise_images(request, seams)
    for advice in outcome.advice:
        for warning in advice.warnings:
            print(f"basewatch: warning: {warning}", file=sys.stderr)
        for what in advice.not_checked:
            print(f"basewatch: warning: not checked: {what}", file=sys.stderr)
    renderer = advise_renderer(AdviseFormat(args.format))
    write_output(b"\n".join(renderer.render(a) for a in outcome.advice), args.output)
    if not outcome.database:
        print(
            "basewatch: note: no vulnerability database: finding deltas are empty", file=sys.stderr
        )
    if args.fail_on == "rebuild" and any(a.rebuild for a in outcome.advice):
        return ExitCode.FINDINGS
    if any(a.partial for a in outcome.advice):
        return ExitCode.PARTIAL
    return ExitCode.OK
