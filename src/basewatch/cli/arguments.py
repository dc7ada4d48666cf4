"""The options several commands share, defined once: where output goes, the image's platform,
the cache, the vulnerability database."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_output_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-o", "--output", metavar="FILE", help="write here instead of stdout")


def add_platform_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--platform", metavar="OS/ARCH[/VARIANT]", help="default: the host's")


def add_cache_arguments(parser: argparse.ArgumentParser, no_cache: bool = True) -> None:
    """`--cache-dir` (and `--no-cache`, unless the command is about the cache itself)."""
    parser.add_argument("--cache-dir", type=Path, metavar="DIR", help="default: the user cache dir")
    if no_cache:
        parser.add_argument(
            "--no-cache", action="store_true", help="neither read nor write the cache"
        )


def add_image_arguments(parser: argparse.ArgumentParser) -> None:
    """What every command that reads an image takes: its platform and the cache."""
    add_platform_argument(parser)
    add_cache_arguments(parser)


def add_db_argument(
    parser: argparse.ArgumentParser, help: str = "vulnerability database file"
) -> None:
    parser.add_argument("--db", type=Path, metavar="PATH", help=help)


DEFAULT_SERVER = "http://127.0.0.1:8080"


def add_server_arguments(parser: argparse.ArgumentParser) -> None:
    """What the commands that speak to `basewatch serve` take: where it is and the output format.
    The token comes from BASEWATCH_TOKEN, never a flag: a flag lands in shell history and `ps`."""
    parser.add_argument(
        "--server",
        metavar="URL",
        help=f"the service's URL (default: $BASEWATCH_SERVER, else {DEFAULT_SERVER})",
    )
    parser.add_argument(
        "-f",
        "--format",
        choices=("text", "json"),
        default="text",
        help="json: the API's JSON objects, as one document",
    )
