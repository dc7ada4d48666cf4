"""The facts the compat detectors record per file, and the final filesystem that holds them.

Facts travel in `FileResult.facts` as (name, text) pairs: `ELF_FACT` (JSON of the
loader-relevant ELF data, `elf_to_dict`), `GO_FACT` (JSON of a Go program's build settings),
`TEXT_FACT` (a small config file) and `LDCACHE_FACT` (JSON rows of /etc/ld.so.cache).
`ImageFiles` decodes them, once each, for the file a path resolves to in the final filesystem.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from basewatch.elf.ldcache import CacheEntry
from basewatch.elf.reader import ElfInfo, Symbol, VersionNeed, VersionRef
from basewatch.inventory.detector import FileResult
from basewatch.models import EntryKind
from basewatch.oci.filesystem import FileSystemView
from basewatch.oci.layer import FileEntry

ELF_FACT = "elf"
GO_FACT = "go"
TEXT_FACT = "text"
LDCACHE_FACT = "ld.so.cache"


@dataclass
class ImageFiles:
    """The final filesystem of an image with the ELF and loader-config facts of its files."""

    view: FileSystemView
    results: dict[tuple[int, str], FileResult] = field(default_factory=dict)
    packages: dict[str, tuple[str, str]] = field(default_factory=dict)  # name -> (version, db)
    _index: dict[str, list[tuple[FileEntry, int]]] | None = None
    _decoded: dict[tuple[int, str], ElfInfo | str] = field(default_factory=dict)

    @classmethod
    def from_layers(
        cls, layers: Iterable[tuple[Sequence[FileEntry], Sequence[FileResult]]]
    ) -> ImageFiles:
        """Apply each layer's entries in order and keep its results; the packages are those
        of package databases still in place in the final filesystem."""
        files = cls(FileSystemView())
        for index, (entries, results) in enumerate(layers):
            files.view.apply_layer(index, entries)
            for result in results:
                files.results[(index, result.path)] = result
        for (layer, path), result in files.results.items():
            if result.packages and files.view.layer_of(path) == layer:
                for pkg in result.packages:
                    files.packages.setdefault(pkg.name, (pkg.version, result.detector))
        return files

    def _fact(self, path: str, kind: str) -> tuple[int, str, str] | None:
        resolution = self.view.resolve(path)
        if resolution.entry is None or resolution.entry.kind is not EntryKind.FILE:
            return None
        result = self.results.get((resolution.layer, resolution.path))
        if result is None:
            return None
        for key, value in result.facts:
            if key == kind:
                return resolution.layer, resolution.path, value
        return None

    def _decode(self, layer: int, path: str, value: str) -> ElfInfo | str:
        key = (layer, path)
        if key not in self._decoded:
            data = json.loads(value)
            self._decoded[key] = (
                str(data["malformed"]) if "malformed" in data else elf_from_dict(data)
            )
        return self._decoded[key]

    def elf(self, path: str) -> tuple[str, ElfInfo | str] | None:
        """(real path, info) of the ELF at `path` after symlinks; info is an error text if bad."""
        fact = self._fact(path, ELF_FACT)
        if fact is None:
            return None
        return fact[1], self._decode(*fact)

    def go(self, path: str) -> dict[str, str] | None:
        """The Go version and build settings of the Go program at `path` (None: not Go)."""
        fact = self._fact(path, GO_FACT)
        if fact is None:
            return None
        data = json.loads(fact[2])
        return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else None

    def text(self, path: str) -> str | None:
        fact = self._fact(path, TEXT_FACT)
        return fact[2] if fact else None

    def ld_cache(self) -> tuple[CacheEntry, ...] | None:
        fact = self._fact("/etc/ld.so.cache", LDCACHE_FACT)
        if fact is None:
            return None
        return tuple(CacheEntry(n, p, int(f)) for n, p, f in json.loads(fact[2]))

    def children(self, directory: str) -> list[tuple[FileEntry, int]]:
        """The entries directly inside the real directory `directory` (no symlinks followed)."""
        if self._index is None:
            self._index = {}
            for entry, layer in self.view.walk():
                parent = entry.path.rpartition("/")[0] or "/"
                self._index.setdefault(parent, []).append((entry, layer))
        return self._index.get(directory.rstrip("/") or "/", [])

    def elves(self) -> Iterator[tuple[str, int, ElfInfo | str]]:
        """Every ELF regular file of the final filesystem: (path, layer, info or error text)."""
        for entry, layer in self.view.walk():
            if entry.kind is not EntryKind.FILE:
                continue
            result = self.results.get((layer, entry.path))
            if result is None:
                continue
            for key, value in result.facts:
                if key == ELF_FACT:
                    yield entry.path, layer, self._decode(layer, entry.path, value)

    def list_dir(self, directory: str) -> list[tuple[FileEntry, int]]:
        """The entries inside `directory` after symlinks; [] when it is not a directory."""
        real = self.view.resolve(directory)
        if real.entry is None or real.entry.kind is not EntryKind.DIR:
            return []
        return self.children(real.path)

    def soname(self, path: str) -> str:
        """The DT_SONAME of the ELF at `path`; "" when it has none or is no (valid) ELF."""
        found = self.elf(path)
        return found[1].soname if found and isinstance(found[1], ElfInfo) else ""


# --- the ELF fact: ElfInfo as compact JSON (the form cached per layer and per file) -----------


def elf_to_dict(info: ElfInfo) -> dict[str, Any]:
    """ElfInfo as compact JSON data (the form cached per layer)."""
    imports = [
        [s.name, int(s.weak), s.version, int(s.function)] for s in info.symbols if not s.defined
    ]
    exports = [s.name for s in info.symbols if s.defined]
    return {
        "b": info.bits,
        "le": info.little_endian,
        "t": info.type,
        "m": info.machine,
        "interp": info.interpreter,
        "dyn": info.has_dynamic,
        "needed": list(info.needed),
        "soname": info.soname,
        "rpath": list(info.rpath),
        "runpath": list(info.runpath),
        "flags": info.flags,
        "flags_1": info.flags_1,
        "vneed": [
            [n.file, [[v.name, int(v.weak)] for v in n.versions]] for n in info.version_needs
        ],
        "vdef": list(info.version_defs),
        "stack": info.stack_size,
        "imports": imports,
        "exports": exports,
        "relocs": [[name, int(copy)] for name, copy in info.relocations],
    }


def elf_from_dict(data: dict[str, Any]) -> ElfInfo:
    """The ElfInfo `elf_to_dict` wrote (the data comes from basewatch's own caches)."""
    symbols = [Symbol(n, False, bool(w), v, bool(f)) for n, w, v, f in data["imports"]]
    symbols += [Symbol(n, True) for n in data["exports"]]
    return ElfInfo(
        bits=int(data["b"]),
        little_endian=bool(data["le"]),
        type=int(data["t"]),
        machine=int(data["m"]),
        interpreter=str(data["interp"]),
        has_dynamic=bool(data["dyn"]),
        needed=tuple(data["needed"]),
        soname=str(data["soname"]),
        rpath=tuple(data["rpath"]),
        runpath=tuple(data["runpath"]),
        flags=int(data["flags"]),
        flags_1=int(data["flags_1"]),
        version_needs=tuple(
            VersionNeed(f, tuple(VersionRef(n, bool(w)) for n, w in refs))
            for f, refs in data["vneed"]
        ),
        version_defs=tuple(data["vdef"]),
        stack_size=int(data["stack"]),
        symbols=tuple(symbols),
        relocations=tuple((str(n), bool(c)) for n, c in data.get("relocs", ())),
    )
