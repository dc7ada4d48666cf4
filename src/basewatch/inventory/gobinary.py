"""Go modules compiled into ELF executables, read from the build info the Go linker embeds.

The layout is the one `debug/buildinfo` reads. A 32-byte header, 16-byte aligned, sits at the
start of the `.go.buildinfo` section (else of the first writable, non-executable PT_LOAD
segment): the 14-byte magic, the pointer size, a flags byte, then either (flags & 2, Go >= 1.18)
two varint-prefixed strings right after the header, or (older) two pointers to Go string
headers that must be resolved through the PT_LOAD segments. The strings are the Go version
("go1.22.5") and the module info (`path`, `mod`, `dep`, `=>` and `build` lines between two
16-byte sentinels).

The binary is only ever read: small files in memory, larger ones through `ctx.spooled_file`,
then by seeking, with every length bounded. When the header is not where Go looks for it, the
writable segments are scanned for it in chunks.
"""

from __future__ import annotations

import io
import re
import struct
from dataclasses import dataclass
from typing import TYPE_CHECKING, BinaryIO, ClassVar, cast

from basewatch.elf.layout import PF_W, PF_X, PT_LOAD, ElfLayout
from basewatch.errors import MalformedElf, PackageDatabaseError
from basewatch.inventory.detector import AnalysisContext, FileResult
from basewatch.models import Package, PackageType, make_metadata

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

__all__ = [
    "GoBinaryDetector",
    "GoBuildInfo",
    "GoModule",
    "parse_modinfo",
    "read_raw_build_info",
    "stdlib_version",
]

BUILDINFO_MAGIC = b"\xff Go buildinf:"
_HEADER_SIZE = 32
_ALIGN = 16
_FLAG_INLINE = 2
SEARCH_WINDOW = 64 * 1024  # what debug/buildinfo reads from the data start
MAX_BINARY_BYTES = 2 << 30
IN_MEMORY_BYTES = 8 << 20
MAX_VERSION_BYTES = 1024
MAX_MODINFO_BYTES = 16 << 20
MAX_SCAN_BYTES = 512 << 20
_SCAN_CHUNK = 1 << 20
_MIN_ELF_SIZE = 52  # an ELF32 header

_SKIP_PREFIXES = (
    "/proc/",
    "/sys/",
    "/dev/",
    "/etc/",
    "/usr/include/",
    "/usr/share/doc/",
    "/usr/share/man/",
    "/usr/share/info/",
    "/usr/share/locale/",
    "/var/lib/dpkg/info/",
)
_SKIP_SUFFIXES = (
    ".sh",
    ".bash",
    ".py",
    ".pyc",
    ".pl",
    ".pm",
    ".rb",
    ".js",
    ".mjs",
    ".cjs",
    ".ts",
    ".php",
    ".lua",
    ".txt",
    ".md",
    ".json",
    ".xml",
    ".html",
    ".yaml",
    ".yml",
    ".conf",
    ".cfg",
    ".ini",
    ".h",
    ".c",
    ".java",
    ".jar",
    ".class",
    ".png",
    ".svg",
)

_GO_RELEASE = re.compile(r"go(\d+)\.(\d+)(?:\.(\d+))?(?:(rc|beta)(\d+))?")


@dataclass(frozen=True, slots=True)
class GoModule:
    """One `mod`, `dep` or `=>` line of the module info."""

    path: str
    version: str
    sum: str = ""
    replace: GoModule | None = None


@dataclass(frozen=True, slots=True)
class GoBuildInfo:
    """The decoded build info: what `go version -m` prints."""

    go_version: str
    path: str = ""
    main: GoModule | None = None
    deps: tuple[GoModule, ...] = ()
    settings: tuple[tuple[str, str], ...] = ()

    def setting(self, key: str) -> str:
        """The value of build setting `key` ("" when absent)."""
        for k, v in self.settings:
            if k == key:
                return v
        return ""


