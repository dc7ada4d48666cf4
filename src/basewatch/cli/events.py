"""`basewatch events`: what changed in the watched images, from a running `basewatch serve`;
`--follow` keeps asking until Ctrl-C."""

from __future__ import annotations

import argparse
import json
import os
import time
from typing import TYPE_CHECKING, Any

from basewatch.cli.arguments import add_server_arguments
from basewatch.cli.exit_codes import ExitCode

# basewatch.cli.remote (httpx, pydantic) is imported where it is used: loading it costs about
# 0.2 s, which every other command would pay at start-up.
if TYPE_CHECKING:
    from basewatch.cli.remote import RemoteEvent

EVENTS = "api/v1/events"
FOLLOW_SECONDS = 2.0  # how often --follow asks for new events
_SHOWN_ADVISORIES = 8  # a line names this many advisories, then says how many more


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of at least 1")
    return int(text)


def _event_id(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"{text!r} is not an event id (a whole number)")
    return int(text)


def add_events_arguments(events: argparse.ArgumentParser) -> None:
    events.add_argument(
        "--type",
        metavar="TYPE",
        help="only this type: findings.new, findings.fixed, findings.fixable, kev.added, "
        "base.moved, eol.reached, policy.failed, policy.passed",
    )
    events.add_argument(
        "--since", type=_event_id, default=0, metavar="ID", help="only events after this id"
    )
    events.add_argument(
        "--limit", type=_positive, metavar="N", help="stop after N events (default: all)"
    )
    events.add_argument(
        "--follow",
        action="store_true",
        help=f"keep asking for new events every {FOLLOW_SECONDS:g} s until Ctrl-C (with "
        "--format json: one JSON object a line)",
    )
    add_server_arguments(events)


def run_events(args: argparse.Namespace) -> int:
    from basewatch.cli.remote import PAGE_SIZE, after_cursor, client_from, parse_event

    params = {"type": args.type} if args.type else {}
    last: int = args.since
    shown = 0
    collected: list[dict[str, Any]] = []  # --format json without --follow: one document
    with client_from(args, os.environ) as client:
        try:
            while True:
                page_size = min(PAGE_SIZE, args.limit - shown) if args.limit else PAGE_SIZE
                for document in client.items(
                    EVENTS,
                    params,
                    cursor=after_cursor(last) if last else None,
                    page_size=page_size,
                ):
                    event = parse_event(document, client.server)
                    last, shown = event.id, shown + 1
                    if args.format == "json" and not args.follow:
                        collected.append(document)
                    elif args.format == "json":
                        print(json.dumps(document, ensure_ascii=False), flush=True)
                    else:
                        print(event_line(event), flush=args.follow)
                    if shown == args.limit:
                        break
                if not args.follow or shown == args.limit:
                    break
                time.sleep(FOLLOW_SECONDS)
        except KeyboardInterrupt:
            if not args.follow:
                raise
            return ExitCode.OK  # Ctrl-C is how --follow ends
    if args.format == "json":
        print(json.dumps(collected, indent=2, ensure_ascii=False))
    return ExitCode.OK


def event_line(event: RemoteEvent) -> str:
    """One line: id, time, type, repository, short digest, and what the event is about."""
    from basewatch.cli.remote import printable, utc_text

    short = event.digest.split(":", 1)[-1][:12]
    fields = (
        str(event.id),
        utc_text(event.created_at),
        f"{printable(event.type, 40):<16}",
        printable(event.repository, 200) or "-",
        printable(short) or "-",
        summary(event.type, event.payload),
    )
    return "  ".join(fields).rstrip()


def summary(kind: str, payload: dict[str, Any]) -> str:
    """What an event is about: the advisories of a findings event, the images a moved base asks
    to rebuild, else the payload's `summary` (service/evaluate.py, bases.py, watcher.py)."""
    from basewatch.cli.remote import printable

    if kind == "base.moved":
        images = [_image(i) for i in _list(payload.get("images"))]
        base = payload.get("base")
        reference = printable(str(base.get("reference", ""))) if isinstance(base, dict) else ""
        moved = f"{reference} moved: " if reference else ""
        return f"{moved}rebuild {', '.join(i for i in images if i) or 'nothing'}"
    ids = [
        printable(str(f["id"]), 100)
        for f in _list(payload.get("findings"))
        if isinstance(f, dict) and "id" in f
    ]
    ids = list(dict.fromkeys(ids))
    if not ids:  # eol.reached and others: the service's own words, when it gives some
        text = payload.get("summary")
        return printable(text) if isinstance(text, str) else ""
    more = len(ids) - _SHOWN_ADVISORIES
    return ", ".join(ids[:_SHOWN_ADVISORIES]) + (f" (+{more} more)" if more > 0 else "")


def _image(entry: object) -> str:
    """`repo:tag[,tag]` (or `repo@digest`) of an image a base.moved event lists, with how many
    findings the rebuild fixes."""
    from basewatch.cli.remote import printable

    if not isinstance(entry, dict):
        return printable(str(entry), 200)
    repository = printable(str(entry.get("repository", "")), 200)
    tags = [printable(str(t), 128) for t in _list(entry.get("tags"))]
    digest = str(entry.get("digest", "")).split(":", 1)[-1][:12]
    name = f"{repository}:{','.join(tags)}" if tags else f"{repository}@{printable(digest)}"
    fixes = entry.get("fixes")
    return f"{name} (fixes {len(fixes)})" if isinstance(fixes, list) else name


def _list(value: object) -> list[object]:
    return value if isinstance(value, list) else []
