"""The loader model: what glibc's `ld.so` and musl's dynamic linker would do with each ELF.

Given the final filesystem of an image (`ImageFiles`), `LoaderModel.evaluate` follows the real
loaders rather than `ldd`:

- glibc: the interpreter from PT_INTERP, then a breadth-first load of DT_NEEDED, each name
  searched in DT_RPATH of the loading chain (only when the object has no DT_RUNPATH), the image
  config's LD_LIBRARY_PATH, DT_RUNPATH (with `$ORIGIN`), `/etc/ld.so.cache`, then the default
  directories (both skipped under DF_1_NODEFLIB); objects of the wrong class or machine are
  skipped as glibc does. The first missing library stops the load. Then every `.gnu.version_r`
  requirement must be defined by the library that satisfied it, unless weak: each missing
  version is one line of the error. Undefined symbols nothing exports are errors when bound at
  load (BIND_NOW, data, a host dlopening with RTLD_NOW), else warnings (first call); for a
  shared library without a known host, only symbols bound to a version of its load set count.
- musl: the names musl implements itself (`libc.so.6`, `libm.so.6`, `libpthread.so.0`...) map to
  libc; other names are searched in LD_LIBRARY_PATH, the RPATH/RUNPATH of the loading chain,
  then `/etc/ld-musl-ARCH.path` (else `/lib:/usr/local/lib:/usr/lib`). Every missing library
  and then every relocation whose non-weak symbol no loaded object exports is reported, in
  musl's relocation order (PLT first), COPY relocations included (musl binds everything at
  start-up and prints all of them before exiting).

Messages are those the loaders print. A missing interpreter makes the kernel return ENOENT for an
existing file: shells print "not found" (the message given here), `docker run` "no such file or
directory". Nothing from the image is ever executed.
"""

from __future__ import annotations

import json
import logging
import posixpath
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field

from basewatch.compat.detector import ELF_FACT, GO_FACT, LDCACHE_FACT, TEXT_FACT, elf_from_dict
from basewatch.compat.model import (
    Cause,
    FileKind,
    FileVerdict,
    LibcFamily,
    LibcInfo,
    Problem,
    Severity,
)
from basewatch.elf.ldcache import FLAG_REQUIRED_MASK, FLAG_TYPE_MASK, CacheEntry, cache_flags_for
from basewatch.elf.reader import ET_CORE, ET_DYN, ET_REL, ElfInfo, Symbol, machine_name
from basewatch.inventory.detector import FileResult
from basewatch.models import EntryKind
from basewatch.oci.filesystem import FileSystemView
from basewatch.oci.layer import FileEntry

log = logging.getLogger(__name__)

# Names musl resolves to itself (ldso/dynlink.c: "c", "pthread", "rt", "m", "dl", "util", "xnet").
_MUSL_RESERVED = ("c", "pthread", "rt", "m", "dl", "util", "xnet")
MUSL_DEFAULT_PATH = ("/lib", "/usr/local/lib", "/usr/lib")
_TRIPLETS = {
    (62, 64): "x86_64-linux-gnu",
    (183, 64): "aarch64-linux-gnu",
    (3, 32): "i386-linux-gnu",
    (40, 32): "arm-linux-gnueabihf",
    (21, 64): "powerpc64le-linux-gnu",
    (22, 64): "s390x-linux-gnu",
    (243, 64): "riscv64-linux-gnu",
}
# OCI architecture -> (e_machine, bits)
ARCHITECTURES = {
    "amd64": (62, 64),
    "arm64": (183, 64),
    "386": (3, 32),
    "arm": (40, 32),
    "ppc64le": (21, 64),
    "s390x": (22, 64),
    "riscv64": (243, 64),
}
_GLIBC_VERSION = re.compile(r"GLIBC_(\d+)\.(\d+)(?:\.(\d+))?")
_PYTHON_EXT = re.compile(r"\.cpython-(\d)(\d+)[^/]*\.so$|\.abi3\.so$")
_PYTHON_DIRS = ("/site-packages/", "/dist-packages/", "/lib-dynload/")