def stdlib_version(go_version: str) -> str:
    """The Go toolchain version as a module version: "go1.22.5 X:foo" -> "v1.22.5" ("" if none).

    Release candidates follow Go's own mapping ("go1.21rc2" -> "v1.21.0-rc.2").
    """
    first = go_version.split(" ", 1)[0]
    match = _GO_RELEASE.fullmatch(first)
    if not match:
        return ""
    major, minor, patch, pre, pre_n = match.groups()
    version = f"v{major}.{minor}.{patch or 0}"
    if pre:
        version += f"-{pre}.{pre_n}"
    return version


# --- module info ------------------------------------------------------------------------------


def parse_modinfo(go_version: str, modinfo: str) -> tuple[GoBuildInfo, list[str]]:
    """Parse the module info text (sentinels already stripped) the way `debug.ParseBuildInfo` does.

    Lenient: a malformed line is skipped and reported in the returned warnings.
    """
    warnings: list[str] = []
    path = ""
    main: GoModule | None = None
    deps: list[GoModule] = []
    settings: list[tuple[str, str]] = []
    # Which module the next `=>` line replaces: ("main", -1) or ("dep", index).
    last: int | None = None
    for lineno, line in enumerate(modinfo.split("\n"), start=1):
        if not line:
            continue
        kind, _, rest = line.partition("\t")
        if kind == "path":
            path = rest
            last = None
        elif kind in ("mod", "dep"):
            cols = rest.split("\t")
            if len(cols) not in (2, 3) or not cols[0]:
                warnings.append(f"module info line {lineno}: {kind} line with {len(cols)} columns")
                last = None
                continue
            module = GoModule(cols[0], cols[1], cols[2] if len(cols) == 3 else "")
            if kind == "mod":
                main = module
                last = None
            else:
                deps.append(module)
                last = len(deps) - 1
        elif kind == "=>":
            cols = rest.split("\t")
            if len(cols) != 3 or not cols[0]:
                warnings.append(f"module info line {lineno}: replacement with {len(cols)} columns")
            elif last is None:
                warnings.append(f"module info line {lineno}: replacement with no module before it")
            else:
                old = deps[last]
                deps[last] = GoModule(
                    old.path, old.version, old.sum, GoModule(cols[0], cols[1], cols[2])
                )
            last = None
        elif kind == "build":
            last = None
            try:
                settings.append(_parse_setting(rest))
            except ValueError as exc:
                warnings.append(f"module info line {lineno}: {exc}")
        # Other line kinds are ignored, as newer toolchains may add some.
    info = GoBuildInfo(go_version, path, main, tuple(deps), tuple(settings))
    return info, warnings


def _parse_setting(kv: str) -> tuple[str, str]:
    if not kv:
        raise ValueError("build line missing '='")
    if kv[0] in '`"':
        raw_key = _quoted_prefix(kv)
        if raw_key is None or kv[len(raw_key) : len(raw_key) + 1] != "=":
            raise ValueError("build line with a bad quoted key")
        key = _go_unquote(raw_key)
        raw_value = kv[len(raw_key) + 1 :]
    else:
        key, sep, raw_value = kv.partition("=")
        if not sep or not key:
            raise ValueError("build line missing key or '='")
    value = _go_unquote(raw_value) if raw_value[:1] in ("`", '"') else raw_value
    return key, value


def _quoted_prefix(s: str) -> str | None:
    quote = s[0]
    i = 1
    while i < len(s):
        c = s[i]
        if c == quote:
            return s[: i + 1]
        if c == "\\" and quote == '"':
            i += 1
        i += 1
    return None


_ESCAPES = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v"}


