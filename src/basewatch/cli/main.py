"""The `basewatch` command line: parse arguments, call the library, render, exit."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from collections.abc import Callable, Sequence

from basewatch import __version__
from basewatch.cli.advise import add_advise_arguments, run_advise
from basewatch.cli.arguments import add_image_arguments, add_output_argument
from basewatch.cli.catalog import add_catalog_arguments, run_catalog
from basewatch.cli.compare import add_compare_arguments, run_compare
from basewatch.cli.compat import add_compat_arguments, run_compat
from basewatch.cli.db import add_db_arguments, run_db
from basewatch.cli.events import add_events_arguments, run_events
from basewatch.cli.exit_codes import ExitCode, exit_code_for
from basewatch.cli.fleet import add_worker_arguments, run_worker
from basewatch.cli.lint import add_lint_arguments, run_lint
from basewatch.cli.output import write_output
from basewatch.cli.policy import add_policy_arguments, run_policy
from basewatch.cli.progress import progress_for
from basewatch.cli.registry import (
    add_cache_command_arguments,
    add_registry_arguments,
    add_resolve_arguments,
    registry_options,
    run_cache,
    run_resolve,
)
from basewatch.cli.remedies import hint_for
from basewatch.cli.scan import add_scan_arguments, run_scan
from basewatch.cli.serve import add_serve_arguments, run_serve
from basewatch.cli.settings import settings_from
from basewatch.cli.watch import add_watch_arguments, run_watch
from basewatch.errors import Error
from basewatch.report.formats import SbomFormat, sbom_renderer
from basewatch.report.renderer import canonical_format, format_choices


def _add_sbom_arguments(sbom: argparse.ArgumentParser) -> None:
    sbom.add_argument("image", metavar="IMAGE")
    sbom.add_argument(
        "-f", "--format", type=canonical_format, choices=format_choices(SbomFormat), default="table"
    )
    add_output_argument(sbom)
    add_image_arguments(sbom)
    add_registry_arguments(sbom)


# Each command: its name, its line in `basewatch --help`, its description, and what adds its
# arguments.
COMMANDS: tuple[tuple[str, str, str, Callable[[argparse.ArgumentParser], None]], ...] = (
    (
        "sbom",
        "list every package in an image and write an SBOM",
        (
            "IMAGE is docker-archive:PATH[:REPO:TAG], oci:PATH[:TAG|@DIGEST] (layout directory "
            "or tar), dir:PATH (unpacked root filesystem), rootfs:PATH.tar[.gz|.zst], a bare "
            "path whose kind is detected, or a registry reference (debian:bookworm-slim, "
            "ghcr.io/org/app:1.2, registry:localhost:5000/app@sha256:...)."
        ),
        _add_sbom_arguments,
    ),
    (
        "scan",
        "find known vulnerabilities in an image or an SBOM",
        "IMAGE is any reference `basewatch sbom` takes; or give --sbom FILE.",
        add_scan_arguments,
    ),
    (
        "policy",
        "evaluate policies on an image: pass, fail or not evaluated, and why (exit 1 on a failure)",
        (
            "IMAGE is any reference `basewatch sbom` takes. Without --policy every built-in "
            "policy runs with its defaults: no-fixable-severe, no-kev, base-up-to-date, "
            "supported-base, approved-base, non-root, license, attestations (docs/policies/). "
            "A policy whose action is `warn` never fails the run."
        ),
        add_policy_arguments,
    ),
    (
        "db",
        "download, import and inspect the vulnerability database",
        "The vulnerability database: OSV advisories plus KEV and EPSS, one file.",
        add_db_arguments,
    ),
    (
        "resolve",
        "print the digests a registry reference resolves to",
        (
            "REF is a registry reference (debian:bookworm-slim, ghcr.io/org/app:1.2, "
            "localhost:5000/app@sha256:...). Prints the digest the reference points at (an "
            "index or a manifest) and the manifest digest of the chosen platform. Uses HEAD "
            "requests where the registry allows, and the blob cache for manifests by digest."
        ),
        add_resolve_arguments,
    ),
    (
        "cache",
        "manage the blob and layer-analysis cache",
        "The cache of downloaded blobs and per-layer analyses (~/.cache/basewatch).",
        add_cache_command_arguments,
    ),
    (
        "lint",
        "lint the base images of Dockerfiles; --fix pins their digests",
        (
            "PATH is a Dockerfile (default ./Dockerfile), or - for stdin. Settings come from "
            ".basewatch.toml or [tool.basewatch] in pyproject.toml ([lint] table)."
        ),
        add_lint_arguments,
    ),
    (
        "compat",
        "predict which binaries and libraries of an image fail to load, and why",
        (
            "Reads every ELF file of IMAGE and predicts, following glibc's and musl's loaders, "
            "whether it loads and what the loader would print. With --on BASE, the top layers "
            "of IMAGE (--layers N, default 1) or the files under --path DIR are evaluated on "
            "BASE's filesystem instead."
        ),
        add_compat_arguments,
    ),
    (
        "compare",
        "compare candidate base images side by side",
        (
            "Size, layers, packages, libc, distribution and its end of life, findings by "
            "severity (with a vulnerability database), KEV count and age, for each image."
        ),
        add_compare_arguments,
    ),
    (
        "advise",
        "should the base be refreshed, updated or replaced, and is a rebuild needed?",
        (
            "Recommendations (refresh: the base's tag moved; update: a newer tag of the same "
            "line; alternative: the candidates you list), each with the findings that go away "
            "and arrive, and a rebuild verdict with its reasons."
        ),
        add_advise_arguments,
    ),
    (
        "catalog",
        "record known base images, so images built on them are attributed",
        (
            "Every image basewatch reads is recorded; `catalog add` records more without "
            "reading their layers (only manifest and config)."
        ),
        add_catalog_arguments,
    ),
    (
        "serve",
        "keep watch over images and their bases: the service and its API",
        (
            "Serves the JSON API (/api/v1, /api/openapi.json) on --listen, storing in --database "
            "(SQLite by default, PostgreSQL for production). Settings come from --config's "
            "[serve] section, then BASEWATCH_* variables, then these flags. `serve token create` "
            "adds an API token."
        ),
        add_serve_arguments,
    ),
    (
        "worker",
        "run the fleet's jobs for `basewatch serve --no-local-workers`, on any machine",
        (
            "Takes jobs (polls, indexing, re-evaluation, delivery, Harbor's scans) from the "
            "queue in the service's PostgreSQL, with the same config file and keys as `serve`; "
            "run as many as you like. Per-layer analyses and registry request budgets are "
            "shared through PostgreSQL; the blob cache and vulnerability database are this "
            "machine's."
        ),
        add_worker_arguments,
    ),
    (
        "watch",
        "add, list and remove the repositories a running service watches",
        (
            "Speaks to `basewatch serve`'s API at --server (default: $BASEWATCH_SERVER, else "
            "http://127.0.0.1:8080) with the token in BASEWATCH_TOKEN (`basewatch serve token "
            "create`; changes need an admin token)."
        ),
        add_watch_arguments,
    ),
    (
        "events",
        "what changed in the watched images: findings new, fixed, fixable, KEV, moved bases, EOL",
        (
            "Lists the events of a running `basewatch serve`, oldest first, one a line (id, "
            "time, type, repository, digest, advisories or images); --follow keeps asking until "
            "Ctrl-C. The token comes from BASEWATCH_TOKEN."
        ),
        add_events_arguments,
    ),
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="basewatch",
        description="Container base-image security: inventory, SBOMs and more.",
    )
    parser.add_argument("--version", action="version", version=f"basewatch {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug details")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    for name, summary, description, add_arguments in COMMANDS:
        add_arguments(commands.add_parser(name, help=summary, description=description))
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
            case "policy":
                return run_policy(args)
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
            case "serve":
                return run_serve(args)
            case "worker":
                return run_worker(args)
            case "watch":
                return run_watch(args)
            case "events":
                return run_events(args)
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
    from basewatch.jobs.sbom import SbomRequest, sbom
    from basewatch.jobs.seams import Seams

    request = SbomRequest(image=args.image, platform=args.platform)
    options = registry_options(args, args.image)
    with (
        progress_for(quiet=args.quiet) as progress,
        Seams.default(settings_from(args), options, progress=progress) as seams,
    ):
        inventory = sbom(request, seams)
    data = sbom_renderer(SbomFormat(args.format)).render(inventory)
    write_output(data, args.output)
    for warning in inventory.warnings:
        print(f"basewatch: warning: {warning}", file=sys.stderr)
    if inventory.partial:
        print("basewatch: warning: the inventory is partial (see warnings above)", file=sys.stderr)
        return ExitCode.PARTIAL
    return ExitCode.OK
