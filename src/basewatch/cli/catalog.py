"""`basewatch catalog add REF ...` and `catalog list`: the images bases are recognised by."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from basewatch.cli.exit_codes import ExitCode


def add_catalog_parser(commands: Any) -> None:
    from basewatch.cli.registry import add_registry_arguments

    catalog = commands.add_parser(
        "catalog",
        help="record known base images, so images built on them are attributed",
        description=(
            "Every image basewatch reads is recorded; `catalog add` records more without "
            "reading their layers (only manifest and config)."
        ),
    )
    verbs = catalog.add_subparsers(dest="catalog_command", metavar="SUBCOMMAND", required=True)
    add = verbs.add_parser("add", help="record images by reference")
    add.add_argument("images", metavar="IMAGE", nargs="+")
    add.add_argument("--platform", metavar="OS/ARCH[/VARIANT]", help="default: the host's")
    add.add_argument("--cache-dir", type=Path, metavar="DIR", help="default: the user cache dir")
    add_registry_arguments(add)
    listing = verbs.add_parser("list", help="the recorded images")
    listing.add_argument(
        "--cache-dir", type=Path, metavar="DIR", help="default: the user cache dir"
    )


def run_catalog(args: argparse.Namespace) -> int:
    from basewatch.cli.settings import settings_from
    from basewatch.store.catalog import Catalog

    catalog = Catalog(settings_from(args).catalog_dir)
    if args.catalog_command == "list":
        for known in catalog.entries():
            print(f"{known.digest}  {len(known.diff_ids):>3} layer(s)  {known.reference}")
        return ExitCode.OK
    from basewatch.cli.registry import registry_options
    from basewatch.oci.open import open_source

    for reference in args.images:
        source = open_source(reference, registry=registry_options(args, reference))
        with source.open(args.platform) as image:
            entry = catalog.add(image.info)
        if entry is None:
            print(f"basewatch: warning: {reference}: no layer digests to record", file=sys.stderr)
        else:
            print(f"recorded {entry.reference} ({entry.digest}, {len(entry.diff_ids)} layer(s))")
    return ExitCode.OK
