"""`basewatch policy`: every policy's verdict on an image (pass, fail, not evaluated, and why);
exit 1 when a policy whose action is `fail` fails."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from basewatch.cli.arguments import add_db_argument, add_image_arguments, add_output_argument
from basewatch.cli.exit_codes import ExitCode
from basewatch.cli.output import write_output
from basewatch.cli.progress import progress_for
from basewatch.cli.registry import add_registry_arguments, registry_options
from basewatch.cli.settings import settings_from
from basewatch.report.formats import PolicyFormat, policy_renderer
from basewatch.report.renderer import format_choices

if TYPE_CHECKING:  # the job and its models load when the command runs
    from basewatch.policy import PolicyReport


def add_policy_file_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--policy",
        type=Path,
        metavar="FILE",
        help="YAML policy file (default: every built-in policy with its defaults)",
    )


def add_policy_arguments(policy: argparse.ArgumentParser) -> None:
    policy.add_argument("image", metavar="IMAGE")
    add_policy_file_argument(policy)
    policy.add_argument("-f", "--format", choices=format_choices(PolicyFormat), default="table")
    add_output_argument(policy)
    add_image_arguments(policy)
    add_db_argument(policy)
    policy.add_argument(
        "--offline",
        action="store_true",
        help="no network: no advisory downloads, no registry lookups (the policies that need"
        " one are not evaluated)",
    )
    policy.add_argument(
        "--skip-db-update",
        action="store_true",
        help="do not refresh the OSV dumps the database holds, however old",
    )
    policy.add_argument(
        "--ignore-file",
        type=Path,
        metavar="FILE",
        help="YAML ignore rules for the findings (default: ./.basewatchignore when it exists)",
    )
    add_registry_arguments(policy)


def run_policy(args: argparse.Namespace) -> int:
    from basewatch.jobs.policy import PolicyRequest, evaluate_policies
    from basewatch.jobs.seams import Seams
    from basewatch.matching.policy import IGNORE_FILE, Policy, load_ignore_file

    ignore_path = args.ignore_file or (Path(IGNORE_FILE) if Path(IGNORE_FILE).is_file() else None)
    request = PolicyRequest(
        image=args.image,
        policy_file=args.policy,
        platform=args.platform,
        fetch=not args.offline,
        refresh=not args.skip_db_update,
        scan_policy=Policy(
            ignore_rules=load_ignore_file(ignore_path) if ignore_path else (),
            ignore_source=str(ignore_path or IGNORE_FILE),
        ),
    )
    settings = settings_from(args)
    with (
        progress_for(quiet=args.quiet) as progress,
        Seams.default(
            settings, registry_options(args, args.image), offline=args.offline, progress=progress
        ) as seams,
    ):
        outcome = evaluate_policies(request, seams)
    write_output(policy_renderer(PolicyFormat(args.format)).render(outcome.run), args.output)
    warnings = [*outcome.inventory.warnings, *(outcome.scan.warnings if outcome.scan else ())]
    for warning in (*warnings, *outcome.run.report.warnings):
        print(f"basewatch: warning: {warning}", file=sys.stderr)
    return policy_exit(outcome.run.report)


def policy_exit(report: PolicyReport) -> int:
    """1 when a policy with action `fail` failed (`warn` policies never fail the run)."""
    return ExitCode.FINDINGS if report.failed else ExitCode.OK
