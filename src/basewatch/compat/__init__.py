"""Will it run on this base? Static glibc/musl loader analysis of an image's ELF files.

Public API: `CompatChecker` (the job), `CompatReport` and its parts (the result), `LoaderModel`
and `ImageFiles` (the loader model over a final filesystem).
"""

from basewatch.compat.check import CompatChecker, evaluate, evaluate_on
from basewatch.compat.facts import ImageFiles
from basewatch.compat.loader import LoaderModel
from basewatch.compat.model import (
    Cause,
    CompatReport,
    FileKind,
    FileVerdict,
    LibcFamily,
    LibcInfo,
    Problem,
    Severity,
)

__all__ = [
    "Cause",
    "CompatChecker",
    "CompatReport",
    "FileKind",
    "FileVerdict",
    "ImageFiles",
    "LibcFamily",
    "LibcInfo",
    "LoaderModel",
    "Problem",
    "Severity",
    "evaluate",
    "evaluate_on",
]
