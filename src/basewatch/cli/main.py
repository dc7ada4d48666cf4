"""The `basewatch` command line: parse arguments, call the library, render, exit."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

from basewatch import __version__
from basewatch.cli.advise import add_advise_parser, run_advise
from basewatch.cli.catalog import add_catalog_parser, run_catalog
from basewatch.cli.compare import add_compare_parser, run_compare
from basewatch.cli.compat import add_compat_parser, run_compat
from basewatch.cli.db import add_db_parser, run_db
from basewatch.cli.exit_codes import ExitCode, exit_code_for
from basewatch.cli.lint import add_lint_parser, run_lint
from basewatch.cli.registry import (
    add_cache_parser,
    add_registry_arguments,
    add_resolve_parser,
    run_cache,
    run_resolve,
)
from basewatch.cli.remedies import hint_for
from basewatch.cli.scan import add_scan_parser, run_scan
from basewatch.errors import Error
from basewatch.report.base import Format, canonical_format

FORMATS = tuple(f.value for f in Format)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="basewatch",
        description="Container base-image security: inventory, SBOMs and more.",
    )
    parser.add_argument("--version", action="version", version=f"basewatch {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug details")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    sbom = commands.add_parser(
        "sbom",
        help="list every package in an image and write an SBOM",
        description=(
            "IMAGE is docker-archive:PATH[:REPO:TAG], oci:PATH[:TAG|@DIGEST] (layout directory "
            "or tar), dir:PATH (unpacked root filesystem), rootfs:PATH.tar[.gz|.zst], a bare "
            "path whose kind is detected, or a registry reference (debian:bookworm-slim, "
            "ghcr.io/org/app:1.2, registry:localhost:5000/app@sha256:...)."
        ),
    )
    sbom.add_argument("image", metavar="IMAGE")
    sbom.add_argument("-f", "--format", type=canonical_format, choices=FORMATS, default="table")
    sbom.add_argument("-o", "--output", metavar="FILE", help="write here instead of stdout")
    sbom.add_argument("--platform", metavar="OS/ARCH[/VARIANT]", help="default: the host's")
    sbom.add_argument("--cache-dir", type=Path, metavar="DIR", help="default: the user cache dir")
    sbom.add_argument("--no-cache", action="store_true", help="neither read nor write the cache")
    sbom.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    add_registry_arguments(sbom)
    add_scan_parser(commands)
    add_db_parser(commands)
    add_resolve_parser(commands)
    add_cache_parser(commands)
    add_lint_parser(commands)
    add_compat_parser(commands)
    add_compare_parser(commands)
    add_advise_parser(commands)
    add_catalog_parser(commands)
    _accept_global_options_everywhere(parser)
    return parser


def _accept_global_options_everywhere(parser: argparse.ArgumentParser) -> None:
    """Let `-v` and `-q` follow the subcommand too (`basewatch scan IMG -v`), as in Trivy.

    Subcommand defaults are SUPPRESSed: argparse copies a subparser's defaults over the
    values parsed before the subcommand, which would undo `basewatch -q scan`.
    """
    for action in parser._actions:
        if not isinstance(action, argparse._SubParsersAction):
            continue
        for sub in {id(p): p for p in action.choices.values()}.values():
            options = {o for a in sub._actions for o in a.option_strings}
            for a in sub._actions:
                if a.dest in ("quiet", "verbose"):
                    a.default = argparse.SUPPRESS
            for short, long, text in (
                ("-v", "--verbose", "log debug details"),
                ("-q", "--quiet", "no progress bar"),
            ):
                if short not in options and long not in options:
                    sub.add_argument(
                        short, long, action="store_true", default=argparse.SUPPRESS, help=text
                    )
            _accept_global_options_everywhere(sub)


class _Terminated(BaseException):
    """SIGTERM, raised where the main thread is, so `finally` blocks clean up on the way out."""


def _on_sigterm(signum: int, frame: object) -> None:
    raise _Terminated


def main(argv: Sequence[str] | None = None) -> int:
    if threading.current_thread() is not threading.main_thread():
        return _main(argv)
    previous = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        return _main(argv)
    except _Terminated:
        print("basewatch: terminated", file=sys.stderr)
        return ExitCode.TERMINATED
    finally:
        signal.signal(signal.SIGTERM, previous)


def _main(argv: Sequence[str] | None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="basewatch: %(levelname)s: %(message)s",
    )
    if args.command is None:
        parser.print_help(sys.stderr)
        return ExitCode.USAGE
    try:
        match args.command:
            case "sbom":
                return _sbom(args)
            case "scan":
                return run_scan(args)
            case "db":
                return run_db(args)
            case "resolve":
                return run_resolve(args)
            case "cache":
                return run_cache(args)
            case "lint":
                return run_lint(args)
            case "compat":
                return run_compat(args)
            case "compare":
                return run_compare(args)
            case "advise":
                return run_advise(args)
            case "catalog":
                return run_catalog(args)
            case _:  # pragma: no cover - argparse refuses unknown commands
                return ExitCode.USAGE
    except Error as exc:
        return _fail(exc, exit_code_for(exc))
    except KeyboardInterrupt:
        print("basewatch: interrupted", file=sys.stderr)
        return ExitCode.INTERRUPTED
    except Exception as exc:  # a bug: say so plainly; the traceback only with --verbose
        logging.getLogger(__name__).debug("internal error", exc_info=True)
        print(
            f"basewatch: internal error: {exc!r} (run with --verbose for details, and please "
            "report it)",
            file=sys.stderr,
        )
        return ExitCode.INTERNAL


def _fail(exc: Error, code: ExitCode) -> int:
    print(f"basewatch: error: {exc}", file=sys.stderr)
    hint = hint_for(exc)
    if hint:
        print(f"basewatch: hint: {hint}", file=sys.stderr)
    return code


def _sbom(args: argparse.Namespace) -> int:
    from basewatch.cli.output import write_output
    from basewatch.cli.progress import progress_for
    from basewatch.cli.registry import image_source
    from basewatch.cli.settings import settings_from
    from basewatch.jobs.inventory import Scanner
    from basewatch.report.base import Format, reporter_for

    with progress_for(quiet=args.quiet) as progress:
        scanner = Scanner.from_settings(settings_from(args), progress)
        inventory = scanner.inventory(image_source(args, scanner), platform=args.platform)
    data = reporter_for(Format(args.format)).render(inventory)
    write_output(data, args.output)
    for warning in inventory.warnings:
        print(f"basewatch: warning: {warning}", file=sys.stderr)
    if inventory.partial:
        print("basewatch: warning: the inventory is partial (see warnings above)", file=sys.stderr)
        return ExitCode.PARTIAL
    return ExitCode.OK
