"""Registry options shared by every command that takes an image, and the `resolve` and
`cache prune` commands."""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from typing import TYPE_CHECKING, TextIO

from basewatch.cli.arguments import add_cache_arguments, add_platform_argument
from basewatch.cli.exit_codes import ExitCode
from basewatch.cli.settings import settings_from
from basewatch.errors import UsageError

if TYPE_CHECKING:
    from basewatch.oci.registry.options import RegistryOptions

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?\s*$", re.IGNORECASE)


def add_registry_arguments(parser: argparse.ArgumentParser) -> None:
    """`--insecure-registry`, `--allow-auth-host`, `--username`, `--password-stdin` for
    commands taking an image."""
    group = parser.add_argument_group("registry")
    group.add_argument(
        "--insecure-registry",
        dest="insecure_registries",
        action="append",
        default=[],
        metavar="HOST:PORT",
        help="talk plain HTTP to this registry (loopback addresses always may); repeatable",
    )
    group.add_argument(
        "--allow-auth-host",
        dest="allowed_auth_hosts",
        action="append",
        default=[],
        metavar="HOST[:PORT]",
        help=(
            "let this token service receive the registry credentials although it is not the "
            "registry's own host (a registry may name any host as its token service: without "
            "this, that host only gets an anonymous request); repeatable"
        ),
    )
    group.add_argument(
        "--username", metavar="NAME", help="registry user (default: Docker's config.json)"
    )
    group.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the registry password or token from standard input",
    )


def registry_options(
    args: argparse.Namespace, reference: str, stdin: TextIO | None = None
) -> RegistryOptions:
    """RegistryOptions from the parsed arguments; the password is read from stdin once."""
    # Imported here, when a command runs: every command builds its parser from this module, and
    # references, credentials and options cost `basewatch --help` 12-15 ms more otherwise.
    from basewatch.oci.reference import parse_host, parse_reference, without_prefix
    from basewatch.oci.registry.auth import (
        ChainedCredentials,
        Credentials,
        DockerConfigCredentials,
        StaticCredentials,
    )
    from basewatch.oci.registry.options import RegistryOptions
    from basewatch.settings import docker_config_dir

    docker_config = docker_config_dir(os.environ)  # the CLI reads the environment, not oci/
    username = getattr(args, "username", None)
    password_stdin = getattr(args, "password_stdin", False)
    if password_stdin and not username:
        raise UsageError("--password-stdin needs --username")
    if username and not password_stdin:
        raise UsageError("--username needs --password-stdin (passwords are never arguments)")

    insecure = frozenset(
        parse_host(h, "--insecure-registry") for h in getattr(args, "insecure_registries", []) or []
    )
    allowed_auth_hosts = frozenset(
        parse_host(h, "--allow-auth-host") for h in getattr(args, "allowed_auth_hosts", []) or []
    )
    credentials = None
    if username:
        registry = ""
        text = without_prefix(reference)
        try:
            registry = parse_reference(text).registry
        except UsageError:
            registry = ""  # a local path: the credentials will not be used
        # Standard input is read once, and the password belongs to the registry of the first
        # reference it was read for (IMAGE; for lint, the first FROM looked up): a command
        # that opens several images never sends it to another registry.
        given: tuple[str, str] | None = getattr(args, "_password_for", None)
        if given is None:
            password = (stdin or sys.stdin).read().rstrip("\r\n")
            if not password:
                raise UsageError("--password-stdin: standard input was empty")
            given = (password, registry)
            args._password_for = given
        password, owner = given
        if registry and registry == owner:
            credentials = ChainedCredentials(
                StaticCredentials(Credentials(username, password), registry),
                DockerConfigCredentials(docker_config),
            )
        else:
            credentials = ChainedCredentials(DockerConfigCredentials(docker_config))
    cache_dir = getattr(args, "cache_dir", None)
    return RegistryOptions(
        credentials=credentials,
        docker_config=docker_config,
        insecure_registries=insecure,
        allowed_auth_hosts=allowed_auth_hosts,
        cache_dir=cache_dir,
        use_cache=not getattr(args, "no_cache", False),
    )


# --- basewatch resolve ---------------------------------------------------------------------------


def add_resolve_arguments(resolve: argparse.ArgumentParser) -> None:
    resolve.add_argument("reference", metavar="REF")
    add_platform_argument(resolve)
    resolve.add_argument("-f", "--format", choices=("text", "json"), default="text")
    add_cache_arguments(resolve)
    add_registry_arguments(resolve)


def run_resolve(args: argparse.Namespace) -> int:
    from basewatch.jobs.seams import Seams
    from basewatch.oci.reference import parse_reference, without_prefix

    text = without_prefix(args.reference)
    ref = parse_reference(text)
    with Seams.default(settings_from(args), registry_options(args, text)) as seams:
        resolved = seams.images.resolve(ref, args.platform)
    if args.format == "json":
        print(json.dumps(resolved.to_dict(), indent=2))
        return ExitCode.OK
    print(f"reference  {resolved.reference}")
    if resolved.index_digest:
        print(f"index      {resolved.index_digest}")
        print(f"manifest   {resolved.manifest_digest}  {resolved.platform}")
        others = [f"{p} {d}" for p, d in resolved.platforms if d != resolved.manifest_digest]
        for line in others:
            print(f"           {line}")
    else:
        print(f"manifest   {resolved.manifest_digest}")
    print(f"pinned     {ref.registry}/{ref.repository}@{resolved.digest}")
    return ExitCode.OK


# --- basewatch cache prune -----------------------------------------------------------------------


def add_cache_command_arguments(cache: argparse.ArgumentParser) -> None:
    sub = cache.add_subparsers(dest="cache_command", metavar="SUBCOMMAND", required=True)
    prune = sub.add_parser(
        "prune",
        help="remove unfinished downloads and least recently used entries beyond a size",
        description=(
            "Remove unfinished downloads and what dead processes left in the scratch area, "
            "then the least recently used entries (downloaded blobs, layer analyses and "
            "assembled inventories alike) until the whole cache fits --max-size. --all empties "
            "the cache."
        ),
    )
    add_cache_arguments(prune, no_cache=False)
    prune.add_argument(
        "--max-size", metavar="SIZE", help="e.g. 2G, 500M (default: the cache's limit, 10G)"
    )
    prune.add_argument(
        "--all", action="store_true", help="remove every blob, layer analysis and inventory"
    )


def parse_size(text: str) -> int:
    match = _SIZE.match(text)
    if match is None:
        raise UsageError(f"--max-size {text!r}: expected a size such as 500M or 2G")
    factor = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}
    return int(float(match.group(1)) * factor[match.group(2).lower()])


def run_cache(args: argparse.Namespace) -> int:
    from basewatch.jobs.cache import prune_cache

    limit = parse_size(args.max_size) if args.max_size else None
    result = prune_cache(settings_from(args), limit, everything=args.all)
    print(
        f"removed {result.removed} entr{'y' if result.removed == 1 else 'ies'}, freed "
        f"{_human(result.freed_bytes)}; {result.kept} entr{'y' if result.kept == 1 else 'ies'} "
        f"({_human(result.kept_bytes)} in all) remain in {result.root}"
    )
    return ExitCode.OK


def _human(size: int) -> str:
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"  # pragma: no cover
