"""`basewatch advise IMAGE` (or `--dockerfile PATH`): refresh, update, alternatives, rebuild."""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from basewatch.cli.exit_codes import ExitCode
from basewatch.errors import Error, UsageError


def add_advise_parser(commands: Any) -> None:
    from basewatch.cli.registry import add_registry_arguments
    from basewatch.report.base import ADVISE_FORMATS as FORMATS

    advise = commands.add_parser(
        "advise",
        help="should the base be refreshed, updated or replaced, and is a rebuild needed?",
        description=(
            "Recommendations (refresh: the base's tag moved; update: a newer tag of the same "
            "line; alternative: the candidates you list), each with the findings that go away "
            "and arrive, and a rebuild verdict with its reasons."
        ),
    )
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
    advise.add_argument("-f", "--format", choices=FORMATS, default="table")
    advise.add_argument("-o", "--output", metavar="FILE", help="write here instead of stdout")
    advise.add_argument("--db", type=Path, metavar="PATH", help="vulnerability database file")
    advise.add_argument(
        "--offline", action="store_true", help="no registry: only what local data can answer"
    )
    advise.add_argument("--fail-on", choices=("rebuild",), help="exit 1 when a rebuild is needed")
    advise.add_argument("--platform", metavar="OS/ARCH[/VARIANT]", help="default: the host's")
    advise.add_argument("--cache-dir", type=Path, metavar="DIR", help="default: the user cache dir")
    advise.add_argument("--no-cache", action="store_true", help="neither read nor write the cache")
    advise.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    add_registry_arguments(advise)


class RegistryTags:
    """The TagSource of advice, over the registry client."""

    def __init__(self, args: argparse.Namespace, platform: str | None) -> None:
        self._args = args
        self._platform = platform

    def digests(self, reference: str) -> tuple[str, ...]:
        from basewatch.cli.registry import registry_options
        from basewatch.oci.registry.source import resolve

        resolved = resolve(reference, self._platform, registry_options(self._args, reference))
        return tuple(d for d in (resolved.manifest_digest, resolved.index_digest) if d)

    def tags(self, repository: str) -> Sequence[str]:
        from basewatch.cli.registry import registry_options
        from basewatch.oci.reference import parse_reference
        from basewatch.oci.registry.client import RegistryClient

        reference = parse_reference(repository)
        with RegistryClient(registry_options(self._args, repository)) as client:
            return client.list_tags(reference)


def run_advise(args: argparse.Namespace) -> int:
    from basewatch.advice.advise import advise
    from basewatch.advice.compare import eol_lookup_from_table, release_cycle
    from basewatch.cli.output import write_output
    from basewatch.cli.progress import progress_for
    from basewatch.cli.settings import settings_from
    from basewatch.jobs.inventory import Scanner
    from basewatch.matching.evaluate import scan_inventory
    from basewatch.models import Inventory, ScanResult
    from basewatch.report.advise_report import render

    if (args.image is None) == (args.dockerfile is None):
        raise UsageError("give an IMAGE or --dockerfile PATH (one of them)")
    references = [args.image] if args.image else _dockerfile_bases(args.dockerfile)
    settings = settings_from(args)
    db_path = settings.db_path
    store: Any = None
    if db_path.exists():
        from basewatch.vulndb.sqlite import SqliteStore

        store = SqliteStore.open(db_path, readonly=True)
    today = dt.datetime.now(dt.UTC).date()
    lookup = eol_lookup_from_table(settings.eol_table)
    tags = None if args.offline else RegistryTags(args, args.platform)
    outputs = []
    rebuild = partial = False
    with progress_for(quiet=args.quiet) as progress:
        scanner = Scanner.from_settings(settings, progress)

        def inventory_of(reference: str) -> tuple[Inventory, ScanResult | None]:
            found = scanner.inventory(_source(args, reference), platform=args.platform)
            return found, scan_inventory(found, store) if store is not None else None

        alternatives = list(args.alternative)
        skipped = []
        if args.offline:
            alternatives = [a for a in args.alternative if _is_local(a)]
            skipped = [a for a in args.alternative if a not in alternatives]
        for reference in references:
            if args.dockerfile is not None and args.offline and not _is_local(reference):
                advice = _unread_from(args.dockerfile, reference, scanner)
            else:
                inventory, scan = inventory_of(reference)
                if args.dockerfile is not None:
                    # a FROM line names the base the Dockerfile builds on, not an application
                    inventory = _as_base(inventory, reference)
                os = inventory.os
                eol = (
                    lookup(os.id, release_cycle(os.id, os.version_id))
                    if os and os.version_id
                    else None
                )
                advice = advise(inventory, scan, inventory_of, tags, alternatives, eol, today)
                if args.dockerfile is not None:
                    advice = dataclasses.replace(
                        advice, image=f"{args.dockerfile} (FROM {reference})"
                    )
            if skipped:
                advice = dataclasses.replace(
                    advice,
                    not_checked=(
                        *advice.not_checked,
                        *(f"alternative {a}: it is in a registry (offline)" for a in skipped),
                    ),
                )
            rebuild = rebuild or advice.rebuild
            partial = partial or advice.partial
            outputs.append(render(args.format, advice))
            for warning in advice.warnings:
                print(f"basewatch: warning: {warning}", file=sys.stderr)
            for what in advice.not_checked:
                print(f"basewatch: warning: not checked: {what}", file=sys.stderr)
    write_output(b"\n".join(outputs), args.output)
    if store is None:
        print(
            "basewatch: note: no vulnerability database: finding deltas are empty", file=sys.stderr
        )
    if args.fail_on == "rebuild" and rebuild:
        return ExitCode.FINDINGS
    if partial:
        return ExitCode.PARTIAL
    return ExitCode.OK


