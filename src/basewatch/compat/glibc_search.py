"""Where glibc's `ld.so` looks for a library, in its order (elf/dl-load.c `_dl_map_object`).

DT_RPATH of the loading chain (only while the requesting object has no DT_RUNPATH, and only the
chain's objects without one), LD_LIBRARY_PATH, the requester's DT_RUNPATH, `/etc/ld.so.cache`
(entries flagged for the requester's machine), then the default directories (multiarch, lib64,
lib); the last two are skipped under DF_1_NODEFLIB. Objects of another class or machine are
skipped and the search goes on, as glibc does.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass

from basewatch.arch import for_elf
from basewatch.compat.facts import ImageFiles
from basewatch.compat.loadset import Loaded, candidate, expand
from basewatch.elf.ldcache import FLAG_REQUIRED_MASK, FLAG_TYPE_MASK, CacheEntry, cache_flags_for
from basewatch.elf.reader import ElfInfo


@dataclass(frozen=True, slots=True)
class GlibcSearch:
    """glibc's library search over one image's files."""

    files: ImageFiles
    library_path: tuple[str, ...]  # LD_LIBRARY_PATH, already split glibc's way
    cache: tuple[CacheEntry, ...] | None  # /etc/ld.so.cache; None when the image has none
    target: tuple[int, int] | None  # (e_machine, bits) of the image, when known

    def find(self, name: str, requester: Loaded, check_machine: bool = True) -> Loaded | None:
        """The object glibc maps for DT_NEEDED `name` of `requester`; None if it finds none."""
        want = requester.info
        if "/" in name:
            return candidate(self.files, name, want, check_machine)
        dirs: list[str] = []
        if not want.runpath:
            chain: Loaded | None = requester
            while chain is not None:
                if not chain.info.runpath:
                    dirs += expand(chain.info.rpath, chain, want)
                chain = chain.parent
        if self.library_path:
            # after the RPATHs, before RUNPATH; $ORIGIN here is the main program's directory
            main = requester
            while main.parent is not None:
                main = main.parent
            dirs += expand(self.library_path, main, want)
        dirs += expand(want.runpath, requester, want)
        for directory in dirs:
            found = candidate(self.files, posixpath.join(directory, name), want, check_machine)
            if found is not None:
                return found
        if want.nodeflib:
            return None
        if self.cache is not None:
            required = cache_flags_for(want.machine, want.bits) if check_machine else None
            for entry in self.cache:
                if entry.name != name:
                    continue
                if required is not None and (
                    entry.flags & FLAG_TYPE_MASK != required & FLAG_TYPE_MASK
                    or entry.flags & FLAG_REQUIRED_MASK != required & FLAG_REQUIRED_MASK
                ):
                    continue
                found = candidate(self.files, entry.path, want, check_machine)
                if found is not None:
                    return found
        for directory in self.default_dirs(want):
            found = candidate(self.files, posixpath.join(directory, name), want, check_machine)
            if found is not None:
                return found
        return None

    def default_dirs(self, info: ElfInfo) -> list[str]:
        """The trusted directories for objects like `info`: Debian's multiarch ones first."""
        arch = for_elf(info.machine, info.bits) if info.machine else None
        if arch is None and self.target is not None:
            arch = for_elf(*self.target)
        dirs = [f"/lib/{arch.triplet}", f"/usr/lib/{arch.triplet}"] if arch else []
        if info.bits == 64:
            dirs += ["/lib64", "/usr/lib64"]
        return [*dirs, "/lib", "/usr/lib"]
