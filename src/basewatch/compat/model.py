"""Value objects of a compatibility report: what each ELF needs, and what would fail to load."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

COMPAT_SCHEMA_VERSION = "1"


class FileKind(StrEnum):
    STATIC = "static"  # no interpreter, no dynamic dependencies
    STATIC_PIE = "static-pie"  # position-independent, relocates itself
    DYNAMIC = "dynamic"  # a program started through PT_INTERP
    SHARED_LIBRARY = "shared-library"  # loaded by a program (libraries, Python extensions, addons)
    PYTHON_WHEEL = "python-wheel"  # an installed wheel, judged by its WHEEL platform tags


class LibcFamily(StrEnum):
    GLIBC = "glibc"
    MUSL = "musl"
    NONE = "none"  # needs no libc (static), or the image has none
    UNKNOWN = "unknown"


class Severity(StrEnum):
    ERROR = "error"  # the loader refuses it: the program does not start, the module not import
    WARNING = "warning"  # it loads, but something may fail later or prints a warning
    INFO = "info"

    @property
    def rank(self) -> int:
        return {"info": 0, "warning": 1, "error": 2}[self.value]


class Cause(StrEnum):
    WRONG_ARCHITECTURE = "wrong-architecture"
    INTERPRETER_MISSING = "interpreter-missing"
    LIBRARY_MISSING = "library-missing"
    VERSION_MISSING = "version-missing"
    SYMBOL_MISSING = "symbol-missing"
    NO_VERSION_INFORMATION = "no-version-information"
    WHEEL_PLATFORM = "wheel-platform"
    MALFORMED = "malformed"


@dataclass(frozen=True, slots=True)
class Problem:
    """One reason an ELF would not load, with what the loader would print and how to fix it."""

    severity: Severity
    cause: Cause
    message: str  # exactly what the loader (or the shell, for a missing interpreter) prints
    subject: str = ""  # what is missing: the interpreter, "libstdc++.so.6", "GLIBC_2.38"...
    fix: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "severity": self.severity.value,
            "cause": self.cause.value,
            "message": self.message,
            "subject": self.subject,
            "fix": self.fix,
        }


@dataclass(frozen=True, slots=True)
class FileVerdict:
    """The prediction for one ELF file of the image."""

    path: str
    layer: int  # index of the layer that wrote it
    kind: FileKind
    libc: LibcFamily  # the libc it was built for
    machine: str
    interpreter: str = ""
    needed: tuple[str, ...] = ()
    problems: tuple[Problem, ...] = ()

    @property
    def loads(self) -> bool:
        return not any(p.severity is Severity.ERROR for p in self.problems)

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "layer": self.layer,
            "kind": self.kind.value,
            "libc": self.libc.value,
            "machine": self.machine,
            "interpreter": self.interpreter,
            "needed": list(self.needed),
            "loads": self.loads,
            "problems": [p.to_dict() for p in self.problems],
        }


@dataclass(frozen=True, slots=True)
class LibcInfo:
    """The C library an image provides."""

    family: LibcFamily
    version: str = ""  # "2.36", "1.2.5"; "" when unknown
    path: str = ""  # the file it was read from (libc.so.6, the musl loader)
    source: str = ""  # how the version was found: "version definitions", "apk", "dpkg"

    def to_dict(self) -> dict[str, Any]:
        return {
            "family": self.family.value,
            "version": self.version,
            "path": self.path,
            "source": self.source,
        }


@dataclass(frozen=True, slots=True)
class CompatReport:
    """Every ELF of an image (or of the files transplanted onto a base) and whether it loads."""

    image: str
    platform: str
    libc: LibcInfo
    files: tuple[FileVerdict, ...]
    base: str = ""  # with --on: the base the files were evaluated against
    warnings: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()  # behaviour of the image's libc worth knowing (musl version...)

    @property
    def failures(self) -> tuple[FileVerdict, ...]:
        return tuple(f for f in self.files if not f.loads)

    def worst(self) -> Severity | None:
        ranks = [p.severity for f in self.files for p in f.problems]
        return max(ranks, key=lambda s: s.rank, default=None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": COMPAT_SCHEMA_VERSION,
            "image": self.image,
            "base": self.base,
            "platform": self.platform,
            "libc": self.libc.to_dict(),
            "summary": {
                "files": len(self.files),
                "loading": sum(1 for f in self.files if f.loads),
                "failing": len(self.failures),
            },
            "files": [f.to_dict() for f in self.files],
            "warnings": list(self.warnings),
            "notes": list(self.notes),
        }
