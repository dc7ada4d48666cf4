"""glibc's `/etc/ld.so.cache`: the library names `ldconfig` indexed, and where they are.

Only the "new" format is read (`glibc-ld.so.cache1.1`, the only one glibc >= 2.32 writes, and
the second half of the combined format older `ldconfig`s wrote). String offsets are relative to
the start of the new-format header. Every offset is bounds-checked; a bad file raises
`MalformedLdCache`.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from basewatch.arch import for_elf
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


@dataclass(frozen=True, slots=True)
class CacheEntry:
    """One entry of the cache: a soname, the file it points to, and ldconfig's flags."""

    name: str  # the soname ldconfig indexed ("libc.so.6")
    path: str  # the file it points to
    flags: int


def cache_flags_for(machine: int, bits: int) -> int | None:
    """The flags glibc requires of cache entries for this machine; None when unknown."""
    # Keyed on machine and class only: ldconfig gives ppc64 and ppc64le the same bits.
    arch = for_elf(machine, bits)
    return None if arch is None else FLAG_ELF_LIBC6 | arch.ldcache_flags


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
