"""Architectures in one place: how images, ELF files, loaders and Debian name each one.

Two tables. `ELF_MACHINES` is per ELF `e_machine` value: the name reports give it and its COPY
relocation type (what the ELF reader needs). `ARCHITECTURES` is per OCI architecture
(`Arch`): its ELF machine, class and byte order, the bits glibc's `ldconfig` sets in
`/etc/ld.so.cache` for it, the `platform.machine()` names of hosts that run it, its glibc and
musl dynamic loaders and its Debian multiarch triplet. An `e_machine` can stand for more than
one architecture (EM_PPC64 is ppc64 and ppc64le), so the two are kept apart.

This module imports nothing from basewatch: every layer may use it.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

__all__ = [
    "ARCHITECTURES",
    "ELF_MACHINES",
    "EM_386",
    "EM_AARCH64",
    "EM_ARM",
    "EM_MIPS",
    "EM_PPC",
    "EM_PPC64",
    "EM_RISCV",
    "EM_S390",
    "EM_X86_64",
    "Arch",
    "ArchInfo",
    "ElfMachine",
    "arch_info",
    "copy_relocation",
    "for_elf",
    "for_host_machine",
    "machine_name",
    "parse_arch",
]

EM_386 = 3
EM_MIPS = 8
EM_PPC = 20
EM_PPC64 = 21
EM_S390 = 22
EM_ARM = 40
EM_X86_64 = 62
EM_AARCH64 = 183
EM_RISCV = 243


class Arch(StrEnum):
    """An image architecture, spelt as OCI image indexes and configs spell it (GOARCH)."""

    AMD64 = "amd64"
    ARM64 = "arm64"
    ARM = "arm"
    I386 = "386"
    PPC64LE = "ppc64le"
    S390X = "s390x"
    RISCV64 = "riscv64"


@dataclass(frozen=True, slots=True)
class ElfMachine:
    """One ELF `e_machine` value as the ELF reader and the reports know it."""

    number: int  # e_machine
    name: str  # what reports call it ("x86_64"): the kernel's `uname -m` spelling
    # R_<machine>_COPY: the program defines the symbol, its value comes from a library
    copy_relocation: int | None


@dataclass(frozen=True, slots=True)
class ArchInfo:
    """Everything basewatch knows about one architecture, by the name each party uses."""

    arch: Arch
    variant: str  # the OCI variant its glibc/musl ports are built for ("v7" for arm)
    machine: int  # ELF e_machine
    bits: int  # ELF class: 32 or 64
    little_endian: bool
    # The architecture bits of glibc's _DL_CACHE_DEFAULT_ID: ld.so only takes ld.so.cache
    # entries that carry them (with the ELF libc6 type).
    ldcache_flags: int
    # platform.machine() spellings of hosts that run it, lower case, with the OCI variant
    # each one means ("armv6l" -> "v6")
    host_machines: tuple[tuple[str, str], ...]
    glibc_loaders: tuple[str, ...]  # PT_INTERP of glibc programs (absolute paths)
    musl_loader: str  # file name of musl's loader in /lib
    triplet: str  # Debian multiarch triplet: /lib/<triplet>, /usr/lib/<triplet>


ELF_MACHINES: tuple[ElfMachine, ...] = (
    ElfMachine(EM_386, "i386", 5),
    ElfMachine(EM_MIPS, "mips", None),
    ElfMachine(EM_PPC, "ppc", 19),
    ElfMachine(EM_PPC64, "ppc64", 19),
    ElfMachine(EM_S390, "s390x", 9),
    ElfMachine(EM_ARM, "arm", 20),
    ElfMachine(EM_X86_64, "x86_64", 5),
    ElfMachine(EM_AARCH64, "aarch64", 1024),
    ElfMachine(EM_RISCV, "riscv64", 4),
)

ARCHITECTURES: tuple[ArchInfo, ...] = (
    ArchInfo(
        arch=Arch.AMD64,
        variant="",
        machine=EM_X86_64,
        bits=64,
        little_endian=True,
        ldcache_flags=0x0300,
        host_machines=(("x86_64", ""), ("amd64", "")),
        glibc_loaders=("/lib64/ld-linux-x86-64.so.2",),
        musl_loader="ld-musl-x86_64.so.1",
        triplet="x86_64-linux-gnu",
    ),
    ArchInfo(
        arch=Arch.ARM64,
        variant="",
        machine=EM_AARCH64,
        bits=64,
        little_endian=True,
        ldcache_flags=0x0A00,
        host_machines=(("aarch64", ""), ("arm64", "")),
        glibc_loaders=("/lib/ld-linux-aarch64.so.1",),
        musl_loader="ld-musl-aarch64.so.1",
        triplet="aarch64-linux-gnu",
    ),
    ArchInfo(
        arch=Arch.ARM,
        variant="v7",
        machine=EM_ARM,
        bits=32,
        little_endian=True,
        ldcache_flags=0x0900,  # hard-float
        host_machines=(("armv7l", "v7"), ("armv6l", "v6")),
        glibc_loaders=("/lib/ld-linux-armhf.so.3",),
        musl_loader="ld-musl-armhf.so.1",
        triplet="arm-linux-gnueabihf",
    ),
    ArchInfo(
        arch=Arch.I386,
        variant="",
        machine=EM_386,
        bits=32,
        little_endian=True,
        ldcache_flags=0x0000,
        host_machines=(("i386", ""), ("i686", "")),
        glibc_loaders=("/lib/ld-linux.so.2",),
        musl_loader="ld-musl-i386.so.1",
        triplet="i386-linux-gnu",
    ),
    ArchInfo(
        arch=Arch.PPC64LE,
        variant="",
        machine=EM_PPC64,
        bits=64,
        little_endian=True,
        ldcache_flags=0x0500,
        host_machines=(("ppc64le", ""),),
        glibc_loaders=("/lib64/ld64.so.2",),
        musl_loader="ld-musl-powerpc64le.so.1",
        triplet="powerpc64le-linux-gnu",
    ),
    ArchInfo(
        arch=Arch.S390X,
        variant="",
        machine=EM_S390,
        bits=64,
        little_endian=False,
        ldcache_flags=0x0400,
        host_machines=(("s390x", ""),),
        glibc_loaders=("/lib/ld64.so.1",),
        musl_loader="ld-musl-s390x.so.1",
        triplet="s390x-linux-gnu",
    ),
    ArchInfo(
        arch=Arch.RISCV64,
        variant="",
        machine=EM_RISCV,
        bits=64,
        little_endian=True,
        ldcache_flags=0x1000,  # lp64d
        host_machines=(("riscv64", ""),),
        glibc_loaders=("/lib/ld-linux-riscv64-lp64d.so.1",),
        musl_loader="ld-musl-riscv64.so.1",
        triplet="riscv64-linux-gnu",
    ),
)

_BY_ARCH = {row.arch: row for row in ARCHITECTURES}
_BY_MACHINE = {row.number: row for row in ELF_MACHINES}


def arch_info(arch: Arch) -> ArchInfo:
    """The row of `arch` (every `Arch` has one)."""
    return _BY_ARCH[arch]


def parse_arch(name: str) -> Arch | None:
    """The `Arch` an OCI architecture name spells; None for one basewatch has no row for."""
    try:
        return Arch(name)
    except ValueError:
        return None


def for_elf(machine: int, bits: int, little_endian: bool | None = None) -> ArchInfo | None:
    """The architecture of ELF objects with this `e_machine` and class (and byte order, when
    given); None when basewatch knows no such architecture."""
    for row in ARCHITECTURES:
        same_order = little_endian is None or little_endian == row.little_endian
        if row.machine == machine and row.bits == bits and same_order:
            return row
    return None


def for_host_machine(name: str) -> tuple[Arch, str] | None:
    """(architecture, variant) of a host whose `platform.machine()` is `name` (any case)."""
    wanted = name.lower()
    for row in ARCHITECTURES:
        for machine, variant in row.host_machines:
            if machine == wanted:
                return row.arch, variant
    return None


def machine_name(machine: int) -> str:
    """A readable name for an `e_machine` value ("x86_64", "aarch64", "EM_1234")."""
    known = _BY_MACHINE.get(machine)
    return known.name if known is not None else f"EM_{machine}"


def copy_relocation(machine: int) -> int | None:
    """The COPY relocation type of `e_machine` `machine`; None when unknown."""
    known = _BY_MACHINE.get(machine)
    return known.copy_relocation if known is not None else None
