"""The loader model: what glibc's `ld.so` and musl's dynamic linker would do with each ELF.

Given the final filesystem of an image (`ImageFiles`), `LoaderModel.evaluate` follows the real
loaders rather than `ldd`. Where each loader looks for a library is in `glibc_search` and
`musl_search`, what ld.so.conf says in `ldconf`, how to fix each problem in `fixes`; this
module builds each program's load set and judges it:

- glibc: the interpreter from PT_INTERP, then a breadth-first load of DT_NEEDED. The first
  missing library stops the load. Then every `.gnu.version_r` requirement must be defined by
  the library that satisfied it, unless weak: each missing version is one line of the error.
  Undefined symbols nothing exports are errors when bound at load (BIND_NOW, data, a host
  dlopening with RTLD_NOW), else warnings (first call); for a shared library without a known
  host, only symbols bound to a version of its load set count.
- musl: every missing library and then every relocation whose non-weak symbol no loaded object
  exports is reported, in musl's relocation order (PLT first), COPY relocations included (musl
  binds everything at start-up and prints all of them before exiting).

Messages are those the loaders print. A missing interpreter makes the kernel return ENOENT for an
existing file: shells print "not found" (the message given here), `docker run` "no such file or
directory". Nothing from the image is ever executed.
"""

from __future__ import annotations

import posixpath
import re
from collections import Counter
from dataclasses import replace

from basewatch.arch import ARCHITECTURES, arch_info, for_elf, machine_name, parse_arch
from basewatch.compat import fixes
from basewatch.compat.facts import ImageFiles
from basewatch.compat.glibc_search import GlibcSearch
from basewatch.compat.ldconf import read_ld_so_conf, uncached_warnings
from basewatch.compat.loadset import (
    Loaded,
    Outcome,
    add_loaded,
    find_loaded,
    glibc_version_key,
)
from basewatch.compat.model import (
    Cause,
    FileKind,
    FileVerdict,
    LibcFamily,
    LibcInfo,
    Problem,
    Severity,
)
from basewatch.compat.musl_search import MuslSearch, is_reserved, references
from basewatch.elf.reader import ET_CORE, ET_DYN, ET_REL, ElfInfo

__all__ = ["LoaderModel", "classify"]

_PYTHON_EXT = re.compile(r"\.cpython-(\d)(\d+)[^/]*\.so$|\.abi3\.so$")
_PYTHON_DIRS = ("/site-packages/", "/dist-packages/", "/lib-dynload/")


