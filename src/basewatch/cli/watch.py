"""`basewatch watch add|list|rm`: the repositories a running `basewatch serve` watches, through
its API."""

from __future__ import annotations

import argparse
import json
import os
from typing import TYPE_CHECKING, Any

from basewatch.cli.arguments import add_server_arguments
from basewatch.cli.exit_codes import ExitCode
from basewatch.errors import UsageError

# basewatch.cli.remote (httpx, pydantic) is imported where it is used: loading it costs about
# 0.2 s, which every other command would pay at start-up.
if TYPE_CHECKING:
    from basewatch.cli.remote import RemoteWatch, ServiceClient

WATCHES = "api/v1/watches"


def add_watch_arguments(watch: argparse.ArgumentParser) -> None:
    verbs = watch.add_subparsers(dest="watch_command", metavar="SUBCOMMAND", required=True)
    add = verbs.add_parser("add", help="watch a registry repository")
    add.add_argument("repository", metavar="REPOSITORY", help="HOST[:PORT]/NAME")
    add.add_argument(
        "--tag",
        dest="tags",
        action="append",
        metavar="GLOB",
        help="the tags to watch (repeatable; default: every tag, *)",
    )
    add_server_arguments(add)
    listing = verbs.add_parser("list", help="the watched repositories")
    add_server_arguments(listing)
    remove = verbs.add_parser("rm", help="stop watching a repository")
    remove.add_argument("target", metavar="ID|REPOSITORY", help="a watch's id, or its repository")
    add_server_arguments(remove)


def run_watch(args: argparse.Namespace) -> int:
    from basewatch.cli.remote import client_from, parse_watch

    with client_from(args, os.environ) as client:
        match args.watch_command:
            case "add":
                document = client.post(
                    WATCHES, {"repository": args.repository, "tags": args.tags or ["*"]}
                )
                watch = parse_watch(document, client.server)
                _show(args, document, f"added watch {_line(watch)}")
            case "list":
                documents = list(client.items(WATCHES))
                watches = [parse_watch(d, client.server) for d in documents]
                _show(args, documents, "\n".join(_line(w) for w in watches))
            case "rm":
                document = _find(client, args.target)
                watch = parse_watch(document, client.server)
                client.delete(f"{WATCHES}/{watch.id}")
                _show(args, document, f"removed watch {_line(watch)}")
            case _:  # pragma: no cover - argparse refuses unknown verbs
                return ExitCode.USAGE
    return ExitCode.OK


def _find(client: ServiceClient, target: str) -> dict[str, Any]:
    """The watch `target` names: by id, or the watch of that repository."""
    from basewatch.cli.remote import parse_watch

    wanted = target.strip()
    if wanted.isdigit():
        return client.get(f"{WATCHES}/{int(wanted)}")
    wanted = wanted.removeprefix("registry:").rstrip("/")
    for document in client.items(WATCHES):
        if parse_watch(document, client.server).repository == wanted:
            return document
    raise UsageError(f"no watch of {wanted}: `basewatch watch list` shows what is watched")


def _line(watch: RemoteWatch) -> str:
    from basewatch.cli.remote import printable

    return f"{watch.id}  {printable(watch.repository)}  {printable(' '.join(watch.tags))}"


def _show(args: argparse.Namespace, document: object, text: str) -> None:
    if args.format == "json":
        print(json.dumps(document, indent=2, ensure_ascii=False))
    elif text:
        print(text)
