"""The exception tree. Every error basewatch raises on purpose derives from `Error`.

    Error
    ├── UsageError                 the request cannot be done as asked (bad reference, option)
    │   └── ConfigError            a config file or setting is malformed (names the key)
    ├── ImageError                 an image cannot be read, or is invalid or hostile
    │   ├── ImageNotFound          the reference names nothing that exists
    │   ├── DigestMismatch         a blob does not hash to the digest that names it
    │   ├── UnsafePath             a layer entry tries to leave the image root
    │   ├── UnreadableEntry        one file of a `dir:` source cannot be opened
    │   ├── OfflineError           the image is in a registry and the network may not be used
    │   └── RegistryError          a registry could not be reached, refused, or served garbage
    │       └── TransientError     a download broke off; it may be resumed
    ├── SbomError                  an SBOM given as input cannot be read
    ├── PackageDatabaseError       a package database in an image is malformed (a warning)
    ├── ElfError                   an ELF file or ld.so.cache is malformed (a warning)
    │   ├── MalformedElf
    │   └── MalformedLdCache
    ├── DatabaseError              the vulnerability database is missing, unreadable, or failed
    │   ├── DownloadError          a feed could not be downloaded
    │   └── EolError               the end-of-life table could not be read or refreshed
    ├── LintError                  a Dockerfile could not be linted or fixed
    │   ├── DockerfileSyntaxError
    │   ├── DockerfileReadError
    │   └── ResolveError           a digest resolver could not resolve a reference
    ├── CacheError                 the analysis cache or a store cannot be read or written
    │   └── CodecError             a stored document is malformed or of another schema version
    ├── OutputError                a report could not be written
    ├── ServiceError               the basewatch service is unreachable, failed or answered wrongly
    ├── InvalidVersion             a version string does not follow its ecosystem's rules
    └── BundledDataError           data shipped inside basewatch is malformed: a bug in basewatch

An error carries what it concerns (`reference`, `registry`, `path`) and, apart from the message,
a `remedy`: what the caller can do about it, as a `Remedy` that each adapter (the CLI, the HTTP
API) phrases in its own terms. Messages never name CLI flags.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any


class Remedy(StrEnum):
    """What a caller can do about an error; the CLI and the API each phrase it."""

    UPDATE_DATABASE = "update-database"  # fetch or import advisories
    CREATE_DATABASE = "create-database"  # there is no database at that path yet
    GO_ONLINE = "go-online"  # the answer needs the network, and it was refused
    ALLOW_INSECURE = "allow-insecure"  # the registry speaks plain HTTP
    GIVE_CREDENTIALS = "give-credentials"  # the registry wants a login
    ALLOW_AUTH_HOST = "allow-auth-host"  # the token service is another host
    CHOOSE_PLATFORM = "choose-platform"  # the image has no manifest for this platform
    REFRESH_EOL = "refresh-eol"  # the end-of-life table is missing or stale
    RECORD_BASE = "record-base"  # the image's base is unknown: catalogue it or annotate the image


class Error(Exception):
    """Root of every basewatch error: a message, what it concerns, and a remedy."""

    def __init__(
        self,
        message: str = "",
        *,
        remedy: Remedy | None = None,
        reference: str = "",
        registry: str = "",
        path: str = "",
    ) -> None:
        super().__init__(message)
        self.message = message
        self.remedy = remedy
        self.reference = reference
        self.registry = registry
        self.path = path

    def fields(self) -> dict[str, str]:
        """What the error concerns, for a structured report (an API problem document)."""
        found = {"reference": self.reference, "registry": self.registry, "path": self.path}
        return {key: value for key, value in found.items() if value}

    def __reduce__(self) -> tuple[Any, ...]:
        # keeps the keyword fields when an error crosses a process boundary (workers)
        return (_rebuild, (type(self), self.message, self.__dict__.copy()))


def _rebuild(cls: type[Error], message: str, state: dict[str, Any]) -> Error:
    error = cls.__new__(cls)
    Exception.__init__(error, message)
    error.__dict__.update(state)
    return error


class UsageError(Error):
    """The caller asked for something that cannot be done (bad reference, bad option)."""


class ConfigError(UsageError):
    """A config file (`.basewatch.toml`, `[tool.basewatch]`) or setting is malformed."""


class ImageError(Error):
    """An image could not be read, or is invalid or hostile (bad digest, path escape...)."""


class ImageNotFound(ImageError):
    """The reference names nothing that exists (missing file, unknown tag, no platform)."""


class DigestMismatch(ImageError):
    """A blob's content does not hash to the digest that names it."""


class UnsafePath(ImageError):
    """A layer entry tries to leave the image root (`..`, absolute hardlink escape)."""


class UnreadableEntry(ImageError):
    """One file of a `dir:` source cannot be opened (permissions, swapped for a symlink)."""


class RegistryError(ImageError):
    """A registry could not be reached, refused us, or served something wrong."""


class RateLimited(RegistryError):
    """The registry kept answering 429 (too many requests); `retry_after`: the seconds it
    asked to wait (0 when it did not say)."""

    def __init__(self, message: str, retry_after: float = 0.0) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class TransientError(RegistryError):
    """A download broke off (connection dropped, read timed out); it may be resumed."""


class OfflineError(ImageError):
    """The image is in a registry, and the command was told not to use the network."""


class SbomError(Error):
    """An SBOM given as input cannot be read."""


class PackageDatabaseError(Error):
    """A package database is malformed; detectors turn this into a warning and a partial result."""


class ElfError(Error):
    """An ELF file or linker cache is malformed; analyses turn this into a warning."""


class MalformedElf(ElfError):
    """The file starts like an ELF but its headers or dynamic data are inconsistent."""


class MalformedLdCache(ElfError):
    """`/etc/ld.so.cache` is not a cache glibc could read."""


class DatabaseError(Error):
    """The vulnerability database is missing, unreadable, or an update failed."""


class DownloadError(DatabaseError):
    """A feed could not be downloaded (network error, HTTP error, corrupt payload)."""


class EolError(DatabaseError):
    """The end-of-life table could not be read or refreshed."""


class LintError(Error):
    """A Dockerfile could not be linted or fixed."""


class DockerfileSyntaxError(LintError):
    """BuildKit's parser refused the Dockerfile (unterminated heredoc, no instructions...)."""


class DockerfileReadError(LintError):
    """A Dockerfile could not be read: missing, not a regular file, or too large."""


class ResolveError(LintError):
    """A digest resolver could not resolve a reference."""


class CacheError(Error):
    """The analysis cache or a store cannot be read or written."""


class CodecError(CacheError):
    """A stored document (cache entry, stored inventory) is malformed or of another schema
    version; readers take it as a miss. The message names the first field that is wrong."""


class OutputError(Error):
    """A report could not be written."""


class ServiceError(Error):
    """The basewatch service (`basewatch serve`) could not be reached, failed, or answered with
    something that is not its API (not JSON, too large, a redirect)."""


class InvalidVersion(Error):
    """A version string does not follow its ecosystem's rules."""


class BundledDataError(Error):
    """A data file shipped in the package (a table read with importlib.resources) is malformed.

    Never the user's input: it is a bug in basewatch, reported as an internal error."""