def _builds_for(info: ElfInfo) -> LibcFamily:
    """The C library `info` was built for: by its interpreter's name, else by what it needs."""
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
        # glibc splits on ':' and ';', musl on ':' and newlines; an empty element means the
        # working directory to both, which a static model cannot know: it is left out.
        glibc_env = tuple(d for d in re.split(r"[:;]", library_path or "") if d)
        musl_env = tuple(d for d in re.split(r"[:\n]", library_path or "") if d)
        cache = files.ld_cache()
        arch = parse_arch(architecture)
        if arch is not None:
            self._target: tuple[int, int] | None = (arch_info(arch).machine, arch_info(arch).bits)
        else:
            self._target = self._majority_machine()
        self._glibc_search = GlibcSearch(files, glibc_env, cache, self._target)
        self._musl_search = MuslSearch(files, musl_env)
        self.libc = self._find_libc()
        if self._target is None and self.libc.path:
            found = files.elf(self.libc.path)
            if found is not None and isinstance(found[1], ElfInfo):
                self._target = (found[1].machine, found[1].bits)
                self._glibc_search = replace(self._glibc_search, target=self._target)
        self.warnings: list[str] = uncached_warnings(files, cache, read_ld_so_conf(files))
        self._hosts: dict[str, Outcome | None] = {}
        self._export_sets: dict[str, frozenset[str]] = {}

    def _majority_machine(self) -> tuple[int, int] | None:
        """(machine, bits) of most of the image's ELF files, when the config does not say."""
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
        found = self._glibc_search.find("libc.so.6", Loaded("", "/", probe), check_machine=False)
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
        if found is not None or any(self.files.view.exists(p) for p in self._glibc_loaders()):
            version, source = self._package_version("libc6", "glibc")
            return LibcInfo(LibcFamily.GLIBC, version, found.name if found else "", source)
        return LibcInfo(LibcFamily.NONE)

    def _glibc_loaders(self) -> tuple[str, ...]:
        """The PT_INTERP paths of glibc programs of the image's architecture (all, if unknown)."""
        arch = for_elf(*self._target) if self._target is not None else None
        if arch is not None:
            return arch.glibc_loaders
        return tuple(p for row in ARCHITECTURES for p in row.glibc_loaders)

    def _package_version(self, *names: str) -> tuple[str, str]:
        for name in names:
            if name in self.files.packages:
                version, db = self.files.packages[name]
                return version.split("-r")[0] if db == "apk" else version.split("-")[0], db
        return "", ""

    def _musl_loader(self) -> str:
        """/lib/ld-musl-ARCH.so.1: the image architecture's one first, else any there is."""
        arch = for_elf(*self._target) if self._target is not None else None
        names = [entry.path.rpartition("/")[2] for entry, _ in self.files.list_dir("/lib")]
        if arch is not None and arch.musl_loader in names:
            names.insert(0, arch.musl_loader)
        for name in names:
            if (
                name.startswith("ld-musl-")
                and name.endswith(".so.1")
                and self.files.elf(f"/lib/{name}") is not None
            ):
                return f"/lib/{name}"
        return ""

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
            go = self.files.go(path)
            if go is not None:
                problems = [fixes.go_fix(p, go) for p in problems]
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
                    fixes.architecture_fix(want),
                )
            ]
        if kind in (FileKind.STATIC, FileKind.STATIC_PIE):
            return []
        main = Loaded("", path, info)
        if kind is FileKind.DYNAMIC:
            interp = self.files.elf(info.interpreter)
            if interp is None or not isinstance(interp[1], ElfInfo):
                return [self._missing_interpreter(path, info, family)]
            loader = self._loader_family(info.interpreter, interp[0], interp[1])
            ldso = Loaded(info.interpreter, interp[0], interp[1])
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
                ldso = Loaded(self.libc.path, ldso_found[0], ldso_found[1])
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
                            fixes.libc_fix(family),
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
        fix = fixes.interpreter_fix(family, self.libc, info.interpreter)
        return Problem(
            Severity.ERROR, Cause.INTERPRETER_MISSING, f"{path}: not found", info.interpreter, fix
        )

    def _glibc(self, main: Loaded, ldso: Loaded | None, path: str, program: bool) -> Outcome:
        out = Outcome(loaded=[main])
        if ldso is not None:
            out.loaded.append(ldso)
        queue = [main]
        while queue:
            obj = queue.pop(0)
            for name in obj.info.needed:
                if find_loaded(out.loaded, name) is not None:
                    continue
                found = self._glibc_search.find(name, obj)
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
                            fixes.library_fix(name, LibcFamily.GLIBC, self.libc),
                        )
                    )
                    return out  # glibc stops at the first library it cannot map
                add_loaded(out, queue, obj, found, name)
        prefix = f"{path}: " if program else ""
        for obj in out.loaded:
            requester = obj.name or path
            for need in obj.info.version_needs:
                target = find_loaded(out.loaded, need.file)
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
                            fixes.version_fix(version.name, need.file, self.libc),
                        )
                    )
        if not any(p.severity is Severity.ERROR for p in out.problems):
            if program:
                out.problems += self._glibc_symbols(out, path)
            else:
                out.problems += self._glibc_library_symbols(out, path)
        return out

    def _glibc_symbols(self, out: Outcome, path: str) -> list[Problem]:
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
                        fixes.glibc_symbol_fix(bound_at_load=now),
                    )
                )
        return problems

    def _glibc_library_symbols(self, out: Outcome, path: str) -> list[Problem]:
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
                        fixes.glibc_symbol_fix(bound_at_load=now),
                    )
                )
        return problems

    # -- musl

    def _musl(self, main: Loaded, ldso: Loaded, path: str, program: bool) -> Outcome:
        out = Outcome(loaded=[main, ldso])
        queue = [main]
        while queue:
            obj = queue.pop(0)
            for name in obj.info.needed:
                if is_reserved(name):
                    ldso.names.add(name)
                    continue
                if find_loaded(out.loaded, name) is not None:
                    continue
                found = self._musl_search.find(name, obj, ldso)
                if found is None:
                    out.problems.append(
                        Problem(
                            Severity.ERROR,
                            Cause.LIBRARY_MISSING,
                            f"Error loading shared library {name}: No such file or directory "
                            f"(needed by {obj.name or path})",
                            name,
                            fixes.library_fix(name, LibcFamily.MUSL, self.libc),
                        )
                    )
                    continue
                add_loaded(out, queue, obj, found, name)
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
            for sym in references(obj):
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
                        fixes.musl_symbol_fix(sym.name, sym.version),
                    )
                )
        return out

    def _host_for(self, path: str, ldso: Loaded | None) -> tuple[Outcome, bool] | None:
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

    def _host_outcome(self, key: str, ldso: Loaded | None) -> Outcome | None:
        found = self.files.elf(key)
        if found is None or not isinstance(found[1], ElfInfo):
            return None
        host = Loaded("", found[0], found[1])
        if ldso is not None:
            return self._musl(host, ldso, key, program=True)
        interp = self.files.elf(found[1].interpreter) if found[1].interpreter else None
        if interp is None or not isinstance(interp[1], ElfInfo):
            return None
        host_ldso = Loaded(found[1].interpreter, interp[0], interp[1])
        host_ldso.names |= {found[1].interpreter, posixpath.basename(found[1].interpreter)}
        return self._glibc(host, host_ldso, key, program=True)

    def _exports(self, obj: Loaded) -> frozenset[str]:
        exports = self._export_sets.get(obj.real)
        if exports is None:
            exports = frozenset(s.name for s in obj.info.symbols if s.defined)
            self._export_sets[obj.real] = exports
        return exports


def _versioned_by_load_set(obj: Loaded, version: str, loaded: list[Loaded]) -> bool:
    """Whether `version` is one `obj` requires from a library of the load set that defines
    versions (the symbol is then bound to that library, not to whatever loads `obj`)."""
    if not version:
        return False
    for need in obj.info.version_needs:
        if any(v.name == version for v in need.versions):
            target = find_loaded(loaded, need.file)
            return target is not None and bool(target.info.version_defs)
    return False