def _go_unquote(s: str) -> str:
    """Undo Go's `strconv.Quote` (or a raw back-quoted string)."""
    if len(s) < 2 or s[0] != s[-1] or s[0] not in '`"':
        raise ValueError(f"bad quoted string {s[:40]!r}")
    body = s[1:-1]
    if s[0] == "`":
        return body
    out = bytearray()
    i = 0
    while i < len(body):
        c = body[i]
        if c != "\\":
            out += c.encode("utf-8", errors="surrogateescape")
            i += 1
            continue
        if i + 1 >= len(body):
            raise ValueError("bad escape at end of quoted string")
        e = body[i + 1]
        i += 2
        if e in _ESCAPES:
            out += _ESCAPES[e].encode()
        elif e in "\\'\"":
            out += e.encode()
        elif e in "xuU":
            width = {"x": 2, "u": 4, "U": 8}[e]
            digits = body[i : i + width]
            if len(digits) != width or not all(d in "0123456789abcdefABCDEF" for d in digits):
                raise ValueError(f"bad \\{e} escape in quoted string")
            code = int(digits, 16)
            i += width
            if e == "x":
                out.append(code)
            elif code > 0x10FFFF:
                raise ValueError("bad code point in quoted string")
            else:
                out += chr(code).encode("utf-8", errors="surrogatepass")
        elif e in "01234567":
            digits = body[i - 1 : i + 2]
            if len(digits) != 3 or not all(d in "01234567" for d in digits):
                raise ValueError("bad octal escape in quoted string")
            out.append(int(digits, 8) & 0xFF)
            i += 2
        else:
            raise ValueError(f"unknown escape \\{e} in quoted string")
    return out.decode("utf-8", errors="replace")


# --- ELF --------------------------------------------------------------------------------------


def _data_start(elf: ElfLayout) -> int | None:
    """Where `debug/buildinfo` starts looking: `.go.buildinfo`, else the first RW segment."""
    if ".go.buildinfo" in elf.sections:
        return elf.sections[".go.buildinfo"][0]
    for seg in elf.segments:
        if seg.type == PT_LOAD and seg.flags & (PF_X | PF_W) == PF_W:
            return seg.vaddr
    return None


def _open_elf(f: BinaryIO) -> ElfLayout:
    try:
        return ElfLayout(f)
    except MalformedElf as exc:  # a corrupt binary is a partial result, like a corrupt database
        raise PackageDatabaseError(str(exc)) from exc


def _find_aligned(data: bytes) -> int:
    """Offset of the first 16-byte aligned magic with a whole header after it, else -1."""
    start = 0
    while True:
        i = data.find(BUILDINFO_MAGIC, start)
        if i < 0 or len(data) - i < _HEADER_SIZE:
            return -1
        if i % _ALIGN == 0:
            return i
        start = (i + _ALIGN - 1) & ~(_ALIGN - 1)


def _uvarint(data: bytes) -> tuple[int, int]:
    value = shift = 0
    for i, byte in enumerate(data[:10]):
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, i + 1
        shift += 7
    raise PackageDatabaseError("Go build info: bad varint string length")


def _decode_header(elf: ElfLayout, addr: int) -> tuple[str, str]:
    """Decode the build info header at virtual address `addr` into (go version, modinfo)."""
    header = elf.read_data(addr, _HEADER_SIZE)
    if len(header) < _HEADER_SIZE or not header.startswith(BUILDINFO_MAGIC):
        raise PackageDatabaseError("Go build info header is truncated")
    ptr_size, flags = header[14], header[15]
    if flags & _FLAG_INLINE:
        version, next_addr = _inline_string(elf, addr + _HEADER_SIZE, MAX_VERSION_BYTES, "version")
        modinfo, _ = _inline_string(elf, next_addr, MAX_MODINFO_BYTES, "module info")
    else:
        if ptr_size not in (4, 8):
            raise PackageDatabaseError(f"Go build info: pointer size {ptr_size} is not 4 or 8")
        fmt = ("<" if flags == 0 else ">") + ("I" if ptr_size == 4 else "Q")
        (version_ptr,) = struct.unpack_from(fmt, header, 16)
        (modinfo_ptr,) = struct.unpack_from(fmt, header, 16 + ptr_size)
        version = _pointed_string(elf, version_ptr, fmt, ptr_size, MAX_VERSION_BYTES, "version")
        modinfo = _pointed_string(elf, modinfo_ptr, fmt, ptr_size, MAX_MODINFO_BYTES, "modinfo")
    if not version:
        raise PackageDatabaseError("Go build info has an empty Go version")
    # Strip the 16-byte sentinels around the module info, as debug/buildinfo does.
    if len(modinfo) >= 33 and modinfo[-17:-16] == b"\n":
        text = modinfo[16:-16].decode("utf-8", errors="replace")
    else:
        text = ""
    return version.decode("utf-8", errors="replace"), text


