"""ELF knowledge in one place: a bounds-checked reader and glibc's ld.so.cache format."""

from basewatch.elf.ldcache import CacheEntry, parse_ld_cache
from basewatch.elf.reader import ElfInfo, Symbol, VersionNeed, VersionRef, parse_elf
from basewatch.errors import MalformedElf, MalformedLdCache

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
