"""The exception tree. Every error basewatch raises on purpose derives from `Error`.

Messages say what was wrong and what to do; the CLI maps each family to an exit code.
"""

from __future__ import annotations


class Error(Exception):
    """Root of every basewatch error."""


class UsageError(Error):
    """The caller asked for something that cannot be done (bad reference, bad option)."""


class ImageError(Error):
    """An image could not be read, or is invalid or hostile (bad digest, path escape...)."""


class ImageNotFound(ImageError):
    """The reference names nothing that exists (missing file, unknown tag, no platform)."""


class DigestMismatch(ImageError):
    """A blob's content does not hash to the digest that names it."""


class UnsafePath(ImageError):
    """A layer entry tries to leave the image root (`..`, absolute hardlink escape)."""


class PackageDatabaseError(Error):
    """A package database is malformed; detectors turn this into a warning and a partial result."""


class CacheError(Error):
    """The analysis cache cannot be read or written."""


class OutputError(Error):
    """A report could not be written."""


class InvalidVersion(Error):
    """A version string does not follow its ecosystem's rules."""


class DatabaseError(Error):
    """The vulnerability database is missing, unreadable, or an update failed."""


class DownloadError(DatabaseError):
    """A feed could not be downloaded (network error, HTTP error, corrupt payload)."""


class SbomError(Error):
    """An SBOM given as input cannot be read."""


class RegistryError(ImageError):
    """A registry could not be reached, refused us, or served something wrong."""


class OfflineError(ImageError):
    """The image is in a registry, and the command was told not to use the network."""
