"""A small ELF reader: what a dynamic loader looks at, read by seeking with every length bounded.

It reads the ELF header, the program headers, `PT_INTERP`, `PT_GNU_STACK` and the dynamic
segment (`PT_DYNAMIC`), then, through the addresses the dynamic segment gives, the dynamic string
table, the version needs (`.gnu.version_r`), the version definitions (`.gnu.version_d`) and,
on request, the dynamic symbols (sized by the SysV or GNU hash table) and the symbols the
relocation tables (`DT_JMPREL`, `DT_REL`, `DT_RELA`) refer to. Section headers are never
needed, so stripped and packed binaries read the same way the loader reads them. ELF32 and ELF64,
little- and big-endian.

Images are untrusted: every offset, count and size is checked against the file size and a fixed
ceiling, loops are bounded, and anything malformed raises `MalformedElf` (never another error).
"""

from __future__ import annotations

import io
import struct
from dataclasses import dataclass
from typing import BinaryIO

from basewatch.arch import (
    copy_relocation,
    machine_name,
)
from basewatch.errors import MalformedElf

ELF_MAGIC = b"\x7fELF"

ET_REL, ET_EXEC, ET_DYN, ET_CORE = 1, 2, 3, 4

PT_LOAD, PT_DYNAMIC, PT_INTERP = 1, 2, 3
PT_GNU_STACK = 0x6474E551

DT_NULL = 0
DT_NEEDED = 1
DT_PLTRELSZ = 2
DT_HASH = 4
DT_STRTAB = 5
DT_SYMTAB = 6
DT_RELA = 7
DT_RELASZ = 8
DT_RELAENT = 9
DT_STRSZ = 10
DT_SYMENT = 11
DT_SONAME = 14
DT_RPATH = 15
DT_REL = 17
DT_RELSZ = 18
DT_RELENT = 19
DT_PLTREL = 20
DT_JMPREL = 23
DT_BIND_NOW = 24
DT_RUNPATH = 29
DT_FLAGS = 30
DT_GNU_HASH = 0x6FFFFEF5
DT_VERSYM = 0x6FFFFFF0
DT_FLAGS_1 = 0x6FFFFFFB
DT_VERDEF = 0x6FFFFFFC
DT_VERDEFNUM = 0x6FFFFFFD
DT_VERNEED = 0x6FFFFFFE
DT_VERNEEDNUM = 0x6FFFFFFF

DF_BIND_NOW = 0x8
DF_1_NOW = 0x1
DF_1_NODEFLIB = 0x800
DF_1_PIE = 0x08000000

VER_FLG_BASE = 0x1
VER_FLG_WEAK = 0x2

STB_WEAK = 2
SHN_UNDEF = 0
STT_OBJECT, STT_COMMON, STT_TLS = 1, 5, 6

# Ceilings: far above anything a real binary has, low enough that a hostile file costs little.
MAX_PHNUM = 4096
MAX_DYNAMIC_BYTES = 1 << 20
MAX_STRTAB_BYTES = 16 << 20
MAX_INTERP_BYTES = 4096
MAX_VERSION_ENTRIES = 4096
MAX_SYMBOLS = 1 << 20


@dataclass(frozen=True, slots=True)
class VersionRef:
    """One version an object requires from a library (`GLIBC_2.34`), and whether it is weak."""

    name: str
    weak: bool = False


@dataclass(frozen=True, slots=True)
class VersionNeed:
    """The versions required from one `DT_NEEDED` library (one `.gnu.version_r` entry)."""

    file: str
    versions: tuple[VersionRef, ...]


@dataclass(frozen=True, slots=True)
class Symbol:
    """A dynamic symbol: undefined ones are imports, defined ones exports."""

    name: str
    defined: bool
    weak: bool = False
    version: str = ""  # the version it is bound to (imports) or defined in (exports), "" if none
    # A function (glibc binds calls to it lazily, through the PLT, unless BIND_NOW); False for
    # data and TLS, whose references are always bound when the object is loaded.
    function: bool = True


