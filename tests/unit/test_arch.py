"""The architecture table: every row round-trips between OCI, ELF and host names, real ELF files
map to their architecture, and the values the scattered tables had before are all still there."""

from __future__ import annotations

import io
import platform as host_platform
from pathlib import Path

import pytest

from basewatch.arch import (
    ARCHITECTURES,
    ELF_MACHINES,
    Arch,
    ArchInfo,
    arch_info,
    copy_relocation,
    for_elf,
    for_host_machine,
    machine_name,
    parse_arch,
)
from basewatch.elf.ldcache import FLAG_ELF_LIBC6, cache_flags_for
from basewatch.elf.reader import ElfInfo, parse_elf
from basewatch.oci.platform import Platform
from tests.unit.compat.realbin import HELLO, compile_c, need_tool, need_x86_64
from tests.unit.elf.test_reader import synthetic

ROWS = pytest.mark.parametrize("row", ARCHITECTURES, ids=lambda row: row.arch.value)


def test_one_row_per_arch_and_unambiguous_elf_keys() -> None:
    assert [row.arch for row in ARCHITECTURES] == list(Arch)
    assert len({(row.machine, row.bits) for row in ARCHITECTURES}) == len(ARCHITECTURES)
    assert len({m.number for m in ELF_MACHINES}) == len(ELF_MACHINES)
    hosts = [name for row in ARCHITECTURES for name, _ in row.host_machines]
    assert len(hosts) == len(set(hosts))


@ROWS
def test_row_round_trips(row: ArchInfo) -> None:
    assert parse_arch(row.arch.value) is row.arch
    assert arch_info(row.arch) is row
    assert for_elf(row.machine, row.bits) is row
    assert for_elf(row.machine, row.bits, row.little_endian) is row
    assert for_elf(row.machine, row.bits, not row.little_endian) is None
    assert not machine_name(row.machine).startswith("EM_")
    assert copy_relocation(row.machine) is not None
    assert cache_flags_for(row.machine, row.bits) == FLAG_ELF_LIBC6 | row.ldcache_flags
    for name, variant in row.host_machines:
        assert for_host_machine(name) == (row.arch, variant)
        assert for_host_machine(name.upper()) == (row.arch, variant)
    assert all(loader.startswith("/") for loader in row.glibc_loaders)
    assert row.musl_loader.startswith("ld-musl-") and row.musl_loader.endswith(".so.1")


@ROWS
def test_elf_headers_map_to_their_row(row: ArchInfo) -> None:
    """An ELF header with the row's machine, class and byte order, through the real reader."""
    info = parse_elf(io.BytesIO(synthetic(row.bits, not row.little_endian, row.machine)))
    assert for_elf(info.machine, info.bits, info.little_endian) is row
    assert info.machine_name == machine_name(row.machine)


def test_unknown_names() -> None:
    assert parse_arch("mips64le") is None and parse_arch("") is None
    assert for_elf(0, 64) is None and for_elf(62, 32) is None  # no machine; x32 is no platform
    assert for_host_machine("sparc64") is None
    assert machine_name(1234) == "EM_1234"
    assert copy_relocation(1234) is None and cache_flags_for(1234, 64) is None


def test_values_of_the_tables_it_replaced() -> None:
    """The OCI -> (e_machine, bits), triplet, ld.so.cache and host-machine tables that lived in
    compat/loader.py, elf/ldcache.py and the image platform code, value for value."""
    loader_architectures = {
        "amd64": (62, 64),
        "arm64": (183, 64),
        "386": (3, 32),
        "arm": (40, 32),
        "ppc64le": (21, 64),
        "s390x": (22, 64),
        "riscv64": (243, 64),
    }
    triplets = {
        (62, 64): "x86_64-linux-gnu",
        (183, 64): "aarch64-linux-gnu",
        (3, 32): "i386-linux-gnu",
        (40, 32): "arm-linux-gnueabihf",
        (21, 64): "powerpc64le-linux-gnu",
        (22, 64): "s390x-linux-gnu",
        (243, 64): "riscv64-linux-gnu",
    }
    ldcache = {
        (62, 64): 0x0300,
        (183, 64): 0x0A00,
        (21, 64): 0x0500,
        (22, 64): 0x0400,
        (243, 64): 0x1000,
        (3, 32): 0x0000,
        (40, 32): 0x0900,
    }
    hosts = {
        "x86_64": ("amd64", ""),
        "amd64": ("amd64", ""),
        "aarch64": ("arm64", ""),
        "arm64": ("arm64", ""),
        "armv7l": ("arm", "v7"),
        "armv6l": ("arm", "v6"),
        "i386": ("386", ""),
        "i686": ("386", ""),
        "ppc64le": ("ppc64le", ""),
        "s390x": ("s390x", ""),
        "riscv64": ("riscv64", ""),
    }
    names = {3: "i386", 8: "mips", 20: "ppc", 21: "ppc64", 22: "s390x", 40: "arm",
             62: "x86_64", 183: "aarch64", 243: "riscv64"}  # fmt: skip
    copies = {3: 5, 62: 5, 40: 20, 183: 1024, 20: 19, 21: 19, 22: 9, 243: 4}
    for name, key in loader_architectures.items():
        row = arch_info(Arch(name))
        assert (row.machine, row.bits) == key
    for key, triplet in triplets.items():
        found = for_elf(*key)
        assert found is not None and found.triplet == triplet
    for key, flags in ldcache.items():
        found = for_elf(*key)
        assert found is not None and found.ldcache_flags == flags
    for machine, (arch, variant) in hosts.items():
        assert for_host_machine(machine) == (Arch(arch), variant)
    assert {m: machine_name(m) for m in names} == names
    assert {m: copy_relocation(m) for m in names if m in copies} == copies
    assert copy_relocation(8) is None  # mips: none was known


@pytest.mark.parametrize(
    ("machine", "expected"),
    [("x86_64", "linux/amd64"), ("aarch64", "linux/arm64"), ("armv6l", "linux/arm/v6"),
     ("ARMV7L", "linux/arm/v7"), ("i686", "linux/386"), ("sparc64", "linux/sparc64")],
)  # fmt: skip
def test_host_platform_reads_the_table(
    monkeypatch: pytest.MonkeyPatch, machine: str, expected: str
) -> None:
    monkeypatch.setattr(host_platform, "machine", lambda: machine)
    assert str(Platform.host()) == expected


# --- real ELF files -------------------------------------------------------------------------


def _parse(path: Path) -> ElfInfo:
    with path.open("rb") as f:
        return parse_elf(f)


def test_real_glibc_files_map_to_amd64(tmp_path: Path) -> None:
    need_x86_64()
    need_tool("gcc")
    row = arch_info(Arch.AMD64)
    program = _parse(compile_c(tmp_path / "hello", HELLO))
    assert for_elf(program.machine, program.bits, program.little_endian) is row
    assert program.interpreter in row.glibc_loaders
    libc = Path(f"/lib/{row.triplet}/libc.so.6")
    if not libc.is_file():
        pytest.skip(f"no {libc} on this host")
    info = _parse(libc)
    assert for_elf(info.machine, info.bits, info.little_endian) is row
    assert cache_flags_for(info.machine, info.bits) == 0x0303


def test_real_musl_program_names_the_rows_musl_loader(tmp_path: Path) -> None:
    need_x86_64()
    need_tool("musl-gcc")
    row = arch_info(Arch.AMD64)
    program = _parse(compile_c(tmp_path / "hello", HELLO, compiler="musl-gcc"))
    assert for_elf(program.machine, program.bits, program.little_endian) is row
    assert program.interpreter == f"/lib/{row.musl_loader}"
