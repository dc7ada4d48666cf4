"""What both loader models share: the objects a loader has mapped for one program, how a
candidate file is accepted, and how DT_RPATH/DT_RUNPATH and LD_LIBRARY_PATH entries expand."""

from __future__ import annotations

import posixpath
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from basewatch.arch import machine_name
from basewatch.compat.facts import ImageFiles
from basewatch.compat.model import Problem
from basewatch.elf.reader import ElfInfo

_GLIBC_VERSION = re.compile(r"GLIBC_(\d+)\.(\d+)(?:\.(\d+))?")


def glibc_version_key(name: str) -> tuple[int, ...] | None:
    """(2, 34) for "GLIBC_2.34"; None for other version names."""
    match = _GLIBC_VERSION.fullmatch(name)
    return tuple(int(g) for g in match.groups() if g is not None) if match else None


@dataclass
class Loaded:
    """One object a loader mapped, and the DT_NEEDED names it satisfies."""

    name: str  # the name the loader reports it by: the path it opened ("" for the main program)
    real: str  # the real path in the image
    info: ElfInfo
    parent: Loaded | None = None  # the object whose DT_NEEDED brought it in
    names: set[str] = field(default_factory=set)  # what DT_NEEDED names match it


@dataclass
class Outcome:
    """A program's load set, in load order, and what went wrong while building it."""

    problems: list[Problem] = field(default_factory=list)
    loaded: list[Loaded] = field(default_factory=list)


def add_loaded(out: Outcome, queue: list[Loaded], parent: Loaded, found: Loaded, name: str) -> None:
    """`found` satisfies `parent`'s DT_NEEDED `name`: a file already mapped gains the name, a
    new one joins the load set (and the queue of objects whose needs are searched)."""
    same = next((x for x in out.loaded if x.real == found.real), None)
    if same is not None:
        same.names.add(name)
        return
    found.parent = parent
    found.names |= {name, found.info.soname}
    out.loaded.append(found)
    queue.append(found)


def find_loaded(loaded: list[Loaded], name: str) -> Loaded | None:
    """The object of the load set that a DT_NEEDED `name` is satisfied by, if any."""
    for obj in loaded:
        if name in obj.names or (obj.info.soname and obj.info.soname == name):
            return obj
    return None


def candidate(files: ImageFiles, path: str, want: ElfInfo, check_machine: bool) -> Loaded | None:
    """The ELF at `path` when a loader looking for a library for `want` would take it."""
    found = files.elf(path)
    if found is None or not isinstance(found[1], ElfInfo):
        return None
    info = found[1]
    if info.bits != want.bits or (check_machine and info.machine != want.machine):
        return None  # glibc skips objects of another class or machine and searches on
    return Loaded(path, found[0], info)


def expand(paths: Sequence[str], owner: Loaded, want: ElfInfo) -> list[str]:
    """Search directories with $ORIGIN (the directory of `owner`), $PLATFORM and $LIB expanded."""
    origin = posixpath.dirname(owner.real if not owner.name else owner.name) or "/"
    platform = machine_name(want.machine)
    out = []
    for p in paths:
        p = p.replace("${ORIGIN}", origin).replace("$ORIGIN", origin)
        p = p.replace("${PLATFORM}", platform).replace("$PLATFORM", platform)
        lib = "lib64" if want.bits == 64 else "lib"
        p = p.replace("${LIB}", lib).replace("$LIB", lib)
        out.append(posixpath.normpath(p if p.startswith("/") else "/" + p))
    return out
