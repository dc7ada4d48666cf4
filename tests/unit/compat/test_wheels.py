"""Wheel platform tags against the image's C library, and the musl notes."""

from __future__ import annotations

from pathlib import Path

import pytest

from basewatch.compat import Cause, LibcFamily, LibcInfo
from basewatch.compat.wheels import check_wheel, musl_notes, wheel_tags
from basewatch.jobs.compat import CompatChecker
from tests.fixtures import shared_fixture
from tests.unit.compat.realbin import oci_image

GLIBC_236 = LibcInfo(LibcFamily.GLIBC, "2.36")
MUSL_125 = LibcInfo(LibcFamily.MUSL, "1.2.5")
MUSL_123 = LibcInfo(LibcFamily.MUSL, "1.2.3")
MUSL_1124 = LibcInfo(LibcFamily.MUSL, "1.1.24")

NUMPY = """Wheel-Version: 1.0
Generator: meson
Root-Is-Purelib: false
Tag: cp311-cp311-manylinux_2_17_x86_64
Tag: cp311-cp311-manylinux2014_x86_64
"""
NEW = "Wheel-Version: 1.0\nTag: cp311-cp311-manylinux_2_38_x86_64\n"
MUSL = "Wheel-Version: 1.0\nTag: cp312-cp312-musllinux_1_2_x86_64\n"
PURE = "Wheel-Version: 1.0\nTag: py3-none-any\n"
PATH = "/usr/lib/python3/dist-packages/numpy-2.0.0.dist-info/WHEEL"


def test_tags() -> None:
    assert wheel_tags(NUMPY) == ("manylinux_2_17_x86_64", "manylinux2014_x86_64")
    assert wheel_tags("Tag: cp38-abi3-manylinux_2_5_x86_64.manylinux1_x86_64\n") == (
        "manylinux_2_5_x86_64",
        "manylinux1_x86_64",
    )


@pytest.mark.parametrize(
    ("text", "libc", "problem"),
    [
        (NUMPY, GLIBC_236, ""),
        (NUMPY, MUSL_125, "numpy-2.0.0.dist-info: wheel tag manylinux_2_17_x86_64 needs glibc >= "
                          "2.17; the image has musl 1.2.5"),
        (NEW, GLIBC_236, "numpy-2.0.0.dist-info: wheel tag manylinux_2_38_x86_64 needs glibc >= "
                         "2.38; the image has glibc 2.36"),
        (MUSL, MUSL_125, ""),
        (MUSL, MUSL_123, ""),
        (MUSL, MUSL_1124, "numpy-2.0.0.dist-info: wheel tag musllinux_1_2_x86_64 needs musl >= "
                          "1.2; the image has musl 1.1.24"),
        (MUSL, GLIBC_236, "numpy-2.0.0.dist-info: wheel tag musllinux_1_2_x86_64 needs musl >= "
                          "1.2; the image has glibc 2.36"),
    ],
)  # fmt: skip
def test_check_wheel(text: str, libc: LibcInfo, problem: str) -> None:
    verdict = check_wheel(PATH, 0, text, libc)
    assert verdict is not None
    assert [p.message for p in verdict.problems] == ([problem] if problem else [])
    assert all(p.cause is Cause.WHEEL_PLATFORM for p in verdict.problems)


def test_pure_wheel_says_nothing() -> None:
    assert check_wheel(PATH, 0, PURE, MUSL_125) is None


def test_musl_notes() -> None:
    assert musl_notes(GLIBC_236) == ()
    assert any("DNS" in n for n in musl_notes(MUSL_123))
    assert not any("UDP only" in n for n in musl_notes(MUSL_125))
    assert any("TCP when a UDP answer is truncated" in n for n in musl_notes(MUSL_125))
    assert any("128 KiB" in n for n in musl_notes(MUSL_125))


def test_manylinux_wheel_transplanted_onto_alpine(tmp_path: Path) -> None:
    app = tmp_path / "app"
    wheel = app / "usr/lib/python3.12/site-packages/numpy-2.0.0.dist-info/WHEEL"
    wheel.parent.mkdir(parents=True)
    wheel.write_text(NUMPY)
    ref = oci_image(tmp_path / "oci", [app])
    alpine = str(shared_fixture("images/alpine-minirootfs-3.20.3-x86_64.tar.gz"))
    report = CompatChecker.default(cache_dir=tmp_path / "cache").check_on(ref, alpine)
    [verdict] = report.files
    assert [p.subject for p in verdict.problems] == ["manylinux_2_17_x86_64"]
    assert "musllinux" in verdict.problems[0].fix
    assert report.notes


def test_musl_stack_note_counts_pt_gnu_stack_sizes(tmp_path: Path) -> None:
    """musl honours a PT_GNU_STACK size as the default thread stack: the note says which of
    the image's musl programs set one, and the real program sees that size."""
    from tests.unit.compat.realbin import alpine_root, compile_c, need_x86_64, run_in_chroot

    need_x86_64()
    root = alpine_root(tmp_path / "root")
    source = """#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
int main(void) {
    pthread_attr_t a; size_t n;
    pthread_getattr_default_np(&a); pthread_attr_getstacksize(&a, &n);
    printf("%zu\\n", n); return 0;
}
"""
    compile_c(root / "app/big", source, compiler="musl-gcc",
              flags=("-pthread", "-Wl,-z,stack-size=1048576"))  # fmt: skip
    compile_c(root / "app/small", source, compiler="musl-gcc", flags=("-pthread",))
    report = CompatChecker.default(cache_dir=tmp_path / "cache", use_cache=False).check(
        f"dir:{root}"
    )
    [note] = [n for n in report.notes if "PT_GNU_STACK" in n]
    assert "/app/big (1024 KiB)" in note and "/app/small" not in note
    assert int(run_in_chroot(root, "/app/big").stdout) >= 1 << 20
    assert int(run_in_chroot(root, "/app/small").stdout) == 128 << 10
