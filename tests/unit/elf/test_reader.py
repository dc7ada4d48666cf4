"""The ELF reader on real gcc/musl-gcc output, on synthetic ELF32 and big-endian files, and on
hostile input (truncations, absurd counts, fuzzing): only `MalformedElf` may ever escape."""

from __future__ import annotations

import contextlib
import io
import struct
import subprocess
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from basewatch.arch import EM_AARCH64, EM_ARM
from basewatch.elf.reader import (
    DT_GNU_HASH,
    DT_NEEDED,
    DT_RUNPATH,
    DT_SONAME,
    DT_STRSZ,
    DT_STRTAB,
    DT_SYMTAB,
    DT_VERNEED,
    DT_VERNEEDNUM,
    ET_DYN,
    ET_EXEC,
    ElfInfo,
    VersionRef,
    parse_elf,
)
from basewatch.errors import MalformedElf
from tests.unit.compat.realbin import HELLO, compile_c

LIB = "int foo(void) { return 1; }\nint bar(void) { return 2; }\n"
VERSION_SCRIPT = "VERS_1.0 { global: foo; local: *; };\nVERS_2.0 { global: bar; } VERS_1.0;\n"


def parse(path: Path, symbols: bool = False) -> ElfInfo:
    with path.open("rb") as f:
        return parse_elf(f, symbols=symbols)


def parse_bytes(data: bytes, symbols: bool = True) -> ElfInfo:
    return parse_elf(io.BytesIO(data), symbols=symbols)


