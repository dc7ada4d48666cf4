"""How to fix what the loader model finds: one text per cause, packages from shipped data.

Which package provides a missing library, and how each distribution installs it, is data:
`data/fixes.json`, read once and validated by `FixTable.from_json`. A loader's family names the
packaging it is checked against: musl images are taken for Alpine (apk), glibc ones for Debian
and its derivatives (deb).
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass, replace
from enum import StrEnum
from importlib import resources
from typing import assert_never

from basewatch.compat.loadset import glibc_version_key
from basewatch.compat.model import Cause, LibcFamily, LibcInfo, Problem, Severity
from basewatch.errors import BundledDataError

FIXES_RESOURCE = "data/fixes.json"
FIXES_SCHEMA_VERSION = 1


class Packaging(StrEnum):
    """A distribution's package format, as `data/fixes.json` keys it."""

    APK = "apk"  # Alpine
    DEB = "deb"  # Debian, Ubuntu


@dataclass(frozen=True, slots=True)
class LibraryPackages:
    """The package that provides one library, per packaging ("" where none is known)."""

    soname: str
    packages: tuple[tuple[Packaging, str], ...]

    def package(self, packaging: Packaging) -> str:
        return next((name for p, name in self.packages if p is packaging), "")


@dataclass(frozen=True, slots=True)
class FixTable:
    """The fix data: each packaging's install command and the libraries' packages."""

    installers: tuple[tuple[Packaging, str], ...]  # every Packaging has one
    libraries: tuple[LibraryPackages, ...]

    def installer(self, packaging: Packaging) -> str:
        """The command that installs packages of this packaging ("apk add")."""
        return next(command for p, command in self.installers if p is packaging)

    def package(self, soname: str, packaging: Packaging) -> str:
        """The package that provides `soname` in this packaging; "" when the table has none."""
        for library in self.libraries:
            if library.soname == soname:
                return library.package(packaging)
        return ""

    @classmethod
    def from_json(cls, document: object) -> FixTable:
        """The table from the decoded JSON document; raises BundledDataError when malformed."""
        top = _object(document, "the document")
        if top.get("schema_version") != FIXES_SCHEMA_VERSION:
            raise _bad(f"schema_version {top.get('schema_version')!r}, expected 1")
        installers = _packaging_map(top.get("installers"), "installers")
        missing = [p.value for p in Packaging if p not in dict(installers)]
        if missing:
            raise _bad(f"installers: no command for {', '.join(missing)}")
        rows = top.get("libraries")
        if not isinstance(rows, list):
            raise _bad("libraries: expected a list")
        libraries: list[LibraryPackages] = []
        for index, row in enumerate(rows):
            what = f"libraries[{index}]"
            entry = _object(row, what)
            soname = _text(entry.get("soname"), f"{what}.soname")
            if any(library.soname == soname for library in libraries):
                raise _bad(f"{what}: {soname} is listed twice")
            libraries.append(
                LibraryPackages(soname, _packaging_map(entry.get("packages"), f"{what}.packages"))
            )
        return cls(installers, tuple(libraries))


@functools.cache
def fix_table() -> FixTable:
    """The table shipped in the package (read on first use, then kept)."""
    text = resources.files("basewatch.compat").joinpath(FIXES_RESOURCE).read_text("utf-8")
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise _bad(f"not JSON: {exc}") from exc
    return FixTable.from_json(document)


def _bad(detail: str) -> BundledDataError:
    return BundledDataError(f"basewatch/compat/{FIXES_RESOURCE}: {detail}")


def _object(value: object, what: str) -> dict[str, object]:
    if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
        raise _bad(f"{what}: expected an object")
    return {str(k): v for k, v in value.items()}