def glibc_version_key(name: str) -> tuple[int, ...] | None:
    """(2, 34) for "GLIBC_2.34"; None for other version names."""
    match = _GLIBC_VERSION.fullmatch(name)
    return tuple(int(g) for g in match.groups() if g is not None) if match else None


# --- the image's files ---------------------------------------------------------------------------


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


# --- the loaders ---------------------------------------------------------------------------------


@dataclass
class _Loaded:
    name: str  # the name the loader reports it by: the path it opened ("" for the main program)
    real: str  # the real path in the image
    info: ElfInfo
    parent: _Loaded | None = None
    names: set[str] = field(default_factory=set)  # what DT_NEEDED names match it


@dataclass
class _Outcome:
    problems: list[Problem] = field(default_factory=list)
    loaded: list[_Loaded] = field(default_factory=list)


def _builds_for(info: ElfInfo) -> LibcFamily:
    interp = posixpath.basename(info.interpreter)
    if interp.startswith("ld-musl-"):
        return LibcFamily.MUSL
    if interp.startswith(("ld-linux", "ld64.so", "ld.so", "ld-")):
        return LibcFamily.GLIBC
    if "libc.so.6" in info.needed or any(
        n.file == "libc.so.6" or glibc_version_key(v.name)
        for n in info.version_needs
        for v in n.versions
    ):
        return LibcFamily.GLIBC
    if any(n.startswith("libc.musl-") or n == "libc.so" for n in info.needed):
        return LibcFamily.MUSL
    return LibcFamily.NONE if not info.needed else LibcFamily.UNKNOWN


def classify(info: ElfInfo) -> FileKind | None:
    """Static, static-PIE, dynamic program or shared library; None for objects never loaded."""
    if info.type in (ET_REL, ET_CORE):
        return None
    if info.interpreter:
        return FileKind.DYNAMIC
    if info.type == ET_DYN:
        return FileKind.STATIC_PIE if info.is_pie else FileKind.SHARED_LIBRARY
    return FileKind.STATIC


