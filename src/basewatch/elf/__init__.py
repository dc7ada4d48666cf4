"""ELF knowledge in one place: a bounds-checked reader and glibc's ld.so.cache format."""

from basewatch.elf.ldcache import CacheEntry, MalformedLdCache, parse_ld_cache
from basewatch.elf.reader import ElfInfo, MalformedElf, Symbol, VersionNeed, VersionRef, parse_elf

__all__ = [
    "CacheEntry",
    "ElfInfo",
    "MalformedElf",
    "MalformedLdCache",
    "Symbol",
    "VersionNeed",
    "VersionRef",
    "parse_elf",
    "parse_ld_cache",
]
