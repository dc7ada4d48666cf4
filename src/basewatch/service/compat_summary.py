"""What the service keeps of an image's compat report: its verdict, its libc, and the failing
files' problems (bounded), so the dashboard shows them without pulling the image again."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import assert_never

from basewatch.compat.model import CompatReport, LibcFamily, LibcInfo
from basewatch.service.models import ImageCompat

MAX_PROBLEMS = 50  # the image page lists these; `basewatch compat` gives every one
MAX_NOTES = 20


class CompatVerdict(StrEnum):
    LOADS = "loads"  # every ELF file loads
    PROBLEMS = "problems"  # some do not
    NO_ELF = "no-elf"  # no ELF file found
    UNCHECKED = "unchecked"  # the check could not run (why: `not_checked`)


@dataclass(frozen=True, slots=True)
class FailedLoad:
    """One problem of a file that would not load."""

    path: str
    severity: str
    cause: str
    message: str
    fix: str

    def to_dict(self) -> dict[str, str]:
        return {
            "path": self.path,
            "severity": self.severity,
            "cause": self.cause,
            "message": self.message,
            "fix": self.fix,
        }


@dataclass(frozen=True, slots=True)
class CompatSummary:
    verdict: CompatVerdict
    libc: str  # "musl 1.2.5", "glibc 2.36"; "" when unknown
    files: int  # ELF files checked
    failing: int
    problems: tuple[FailedLoad, ...]  # worst first, at most MAX_PROBLEMS
    notes: tuple[str, ...]  # the report's warnings, then its notes, at most MAX_NOTES
    not_checked: tuple[str, ...]
    checked_at: datetime

    def row(self, digest: str) -> ImageCompat:
        """The `image_compat` row of the image `digest`."""
        return ImageCompat(
            digest=digest,
            verdict=self.verdict.value,
            libc=self.libc,
            files=self.files,
            failing=self.failing,
            problems=[p.to_dict() for p in self.problems],
            notes=list(self.notes),
            not_checked=list(self.not_checked),
            checked_at=self.checked_at,
        )


def summarize(report: CompatReport, now: datetime) -> CompatSummary:
    """The summary of a report of an image's own filesystem, checked at `now`."""
    failing = report.failures
    if not report.files:
        verdict = CompatVerdict.NO_ELF
    elif failing:
        verdict = CompatVerdict.PROBLEMS
    else:
        verdict = CompatVerdict.LOADS
    found = [(f.path, p) for f in failing for p in f.problems]
    found.sort(key=lambda item: -item[1].severity.rank)  # stable: files keep their order
    problems = tuple(
        FailedLoad(path, p.severity.value, p.cause.value, p.message, p.fix)
        for path, p in found[:MAX_PROBLEMS]
    )
    return CompatSummary(
        verdict=verdict,
        libc=libc_text(report.libc),
        files=len(report.files),
        failing=len(failing),
        problems=problems,
        notes=(*report.warnings, *report.notes)[:MAX_NOTES],
        not_checked=(),
        checked_at=now,
    )


def unchecked(why: str, now: datetime) -> CompatSummary:
    """The summary of a check that could not run (`why`: the error it raised)."""
    return CompatSummary(
        verdict=CompatVerdict.UNCHECKED,
        libc="",
        files=0,
        failing=0,
        problems=(),
        notes=(),
        not_checked=(why,),
        checked_at=now,
    )


def libc_text(libc: LibcInfo) -> str:
    """ "musl 1.2.5", "glibc" (version unknown); "" when the image has no known libc."""
    match libc.family:
        case LibcFamily.GLIBC | LibcFamily.MUSL:
            return f"{libc.family.value} {libc.version}".strip()[:100]  # the column's size
        case LibcFamily.NONE | LibcFamily.UNKNOWN:
            return ""
        case _:
            assert_never(libc.family)
