"""`basewatch scan`: inventory an image (or read an SBOM), match it, apply the policy, report."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from basewatch.cli.arguments import (
    add_db_argument,
    add_image_arguments,
    add_output_argument,
)
from basewatch.cli.db import add_osv_url_argument
from basewatch.cli.exit_codes import ExitCode
from basewatch.cli.output import write_output
from basewatch.cli.policy import add_policy_file_argument, policy_exit
from basewatch.cli.progress import progress_for
from basewatch.cli.registry import add_registry_arguments, registry_options
from basewatch.cli.remedies import phrase
from basewatch.cli.settings import settings_from
from basewatch.errors import Remedy, UsageError
from basewatch.models import Severity
from basewatch.report.formats import ScanFormat, scan_renderer
from basewatch.report.renderer import canonical_format, format_choices


def add_scan_arguments(scan: argparse.ArgumentParser) -> None:
    scan.add_argument("image", metavar="IMAGE", nargs="?")
    scan.add_argument(
        "--sbom", type=Path, metavar="FILE", help="scan a CycloneDX or SPDX JSON SBOM"
    )
    scan.add_argument(
        "-f", "--format", type=canonical_format, choices=format_choices(ScanFormat), default="table"
    )
    add_output_argument(scan)
    add_image_arguments(scan)
    add_db_argument(scan)
    scan.add_argument(
        "--offline",
        action="store_true",
        help="never download advisories, even for ecosystems the database lacks",
    )
    scan.add_argument(
        "--skip-db-update",
        action="store_true",
        help="do not refresh the OSV dumps the database holds, however old"
        " (missing ones are still fetched unless --offline)",
    )

    add_osv_url_argument(scan)
    scan.add_argument(
        "--severity",
        metavar="LIST",
        help="only these severities, comma-separated (e.g. high,critical)",
    )
    scan.add_argument(
        "--only-fixed", action="store_true", help="hide findings that have no fixed version"
    )
    scan.add_argument(
        "--ignore-unfixed", action="store_true", help="the same as --only-fixed (Trivy's name)"
    )
    scan.add_argument(
        "--only-base", action="store_true", help="only findings in packages the base image brought"
    )
    scan.add_argument(
        "--ignore-base", action="store_true", help="hide findings in packages of the base image"
    )
    scan.add_argument(
        "--ignore-file",
        type=Path,
        metavar="FILE",
        help="YAML ignore rules (default: ./.basewatchignore when it exists)",
    )
    scan.add_argument(
        "--vex",
        type=Path,
        action="extend",
        nargs="+",
        default=[],
        metavar="FILE",
        help="OpenVEX documents (--vex A B, or --vex repeated); not_affected and fixed"
        " statements suppress",
    )
    scan.add_argument(
        "--fail-on",
        metavar="SEVERITY",
        help="exit 1 when a finding at or above this severity remains",
    )

    add_policy_file_argument(scan)
    add_registry_arguments(scan)


def _severities(text: str | None) -> frozenset[Severity] | None:
    if not text:
        return None
    return frozenset(_severity(word) for word in text.split(",") if word.strip())


def _severity(word: str) -> Severity:
    try:
        return Severity(word.strip().lower())
    except ValueError as exc:
        choices = ", ".join(s.value for s in Severity)
        raise UsageError(f"unknown severity {word!r} (one of: {choices})") from exc


def _check_combinable(fmt: str) -> None:
    from basewatch.report.policy.combined import COMBINABLE

    if fmt not in COMBINABLE:
        raise UsageError(
            f"--policy adds the verdict to a {', '.join(COMBINABLE)} report, not to {fmt} "
            "(run `basewatch policy` beside it)"
        )


def run_scan(args: argparse.Namespace) -> int:
    from basewatch.jobs.scan import ScanRequest, scan
    from basewatch.jobs.seams import Seams
    from basewatch.matching.policy import IGNORE_FILE, Policy, load_ignore_file, load_openvex

    if (args.image is None) == (args.sbom is None):
        if args.image is None and args.vex:
            # `--vex A B` takes every word after it: an IMAGE after it becomes a VEX file.
            raise UsageError(
                "give an IMAGE or --sbom FILE (one of them); --vex takes every file after it,"
                " so put IMAGE before --vex or end the list with `--`"
                " (basewatch scan --vex A.json B.json -- IMAGE)"
            )
        raise UsageError("give an IMAGE or --sbom FILE (one of them)")
    fail_on = _severity(args.fail_on) if args.fail_on else None
    ignore_path = args.ignore_file or (Path(IGNORE_FILE) if Path(IGNORE_FILE).is_file() else None)
    vex = [s for path in args.vex for s in load_openvex(path)]
    policy = Policy(
        severities=_severities(args.severity),
        only_fixed=args.only_fixed or args.ignore_unfixed,
        only_base=args.only_base,
        ignore_base=args.ignore_base,
        ignore_rules=load_ignore_file(ignore_path) if ignore_path else (),
        ignore_source=str(ignore_path or IGNORE_FILE),
        vex=vex,
        vex_source=", ".join(str(p) for p in args.vex),
    )
    request = ScanRequest(
        image=args.image,
        sbom=args.sbom,
        platform=args.platform,
        policy=policy,
        fetch=not args.offline,
        refresh=not args.skip_db_update,
    )
    if args.policy is not None:
        _check_combinable(args.format)
    settings = settings_from(args)
    options = registry_options(args, args.image) if args.image is not None else None
    run = None
    with (
        progress_for(quiet=args.quiet) as progress,
        Seams.default(settings, options, progress=progress) as seams,
    ):
        if args.policy is not None:
            from basewatch.jobs.policy import scan_with_policies  # loaded only when used

            both = scan_with_policies(request, args.policy, seams)
            outcome, run = both.scan, both.run
        else:
            outcome = scan(request, seams)
    inventory, result = outcome.inventory, outcome.result
    data = scan_renderer(ScanFormat(args.format)).render(result)
    if run is not None:
        from basewatch.report.policy.combined import with_policy

        data = with_policy(args.format, data, run)
    write_output(data, args.output)
    for warning in (*inventory.warnings, *result.warnings, *(run.report.warnings if run else ())):
        print(f"basewatch: warning: {warning}", file=sys.stderr)
    if wants_newer_data(result.unchecked):
        print(f"basewatch: hint: {phrase(Remedy.UPDATE_DATABASE)}", file=sys.stderr)
    if fail_on is not None and any(f.severity.rank >= fail_on.rank for f in result.findings):
        return ExitCode.FINDINGS
    if run is not None and policy_exit(run.report) != ExitCode.OK:
        return ExitCode.FINDINGS
    if inventory.partial or result.unchecked:
        return ExitCode.PARTIAL
    return ExitCode.OK


def wants_newer_data(unchecked: tuple[str, ...]) -> bool:
    """Whether newer data may check what was not: advisories missing, refused or unreadable;
    not packages of a distribution with no advisory source, which no update covers."""
    from basewatch.matching.evaluate import is_sourceless

    return any(not is_sourceless(entry) for entry in unchecked)