def _inline_string(elf: ElfLayout, addr: int, limit: int, what: str) -> tuple[bytes, int]:
    length, n = _uvarint(elf.read_data(addr, 10))
    if length > limit:
        raise PackageDatabaseError(
            f"Go build info: {what} length {length} is over the {limit}-byte limit"
        )
    data = elf.read_data(addr + n, length)
    if len(data) < length:
        raise PackageDatabaseError(
            f"Go build info: {what} length {length} runs past the end of its segment"
        )
    return data, addr + n + length


def _pointed_string(
    elf: ElfLayout, ptr: int, fmt: str, ptr_size: int, limit: int, what: str
) -> bytes:
    header = elf.read_data(ptr, 2 * ptr_size)
    if len(header) < 2 * ptr_size:
        raise PackageDatabaseError(f"Go build info: {what} pointer {ptr:#x} is outside the file")
    (data_ptr,) = struct.unpack_from(fmt, header, 0)
    (length,) = struct.unpack_from(fmt, header, ptr_size)
    if length > limit:
        raise PackageDatabaseError(
            f"Go build info: {what} length {length} is over the {limit}-byte limit"
        )
    data = elf.read_data(data_ptr, length)
    if len(data) < length:
        raise PackageDatabaseError(f"Go build info: {what} string at {data_ptr:#x} is truncated")
    return data


def read_raw_build_info(f: BinaryIO) -> tuple[str, str] | None:
    """(Go version, module info) of the ELF file `f` (seekable), or None when it is no Go binary.

    Raises `PackageDatabaseError` when the file is a corrupt ELF or its build info is malformed.
    """
    elf = _open_elf(f)
    start = _data_start(elf)
    if start is not None:
        window = elf.read_data(start, SEARCH_WINDOW)
        i = _find_aligned(window)
        if i >= 0:
            return _decode_header(elf, start + i)
    return _scan_writable(elf)


def _scan_writable(elf: ElfLayout) -> tuple[str, str] | None:
    """Look for an aligned header anywhere in the writable segments, a chunk at a time."""
    budget = MAX_SCAN_BYTES
    for offset, size, vaddr in elf.writable_ranges():
        # Start at the first 16-aligned address; chunks are multiples of 16 so they stay aligned.
        pos = -vaddr % _ALIGN
        while pos < size and budget > 0:
            chunk = elf.read_at(offset + pos, min(_SCAN_CHUNK + _HEADER_SIZE, size - pos))
            if not chunk:
                break
            budget -= len(chunk)
            i = _find_aligned(chunk)
            if i >= 0:
                return _decode_header(elf, vaddr + pos + i)
            pos += _SCAN_CHUNK
    return None


# --- detector ---------------------------------------------------------------------------------


class _Prefixed(io.RawIOBase):
    """`head` followed by at most `limit` bytes of `rest`: the stream once its magic was read."""

    def __init__(self, head: bytes, rest: BinaryIO, limit: int) -> None:
        self._head = head
        self._rest = rest
        self._left = limit

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: WriteableBuffer) -> int:
        view = memoryview(buffer).cast("B")
        if self._head:
            n = min(len(view), len(self._head))
            view[:n] = self._head[:n]
            self._head = self._head[n:]
            return n
        if self._left <= 0:
            return 0
        data = self._rest.read(min(len(view), self._left))
        self._left -= len(data)
        view[: len(data)] = data
        return len(data)


