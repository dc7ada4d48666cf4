"""Process exit codes, documented in the README; stable across releases."""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    FINDINGS = 1  # reserved: a policy failed (vulnerabilities above the threshold)
    USAGE = 2  # bad arguments or an ambiguous reference
    IMAGE_ERROR = 3  # the image cannot be read, or is invalid or hostile
    PARTIAL = 4  # the report was written, but some of the image could not be analysed
    OUTPUT_ERROR = 5  # the report could not be written
    DATABASE_ERROR = 6  # the vulnerability database is missing, unreadable, or an update failed
    INTERRUPTED = 130
    TERMINATED = 143  # SIGTERM: the run stopped cleanly (scratch files removed)
    INTERNAL = 70  # a bug: please report it