@dataclass(frozen=True, slots=True)
class ElfInfo:
    """What the loader uses from one ELF file."""

    bits: int  # 32 or 64
    little_endian: bool
    type: int  # ET_EXEC, ET_DYN...
    machine: int  # EM_X86_64...
    interpreter: str = ""  # PT_INTERP, "" when there is none
    has_dynamic: bool = False  # a PT_DYNAMIC segment
    needed: tuple[str, ...] = ()
    soname: str = ""
    rpath: tuple[str, ...] = ()  # DT_RPATH, split on ':'
    runpath: tuple[str, ...] = ()  # DT_RUNPATH, split on ':'
    flags: int = 0
    flags_1: int = 0
    version_needs: tuple[VersionNeed, ...] = ()
    version_defs: tuple[str, ...] = ()  # names of the versions defined (not the base one)
    stack_size: int = 0  # PT_GNU_STACK p_memsz (musl uses it as the main thread stack size)
    symbols: tuple[Symbol, ...] = ()  # only when parse_elf(..., symbols=True)
    # Symbol relocations as musl processes them (DT_JMPREL, then DT_REL, then DT_RELA): the
    # symbol's name and whether it is a COPY relocation; only with symbols=True.
    relocations: tuple[tuple[str, bool], ...] = ()

    @property
    def is_pie(self) -> bool:
        return bool(self.flags_1 & DF_1_PIE)

    @property
    def bind_now(self) -> bool:
        return bool(self.flags & DF_BIND_NOW or self.flags_1 & DF_1_NOW)

    @property
    def nodeflib(self) -> bool:
        return bool(self.flags_1 & DF_1_NODEFLIB)

    @property
    def machine_name(self) -> str:
        return machine_name(self.machine)


def is_elf(head: bytes) -> bool:
    return head.startswith(ELF_MAGIC)


@dataclass(frozen=True, slots=True)
class _Segment:
    type: int
    offset: int
    vaddr: int
    filesz: int
    memsz: int


class _Reader:
    def __init__(self, f: BinaryIO) -> None:
        self.f = f
        f.seek(0, io.SEEK_END)
        self.size = f.tell()
        head = self.read(0, 64)
        if len(head) < 52 or not head.startswith(ELF_MAGIC):
            raise MalformedElf("not an ELF file, or its header is truncated")
        elf_class, data = head[4], head[5]
        if elf_class not in (1, 2) or data not in (1, 2):
            raise MalformedElf(f"unknown ELF class {elf_class} or byte order {data}")
        self.is64 = elf_class == 2
        self.bo = "<" if data == 1 else ">"
        if self.is64 and len(head) < 64:
            raise MalformedElf("truncated ELF64 header")
        self.type, self.machine = struct.unpack_from(self.bo + "HH", head, 16)
        if self.is64:
            (phoff,) = struct.unpack_from(self.bo + "Q", head, 0x20)
            phentsize, phnum = struct.unpack_from(self.bo + "HH", head, 0x36)
        else:
            (phoff,) = struct.unpack_from(self.bo + "I", head, 0x1C)
            phentsize, phnum = struct.unpack_from(self.bo + "HH", head, 0x2A)
        self.segments = self._segments(phoff, phentsize, phnum)
        self.word = "Q" if self.is64 else "I"
        self.wsize = 8 if self.is64 else 4

    def read(self, offset: int, size: int) -> bytes:
        if offset < 0 or size <= 0 or offset >= self.size:
            return b""
        self.f.seek(offset)
        return self.f.read(min(size, self.size - offset))

    def exact(self, offset: int, size: int, what: str) -> bytes:
        data = self.read(offset, size)
        if len(data) != size:
            raise MalformedElf(f"{what} at offset {offset} lies beyond the end of the file")
        return data

    def _segments(self, phoff: int, entsize: int, num: int) -> tuple[_Segment, ...]:
        if num == 0:
            return ()
        minimum = 56 if self.is64 else 32
        if entsize < minimum or num > MAX_PHNUM:
            raise MalformedElf(f"bad program header table ({num} entries of {entsize} bytes)")
        table = self.exact(phoff, entsize * num, "the program header table")
        segments = []
        for i in range(num):
            base = i * entsize
            if self.is64:
                p_type, _, offset, vaddr, _, filesz, memsz = struct.unpack_from(
                    self.bo + "IIQQQQQ", table, base
                )
            else:
                p_type, offset, vaddr, _, filesz, memsz = struct.unpack_from(
                    self.bo + "IIIIII", table, base
                )
            segments.append(_Segment(p_type, offset, vaddr, filesz, memsz))
        return tuple(segments)

    def offset_of(self, addr: int) -> tuple[int, int]:
        """The file offset of virtual address `addr` and how many file bytes follow it there."""
        for seg in self.segments:
            if seg.type == PT_LOAD and seg.vaddr <= addr < seg.vaddr + seg.filesz:
                return seg.offset + (addr - seg.vaddr), seg.vaddr + seg.filesz - addr
        raise MalformedElf(f"address {addr:#x} is not in any loaded segment")


