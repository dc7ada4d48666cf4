"""Where musl's dynamic linker looks for a library, and what it resolves to itself.

musl (ldso/dynlink.c `load_library`) maps the names it implements itself (`libc.so.6`,
`libm.so.6`, `libpthread.so.0`...) to libc; other names are searched in LD_LIBRARY_PATH, the
DT_RPATH/DT_RUNPATH of the loading chain, then the directories of `/etc/ld-musl-ARCH.path`
(else `MUSL_DEFAULT_PATH`). Objects of another class or machine are skipped.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass

from basewatch.compat.facts import ImageFiles
from basewatch.compat.loadset import Loaded, candidate, expand
from basewatch.elf.reader import Symbol

# Names musl resolves to itself (ldso/dynlink.c: "c", "pthread", "rt", "m", "dl", "util", "xnet").
_MUSL_RESERVED = ("c", "pthread", "rt", "m", "dl", "util", "xnet")
MUSL_DEFAULT_PATH = ("/lib", "/usr/local/lib", "/usr/lib")


@dataclass(frozen=True, slots=True)
class MuslSearch:
    """musl's library search over one image's files."""

    files: ImageFiles
    library_path: tuple[str, ...]  # LD_LIBRARY_PATH, already split musl's way

    def path(self, ldso: Loaded) -> list[str]:
        """The system directories of the musl loader `ldso`: its .path file, else the default."""
        arch = posixpath.basename(ldso.name)
        if arch.startswith("ld-musl-") and arch.endswith(".so.1"):
            text = self.files.text(f"/etc/{arch[: -len('.so.1')]}.path")
            if text is not None:
                return [d for d in re.split(r"[:\n]", text) if d.strip()]
        return list(MUSL_DEFAULT_PATH)

    def find(self, name: str, requester: Loaded, ldso: Loaded) -> Loaded | None:
        """The object musl's `ldso` maps for DT_NEEDED `name` of `requester`; None if none."""
        want = requester.info
        if "/" in name:
            return candidate(self.files, name, want, check_machine=True)
        # LD_LIBRARY_PATH first (no $ORIGIN expansion in it), then the chain's RPATH/RUNPATH
        dirs = [posixpath.normpath("/" + d.strip()) for d in self.library_path if d.strip()]
        chain: Loaded | None = requester
        while chain is not None:
            dirs += expand(chain.info.runpath or chain.info.rpath, chain, want)
            chain = chain.parent
        for directory in [*dirs, *self.path(ldso)]:
            found = candidate(
                self.files, posixpath.join(directory.strip(), name), want, check_machine=True
            )
            if found is not None:
                return found
        return None


def is_reserved(name: str) -> bool:
    """Whether musl satisfies DT_NEEDED `name` with its own libc (libc, libm, libpthread...)."""
    if not name.startswith("lib"):
        return False
    rest = name[3:]
    return any(rest.startswith(r + ".") for r in _MUSL_RESERVED) or name.startswith("ld-musl-")


def references(obj: Loaded) -> list[Symbol]:
    """The symbols musl looks up for `obj`, one per relocation in the order musl relocates
    (defined ones only for COPY relocations); its undefined symbols when relocations are not
    known."""
    if not obj.info.relocations:
        return [s for s in obj.info.symbols if not s.defined]
    by_name = {s.name: s for s in obj.info.symbols}
    out = []
    for name, copy in obj.info.relocations:
        sym = by_name.get(name)
        if sym is not None and (copy or not sym.defined):
            out.append(sym)
    return out