class GoBinaryDetector:
    """Go modules, their versions and the Go toolchain of every Go ELF executable."""

    name: ClassVar[str] = "go-binary"
    version: ClassVar[int] = 1

    def wants(self, path: str, size: int, mode: int) -> bool:
        return (
            bool(mode & 0o111)
            and size >= _MIN_ELF_SIZE
            and not path.startswith(_SKIP_PREFIXES)
            and not path.endswith(_SKIP_SUFFIXES)
        )

    def analyze(
        self, path: str, stream: BinaryIO, size: int, ctx: AnalysisContext
    ) -> FileResult | None:
        head = stream.read(64)
        if not head.startswith(b"\x7fELF"):
            return None
        if size > MAX_BINARY_BYTES:
            return self._warn(
                path, f"ELF file of {size} bytes is over the {MAX_BINARY_BYTES} limit"
            )
        if stream.seekable():  # a file, or a member of an uncompressed tar: read what is needed
            return self._analyze_seekable(path, stream)
        if size <= IN_MEMORY_BYTES:
            data = head + stream.read(IN_MEMORY_BYTES - len(head))
            return self._analyze_seekable(path, io.BytesIO(data))
        rest = cast(BinaryIO, io.BufferedReader(_Prefixed(head, stream, MAX_BINARY_BYTES)))
        with ctx.spooled_file(rest, suffix=".elf") as tmp, tmp.open("rb") as f:
            return self._analyze_seekable(path, f)

    def _analyze_seekable(self, path: str, f: BinaryIO) -> FileResult | None:
        try:
            raw = read_raw_build_info(f)
        except PackageDatabaseError as exc:
            return self._warn(path, str(exc))
        if raw is None:
            return None
        info, warnings = parse_modinfo(*raw)
        return FileResult(
            path=path,
            detector=self.name,
            packages=build_packages(info, path),
            warnings=tuple(warnings),
        )

    def _warn(self, path: str, message: str) -> FileResult:
        return FileResult(path=path, detector=self.name, warnings=(message,))


def build_packages(info: GoBuildInfo, path: str) -> tuple[Package, ...]:
    """One package for the main module, one per dependency, and one for `stdlib`.

    A dependency replaced by another module is reported as the replacement (what was compiled
    in); one replaced by a local directory keeps its path, with version "(devel)".
    """
    main_path = info.main.path if info.main else ""
    common = {
        "go_version": info.go_version,
        "main_module": main_path,
        "cgo": info.setting("CGO_ENABLED"),
        "goos": info.setting("GOOS"),
        "goarch": info.setting("GOARCH"),
    }

    def package(name: str, version: str, **extra: str) -> Package:
        return Package(
            name=name,
            version=version,
            type=PackageType.GOLANG,
            evidence=(path,),
            metadata=make_metadata(**common, **extra),
        )

    packages: list[Package] = []
    if info.main:
        packages.append(
            package(
                info.main.path,
                info.main.version or "(devel)",
                build_path=info.path,
                vcs_revision=info.setting("vcs.revision"),
                vcs_time=info.setting("vcs.time"),
                vcs_modified=info.setting("vcs.modified"),
            )
        )
    for dep in info.deps:
        repl = dep.replace
        if repl is None:
            packages.append(package(dep.path, dep.version, sum=dep.sum))
        elif repl.version:
            original = f"{dep.path}@{dep.version}"
            packages.append(package(repl.path, repl.version, sum=repl.sum, replaces=original))
        else:
            packages.append(package(dep.path, "(devel)", replaced_by=repl.path))
    std = stdlib_version(info.go_version)
    if std:
        packages.append(package("stdlib", std))
    return tuple(packages)