class LoaderModel:
    """Predicts, for each ELF of an image, whether it loads and what the loader says if not."""

    def __init__(
        self, files: ImageFiles, architecture: str = "", library_path: str | None = None
    ) -> None:
        """`library_path` is LD_LIBRARY_PATH as the image's config sets it (None: unset)."""
        self.files = files
        self.warnings: list[str] = []
        # glibc splits on ':' and ';', musl on ':' and newlines; an empty element means the
        # working directory to both, which a static model cannot know: it is left out.
        self._glibc_env = tuple(d for d in re.split(r"[:;]", library_path or "") if d)
        self._musl_env = tuple(d for d in re.split(r"[:\n]", library_path or "") if d)
        self._cache = files.ld_cache()
        self._ldconf = self._read_ld_so_conf()
        self._target = ARCHITECTURES.get(architecture) or self._majority_machine()
        self.libc = self._find_libc()
        if self._target is None and self.libc.path:
            found = files.elf(self.libc.path)
            if found is not None and isinstance(found[1], ElfInfo):
                self._target = (found[1].machine, found[1].bits)
        self._check_cache_against_conf()
        self._hosts: dict[str, _Outcome | None] = {}
        self._export_sets: dict[str, frozenset[str]] = {}

    def _majority_machine(self) -> tuple[int, int] | None:
        """(machine, bits) of most of the image's ELF files, when the config does not say."""
        from collections import Counter

        counts = Counter(
            (info.machine, info.bits)
            for _, _, info in self.files.elves()
            if isinstance(info, ElfInfo) and info.type != ET_REL
        )
        return counts.most_common(1)[0][0] if counts else None

    # -- what the image provides

    def _find_libc(self) -> LibcInfo:
        probe = ElfInfo(bits=64, little_endian=True, type=ET_DYN, machine=0)
        if self._target is not None:
            probe = ElfInfo(bits=self._target[1], little_endian=True, type=ET_DYN, machine=0)
        found = self._glibc_search("libc.so.6", _Loaded("", "/", probe), check_machine=False)
        if found is not None:
            versions = [k for k in map(glibc_version_key, found.info.version_defs) if k]
            if versions:
                return LibcInfo(
                    LibcFamily.GLIBC,
                    ".".join(map(str, max(versions))),
                    found.name,
                    "version definitions",
                )
        musl = self._musl_loader()
        if musl:
            version, source = self._package_version("musl")
            return LibcInfo(LibcFamily.MUSL, version, musl, source)
        if found is not None or self.files.view.exists("/lib64/ld-linux-x86-64.so.2"):
            version, source = self._package_version("libc6", "glibc")
            return LibcInfo(LibcFamily.GLIBC, version, found.name if found else "", source)
        return LibcInfo(LibcFamily.NONE)

    def _package_version(self, *names: str) -> tuple[str, str]:
        for name in names:
            if name in self.files.packages:
                version, db = self.files.packages[name]
                return version.split("-r")[0] if db == "apk" else version.split("-")[0], db
        return "", ""

    def _musl_loader(self) -> str:
        for entry, _ in self._children("/lib"):
            name = entry.path.rpartition("/")[2]
            if (
                name.startswith("ld-musl-")
                and name.endswith(".so.1")
                and self.files.elf(f"/lib/{name}") is not None
            ):
                return f"/lib/{name}"
        return ""

    def _children(self, directory: str) -> list[tuple[FileEntry, int]]:
        real = self.files.view.resolve(directory)
        if real.entry is None or real.entry.kind is not EntryKind.DIR:
            return []
        return self.files.children(real.path)

    def _read_ld_so_conf(self) -> list[str]:
        dirs: list[str] = []
        self._conf_lines("/etc/ld.so.conf", dirs, depth=0)
        return dirs

    def _conf_lines(self, path: str, dirs: list[str], depth: int) -> None:
        text = self.files.text(path)
        if text is None or depth > 8:
            return
        for raw in text.splitlines():
            line = raw.split("#", 1)[0].strip()
            if not line:
                continue
            if line.startswith("include"):
                pattern = line.split(None, 1)[1] if len(line.split(None, 1)) == 2 else ""
                for included in self._glob(pattern):
                    self._conf_lines(included, dirs, depth + 1)
            elif line.startswith("hwcap"):
                continue
            else:
                for d in re.split(r"[:\s,]+", line):
                    if d and d not in dirs:
                        dirs.append(d.rstrip("/") or "/")

    def _glob(self, pattern: str) -> list[str]:
        import fnmatch

        directory, _, name = pattern.rpartition("/")
        return sorted(
            entry.path
            for entry, _ in self._children(directory or "/")
            if fnmatch.fnmatchcase(entry.path.rpartition("/")[2], name)
        )

    def _check_cache_against_conf(self) -> None:
        if self._cache is None or not self._ldconf:
            return
        cached = {e.name for e in self._cache}
        for directory in self._ldconf:
            missing = sorted(
                {
                    soname
                    for entry, _ in self._children(directory)
                    if entry.kind is EntryKind.FILE
                    and (soname := self._soname(entry.path))
                    and soname not in cached
                }
            )
            if missing:
                self.warnings.append(
                    f"{directory} (listed in /etc/ld.so.conf) holds {len(missing)} "
                    f"librar{'y' if len(missing) == 1 else 'ies'} that /etc/ld.so.cache lacks "
                    f"({', '.join(missing[:3])}{'...' if len(missing) > 3 else ''}): glibc "
                    "finds them there only after ldconfig runs in the image"
                )

    def _soname(self, path: str) -> str:
        found = self.files.elf(path)
        return found[1].soname if found and isinstance(found[1], ElfInfo) else ""

    # -- per file

    def evaluate(self, path: str, layer: int, info: ElfInfo | str) -> FileVerdict | None:
        """The prediction for the ELF at `path`; None for objects no loader maps (.o, core)."""
        if isinstance(info, str):
            problem = Problem(
                Severity.WARNING, Cause.MALFORMED, f"{path}: malformed ELF: {info}", path
            )
            return FileVerdict(
                path, layer, FileKind.STATIC, LibcFamily.UNKNOWN, "", problems=(problem,)
            )
        kind = classify(info)
        if kind is None:
            return None
        family = _builds_for(info)
        verdict = FileVerdict(
            path,
            layer,
            kind,
            family if kind not in (FileKind.STATIC, FileKind.STATIC_PIE) else LibcFamily.NONE,
            info.machine_name,
            info.interpreter,
            info.needed,
        )
        problems = self._problems(path, info, kind, family)
        if problems:
            from dataclasses import replace

            go = self.files.go(path)
            if go is not None:
                problems = [_go_fix(p, go) for p in problems]
            verdict = replace(verdict, problems=tuple(problems))
        return verdict

    def _problems(
        self, path: str, info: ElfInfo, kind: FileKind, family: LibcFamily
    ) -> list[Problem]:
        if self._target is not None and (info.machine, info.bits) != self._target:
            want = f"{machine_name(self._target[0])} ({self._target[1]}-bit)"
            got = f"{info.machine_name} ({info.bits}-bit)"
            if kind is FileKind.SHARED_LIBRARY:
                message = f"{path}: wrong ELF class or machine: built for {got}"
            else:
                message = f"exec {path}: exec format error"
            return [
                Problem(
                    Severity.ERROR if kind is not FileKind.SHARED_LIBRARY else Severity.WARNING,
                    Cause.WRONG_ARCHITECTURE,
                    message,
                    got,
                    f"use a build for {want}, the image's platform",
                )
            ]
        if kind in (FileKind.STATIC, FileKind.STATIC_PIE):
            return []
        main = _Loaded("", path, info)
        if kind is FileKind.DYNAMIC:
            interp = self.files.elf(info.interpreter)
            if interp is None or not isinstance(interp[1], ElfInfo):
                return [self._missing_interpreter(path, info, family)]
            loader = self._loader_family(info.interpreter, interp[0], interp[1])
            ldso = _Loaded(info.interpreter, interp[0], interp[1])
            ldso.names |= {info.interpreter, posixpath.basename(info.interpreter)}
            if interp[1].soname:
                ldso.names.add(interp[1].soname)
            if loader is LibcFamily.MUSL:
                return self._musl(main, ldso, path, program=True).problems
            return self._glibc(main, ldso, path, program=True).problems
        # A shared library: loaded by a program of the image's libc into its address space.
        match self.libc.family:
            case LibcFamily.MUSL:
                ldso_found = self.files.elf(self.libc.path)
                if ldso_found is None or not isinstance(ldso_found[1], ElfInfo):
                    return []
                ldso = _Loaded(self.libc.path, ldso_found[0], ldso_found[1])
                return self._musl(main, ldso, path, program=False).problems
            case LibcFamily.GLIBC:
                return self._glibc(main, None, path, program=False).problems
            case LibcFamily.NONE | LibcFamily.UNKNOWN:
                if family in (LibcFamily.GLIBC, LibcFamily.MUSL):
                    return [
                        Problem(
                            Severity.ERROR,
                            Cause.LIBRARY_MISSING,
                            "libc.so.6: cannot open shared object file: No such file or directory"
                            if family is LibcFamily.GLIBC
                            else f"{path}: the image has no musl libc",
                            "libc",
                            f"use a base image with {family.value}",
                        )
                    ]
                return []
        return []  # pragma: no cover - every family is handled above

    def _loader_family(self, requested: str, real: str, info: ElfInfo) -> LibcFamily:
        if any(glibc_version_key(d) for d in info.version_defs):
            return LibcFamily.GLIBC
        if "musl" in real or "musl" in requested or "musl" in info.soname:
            return LibcFamily.MUSL
        return LibcFamily.GLIBC

    def _missing_interpreter(self, path: str, info: ElfInfo, family: LibcFamily) -> Problem:
        image = self.libc
        if family is LibcFamily.GLIBC and image.family is LibcFamily.MUSL:
            fix = (
                "this is a glibc program on a musl (Alpine) image: use a glibc-based image, "
                "install gcompat (apk add gcompat), or build it statically (Go: CGO_ENABLED=0)"
            )
        elif family is LibcFamily.MUSL and image.family is LibcFamily.GLIBC:
            fix = (
                "this is a musl program on a glibc image: use a musl (Alpine) base, install "
                "musl, or build it statically"
            )
        elif image.family is LibcFamily.NONE:
            fix = "the image has no C library: build the program statically or use a base with one"
        else:
            fix = f"install the package that provides {info.interpreter}"
        return Problem(
            Severity.ERROR, Cause.INTERPRETER_MISSING, f"{path}: not found", info.interpreter, fix
        )

    # -- glibc

    def _default_dirs(self, info: ElfInfo) -> list[str]:
        triplet = _TRIPLETS.get((info.machine, info.bits)) if info.machine else None
        if triplet is None and self._target is not None:
            triplet = _TRIPLETS.get(self._target)
        dirs = [f"/lib/{triplet}", f"/usr/lib/{triplet}"] if triplet else []
        if info.bits == 64:
            dirs += ["/lib64", "/usr/lib64"]
        return [*dirs, "/lib", "/usr/lib"]

    def _candidate(self, path: str, want: ElfInfo, check_machine: bool) -> _Loaded | None:
        found = self.files.elf(path)
        if found is None or not isinstance(found[1], ElfInfo):
            return None
        info = found[1]
        if info.bits != want.bits or (check_machine and info.machine != want.machine):
            return None  # glibc skips objects of another class or machine and searches on
        return _Loaded(path, found[0], info)

    def _glibc_search(
        self, name: str, requester: _Loaded, check_machine: bool = True
    ) -> _Loaded | None:
        want = requester.info
        if "/" in name:
            return self._candidate(name, want, check_machine)
        dirs: list[str] = []
        if not want.runpath:
            chain: _Loaded | None = requester
            while chain is not None:
                if not chain.info.runpath:
                    dirs += _expand(chain.info.rpath, chain, want)
                chain = chain.parent
        if self._glibc_env:
            # after the RPATHs, before RUNPATH; $ORIGIN here is the main program's directory
            main = requester
            while main.parent is not None:
                main = main.parent
            dirs += _expand(self._glibc_env, main, want)
        dirs += _expand(want.runpath, requester, want)
        for directory in dirs:
            found = self._candidate(posixpath.join(directory, name), want, check_machine)
            if found is not None:
                return found
        if want.nodeflib:
            return None
        if self._cache is not None:
            required = cache_flags_for(want.machine, want.bits) if check_machine else None
            for entry in self._cache:
                if entry.name != name:
                    continue
                if required is not None and (
                    entry.flags & FLAG_TYPE_MASK != required & FLAG_TYPE_MASK
                    or entry.flags & FLAG_REQUIRED_MASK != required & FLAG_REQUIRED_MASK
                ):
                    continue
                found = self._candidate(entry.path, want, check_machine)
                if found is not None:
                    return found
        for directory in self._default_dirs(want):
            found = self._candidate(posixpath.join(directory, name), want, check_machine)
            if found is not None:
                return found
        return None

    def _glibc(self, main: _Loaded, ldso: _Loaded | None, path: str, program: bool) -> _Outcome:
        out = _Outcome(loaded=[main])
        if ldso is not None:
            out.loaded.append(ldso)
        queue = [main]
        while queue:
            obj = queue.pop(0)
            for name in obj.info.needed:
                if _find_loaded(out.loaded, name) is not None:
                    continue
                found = self._glibc_search(name, obj)
                if found is None:
                    text = f"{name}: cannot open shared object file: No such file or directory"
                    message = (
                        f"{path}: error while loading shared libraries: {text}" if program else text
                    )
                    out.problems.append(
                        Problem(
                            Severity.ERROR,
                            Cause.LIBRARY_MISSING,
                            message,
                            name,
                            _library_fix(name, LibcFamily.GLIBC, self.libc),
                        )
                    )
                    return out  # glibc stops at the first library it cannot map
                same = next((x for x in out.loaded if x.real == found.real), None)
                if same is not None:
                    same.names.add(name)
                    continue
                found.parent = obj
                found.names |= {name, found.info.soname}
                out.loaded.append(found)
                queue.append(found)
        prefix = f"{path}: " if program else ""
        for obj in out.loaded:
            requester = obj.name or path
            for need in obj.info.version_needs:
                target = _find_loaded(out.loaded, need.file)
                if target is None:
                    continue
                target_name = target.name or path
                if not target.info.version_defs:
                    out.problems.append(
                        Problem(
                            Severity.WARNING,
                            Cause.NO_VERSION_INFORMATION,
                            f"{prefix}{target_name}: no version information available "
                            f"(required by {requester})",
                            need.file,
                        )
                    )
                    continue
                for version in need.versions:
                    if version.weak or version.name in target.info.version_defs:
                        continue
                    out.problems.append(
                        Problem(
                            Severity.ERROR,
                            Cause.VERSION_MISSING,
                            f"{prefix}{target_name}: version `{version.name}' not found "
                            f"(required by {requester})",
                            version.name,
                            _version_fix(version.name, need.file, self.libc),
                        )
                    )
        if not any(p.severity is Severity.ERROR for p in out.problems):
            if program:
                out.problems += self._glibc_symbols(out, path)
            else:
                out.problems += self._glibc_library_symbols(out, path)
        return out

    def _glibc_symbols(self, out: _Outcome, path: str) -> list[Problem]:
        """Undefined symbols no object of a program's load set exports.

        glibc binds an object's symbols at start-up when it has BIND_NOW, and data references
        always (an error that stops the program), else a function at its first call (a
        warning: the program fails when it calls it).
        """
        exports = [self._exports(obj) for obj in out.loaded]
        problems = []
        for obj in out.loaded:
            for sym in obj.info.symbols:
                if sym.defined or sym.weak or any(sym.name in e for e in exports):
                    continue
                suffix = f", version {sym.version}" if sym.version else ""
                now = obj.info.bind_now or not sym.function
                problems.append(
                    Problem(
                        Severity.ERROR if now else Severity.WARNING,
                        Cause.SYMBOL_MISSING,
                        f"{path}: symbol lookup error: {obj.name or path}: undefined symbol: "
                        f"{sym.name}{suffix}",
                        sym.name,
                        "install the library version that exports it, or rebuild against this "
                        "image's libraries"
                        + ("" if now else " (it fails when first called: lazy binding)"),
                    )
                )
        return problems

    def _glibc_library_symbols(self, out: _Outcome, path: str) -> list[Problem]:
        """Undefined symbols of a shared library's load set that nothing would export.

        The library's symbols may come from whichever program loads it, so without a known
        host (python for extension modules, node for addons) only a symbol bound to a version
        of a library in its load set is certain to be missing. What glibc binds at load
        (BIND_NOW, data, a host that dlopens with RTLD_NOW) is an error, as dlerror() says it;
        a function bound lazily fails at its first call (a warning).
        """
        host = self._host_for(path, None)
        scope = list(out.loaded) + (host[0].loaded if host else [])
        exports = [self._exports(obj) for obj in scope]
        problems = []
        for obj in out.loaded:
            for sym in obj.info.symbols:
                if sym.defined or sym.weak or any(sym.name in e for e in exports):
                    continue
                if host is None and not _versioned_by_load_set(obj, sym.version, out.loaded):
                    continue
                suffix = f", version {sym.version}" if sym.version else ""
                now = obj.info.bind_now or not sym.function or (host is not None and host[1])
                where = f"{obj.name or path}: undefined symbol: {sym.name}{suffix}"
                problems.append(
                    Problem(
                        Severity.ERROR if now else Severity.WARNING,
                        Cause.SYMBOL_MISSING,
                        where if now else f"symbol lookup error: {where}",
                        sym.name,
                        "install the library version that exports it, or rebuild against this "
                        "image's libraries"
                        + ("" if now else " (it fails when first called: lazy binding)"),
                    )
                )
        return problems

    # -- musl

    def _musl_path(self, ldso: _Loaded) -> list[str]:
        arch = posixpath.basename(ldso.name)
        if arch.startswith("ld-musl-") and arch.endswith(".so.1"):
            text = self.files.text(f"/etc/{arch[: -len('.so.1')]}.path")
            if text is not None:
                return [d for d in re.split(r"[:\n]", text) if d.strip()]
        return list(MUSL_DEFAULT_PATH)

    def _musl_search(self, name: str, requester: _Loaded, ldso: _Loaded) -> _Loaded | None:
        want = requester.info
        if "/" in name:
            return self._candidate(name, want, check_machine=True)
        # LD_LIBRARY_PATH first (no $ORIGIN expansion in it), then the chain's RPATH/RUNPATH
        dirs = [posixpath.normpath("/" + d.strip()) for d in self._musl_env if d.strip()]
        chain: _Loaded | None = requester
        while chain is not None:
            dirs += _expand(chain.info.runpath or chain.info.rpath, chain, want)
            chain = chain.parent
        for directory in [*dirs, *self._musl_path(ldso)]:
            found = self._candidate(
                posixpath.join(directory.strip(), name), want, check_machine=True
            )
            if found is not None:
                return found
        return None

    def _musl(self, main: _Loaded, ldso: _Loaded, path: str, program: bool) -> _Outcome:
        out = _Outcome(loaded=[main, ldso])
        queue = [main]
        while queue:
            obj = queue.pop(0)
            for name in obj.info.needed:
                if _musl_reserved(name):
                    ldso.names.add(name)
                    continue
                if _find_loaded(out.loaded, name) is not None:
                    continue
                found = self._musl_search(name, obj, ldso)
                if found is None:
                    out.problems.append(
                        Problem(
                            Severity.ERROR,
                            Cause.LIBRARY_MISSING,
                            f"Error loading shared library {name}: No such file or directory "
                            f"(needed by {obj.name or path})",
                            name,
                            _library_fix(name, LibcFamily.MUSL, self.libc),
                        )
                    )
                    continue
                same = next((x for x in out.loaded if x.real == found.real), None)
                if same is not None:
                    same.names.add(name)
                    continue
                found.parent = obj
                found.names |= {name, found.info.soname}
                out.loaded.append(found)
                queue.append(found)
        scope = list(out.loaded)
        host_known = program
        if not program:
            host = self._host_for(path, ldso)
            if host is not None:
                host_known = True
                scope += host[0].loaded
        exports = [self._exports(obj) for obj in scope]
        # musl relocates the libraries first, then the program; each relocation whose symbol
        # nothing exports is a line (a COPY relocation looks past the program's own definition)
        for obj in [*out.loaded[2:], out.loaded[0]]:
            for sym in _musl_references(obj):
                if sym.defined:
                    if any(
                        sym.name in e for o, e in zip(scope, exports, strict=True) if o is not obj
                    ):
                        continue
                elif sym.weak or any(sym.name in e for e in exports):
                    continue
                if not host_known and not glibc_version_key(sym.version):
                    continue  # a plugin's symbols may come from a host program we do not know
                out.problems.append(
                    Problem(
                        Severity.ERROR,
                        Cause.SYMBOL_MISSING,
                        f"Error relocating {obj.name or path}: {sym.name}: symbol not found",
                        sym.name,
                        _symbol_fix(sym.name, sym.version),
                    )
                )
        return out

    def _host_for(self, path: str, ldso: _Loaded | None) -> tuple[_Outcome, bool] | None:
        """The load set of the program that loads `path` (python for extension modules, node
        for addons) and whether it binds at load (Python dlopens with RTLD_NOW, node lazily).

        With `ldso` (musl's loader) the host is loaded by musl's model, else by glibc's.
        """
        name = path.rpartition("/")[2]
        match = _PYTHON_EXT.search(name)
        candidates = []
        if match or any(d in path for d in _PYTHON_DIRS):
            if match and match.group(1):
                candidates.append(f"python{match.group(1)}.{match.group(2)}")
            candidates.append("python3")
            now = True
        elif name.endswith(".node"):
            candidates.append("node")
            now = False
        else:
            return None
        for exe in candidates:
            for directory in ("/usr/local/bin", "/usr/bin"):
                key = f"{directory}/{exe}"
                if key not in self._hosts:
                    self._hosts[key] = self._host_outcome(key, ldso)
                found = self._hosts[key]
                if found is not None:
                    return found, now
        return None

    def _host_outcome(self, key: str, ldso: _Loaded | None) -> _Outcome | None:
        found = self.files.elf(key)
        if found is None or not isinstance(found[1], ElfInfo):
            return None
        host = _Loaded("", found[0], found[1])
        if ldso is not None:
            return self._musl(host, ldso, key, program=True)
        interp = self.files.elf(found[1].interpreter) if found[1].interpreter else None
        if interp is None or not isinstance(interp[1], ElfInfo):
            return None
        host_ldso = _Loaded(found[1].interpreter, interp[0], interp[1])
        host_ldso.names |= {found[1].interpreter, posixpath.basename(found[1].interpreter)}
        return self._glibc(host, host_ldso, key, program=True)

    def _exports(self, obj: _Loaded) -> frozenset[str]:
        exports = self._export_sets.get(obj.real)
        if exports is None:
            exports = frozenset(s.name for s in obj.info.symbols if s.defined)
            self._export_sets[obj.real] = exports
        return exports