def _text(value: object, what: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _bad(f"{what}: expected a non-empty string")
    return value


def _packaging_map(value: object, what: str) -> tuple[tuple[Packaging, str], ...]:
    out: list[tuple[Packaging, str]] = []
    for key, name in _object(value, what).items():
        try:
            packaging = Packaging(key)
        except ValueError:
            raise _bad(f"{what}: unknown packaging {key!r}") from None
        out.append((packaging, _text(name, f"{what}.{key}")))
    return tuple(out)


# --- the fixes -----------------------------------------------------------------------------------


def _packaging_of(loader: LibcFamily) -> Packaging | None:
    match loader:
        case LibcFamily.MUSL:
            return Packaging.APK
        case LibcFamily.GLIBC:
            return Packaging.DEB
        case LibcFamily.NONE | LibcFamily.UNKNOWN:
            return None
        case _:
            assert_never(loader)


def library_fix(name: str, loader: LibcFamily, image: LibcInfo) -> str:
    """How to provide library `name` that the `loader` family's loader could not find."""
    packaging = _packaging_of(loader)
    if packaging is not None:
        table = fix_table()
        package = table.package(name, packaging)
        if package:
            return f"install {package} ({table.installer(packaging)} {package})"
    if name.startswith("ld-linux") and image.family is LibcFamily.MUSL:
        return "a glibc library on musl: install gcompat, or use a musllinux/musl build"
    return f"install the package that provides {name}, or ship it with the application"


def version_fix(version: str, library: str, image: LibcInfo) -> str:
    """How to get symbol version `version` that `library` of this image does not define."""
    key = glibc_version_key(version)
    if key is not None:
        wanted = ".".join(map(str, key))
        have = f" (this image has glibc {image.version})" if image.version else ""
        return (
            f"use a base image with glibc >= {wanted}{have}, or build against an older glibc "
            "(an older build image, or manylinux wheels for that glibc)"
        )
    return f"install a newer {library} that defines {version}"


def glibc_symbol_fix(bound_at_load: bool) -> str:
    """How to fix an undefined symbol under glibc (lazily bound ones fail at their first call)."""
    return (
        "install the library version that exports it, or rebuild against this image's libraries"
        + ("" if bound_at_load else " (it fails when first called: lazy binding)")
    )


def musl_symbol_fix(name: str, version: str) -> str:
    """How to fix a symbol musl found no definition of (glibc-only ones mean a glibc build)."""
    if glibc_version_key(version) or (name.startswith("__") and name.endswith("_chk")):
        return (
            "a glibc build on musl: install gcompat, use a musl build (musllinux wheels, "
            "a build on Alpine), or build statically"
        )
    return "install the library that exports it, or rebuild against this image's libraries"


def interpreter_fix(built_for: LibcFamily, image: LibcInfo, interpreter: str) -> str:
    """How to fix a program (built for `built_for`) whose PT_INTERP the image lacks."""
    if built_for is LibcFamily.GLIBC and image.family is LibcFamily.MUSL:
        return (
            "this is a glibc program on a musl (Alpine) image: use a glibc-based image, "
            "install gcompat (apk add gcompat), or build it statically (Go: CGO_ENABLED=0)"
        )
    if built_for is LibcFamily.MUSL and image.family is LibcFamily.GLIBC:
        return (
            "this is a musl program on a glibc image: use a musl (Alpine) base, install "
            "musl, or build it statically"
        )
    if image.family is LibcFamily.NONE:
        return "the image has no C library: build the program statically or use a base with one"
    return f"install the package that provides {interpreter}"


def architecture_fix(platform: str) -> str:
    """How to fix an object built for another machine than the image's `platform`."""
    return f"use a build for {platform}, the image's platform"


def libc_fix(family: LibcFamily) -> str:
    """How to fix a library built for `family` on an image with no C library of that family."""
    return f"use a base image with {family.value}"


_LIBC_CAUSES = (
    Cause.INTERPRETER_MISSING,
    Cause.LIBRARY_MISSING,
    Cause.VERSION_MISSING,
    Cause.SYMBOL_MISSING,
)


def go_fix(problem: Problem, go: dict[str, str]) -> Problem:
    """A Go program that needs the C library: the fix is a static build (its build info says
    how it was built)."""
    if problem.severity is not Severity.ERROR or problem.cause not in _LIBC_CAUSES:
        return problem
    toolchain = go.get("go", "") or "Go"
    match go.get("CGO_ENABLED", ""):
        case "1":
            how = f"built by {toolchain} with CGO_ENABLED=1"
            fix = f"rebuild with CGO_ENABLED=0 for a static binary that needs no libc ({how})"
        case "0":
            how = f"built by {toolchain} with CGO_ENABLED=0 but dynamically linked"
            fix = f"rebuild as a static binary: no -buildmode=pie, no external linking ({how})"
        case _:
            fix = f"rebuild with CGO_ENABLED=0 for a static binary that needs no libc ({toolchain})"
    return replace(problem, fix=f"{fix}; or {problem.fix}" if problem.fix else fix)
