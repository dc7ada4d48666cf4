"""`basewatch compat`: will the image's binaries load? (and, with --on, on another base)"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from basewatch.cli.exit_codes import ExitCode
from basewatch.errors import UsageError

if TYPE_CHECKING:
    from basewatch.oci.registry.options import RegistryOptions

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
    from basewatch.compat import CompatChecker, Severity
    from basewatch.report.compat_base import CompatFormat, compat_reporter_for

    if args.on is None and (args.layers is not None or args.path is not None):
        raise UsageError("--layers and --path only apply with --on BASE")
    registry, base_registry = _registry_options(args)
    with progress_for(quiet=args.quiet) as progress:
        checker = CompatChecker.default(
            cache_dir=args.cache_dir, use_cache=not args.no_cache, progress=progress
        )
        if args.on is not None:
            report = checker.check_on(
                args.image,
                args.on,
                layers=args.layers,
                path=args.path,
                platform=args.platform,
                registry=registry,
                base_registry=base_registry,
            )
        else:
            report = checker.check(args.image, platform=args.platform, registry=registry)
    write_output(compat_reporter_for(CompatFormat(args.format)).render(report), args.output)
    for warning in report.warnings:
        print(f"basewatch: warning: {warning}", file=sys.stderr)
    if args.fail_on is not None:
        threshold = Severity(args.fail_on)
        worst = report.worst()
        if worst is not None and worst.rank >= threshold.rank:
            return ExitCode.FINDINGS
    return ExitCode.OK


def _registry_options(args: argparse.Namespace) -> tuple[RegistryOptions, RegistryOptions | None]:
    """Registry options for IMAGE and for --on BASE; a --password-stdin password is read once
    and offered for both (each keeps it for its own registry)."""
    import io

    from basewatch.cli.registry import registry_options

    stdin: Any = None
    if args.on is not None and getattr(args, "password_stdin", False) and args.username:
        stdin = io.StringIO(sys.stdin.read())
    image = registry_options(args, args.image, stdin)
    if args.on is None:
        return image, None
    if stdin is not None:
        stdin.seek(0)
    return image, registry_options(args, args.on, stdin)