def _musl_references(obj: _Loaded) -> list[Symbol]:
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


def _musl_reserved(name: str) -> bool:
    if not name.startswith("lib"):
        return False
    rest = name[3:]
    return any(rest.startswith(r + ".") for r in _MUSL_RESERVED) or name.startswith("ld-musl-")


def _versioned_by_load_set(obj: _Loaded, version: str, loaded: list[_Loaded]) -> bool:
    """Whether `version` is one `obj` requires from a library of the load set that defines
    versions (the symbol is then bound to that library, not to whatever loads `obj`)."""
    if not version:
        return False
    for need in obj.info.version_needs:
        if any(v.name == version for v in need.versions):
            target = _find_loaded(loaded, need.file)
            return target is not None and bool(target.info.version_defs)
    return False


def _find_loaded(loaded: list[_Loaded], name: str) -> _Loaded | None:
    for obj in loaded:
        if name in obj.names or (obj.info.soname and obj.info.soname == name):
            return obj
    return None


def _expand(paths: Sequence[str], owner: _Loaded, want: ElfInfo) -> list[str]:
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


_LIBRARY_PACKAGES = {
    "libstdc++.so.6": ("libstdc++", "libstdc++6"),
    "libgcc_s.so.1": ("libgcc", "libgcc-s1"),
    "libz.so.1": ("zlib", "zlib1g"),
    "libssl.so.3": ("libssl3", "libssl3"),
    "libcrypto.so.3": ("libcrypto3", "libssl3"),
    "libgomp.so.1": ("libgomp", "libgomp1"),
    "libffi.so.8": ("libffi", "libffi8"),
}


