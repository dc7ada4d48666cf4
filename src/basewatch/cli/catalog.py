"""`basewatch catalog add REF ...` and `catalog list`: the images bases are recognised by."""

from __future__ import annotations

import argparse
import sys

from basewatch.cli.arguments import add_cache_arguments, add_platform_argument
from basewatch.cli.exit_codes import ExitCode
from basewatch.cli.registry import add_registry_arguments, registry_options
from basewatch.cli.settings import settings_from


def add_catalog_arguments(catalog: argparse.ArgumentParser) -> None:

    verbs = catalog.add_subparsers(dest="catalog_command", metavar="SUBCOMMAND", required=True)
    add = verbs.add_parser("add", help="record images by reference")
    add.add_argument("images", metavar="IMAGE", nargs="+")
    add_platform_argument(add)
    add_cache_arguments(add, no_cache=False)
    add_registry_arguments(add)
    listing = verbs.add_parser("list", help="the recorded images")
    add_cache_arguments(listing, no_cache=False)


def run_catalog(args: argparse.Namespace) -> int:
    from basewatch.store.catalog import Catalog

    if args.catalog_command == "list":
        for known in Catalog(settings_from(args).catalog_dir).entries():
            print(f"{known.digest}  {len(known.diff_ids):>3} layer(s)  {known.reference}")
        return ExitCode.OK
    from basewatch.jobs.catalog import record_images
    from basewatch.jobs.seams import Seams

    options = registry_options(args, args.images[0])
    with Seams.default(settings_from(args), options) as seams:
        recorded = record_images(args.images, seams, args.platform)
    for item in recorded:
        entry = item.entry
        if entry is None:
            print(
                f"basewatch: warning: {item.reference}: no layer digests to record",
                file=sys.stderr,
            )
        else:
            print(f"recorded {entry.reference} ({entry.digest}, {len(entry.diff_ids)} layer(s))")
    return ExitCode.OK