@pytest.fixture(scope="module")
def hello(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return compile_c(tmp_path_factory.mktemp("bin") / "hello", HELLO)


def test_dynamic_pie_program(hello: Path) -> None:
    info = parse(hello, symbols=True)
    assert (info.bits, info.little_endian, info.type) == (64, True, ET_DYN)
    assert info.interpreter == "/lib64/ld-linux-x86-64.so.2"
    assert info.needed == ("libc.so.6",) and info.is_pie
    libc_need = next(n for n in info.version_needs if n.file == "libc.so.6")
    assert VersionRef("GLIBC_2.2.5") in libc_need.versions
    puts = next(s for s in info.symbols if s.name == "puts")
    assert not puts.defined and puts.version == "GLIBC_2.2.5"


def test_flags_paths_and_static(tmp_path: Path) -> None:
    now = compile_c(tmp_path / "now", HELLO, flags=("-no-pie", "-Wl,-z,now",
                    "-Wl,-rpath,/opt/a:$ORIGIN/../lib", "-Wl,--disable-new-dtags"))  # fmt: skip
    info = parse(now)
    assert info.type == ET_EXEC and not info.is_pie
    assert info.bind_now and not info.nodeflib
    flags = ("-shared", "-fPIC", "-Wl,-z,nodefaultlib")
    assert parse(compile_c(tmp_path / "libn.so", LIB, flags=flags)).nodeflib
    assert info.rpath == ("/opt/a", "$ORIGIN/../lib") and info.runpath == ()
    runpath = compile_c(
        tmp_path / "rp", HELLO, flags=("-Wl,-rpath,$ORIGIN", "-Wl,--enable-new-dtags")
    )
    assert parse(runpath).runpath == ("$ORIGIN",)
    static = parse(compile_c(tmp_path / "static", HELLO, flags=("-static",)))
    assert (static.interpreter, static.has_dynamic, static.type) == ("", False, ET_EXEC)
    spie = parse(compile_c(tmp_path / "spie", HELLO, flags=("-static-pie",)))
    assert spie.interpreter == "" and spie.is_pie and spie.needed == ()


def test_musl_program(tmp_path: Path) -> None:
    info = parse(compile_c(tmp_path / "m", HELLO, compiler="musl-gcc"))
    assert info.interpreter == "/lib/ld-musl-x86_64.so.1"
    assert info.needed == ("libc.so",) and info.version_needs == ()


def test_version_definitions_and_soname(tmp_path: Path) -> None:
    script = tmp_path / "vers.map"
    script.write_text(VERSION_SCRIPT)
    lib = compile_c(tmp_path / "libv.so.1", LIB, flags=("-shared", "-fPIC",
                    "-Wl,-soname,libv.so.1", f"-Wl,--version-script={script}"))  # fmt: skip
    info = parse(lib, symbols=True)
    assert info.soname == "libv.so.1"
    assert info.version_defs == ("VERS_1.0", "VERS_2.0")
    exported = {s.name: s.version for s in info.symbols if s.defined}
    assert exported["foo"] == "VERS_1.0" and exported["bar"] == "VERS_2.0"
    user = compile_c(tmp_path / "user", "int bar(void);\nint main(void) { return bar(); }\n",
                     flags=(str(lib),))  # fmt: skip
    need = next(n for n in parse(user).version_needs if n.file == "libv.so.1")
    assert need.versions == (VersionRef("VERS_2.0"),)


def test_without_section_headers(hello: Path) -> None:
    data = bytearray(hello.read_bytes())
    struct.pack_into("<Q", data, 0x28, 0)  # e_shoff
    struct.pack_into("<HHH", data, 0x3A, 0, 0, 0)  # e_shentsize, e_shnum, e_shstrndx
    assert parse_bytes(bytes(data)) == parse(hello, symbols=True)


def test_agrees_with_readelf_on_system_libraries() -> None:
    path = Path("/lib/x86_64-linux-gnu/libc.so.6")
    if not path.exists():
        pytest.skip("no host libc at the Debian path")
    info = parse(path)
    out = subprocess.run(["readelf", "-V", "-d", str(path)], capture_output=True, text=True,
                         check=True).stdout  # fmt: skip
    assert f"Library soname: [{info.soname}]" in out
    for name in info.version_defs:
        assert f"Name: {name}" in out


# --- synthetic ELF32 / ELF64, both byte orders ---------------------------------------------------


def synthetic(bits: int, big: bool, machine: int, *, gnu_hash: bool = False) -> bytes:
    """A minimal dynamic ELF: one PT_LOAD over the whole file, PT_INTERP, PT_DYNAMIC with
    DT_NEEDED, DT_SONAME, DT_RUNPATH, a version need, and two dynamic symbols."""
    bo = ">" if big else "<"
    w = "Q" if bits == 64 else "I"
    ehsize, phentsize = (64, 56) if bits == 64 else (52, 32)
    strtab = b"\0libc.so.6\0libx.so.1\0$ORIGIN/lib\0GLIBC_2.34\0puts\0/lib/ld.so.1\0"
    names = ("libc.so.6", "libx.so.1", "$ORIGIN/lib", "GLIBC_2.34", "puts", "/lib/ld.so.1")
    off = {name: strtab.index(name.encode() + b"\0") for name in names}
    phoff = ehsize
    interp_at = phoff + 3 * phentsize
    strtab_at = interp_at + 16
    verneed_at = strtab_at + len(strtab)
    verneed_at += (-verneed_at) % 8
    verneed = struct.pack(bo + "HHIII", 1, 1, off["libc.so.6"], 16, 0)
    verneed += struct.pack(bo + "IHHII", 0x0D696914, 0, 2, off["GLIBC_2.34"], 0)
    symtab_at = verneed_at + len(verneed)
    syment = 24 if bits == 64 else 16
    if bits == 64:
        symtab = bytes(24) + struct.pack(bo + "IBBHQQ", off["puts"], 0x12, 0, 0, 0, 0)
    else:
        symtab = bytes(16) + struct.pack(bo + "IIIBBH", off["puts"], 0, 0, 0x12, 0, 0)
    hash_at = symtab_at + len(symtab)
    if gnu_hash:  # nbuckets=1, symoffset=1, bloom_size=1, shift; bloom; bucket; chain
        hash_table = struct.pack(bo + "IIII", 1, 1, 1, 0) + struct.pack(bo + w, 0)
        hash_table += struct.pack(bo + "I", 1) + struct.pack(bo + "I", 1)
        hash_tag = DT_GNU_HASH
    else:
        hash_table = struct.pack(bo + "IIII", 1, 2, 0, 0) + struct.pack(bo + "I", 0)
        hash_tag = 4
    dyn_at = hash_at + len(hash_table)
    dyn_at += (-dyn_at) % 8
    entries = [
        (DT_NEEDED, off["libc.so.6"]),
        (DT_SONAME, off["libx.so.1"]),
        (DT_RUNPATH, off["$ORIGIN/lib"]),
        (DT_STRTAB, strtab_at),
        (DT_STRSZ, len(strtab)),
        (DT_SYMTAB, symtab_at),
        (11, syment),
        (hash_tag, hash_at),
        (DT_VERNEED, verneed_at),
        (DT_VERNEEDNUM, 1),
        (0, 0),
    ]
    dynamic = b"".join(struct.pack(bo + ("qQ" if bits == 64 else "iI"), t, v) for t, v in entries)
    total = dyn_at + len(dynamic)

    def phdr(p_type: int, offset: int, size: int) -> bytes:
        if bits == 64:
            return struct.pack(bo + "IIQQQQQQ", p_type, 4, offset, offset, offset, size, size, 8)
        return struct.pack(bo + "IIIIIIII", p_type, offset, offset, offset, size, size, 4, 4)

    ident = b"\x7fELF" + bytes([2 if bits == 64 else 1, 2 if big else 1, 1]) + bytes(9)
    if bits == 64:
        header = ident + struct.pack(bo + "HHIQQQIHHHHHH", ET_DYN, machine, 1, 0, phoff, 0, 0,
                                     ehsize, phentsize, 3, 0, 0, 0)  # fmt: skip
    else:
        header = ident + struct.pack(bo + "HHIIIIIHHHHHH", ET_DYN, machine, 1, 0, phoff, 0, 0,
                                     ehsize, phentsize, 3, 0, 0, 0)  # fmt: skip
    out = bytearray(total)
    out[: len(header)] = header
    phdrs = phdr(1, 0, total) + phdr(3, interp_at, 13) + phdr(2, dyn_at, len(dynamic))
    out[phoff : phoff + len(phdrs)] = phdrs
    out[interp_at : interp_at + 13] = b"/lib/ld.so.1\0"
    out[strtab_at : strtab_at + len(strtab)] = strtab
    out[verneed_at : verneed_at + len(verneed)] = verneed
    out[symtab_at : symtab_at + len(symtab)] = symtab
    out[hash_at : hash_at + len(hash_table)] = hash_table
    out[dyn_at : dyn_at + len(dynamic)] = dynamic
    return bytes(out)


@pytest.mark.parametrize(
    ("bits", "big", "machine", "gnu_hash"),
    [(32, False, EM_ARM, False), (32, True, 8, True), (64, True, 22, False),
     (64, False, EM_AARCH64, True)],
)  # fmt: skip
def test_synthetic_classes_and_byte_orders(
    bits: int, big: bool, machine: int, gnu_hash: bool
) -> None:
    info = parse_bytes(synthetic(bits, big, machine, gnu_hash=gnu_hash))
    assert (info.bits, info.little_endian, info.machine) == (bits, not big, machine)
    assert info.interpreter == "/lib/ld.so.1"
    assert (info.needed, info.soname, info.runpath) == (
        ("libc.so.6",),
        "libx.so.1",
        ("$ORIGIN/lib",),
    )
    assert info.version_needs[0].file == "libc.so.6"
    assert info.version_needs[0].versions == (VersionRef("GLIBC_2.34"),)
    [puts] = info.symbols
    assert (puts.name, puts.defined) == ("puts", False)


# --- hostile input -------------------------------------------------------------------------------


def test_every_truncation_is_malformed_or_parsed(hello: Path) -> None:
    data = hello.read_bytes()
    for size in [*range(0, 128), *range(128, len(data), 97)]:
        with contextlib.suppress(MalformedElf):
            parse_bytes(data[:size])


def test_absurd_counts_are_refused() -> None:
    data = bytearray(synthetic(64, False, 62))
    struct.pack_into("<H", data, 0x38, 0xFFFF)  # e_phnum
    with pytest.raises(MalformedElf):
        parse_bytes(bytes(data))
    with pytest.raises(MalformedElf):
        parse_bytes(b"\x7fELF\x03\x01" + bytes(60))  # unknown class


def test_verneed_cycle_is_bounded() -> None:
    data = bytearray(synthetic(64, False, 62))
    base = data.index(struct.pack("<HHI", 1, 1, 1))  # the Elf_Verneed entry
    struct.pack_into("<HHIII", data, base, 1, 0xFFFF, 1, 16, 0)  # cnt 65535
    struct.pack_into("<I", data, base + 16 + 12, 0)
    info = parse_bytes(bytes(data))  # vna_next == 0 ends the chain, whatever cnt says
    assert len(info.version_needs[0].versions) == 1


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from([(32, False), (32, True), (64, False), (64, True)]),
    st.lists(st.tuples(st.integers(0, 4095), st.integers(0, 255)), min_size=1, max_size=12),
)
def test_fuzzed_headers_never_crash(shape: tuple[int, bool], edits: list[tuple[int, int]]) -> None:
    data = bytearray(synthetic(shape[0], shape[1], 62, gnu_hash=True))
    for position, value in edits:
        data[position % len(data)] = value
    with contextlib.suppress(MalformedElf):
        parse_bytes(bytes(data))


@pytest.fixture(scope="module")
def hello_bytes(hello: Path) -> bytes:
    return hello.read_bytes()


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(st.lists(st.tuples(st.integers(0, 1 << 20), st.binary(min_size=1, max_size=8)), max_size=8))
def test_fuzzed_real_binary_never_crashes(
    hello_bytes: bytes, edits: list[tuple[int, bytes]]
) -> None:
    data = bytearray(hello_bytes)
    for position, chunk in edits:
        at = position % len(data)
        data[at : at + len(chunk)] = chunk
    with contextlib.suppress(MalformedElf):
        parse_bytes(bytes(data))
