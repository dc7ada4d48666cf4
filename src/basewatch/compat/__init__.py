"""Will it run on this base? Static glibc/musl loader analysis of an image's ELF files.

Public API: `CompatReport` and its parts (the result), `LoaderModel` and `ImageFiles` (the loader
model over a final filesystem), `evaluate`/`evaluate_on` (verdicts from per-layer facts). The job
that reads images for it is `basewatch.jobs.compat` (`CompatChecker`).
"""

from basewatch.compat.check import evaluate, evaluate_on
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