def _cstr(table: bytes, offset: int, what: str) -> str:
    if not 0 <= offset < len(table):
        raise MalformedElf(f"{what}: string offset {offset} is outside the string table")
    end = table.find(b"\0", offset)
    if end < 0:
        raise MalformedElf(f"{what}: unterminated string")
    return table[offset:end].decode("utf-8", errors="surrogateescape")


def parse_elf(f: BinaryIO, symbols: bool = False) -> ElfInfo:
    """Read the loader-relevant parts of the ELF in the seekable file `f`.

    Raises `MalformedElf` for anything inconsistent; never reads more than a few MiB.
    """
    try:
        return _parse(_Reader(f), symbols)
    except struct.error as exc:  # a short table slipped through: still the file's fault
        raise MalformedElf(f"truncated ELF structure ({exc})") from exc


def _parse(r: _Reader, want_symbols: bool) -> ElfInfo:
    interpreter = ""
    stack_size = 0
    dynamic: _Segment | None = None
    for seg in r.segments:
        if seg.type == PT_INTERP and not interpreter:
            raw = r.exact(seg.offset, min(seg.filesz, MAX_INTERP_BYTES), "PT_INTERP")
            interpreter = raw.split(b"\0", 1)[0].decode("utf-8", errors="surrogateescape")
            if not interpreter:
                raise MalformedElf("PT_INTERP names no interpreter")
        elif seg.type == PT_DYNAMIC and dynamic is None:
            dynamic = seg
        elif seg.type == PT_GNU_STACK:
            stack_size = seg.memsz
    base = ElfInfo(
        bits=64 if r.is64 else 32,
        little_endian=r.bo == "<",
        type=r.type,
        machine=r.machine,
        interpreter=interpreter,
        stack_size=stack_size,
    )
    if dynamic is None or dynamic.filesz == 0:
        return base
    entries = _dynamic_entries(r, dynamic)
    tags: dict[int, int] = {}
    needed_offsets: list[int] = []
    for tag, value in entries:
        if tag == DT_NEEDED:
            needed_offsets.append(value)
        else:
            tags.setdefault(tag, value)
    strtab = b""
    if DT_STRTAB in tags:
        offset, available = r.offset_of(tags[DT_STRTAB])
        size = min(tags.get(DT_STRSZ, available), available, MAX_STRTAB_BYTES)
        strtab = r.exact(offset, size, "the dynamic string table")
    elif needed_offsets or DT_SONAME in tags:
        raise MalformedElf("dynamic segment without DT_STRTAB")

    def string(key: int) -> str:
        return _cstr(strtab, tags[key], "dynamic entry") if key in tags else ""

    def path_list(key: int) -> tuple[str, ...]:
        text = string(key)
        return tuple(p for p in text.split(":") if p) if text else ()

    needs = _version_needs(r, tags, strtab) if DT_VERNEED in tags else ()
    defs = _version_defs(r, tags, strtab) if DT_VERDEF in tags else ()
    syms: tuple[Symbol, ...] = ()
    relocations: tuple[tuple[str, bool], ...] = ()
    if want_symbols and DT_SYMTAB in tags:
        syms, names = _symbols(r, tags, strtab, needs, defs)
        relocations = _relocations(r, tags, names)
    return ElfInfo(
        bits=base.bits,
        little_endian=base.little_endian,
        type=base.type,
        machine=base.machine,
        interpreter=interpreter,
        has_dynamic=True,
        needed=tuple(_cstr(strtab, o, "DT_NEEDED") for o in needed_offsets),
        soname=string(DT_SONAME),
        rpath=path_list(DT_RPATH),
        runpath=path_list(DT_RUNPATH),
        flags=tags.get(DT_FLAGS, 0),
        flags_1=tags.get(DT_FLAGS_1, 0),
        version_needs=tuple(n for n, _ in needs),
        version_defs=tuple(name for _, name, flags in defs if not flags & VER_FLG_BASE),
        stack_size=stack_size,
        symbols=syms,
        relocations=relocations,
    )


