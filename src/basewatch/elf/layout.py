"""An ELF file's segments and sections, read by seeking: the layout that address lookups need.

`ElfLayout` maps virtual addresses to file offsets through the PT_LOAD segments and knows the
section names (when there is a readable section header table); readers of data embedded in
binaries (Go build info) use it. Every table is bounds-checked; a corrupt header raises
`MalformedElf`.
"""

from __future__ import annotations

import io
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

from basewatch.errors import MalformedElf

__all__ = ["PF_W", "PF_X", "PT_LOAD", "ElfLayout", "Segment"]

MAX_TABLE_BYTES = 4 << 20  # program or section header table
MIN_ELF_SIZE = 52  # an ELF32 header
PT_LOAD = 1
PF_X = 1
PF_W = 2


@dataclass(frozen=True, slots=True)
class Segment:
    type: int
    flags: int
    offset: int
    vaddr: int
    filesz: int


class ElfLayout:
    """Just enough ELF to map virtual addresses to file offsets, read by seeking."""

    def __init__(self, f: BinaryIO) -> None:
        self.f = f
        f.seek(0, io.SEEK_END)
        self.file_size = f.tell()
        ident = self.read_at(0, 64)
        if len(ident) < MIN_ELF_SIZE or not ident.startswith(b"\x7fELF"):
            raise MalformedElf("truncated ELF header")
        elf_class, data = ident[4], ident[5]
        if elf_class not in (1, 2) or data not in (1, 2):
            raise MalformedElf(f"unknown ELF class {elf_class} or byte order {data}")
        self.is64 = elf_class == 2
        self.bo = "<" if data == 1 else ">"
        if self.is64:
            if len(ident) < 64:
                raise MalformedElf("truncated ELF header")
            phoff, shoff = struct.unpack_from(self.bo + "QQ", ident, 0x20)
            phentsize, phnum, shentsize, shnum, shstrndx = struct.unpack_from(
                self.bo + "HHHHH", ident, 0x36
            )
        else:
            phoff, shoff = struct.unpack_from(self.bo + "II", ident, 0x1C)
            phentsize, phnum, shentsize, shnum, shstrndx = struct.unpack_from(
                self.bo + "HHHHH", ident, 0x2A
            )
        self.segments = self._read_segments(phoff, phentsize, phnum)
        self.sections = self._read_sections(shoff, shentsize, shnum, shstrndx)

    def read_at(self, offset: int, size: int) -> bytes:
        if offset < 0 or size <= 0 or offset >= self.file_size:
            return b""
        self.f.seek(offset)
        return self.f.read(min(size, self.file_size - offset))

    def _table(self, what: str, off: int, entsize: int, num: int, minsize: int) -> bytes:
        if num == 0:
            return b""
        if entsize < minsize:
            raise MalformedElf(f"ELF {what} entry size {entsize} is too small")
        total = entsize * num
        if total > MAX_TABLE_BYTES or off + total > self.file_size:
            raise MalformedElf(
                f"ELF {what} table ({num} x {entsize} bytes at {off}) lies beyond the end of "
                f"the {self.file_size}-byte file: truncated or corrupt"
            )
        return self.read_at(off, total)

    def _read_segments(self, phoff: int, entsize: int, num: int) -> tuple[Segment, ...]:
        table = self._table("program header", phoff, entsize, num, 56 if self.is64 else 32)
        segments: list[Segment] = []
        for i in range(num):
            base = i * entsize
            if self.is64:
                p_type, flags, offset, vaddr, _, filesz = struct.unpack_from(
                    self.bo + "IIQQQQ", table, base
                )
            else:
                p_type, offset, vaddr, _, filesz, _, flags = struct.unpack_from(
                    self.bo + "IIIIIII", table, base
                )
            segments.append(Segment(p_type, flags, offset, vaddr, filesz))
        return tuple(segments)

    def _read_sections(
        self, shoff: int, entsize: int, num: int, shstrndx: int
    ) -> dict[str, tuple[int, int]]:
        """Section name -> (address, size). Empty when the table is missing or unreadable."""
        if shoff == 0 or num == 0:
            return {}
        try:
            table = self._table("section header", shoff, entsize, num, 64 if self.is64 else 40)
        except MalformedElf:
            # Section headers are optional for loading; Go falls back to the segments too.
            return {}
        fmt = self.bo + ("IIQQQQ" if self.is64 else "IIIIII")
        headers = [struct.unpack_from(fmt, table, i * entsize) for i in range(num)]
        if shstrndx >= num:
            return {}
        strtab = self.read_at(headers[shstrndx][4], min(headers[shstrndx][5], 1 << 20))
        sections: dict[str, tuple[int, int]] = {}
        for name_off, _, _, addr, _, size in headers:
            end = strtab.find(b"\0", name_off)
            if name_off < len(strtab) and end >= 0:
                name = strtab[name_off:end].decode("ascii", errors="replace")
                sections.setdefault(name, (addr, size))
        return sections

    def read_data(self, addr: int, size: int) -> bytes:
        """Up to `size` bytes at virtual address `addr`, within the PT_LOAD that holds it."""
        for seg in self.segments:
            if seg.type == PT_LOAD and seg.vaddr <= addr < seg.vaddr + seg.filesz:
                n = min(size, seg.vaddr + seg.filesz - addr)
                return self.read_at(seg.offset + addr - seg.vaddr, n)
        return b""

    def writable_ranges(self) -> Iterator[tuple[int, int, int]]:
        """(file offset, size, vaddr) of every writable, non-executable PT_LOAD."""
        for seg in self.segments:
            if seg.type == PT_LOAD and seg.flags & (PF_X | PF_W) == PF_W and seg.filesz:
                yield seg.offset, seg.filesz, seg.vaddr