def _is_local(reference: str) -> bool:
    """Whether the reference names a local image (opening one never touches the network)."""
    from basewatch.errors import OfflineError
    from basewatch.oci.open import open_source

    def refuse() -> Any:
        raise OfflineError(f"{reference}: it is in a registry, and --offline was given")

    try:
        open_source(reference, registry_defaults=refuse)
    except OfflineError:
        return False
    except Error:
        return True  # a local path that is unusable: reading it says why
    return True


def _source(args: argparse.Namespace, reference: str) -> Any:
    from basewatch.cli.registry import registry_options
    from basewatch.oci.open import open_source

    if args.offline and not _is_local(reference):
        from basewatch.errors import OfflineError

        raise OfflineError(
            f"{reference}: it is in a registry, and --offline was given: run without --offline"
        )
    return open_source(reference, registry=registry_options(args, reference))


def _as_base(inventory: Any, reference: str) -> Any:
    """The FROM image as the base being advised on: all its layers are the base's."""
    from basewatch.models import BaseImage

    image = inventory.image
    pinned = reference.split("@", 1)[1] if "@" in reference else ""
    base = BaseImage(
        reference=reference.removeprefix("registry:").split("@", 1)[0],
        digest=pinned or image.manifest_digest or image.config_digest,
        method="dockerfile",
        confidence="high",
        layers=len(image.layers),
    )
    return dataclasses.replace(inventory, base=base)


def _unread_from(dockerfile: Path, reference: str, scanner: Any) -> Any:
    """Offline advice on a FROM image that is in a registry: what the catalog knows of it."""
    from basewatch.advice.advise import unread_base
    from basewatch.models import BaseImage

    pinned = reference.split("@", 1)[1] if "@" in reference else ""
    name = reference.removeprefix("registry:").split("@", 1)[0]
    seen = None
    if scanner.catalog is not None:
        # the catalog records every image read before: the digest and layers it had then
        seen = next((e for e in scanner.catalog.entries() if e.reference == reference), None)
    base = BaseImage(
        reference=name,
        digest=pinned or (seen.digest if seen else ""),
        method="dockerfile",
        confidence="high",
        layers=len(seen.diff_ids) if seen else 0,
    )
    why = "it is in a registry, and --offline was given"
    if seen is not None:
        why += f" (the local catalog last saw it at {seen.digest})"
    return unread_base(f"{dockerfile} (FROM {reference})", base, why)


def _dockerfile_bases(path: Path) -> list[str]:
    """The external base images of a Dockerfile's stages (stage aliases, scratch and bases
    built from ARGs without a default are skipped)."""
    from basewatch.errors import LintError
    from basewatch.lint.parse import decode, parse_dockerfile

    try:
        dockerfile = parse_dockerfile(decode(path.read_bytes()), str(path))
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror}") from exc
    except LintError as exc:
        raise UsageError(str(exc)) from exc
    bases = [stage.base_resolved for stage in dockerfile.stages if stage.ref is not None]
    if not bases:
        raise UsageError(f"{path}: no external base image in its FROM lines")
    return list(dict.fromkeys(bases))
