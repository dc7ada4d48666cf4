"""Sealing the registry credentials Harbor sends with a scan request, so that a job can be
stored (and survive a restart) without the store ever holding a usable password or token.

A credential is sealed with Fernet (AES-128-CBC and HMAC-SHA256, from `cryptography`) under a
key the store does not hold: `[serve.harbor] key` (`BASEWATCH_HARBOR_KEY`), else one kept in a
file of the service's data directory, made on first use and readable by its owner only.
A job drops its sealed credential once the artifact is pulled.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

from basewatch.errors import ConfigError
from basewatch.service.config import HarborSettings

KEY_BYTES = 44  # a Fernet key: 32 bytes, URL-safe base64


class Sealer:
    def __init__(self, key: bytes) -> None:
        self._fernet = Fernet(key)

    def seal(self, secret: str) -> str:
        return self._fernet.encrypt(secret.encode("utf-8")).decode("ascii")

    def open(self, sealed: str) -> str | None:
        """The secret; None when it was sealed under another key or is damaged."""
        try:
            return self._fernet.decrypt(sealed.encode("ascii")).decode("utf-8")
        except (InvalidToken, ValueError, UnicodeError):
            return None


def sealer_for(settings: HarborSettings) -> Sealer:
    """The sealer of `settings`' key; ConfigError for a key that is not one, or a key file
    that cannot be read or made."""
    if settings.key:
        return _sealer(settings.key.encode("ascii", "replace"), "BASEWATCH_HARBOR_KEY")
    if settings.key_file is None:
        raise ConfigError("[serve.harbor]: no key and no key file to seal credentials with")
    return _sealer(_key_file(settings.key_file), str(settings.key_file))


def fleet_key_warning(settings: HarborSettings) -> str:
    """What to tell the operator of a fleet's process whose Harbor key is its own key file ("" when
    the adapter is off or the key is set): the service seals, a worker opens, and a worker on
    another machine has another file."""
    if not settings.enabled or settings.key:
        return ""
    return (
        "Harbor's adapter is on with no [serve.harbor] key (BASEWATCH_HARBOR_KEY): this process "
        f"seals and opens registry credentials with {settings.key_file}, so a scan request that "
        "carries one fails on a worker that does not share that file; set the same key for the "
        'service and every worker (or turn the adapter off: [serve.harbor] prefix = "off")'
    )


def _sealer(key: bytes, origin: str) -> Sealer:
    try:
        return Sealer(key)
    except ValueError:
        raise ConfigError(
            f"{origin}: not a Fernet key (32 bytes in URL-safe base64, 44 characters)"
        ) from None


def _key_file(path: Path) -> bytes:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    except FileExistsError:
        return _read_key(path)
    except OSError as exc:
        raise ConfigError(
            f"{path}: cannot make the Harbor credential key: {exc.strerror}"
        ) from None
    key = Fernet.generate_key()
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(key + b"\n")
    except OSError as exc:
        path.unlink(missing_ok=True)
        raise ConfigError(
            f"{path}: cannot write the Harbor credential key: {exc.strerror}"
        ) from None
    return key


def _read_key(path: Path) -> bytes:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError as exc:
        raise ConfigError(
            f"{path}: cannot read the Harbor credential key: {exc.strerror}"
        ) from None
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise ConfigError(f"{path}: the Harbor credential key is not a regular file")
        if info.st_mode & 0o077:
            raise ConfigError(
                f"{path}: the Harbor credential key may be read by others (chmod 600 it)"
            )
        return handle.read(KEY_BYTES + 2).strip()
