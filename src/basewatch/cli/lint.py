"""`basewatch lint`: lint Dockerfiles' base images; `--fix` pins digests, `--diff` shows it."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from basewatch.cli.arguments import add_output_argument
from basewatch.cli.exit_codes import ExitCode
from basewatch.cli.output import write_output
from basewatch.cli.registry import add_registry_arguments, registry_options
from basewatch.cli.settings import settings_from
from basewatch.errors import (
    ConfigError,
    DockerfileReadError,
    EolError,
    Error,
    ImageError,
    LintError,
    ResolveError,
    UsageError,
)
from basewatch.models import Severity
from basewatch.report.formats import LintFormat, lint_renderer
from basewatch.report.renderer import format_choices

if TYPE_CHECKING:  # basewatch.lint loads BuildKit's parser: only `lint` should pay for it
    from basewatch.errors import ResolveError
    from basewatch.jobs.seams import RegistryImages
    from basewatch.lint.fix import DigestResolver
    from basewatch.vulndb.eol import EolTable


def add_lint_arguments(lint: argparse.ArgumentParser) -> None:
    lint.add_argument("paths", metavar="PATH", nargs="*", default=["Dockerfile"])
    lint.add_argument("-f", "--format", choices=format_choices(LintFormat), default="text")
    add_output_argument(lint)
    lint.add_argument(
        "--build-arg",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="value of an ARG, as docker build takes it",
    )
    lint.add_argument("--target", metavar="STAGE", help="the stage to build (default: the last)")
    lint.add_argument("--config", type=Path, metavar="FILE", help="a .basewatch.toml to use")
    lint.add_argument(
        "--fail-on",
        metavar="SEVERITY",
        help="exit 1 when a finding at or above this severity remains",
    )
    lint.add_argument(
        "--fix", action="store_true", help="pin FROM lines to name:tag@sha256:<index digest>"
    )
    lint.add_argument(
        "--diff", action="store_true", help="with --fix: print the change, write nothing"
    )
    lint.add_argument(
        "--oci-layout",
        type=Path,
        action="append",
        default=[],
        metavar="DIR",
        help="with --fix: resolve digests from these OCI image layouts instead of registries",
    )

    add_registry_arguments(lint)
    lint.add_argument(
        "--eol-table",
        type=Path,
        metavar="FILE",
        help="end-of-life dates (default: the refreshed copy in the cache dir, else shipped)",
    )


def _severity(word: str) -> Severity:
    try:
        return Severity(word.strip().lower())
    except ValueError as exc:
        choices = ", ".join(s.value for s in Severity)
        raise UsageError(f"unknown severity {word!r} (one of: {choices})") from exc


def _build_args(pairs: list[str]) -> dict[str, str]:
    result = {}
    for pair in pairs:
        name, eq, value = pair.partition("=")
        if not eq or not name:
            raise UsageError(f"--build-arg {pair!r}: expected NAME=VALUE")
        result[name] = value
    return result


def run_lint(args: argparse.Namespace) -> int:
    from basewatch.lint.config import load_config
    from basewatch.lint.engine import lint_text, merge

    if args.diff and not args.fix:
        raise UsageError("--diff goes with --fix")
    fail_on = _severity(args.fail_on) if args.fail_on else None
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        raise UsageError(str(exc)) from exc
    eol = _eol_table(args.eol_table, settings_from(args).eol_table)
    build_args = _build_args(args.build_arg)
    from basewatch.clock import today as today_utc  # dataclasses, datetime: when lint runs

    today = today_utc()

    results = []
    sources: dict[str, tuple[str, ...]] = {}
    # every FROM that --fix could not pin, with why: an error (exit 3), never a silent 0
    unpinned: list[str] = []
    resolver = _resolver(args) if args.fix else None
    try:
        for name in args.paths:
            text, error = _read(name)
            if text is None:
                from basewatch.lint.model import LintResult

                results.append(LintResult(findings=(), errors=(error,), files=(name,)))
                continue
            label = "<stdin>" if name == "-" else name
            if resolver is not None:
                fixed = _fix(text, label, args, resolver, unpinned)
                if fixed is None:  # stdin: the fixed Dockerfile went to stdout
                    continue
                text = fixed
            sources[label] = tuple(line.removesuffix("\r") for line in text.split("\n"))
            results.append(
                lint_text(
                    text,
                    label,
                    config=config,
                    build_args=build_args,
                    target=args.target,
                    eol=eol,
                    today=today,
                )
            )
    finally:
        if isinstance(resolver, RegistryResolver):
            resolver.close()

    if args.fix and (args.diff or args.paths == ["-"]):
        return _unpinned(unpinned)
    result = merge(results)
    renderer = lint_renderer(LintFormat(args.format), sources=sources)
    write_output(renderer.render(result), args.output)
    for error in result.errors:
        print(f"basewatch: warning: {error}", file=sys.stderr)
    if unpinned:
        return _unpinned(unpinned)  # "could not do it" outranks --fail-on's "findings"
    if fail_on is not None and any(f.severity.rank >= fail_on.rank for f in result.findings):
        return ExitCode.FINDINGS
    if result.errors:
        return ExitCode.PARTIAL
    return ExitCode.OK


def _read(name: str) -> tuple[str | None, str]:
    """(text, "") or (None, why it cannot be read)."""
    from basewatch.lint.parse import decode
    from basewatch.lint.read import read_dockerfile, read_stream

    try:
        data = read_stream(sys.stdin.buffer) if name == "-" else read_dockerfile(Path(name))
    except DockerfileReadError as exc:
        return None, str(exc)
    return decode(data), ""


def _resolver(args: argparse.Namespace) -> DigestResolver:
    """One resolver for all the Dockerfiles; an unreadable --oci-layout is an image error."""

    try:
        return make_resolver(args.oci_layout, args)
    except ResolveError as exc:
        raise ImageError(f"--oci-layout {exc}") from exc


def _unpinned(unpinned: list[str]) -> int:
    for failure in unpinned:
        print(f"basewatch: error: {failure}", file=sys.stderr)
    if not unpinned:
        return ExitCode.OK
    print(
        f"basewatch: {len(unpinned)} FROM line(s) could not be pinned: check the registry "
        "(network, name, credentials) or pass --oci-layout",
        file=sys.stderr,
    )
    return ExitCode.IMAGE_ERROR


def _fix(
    text: str, label: str, args: argparse.Namespace, resolver: DigestResolver, unpinned: list[str]
) -> str | None:
    """Pin digests; write the file (or print the diff). None when the result went to stdout.
    The FROM lines whose lookup failed are added to `unpinned`."""
    from basewatch.lint.fix import pin_digests, unified_diff

    try:
        fixed = pin_digests(text, resolver, label)
    except LintError as exc:
        print(f"basewatch: warning: {exc}", file=sys.stderr)
        return text
    for message in fixed.messages:
        print(f"basewatch: {message}", file=sys.stderr)
    unpinned.extend(fixed.failures)
    if args.diff:
        sys.stdout.write(unified_diff(text, fixed.text, label))
        return text
    if label == "<stdin>":
        sys.stdout.buffer.write(fixed.text.encode("utf-8", "surrogateescape"))
        return None
    if fixed.changed:
        write_output(fixed.text.encode("utf-8", "surrogateescape"), label)
        print(f"basewatch: {label}: pinned {len(fixed.changes)} FROM line(s)", file=sys.stderr)
    return fixed.text


def make_resolver(layouts: list[Path], args: argparse.Namespace | None = None) -> DigestResolver:
    """The digest resolver for --fix: OCI layouts when given, else the registry client."""
    if layouts:
        from basewatch.lint.fix import OciLayoutResolver

        return OciLayoutResolver(layouts)
    return RegistryResolver(args)


class RegistryResolver:
    """`name:tag` -> the digest the registry serves for it (the index for multi-platform
    images), exactly what `basewatch resolve` prints as `digest`."""

    def __init__(self, args: argparse.Namespace | None) -> None:
        self._args = args or argparse.Namespace()
        # each reference is asked once per run, failures too: the registry client already
        # retries what is worth retrying, and lint adds no retries or timeouts of its own
        self._answers: dict[str, str | ResolveError] = {}
        self._images: RegistryImages | None = None  # one registry client for every lookup

    def close(self) -> None:
        if self._images is not None:
            self._images.close()

    def resolve(self, reference: str) -> str:

        answer = self._answers.get(reference)
        if answer is None:
            answer = self._answers[reference] = self._lookup(reference)
        if isinstance(answer, ResolveError):
            raise answer
        return answer

    def _lookup(self, reference: str) -> str | ResolveError:

        try:
            if self._images is None:
                from basewatch.jobs.seams import RegistryImages, registry_options_for

                # the password belongs to the registry of the first reference looked up
                options = registry_options(self._args, reference)
                settings = settings_from(self._args)
                self._images = RegistryImages(registry_options_for(settings, options))
            return self._images.resolve(reference).digest
        except Error as exc:
            return ResolveError(str(exc))  # it names the registry; the caller, the reference


def _eol_table(path: Path | None, refreshed: Path) -> EolTable:
    from basewatch.vulndb.eol import load_eol_table

    if path is None:
        cached = refreshed
        if cached.is_file():
            try:
                return load_eol_table(cached)
            except EolError as exc:
                print(f"basewatch: warning: {exc}; using the shipped table", file=sys.stderr)
        return load_eol_table()
    try:
        return load_eol_table(path)
    except EolError as exc:
        raise UsageError(str(exc)) from exc
