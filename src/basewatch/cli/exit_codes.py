"""Process exit codes, documented in the README; stable across releases; and which error
family leads to which."""

from __future__ import annotations

from enum import IntEnum

from basewatch.errors import (
    BundledDataError,
    CacheError,
    DatabaseError,
    ElfError,
    Error,
    ImageError,
    InvalidVersion,
    LintError,
    OutputError,
    PackageDatabaseError,
    SbomError,
    ServiceError,
    UsageError,
)


class ExitCode(IntEnum):
    OK = 0
    FINDINGS = 1  # reserved: a policy failed (vulnerabilities above the threshold)
    USAGE = 2  # bad arguments or an ambiguous reference
    IMAGE_ERROR = 3  # the image cannot be read, or is invalid or hostile
    PARTIAL = 4  # the report was written, but some of the image could not be analysed
    OUTPUT_ERROR = 5  # the report could not be written
    DATABASE_ERROR = 6  # the vulnerability database is missing, unreadable, or an update failed
    SERVICE_ERROR = 7  # `basewatch serve` cannot be reached, failed, or answered wrongly
    INTERRUPTED = 130
    TERMINATED = 143  # SIGTERM: the run stopped cleanly (scratch files removed)
    INTERNAL = 70  # a bug: please report it


def exit_code_for(error: Error) -> ExitCode:
    """The exit code of an error family: every family has one, and only a bug (data shipped
    inside basewatch that is malformed, or an exception outside the tree) is "internal"."""
    match error:
        case BundledDataError():
            return ExitCode.INTERNAL
        case UsageError() | InvalidVersion():
            return ExitCode.USAGE
        case ImageError() | SbomError() | PackageDatabaseError() | ElfError() | LintError():
            # input that cannot be read: an image, an SBOM, a binary, a Dockerfile
            return ExitCode.IMAGE_ERROR
        case OutputError() | CacheError():
            return ExitCode.OUTPUT_ERROR
        case DatabaseError():
            return ExitCode.DATABASE_ERROR
        case ServiceError():
            return ExitCode.SERVICE_ERROR
        case _:  # a family added to the tree without an exit code: a bug
            return ExitCode.INTERNAL