def _dynamic_entries(r: _Reader, seg: _Segment) -> list[tuple[int, int]]:
    entsize = 2 * r.wsize
    data = r.exact(seg.offset, min(seg.filesz, MAX_DYNAMIC_BYTES), "PT_DYNAMIC")
    fmt = r.bo + ("qQ" if r.is64 else "iI")
    entries = []
    for i in range(len(data) // entsize):
        tag, value = struct.unpack_from(fmt, data, i * entsize)
        if tag == DT_NULL:
            break
        entries.append((tag, value))
    return entries


# `.gnu.version_r`: Elf_Verneed {u16 version, u16 cnt, u32 file, u32 aux, u32 next} and
# Elf_Vernaux {u32 hash, u16 flags, u16 other, u32 name, u32 next}, the same in both classes.
def _version_needs(
    r: _Reader, tags: dict[int, int], strtab: bytes
) -> tuple[tuple[VersionNeed, dict[int, VersionRef]], ...]:
    offset, available = r.offset_of(tags[DT_VERNEED])
    region = r.read(offset, min(available, MAX_STRTAB_BYTES))
    count = min(tags.get(DT_VERNEEDNUM, MAX_VERSION_ENTRIES), MAX_VERSION_ENTRIES)
    needs = []
    pos, budget = 0, MAX_VERSION_ENTRIES
    for _ in range(count):
        if pos + 16 > len(region):
            raise MalformedElf("version need entry beyond the end of its segment")
        _, cnt, file_off, aux, nxt = struct.unpack_from(r.bo + "HHIII", region, pos)
        refs: list[VersionRef] = []
        by_index: dict[int, VersionRef] = {}
        apos = pos + aux
        for _ in range(cnt):
            budget -= 1
            if budget < 0 or apos + 16 > len(region):
                raise MalformedElf("version need auxiliary entry out of bounds")
            _, flags, other, name_off, anext = struct.unpack_from(r.bo + "IHHII", region, apos)
            ref = VersionRef(_cstr(strtab, name_off, "version need"), bool(flags & VER_FLG_WEAK))
            refs.append(ref)
            by_index[other & 0x7FFF] = ref
            if anext == 0:
                break
            apos += anext
        needs.append((VersionNeed(_cstr(strtab, file_off, "version need"), tuple(refs)), by_index))
        if nxt == 0:
            break
        pos += nxt
    return tuple(needs)


# `.gnu.version_d`: Elf_Verdef {u16 version, u16 flags, u16 ndx, u16 cnt, u32 hash, u32 aux,
# u32 next} then Elf_Verdaux {u32 name, u32 next}; the first auxiliary names the version.
def _version_defs(
    r: _Reader, tags: dict[int, int], strtab: bytes
) -> tuple[tuple[int, str, int], ...]:
    offset, available = r.offset_of(tags[DT_VERDEF])
    region = r.read(offset, min(available, MAX_STRTAB_BYTES))
    count = min(tags.get(DT_VERDEFNUM, MAX_VERSION_ENTRIES), MAX_VERSION_ENTRIES)
    defs = []
    pos = 0
    for _ in range(count):
        if pos + 20 > len(region):
            raise MalformedElf("version definition beyond the end of its segment")
        _, flags, ndx, cnt, _, aux, nxt = struct.unpack_from(r.bo + "HHHHIII", region, pos)
        if cnt:
            apos = pos + aux
            if apos + 8 > len(region):
                raise MalformedElf("version definition auxiliary entry out of bounds")
            (name_off,) = struct.unpack_from(r.bo + "I", region, apos)
            defs.append((ndx & 0x7FFF, _cstr(strtab, name_off, "version definition"), flags))
        if nxt == 0:
            break
        pos += nxt
    return tuple(defs)


def _symbol_count(r: _Reader, tags: dict[int, int]) -> int:
    if DT_HASH in tags:
        offset, _ = r.offset_of(tags[DT_HASH])
        (_, nchain) = struct.unpack(r.bo + "II", r.exact(offset, 8, "DT_HASH"))
        return int(nchain)
    if DT_GNU_HASH in tags:
        # No symbol count in the GNU hash table: it is one past the highest symbol any chain
        # reaches (the chain of the highest bucket ends with an odd value).
        offset, _ = r.offset_of(tags[DT_GNU_HASH])
        nbuckets, symoffset, bloom_size, _ = struct.unpack(
            r.bo + "IIII", r.exact(offset, 16, "DT_GNU_HASH")
        )
        if nbuckets > MAX_SYMBOLS or bloom_size > MAX_SYMBOLS:
            raise MalformedElf("GNU hash table too large")
        buckets_at = offset + 16 + bloom_size * r.wsize
        buckets = struct.unpack(
            f"{r.bo}{nbuckets}I", r.exact(buckets_at, 4 * nbuckets, "GNU hash buckets")
        )
        last = max(buckets, default=0)
        if last < symoffset:
            return int(symoffset)
        chains_at = buckets_at + 4 * nbuckets
        index = last
        while index - last < MAX_SYMBOLS:
            (value,) = struct.unpack(
                r.bo + "I", r.exact(chains_at + 4 * (index - symoffset), 4, "GNU hash chain")
            )
            index += 1
            if value & 1:
                return index
        raise MalformedElf("GNU hash chain does not end")
    return 0


def _symbols(
    r: _Reader,
    tags: dict[int, int],
    strtab: bytes,
    needs: tuple[tuple[VersionNeed, dict[int, VersionRef]], ...],
    defs: tuple[tuple[int, str, int], ...],
) -> tuple[tuple[Symbol, ...], dict[int, str]]:
    """The dynamic symbols, and the names of the symbol table's entries by index."""
    count = _symbol_count(r, tags)
    if count <= 1:
        return (), {}
    if count > MAX_SYMBOLS:
        raise MalformedElf(f"{count} dynamic symbols is more than this reader accepts")
    entsize = tags.get(DT_SYMENT, 24 if r.is64 else 16)
    if entsize < (24 if r.is64 else 16):
        raise MalformedElf(f"dynamic symbol entry size {entsize} is too small")
    offset, _ = r.offset_of(tags[DT_SYMTAB])
    table = r.exact(offset, entsize * count, "the dynamic symbol table")
    versym: tuple[int, ...] = ()
    if DT_VERSYM in tags:
        voff, _ = r.offset_of(tags[DT_VERSYM])
        versym = struct.unpack(f"{r.bo}{count}H", r.exact(voff, 2 * count, "DT_VERSYM"))
    version_names = {ndx: name for ndx, name, flags in defs if not flags & VER_FLG_BASE}
    for _, by_index in needs:
        version_names.update((k, v.name) for k, v in by_index.items())
    out = []
    names: dict[int, str] = {}
    for i in range(1, count):
        base = i * entsize
        if r.is64:
            name_off, info, _, shndx = struct.unpack_from(r.bo + "IBBH", table, base)
        else:
            name_off, _, _, info, _, shndx = struct.unpack_from(r.bo + "IIIBBH", table, base)
        if name_off == 0:
            continue
        version = ""
        if versym:
            version = version_names.get(versym[i] & 0x7FFF, "")
        names[i] = _cstr(strtab, name_off, "dynamic symbol")
        out.append(
            Symbol(
                names[i],
                defined=shndx != SHN_UNDEF,
                weak=info >> 4 == STB_WEAK,
                version=version,
                function=info & 0xF not in (STT_OBJECT, STT_COMMON, STT_TLS),
            )
        )
    return tuple(out), names


def _relocations(
    r: _Reader, tags: dict[int, int], names: dict[int, str]
) -> tuple[tuple[str, bool], ...]:
    """(symbol name, is COPY) of each relocation that names a symbol, in musl's order."""
    copy = copy_relocation(r.machine)
    plt_entsize = 0
    if DT_JMPREL in tags:
        rela = tags.get(DT_PLTREL, DT_RELA) == DT_RELA
        plt_entsize = (24 if r.is64 else 12) if rela else (16 if r.is64 else 8)
    tables = [
        (DT_JMPREL, tags.get(DT_PLTRELSZ, 0), plt_entsize),
        (DT_REL, tags.get(DT_RELSZ, 0), tags.get(DT_RELENT, 16 if r.is64 else 8)),
        (DT_RELA, tags.get(DT_RELASZ, 0), tags.get(DT_RELAENT, 24 if r.is64 else 12)),
    ]
    out: list[tuple[str, bool]] = []
    for tag, size, entsize in tables:
        if tag not in tags or size <= 0:
            continue
        if entsize < (16 if r.is64 else 8) or size // entsize > MAX_SYMBOLS:
            raise MalformedElf(f"relocation table of {size} bytes in entries of {entsize}")
        offset, _ = r.offset_of(tags[tag])
        table = r.exact(offset, size - size % entsize, "a relocation table")
        word = "Q" if r.is64 else "I"
        for base in range(0, len(table), entsize):
            (info,) = struct.unpack_from(r.bo + word, table, base + r.wsize)
            index, kind = (info >> 32, info & 0xFFFFFFFF) if r.is64 else (info >> 8, info & 0xFF)
            if index and index in names:
                out.append((names[index], kind == copy))
    return tuple(out)
