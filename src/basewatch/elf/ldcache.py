"""glibc's `/etc/ld.so.cache`: the library names `ldconfig` indexed, and where they are.

Only the "new" format is read (`glibc-ld.so.cache1.1`, the only one glibc >= 2.32 writes, and
the second half of the combined format older `ldconfig`s wrote). String offsets are relative to
the start of the new-format header. Every offset is bounds-checked; a bad file raises
`MalformedLdCache`.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from basewatch.errors import MalformedLdCache

__all__ = ["CacheEntry", "MalformedLdCache", "cache_flags_for", "parse_ld_cache"]

OLD_MAGIC = b"ld.so-1.7.0"
NEW_MAGIC = b"glibc-ld.so.cache1.1"
_NEW_HEADER = 48
_NEW_ENTRY = 24
_OLD_ENTRY = 12
MAX_ENTRIES = 1 << 20

FLAG_ELF_LIBC6 = 0x0003
FLAG_TYPE_MASK = 0x00FF
FLAG_REQUIRED_MASK = 0xFF00
# The architecture bits ldconfig sets, by (e_machine, bits): glibc's _DL_CACHE_DEFAULT_ID.
_ARCH_FLAGS = {
    (62, 64): 0x0300,  # x86_64
    (62, 32): 0x0800,  # x32
    (183, 64): 0x0A00,  # aarch64
    (21, 64): 0x0500,  # ppc64 / ppc64le
    (22, 64): 0x0400,  # s390x
    (243, 64): 0x1000,  # riscv64 lp64d
    (3, 32): 0x0000,  # i386
    (40, 32): 0x0900,  # arm hard-float
}


@dataclass(frozen=True, slots=True)
class CacheEntry:
    name: str  # the soname ldconfig indexed ("libc.so.6")
    path: str  # the file it points to
    flags: int


def cache_flags_for(machine: int, bits: int) -> int | None:
    """The flags glibc requires of cache entries for this machine; None when unknown."""
    arch = _ARCH_FLAGS.get((machine, bits))
    return None if arch is None else FLAG_ELF_LIBC6 | arch


def parse_ld_cache(data: bytes) -> tuple[CacheEntry, ...]:
    """Every entry of the cache, in file order (glibc's lookup order among equal names)."""
    start = 0
    if data.startswith(OLD_MAGIC):
        if len(data) < 16:
            raise MalformedLdCache("truncated old-format header")
        (nlibs,) = struct.unpack_from("<I", data, 12)
        if nlibs > MAX_ENTRIES:
            raise MalformedLdCache(f"{nlibs} entries in the old-format part")
        start = 16 + nlibs * _OLD_ENTRY
        start = (start + 7) & ~7  # the new part is aligned like a struct with 8-byte members
        if data[start : start + len(NEW_MAGIC)] != NEW_MAGIC:
            return ()  # an old-format-only cache: glibc >= 2.32 ignores it too
    if data[start : start + len(NEW_MAGIC)] != NEW_MAGIC:
        raise MalformedLdCache("not an ld.so.cache (no glibc-ld.so.cache1.1 header)")
    if len(data) < start + _NEW_HEADER:
        raise MalformedLdCache("truncated header")
    nlibs, _ = struct.unpack_from("<II", data, start + 20)
    endian = "<"
    if nlibs > MAX_ENTRIES:  # the cache is written in the machine's byte order
        endian = ">"
        nlibs, _ = struct.unpack_from(">II", data, start + 20)
    if nlibs > MAX_ENTRIES or start + _NEW_HEADER + nlibs * _NEW_ENTRY > len(data):
        raise MalformedLdCache(f"{nlibs} entries do not fit in the {len(data)}-byte file")
    out = []
    for i in range(nlibs):
        flags, key, value, _, _ = struct.unpack_from(
            endian + "iIIIQ", data, start + _NEW_HEADER + i * _NEW_ENTRY
        )
        out.append(CacheEntry(_string(data, start + key), _string(data, start + value), flags))
    return tuple(out)


def _string(data: bytes, offset: int) -> str:
    if not 0 <= offset < len(data):
        raise MalformedLdCache(f"string offset {offset} is outside the file")
    end = data.find(b"\0", offset)
    if end < 0:
        raise MalformedLdCache("unterminated string")
    return data[offset:end].decode("utf-8", errors="surrogateescape")