def _library_fix(name: str, loader: LibcFamily, image: LibcInfo) -> str:
    apk, deb = _LIBRARY_PACKAGES.get(name, ("", ""))
    if loader is LibcFamily.MUSL and apk:
        return f"install {apk} (apk add {apk})"
    if loader is LibcFamily.GLIBC and deb:
        return f"install {deb} (apt-get install {deb})"
    if name.startswith("ld-linux") and image.family is LibcFamily.MUSL:
        return "a glibc library on musl: install gcompat, or use a musllinux/musl build"
    return f"install the package that provides {name}, or ship it with the application"


def _version_fix(version: str, library: str, image: LibcInfo) -> str:
    key = glibc_version_key(version)
    if key is not None:
        wanted = ".".join(map(str, key))
        have = f" (this image has glibc {image.version})" if image.version else ""
        return (
            f"use a base image with glibc >= {wanted}{have}, or build against an older glibc "
            "(an older build image, or manylinux wheels for that glibc)"
        )
    return f"install a newer {library} that defines {version}"


_LIBC_CAUSES = (
    Cause.INTERPRETER_MISSING,
    Cause.LIBRARY_MISSING,
    Cause.VERSION_MISSING,
    Cause.SYMBOL_MISSING,
)


def _go_fix(problem: Problem, go: dict[str, str]) -> Problem:
    """A Go program that needs the C library: the fix is a static build (its build info says
    how it was built)."""
    from dataclasses import replace

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


def _symbol_fix(name: str, version: str) -> str:
    if glibc_version_key(version) or (name.startswith("__") and name.endswith("_chk")):
        return (
            "a glibc build on musl: install gcompat, use a musl build (musllinux wheels, "
            "a build on Alpine), or build statically"
        )
    return "install the library that exports it, or rebuild against this image's libraries"
