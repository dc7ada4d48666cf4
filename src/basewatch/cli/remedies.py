"""How the command line phrases each `Remedy`: the library names no flag, the CLI does."""

from __future__ import annotations

from typing import assert_never

from basewatch.errors import Error, Remedy


def hint_for(error: Error) -> str:
    """The CLI's advice for an error, or "" when it carries no remedy."""
    if error.remedy is None:
        return ""
    return phrase(error.remedy, error)


def phrase(remedy: Remedy, error: Error | None = None) -> str:
    """How the command line says what `remedy` asks for (`error` fills in its details)."""
    match remedy:
        case Remedy.UPDATE_DATABASE:
            return "run `basewatch db update` (or `basewatch db import FILE`)"
        case Remedy.CREATE_DATABASE:
            return (
                "create it with `basewatch db update` (it picks the ecosystems to download) or "
                "`basewatch db import PATH`; `basewatch scan IMAGE` without --offline also "
                "downloads what the image needs"
            )
        case Remedy.GO_ONLINE:
            return "run without --offline"
        case Remedy.ALLOW_INSECURE:
            where = (error.registry if error is not None else "") or "HOST:PORT"
            return f"pass --insecure-registry {where} to talk plain HTTP to it"
        case Remedy.GIVE_CREDENTIALS:
            return "pass --username NAME --password-stdin, or log in with `docker login`"
        case Remedy.ALLOW_AUTH_HOST:
            return "pass --allow-auth-host HOST to let that token service have the credentials"
        case Remedy.CHOOSE_PLATFORM:
            return "choose one with --platform OS/ARCH[/VARIANT]"
        case Remedy.RECORD_BASE:
            return (
                "record the base with `basewatch catalog add BASE` and scan again, or build the "
                "image with the `org.opencontainers.image.base.name` and "
                "`org.opencontainers.image.base.digest` annotations or labels; or scan without "
                "--only-base/--ignore-base"
            )
        case Remedy.REFRESH_EOL:
            return "run `basewatch db update --eol-only`"
        case _:
            assert_never(remedy)
