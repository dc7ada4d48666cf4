"""Registry credentials and the `WWW-Authenticate` challenges that ask for them.

Credentials come from, in order: what the user gave on the command line, then Docker's
`config.json` (`credHelpers`, `auths`, `credsStore`, as `docker login` writes them) in the
directory the caller names. Secrets are kept out of every `repr`, log line and error message.
Bearer tokens are kept until shortly before they expire (`TokenCache`, on an injected clock).
A caller handed a ready HTTP `Authorization` value (Harbor's scanner API does that) turns it
into credentials with `credentials_from_authorization`.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import re
import shutil
import subprocess
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from basewatch.clock import SYSTEM_CLOCK, Clock
from basewatch.errors import RegistryError
from basewatch.oci.reference import DOCKER_HUB, DOCKER_HUB_HOST

log = logging.getLogger(__name__)

# `docker login` without a server stores Docker Hub's credentials under this key.
DOCKER_HUB_CONFIG_KEY = "https://index.docker.io/v1/"
_HELPER_TIMEOUT = 30.0
_DEFAULT_TOKEN_LIFETIME = 60.0  # seconds: the distribution spec's when `expires_in` is missing
_MAX_TOKEN_LIFETIME = 86400.0
# a token is renewed this long before it expires, so that it cannot expire between two requests
_RENEW_EARLY = 10.0


# What credential helpers answer as the Username when the Secret is an identity token.
IDENTITY_TOKEN_USER = "<token>"  # noqa: S105 - a marker, not a secret
# An Authorization value longer than this is no credential but garbage (or an attack on the
# parser); real ones, JWTs with certificate chains included, stay far below.
MAX_AUTHORIZATION_CHARS = 16 << 10


@dataclass(frozen=True, slots=True)
class Credentials:
    """A username and secret (a password or token); secrets never show in `repr`.

    `identity_token` is the OAuth2 refresh token `docker login` stores (`identitytoken` in
    Docker's config) for registries whose token service issues one: it is exchanged for access
    tokens with a POST to the token service, and there is then no password.

    `registry_token` is an access token for the registry itself (what a `Bearer` Authorization
    value carries): it answers the registry's Bearer challenge as it is, the token service is
    never asked, and a registry that wants Basic authentication cannot use it. With one, the
    username and password are not used.
    """

    username: str
    password: str = field(repr=False)
    identity_token: str = field(default="", repr=False)
    registry_token: str = field(default="", repr=False)

    def __repr__(self) -> str:
        if self.registry_token:
            kind = "registry_token"
        elif self.identity_token:
            kind = "identity_token"
        else:
            kind = "password"
        return f"Credentials(username={self.username!r}, {kind}=<hidden>)"

    def basic_header(self) -> str:
        raw = f"{self.username}:{self.password}".encode()
        return "Basic " + base64.b64encode(raw).decode("ascii")


def credentials_from_authorization(value: str) -> Credentials:
    """The credentials in an HTTP `Authorization` value: `Basic base64(user:password)` gives a
    username and password, `Bearer TOKEN` a `registry_token` (scheme in any case, surrounding
    whitespace ignored). Anything else raises ValueError, whose message never holds the secret."""
    # every message below is fixed text: the value is a secret, and so is any part of it
    if len(value) > MAX_AUTHORIZATION_CHARS:
        raise ValueError(
            f"the Authorization value is longer than {MAX_AUTHORIZATION_CHARS} characters; "
            "it is not a credential"
        )
    text = value.strip()
    if not text:
        raise ValueError("the Authorization value is empty; expected 'Basic ...' or 'Bearer ...'")
    if any(c < " " or c == "\x7f" for c in text):
        raise ValueError(
            "the Authorization value contains control characters or line breaks; it cannot "
            "be sent as an HTTP header"
        )
    scheme, _, rest = text.partition(" ")
    secret = rest.lstrip(" ")
    match scheme.lower():
        case "basic":
            return _basic_credentials(secret)
        case "bearer":
            if not secret:
                raise ValueError("the Authorization value 'Bearer' carries no token")
            # RFC 6750's b64token is narrower; visible ASCII is what any registry's token is
            if not all("!" <= c <= "~" for c in secret):
                raise ValueError(
                    "the bearer token in the Authorization value holds spaces or characters "
                    "that are not ASCII; it is not a token"
                )
            return Credentials("", "", registry_token=secret)
        case _:
            # the scheme is not repeated: a bare token with no scheme would be the secret itself
            raise ValueError(
                "the Authorization value's scheme is neither Basic nor Bearer; expected "
                "'Basic base64(user:password)' or 'Bearer TOKEN'"
            )


def _basic_credentials(encoded: str) -> Credentials:
    if not encoded:
        raise ValueError("the Authorization value 'Basic' carries no credentials")
    # `from None` throughout: the decoders' own messages quote bytes of the secret
    try:
        raw = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(
            "the credentials of the Basic Authorization value are not valid base64"
        ) from None
    try:
        decoded = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError(
            "the credentials of the Basic Authorization value do not decode to UTF-8 text"
        ) from None
    username, sep, password = decoded.partition(":")  # a password may hold colons, a user not
    if not sep:
        raise ValueError(
            "the credentials of the Basic Authorization value are not 'user:password' "
            "(there is no colon)"
        )
    if not username:
        raise ValueError("the credentials of the Basic Authorization value name no user")
    return Credentials(username, password)


class CredentialStore(Protocol):
    """Looks up the credentials for one registry host (`docker.io` for Docker Hub)."""

    def get(self, registry: str) -> Credentials | None: ...


@dataclass(frozen=True, slots=True)
class Challenge:
    """One `WWW-Authenticate` challenge: its scheme (lowercase) and parameters."""

    scheme: str
    params: tuple[tuple[str, str], ...] = ()

    def param(self, name: str) -> str:
        return dict(self.params).get(name, "")


_PARAM = re.compile(r'\s*([A-Za-z0-9_-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]*))\s*,?')


def parse_challenges(header: str) -> list[Challenge]:
    """Parse `Bearer realm="...",service="...",scope="..."` (and Basic) challenges."""
    challenges: list[Challenge] = []
    rest = header.strip()
    while rest:
        match = re.match(r"([A-Za-z][A-Za-z0-9_-]*)\s*", rest)
        if match is None:
            break
        scheme = match.group(1).lower()
        rest = rest[match.end() :]
        params: list[tuple[str, str]] = []
        while rest:
            param = _PARAM.match(rest)
            if param is None:
                break
            # a bare word followed by a word (not "=") starts the next challenge
            value = param.group(2)
            value = re.sub(r"\\(.)", r"\1", value) if value is not None else param.group(3)
            params.append((param.group(1).lower(), value))
            rest = rest[param.end() :].lstrip(", ")
        challenges.append(Challenge(scheme, tuple(params)))
        rest = rest.lstrip(", ")
    return challenges


class StaticCredentials:
    """Credentials the user gave (`--username` with `--password-stdin`), for one host or all."""

    def __init__(self, credentials: Credentials, registry: str = "") -> None:
        self._credentials = credentials
        self._registry = registry

    def get(self, registry: str) -> Credentials | None:
        if not self._registry or _same_registry(self._registry, registry):
            return self._credentials
        return None


class ChainedCredentials:
    """The first store that knows the host answers."""

    def __init__(self, *stores: CredentialStore) -> None:
        self._stores = stores

    def get(self, registry: str) -> Credentials | None:
        for store in self._stores:
            found = store.get(registry)
            if found is not None:
                return found
        return None


HelperRunner = Callable[[str, str], str]


def run_helper(helper: str, server: str) -> str:
    """Run `docker-credential-<helper> get` with the server on stdin; return its stdout."""
    program = shutil.which(f"docker-credential-{helper}")
    if program is None:
        raise RegistryError(
            f"Docker's config names the credential helper {helper!r}, but "
            f"docker-credential-{helper} is not on PATH"
        )
    try:
        result = subprocess.run(
            [program, "get"],
            input=server.encode(),
            capture_output=True,
            timeout=_HELPER_TIMEOUT,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise RegistryError(f"credential helper docker-credential-{helper} failed: {exc}") from exc
    if result.returncode != 0:
        # helpers print "credentials not found in native keychain" for unknown servers
        message = result.stdout.decode(errors="replace").strip()
        if "not found" in message.lower():
            return ""
        raise RegistryError(
            f"credential helper docker-credential-{helper} failed (exit {result.returncode})"
        )
    return result.stdout.decode(errors="replace")


class DockerConfigCredentials:
    """Credentials from `config.json` in Docker's config directory `config_dir` (the CLI
    passes `$DOCKER_CONFIG`, else `~/.docker`: see `basewatch.settings`). A missing file
    knows no credentials."""

    def __init__(self, config_dir: Path, runner: HelperRunner = run_helper) -> None:
        self.path = config_dir / "config.json"
        self._runner = runner
        self._config: dict[str, Any] | None = None

    def _load(self) -> dict[str, Any]:
        if self._config is None:
            try:
                data = json.loads(self.path.read_text(encoding="utf-8"))
            except FileNotFoundError:
                data = {}
            except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
                log.warning("ignoring unreadable Docker config %s: %s", self.path, exc)
                data = {}
            self._config = data if isinstance(data, dict) else {}
        return self._config

    def get(self, registry: str) -> Credentials | None:
        config = self._load()
        helpers = config.get("credHelpers")
        if isinstance(helpers, dict):
            for key, helper in helpers.items():
                if isinstance(helper, str) and _same_registry(str(key), registry):
                    return self._from_helper(helper, str(key))
        auths = config.get("auths")
        if isinstance(auths, dict):
            for key, entry in auths.items():
                if isinstance(entry, dict) and _same_registry(str(key), registry):
                    found = _from_auth_entry(entry, str(key))
                    if found is not None:
                        return found
        store = config.get("credsStore")
        if isinstance(store, str) and store:
            server = DOCKER_HUB_CONFIG_KEY if registry == DOCKER_HUB else registry
            return self._from_helper(store, server)
        return None

    def _from_helper(self, helper: str, server: str) -> Credentials | None:
        output = self._runner(helper, server)
        if not output.strip():
            return None
        try:
            data = json.loads(output)
        except json.JSONDecodeError as exc:
            raise RegistryError(
                f"credential helper docker-credential-{helper} printed something that is not JSON"
            ) from exc
        if not isinstance(data, dict):
            return None
        username, secret = data.get("Username"), data.get("Secret")
        if not isinstance(username, str) or not isinstance(secret, str) or not secret:
            return None
        if username == IDENTITY_TOKEN_USER:  # the secret is an identity token, not a password
            return Credentials(username, "", identity_token=secret)
        return Credentials(username, secret)


def token_lifetime(expires_in: object) -> float:
    """Seconds a token lives by a token service's `expires_in`: 60 when it is missing or not
    a sane number, at most a day."""
    if not isinstance(expires_in, int | float) or not abs(expires_in) < 1e9:  # NaN too
        return _DEFAULT_TOKEN_LIFETIME
    return min(max(float(expires_in), 0.0), _MAX_TOKEN_LIFETIME)


class TokenCache:
    """Bearer tokens by scope, each until shortly before it expires by `clock`; thread-safe."""

    def __init__(self, clock: Clock = SYSTEM_CLOCK) -> None:
        self._clock = clock
        self._tokens: dict[str, tuple[str, float]] = {}  # scope -> (token, renew at)
        self._lock = threading.Lock()

    def get(self, scope: str) -> str | None:
        """The token for `scope`, None when there is none or it is due for renewal."""
        with self._lock:
            found = self._tokens.get(scope)
        if found is None or found[1] <= self._clock.monotonic():
            return None
        return found[0]

    def put(self, scope: str, token: str, lifetime: float) -> None:
        """Keep `token` for `lifetime` seconds (less a margin)."""
        renew_at = self._clock.monotonic() + max(lifetime - _RENEW_EARLY, 1.0)
        with self._lock:
            self._tokens[scope] = (token, renew_at)

    def drop(self, scope: str) -> None:
        """Forget the token for `scope` (the registry refused it)."""
        with self._lock:
            self._tokens.pop(scope, None)


def _from_auth_entry(entry: dict[str, Any], key: str) -> Credentials | None:
    token = entry.get("identitytoken")
    if isinstance(token, str) and token:
        # `docker login` keeps the username in `auth` ("user:") beside the identity token
        found = _from_auth_entry({k: v for k, v in entry.items() if k != "identitytoken"}, key)
        username = found.username if found is not None else IDENTITY_TOKEN_USER
        return Credentials(username, "", identity_token=token)
    auth = entry.get("auth")
    if isinstance(auth, str) and auth:
        try:
            decoded = base64.b64decode(auth, validate=False).decode()
        except (binascii.Error, UnicodeDecodeError):
            log.warning("ignoring the malformed auth entry for %s in Docker's config", key)
            return None
        username, sep, password = decoded.partition(":")
        if sep:
            return Credentials(username, password)
        log.warning("ignoring the malformed auth entry for %s in Docker's config", key)
        return None
    user, secret = entry.get("username"), entry.get("password")
    if isinstance(user, str) and isinstance(secret, str):
        return Credentials(user, secret)
    return None


def normalize_registry_key(key: str) -> str:
    """`https://index.docker.io/v1/` -> `docker.io`, `http://host:5000/v2/` -> `host:5000`."""
    text = key.strip()
    for scheme in ("https://", "http://"):
        if text.lower().startswith(scheme):
            text = text[len(scheme) :]
    text = text.split("/", 1)[0].lower()
    if text in ("index.docker.io", DOCKER_HUB_HOST, "docker.io"):
        return DOCKER_HUB
    return text


def _same_registry(key: str, registry: str) -> bool:
    return normalize_registry_key(key) == normalize_registry_key(registry)
