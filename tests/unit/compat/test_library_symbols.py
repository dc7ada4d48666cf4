"""Undefined symbols of shared libraries on glibc images, against glibc's real dlopen.

libfoo.so.1 is built twice with the version script `FOO_1 { foo; bar; baz; }`: the image gets
the old build, which defines FOO_1 but only foo. A library linked against the new one binds
bar@FOO_1 (or the data symbol baz@FOO_1) to libfoo, so the symbol is certainly missing whatever
program loads it: glibc reports it at dlopen when it binds at load (BIND_NOW, data, a host that
dlopens with RTLD_NOW such as Python), else when the function is first called.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from basewatch.compat import CompatReport, FileVerdict, Severity
from basewatch.jobs.compat import CompatChecker
from tests.unit.compat.realbin import (
    GLIBC_LIBDIR,
    compile_c,
    glibc_root,
    need_x86_64,
    run_in_chroot,
)

pytestmark = pytest.mark.usefixtures("x86_64")

LOAD = """#include <dlfcn.h>
#include <stdio.h>
#include <string.h>
int main(int argc, char **argv) {
    void *h = dlopen(argv[1], strcmp(argv[2], "now") == 0 ? RTLD_NOW : RTLD_LAZY);
    if (!h) { fprintf(stderr, "%s\\n", dlerror()); return 1; }
    puts("loaded");
    return 0;
}
"""
# A stand-in for python3: exports its API (-rdynamic) and imports modules with RTLD_NOW.
HOST = """#include <dlfcn.h>
#include <stdio.h>
int PyHost_Api(void) { return 7; }
int main(int argc, char **argv) {
    if (!dlopen(argv[1], RTLD_NOW)) { fprintf(stderr, "%s\\n", dlerror()); return 1; }
    return 0;
}
"""
OLD = "int foo(void) { return 1; }\n"
NEW = OLD + "int bar(void) { return 2; }\nint baz = 3;\n"
CALLS_BAR = "int foo(void); int bar(void);\nint plug(void) { return foo() + bar(); }\n"
READS_BAZ = "int foo(void); extern int baz;\nint plug(void) { return foo() + baz; }\n"


@pytest.fixture
def x86_64() -> None:
    need_x86_64()


def _root(tmp_path: Path) -> tuple[Path, Path]:
    """A glibc root with the old libfoo; returns it and the new libfoo to link against."""
    script = tmp_path / "foo.map"
    script.write_text("FOO_1 { global: foo; bar; baz; local: *; };\n")
    shared = ("-shared", "-fPIC", "-Wl,-soname,libfoo.so.1", f"-Wl,--version-script={script}")
    root = glibc_root(tmp_path / "root")
    compile_c(root / GLIBC_LIBDIR.lstrip("/") / "libfoo.so.1", OLD, flags=shared)
    new = compile_c(tmp_path / "new/libfoo.so.1", NEW, flags=shared)
    compile_c(root / "app/load", LOAD)
    return root, new


def _check(root: Path, tmp_path: Path) -> CompatReport:
    return CompatChecker.default(cache_dir=tmp_path / "cache", use_cache=False).check(f"dir:{root}")


def _verdict(report: CompatReport, path: str) -> FileVerdict:
    return next(f for f in report.files if f.path == path)


@pytest.mark.parametrize(
    ("source", "link", "severity"),
    [
        (CALLS_BAR, (), Severity.WARNING),  # a function, bound lazily: fails when called
        (CALLS_BAR, ("-Wl,-z,now",), Severity.ERROR),  # BIND_NOW: dlopen fails
        (READS_BAZ, (), Severity.ERROR),  # data is always bound at load
    ],
)
def test_versioned_symbol_missing_from_its_library(
    tmp_path: Path, source: str, link: tuple[str, ...], severity: Severity
) -> None:
    root, new = _root(tmp_path)
    compile_c(root / "app/libplug.so", source, flags=("-shared", "-fPIC", str(new), *link))
    v = _verdict(_check(root, tmp_path), "/app/libplug.so")
    symbol = "bar" if source is CALLS_BAR else "baz"
    dlerror = f"/app/libplug.so: undefined symbol: {symbol}, version FOO_1"
    assert [(p.severity, p.subject) for p in v.problems] == [(severity, symbol)]
    lazy = run_in_chroot(root, "/app/load", "/app/libplug.so", "lazy")
    if severity is Severity.ERROR:
        assert v.problems[0].message == dlerror
        assert lazy.returncode == 1 and lazy.stderr.strip() == dlerror
    else:
        assert v.problems[0].message == f"symbol lookup error: {dlerror}"
        assert lazy.returncode == 0 and "lazy binding" in v.problems[0].fix
    now = run_in_chroot(root, "/app/load", "/app/libplug.so", "now")
    assert now.returncode == 1 and now.stderr.strip() == dlerror


def test_unversioned_symbols_without_a_host_are_not_judged(tmp_path: Path) -> None:
    """A plain library may get its symbols from the program that loads it: no verdict."""
    root, _ = _root(tmp_path)
    source = "int from_the_program(void);\nint plug(void) { return from_the_program(); }\n"
    compile_c(root / "app/libplug.so", source, flags=("-shared", "-fPIC", "-Wl,-z,now"))
    assert _verdict(_check(root, tmp_path), "/app/libplug.so").problems == ()


def test_extension_module_gets_its_hosts_exports(tmp_path: Path) -> None:
    """An extension's symbols come from python3 and its libraries; Python binds at import."""
    root, _ = _root(tmp_path)
    compile_c(root / "usr/bin/python3", HOST, flags=("-rdynamic",))
    ext = "/usr/lib/python3/dist-packages/fast.cpython-311-x86_64-linux-gnu.so"
    uses = "int PyHost_Api(void); int PyGone(void);\n"
    compile_c(root / ext.lstrip("/"), uses + "int f(void) { return PyHost_Api(); }\n",
              flags=("-shared", "-fPIC"))  # fmt: skip
    assert _verdict(_check(root, tmp_path), ext).problems == ()
    assert run_in_chroot(root, "/usr/bin/python3", ext).returncode == 0
    compile_c(root / ext.lstrip("/"), uses + "int f(void) { return PyHost_Api() + PyGone(); }\n",
              flags=("-shared", "-fPIC"))  # fmt: skip
    v = _verdict(_check(root, tmp_path), ext)
    expected = f"{ext}: undefined symbol: PyGone"
    assert [(p.severity, p.message) for p in v.problems] == [(Severity.ERROR, expected)]
    real = run_in_chroot(root, "/usr/bin/python3", ext)
    assert real.returncode == 1 and real.stderr.strip() == expected
