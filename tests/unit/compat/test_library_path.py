"""LD_LIBRARY_PATH from the image config, in both loaders' orders, against the real loaders.

Two builds of libfoo.so.1 sit in /opt/a (foo only) and /opt/b (foo and bar); the program calls
both and binds at start-up, so which directory the loader picks shows in what it prints. The
image's config sets LD_LIBRARY_PATH=/opt/b; the real run gets the same variable.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from basewatch.compat import CompatReport, FileVerdict
from basewatch.jobs.compat import CompatChecker
from tests.unit.compat.realbin import (
    alpine_root,
    compile_c,
    glibc_root,
    need_x86_64,
    oci_image,
    run_in_chroot,
)

pytestmark = pytest.mark.usefixtures("x86_64")

USES_FOO_BAR = (
    "int foo(void); int bar(void);\nint main(void) { return foo() + bar() == 3 ? 0 : 1; }\n"
)
FOO = "int foo(void) { return 1; }\n"
FOO_BAR = FOO + "int bar(void) { return 2; }\n"
ENV = ("PATH=/usr/bin:/bin", "LD_LIBRARY_PATH=/opt/b")


@pytest.fixture
def x86_64() -> None:
    need_x86_64()


def _tree(root: Path, tmp_path: Path, compiler: str, dtags: str) -> None:
    shared = ("-shared", "-fPIC", "-Wl,-soname,libfoo.so.1")
    compile_c(root / "opt/a/libfoo.so.1", FOO, compiler=compiler, flags=shared)
    full = compile_c(root / "opt/b/libfoo.so.1", FOO_BAR, compiler=compiler, flags=shared)
    link: tuple[str, ...] = (str(full), "-Wl,-z,now")
    if dtags:
        link += ("-Wl,-rpath,/opt/a", f"-Wl,--{dtags}-new-dtags")
    compile_c(root / "app/prog", USES_FOO_BAR, compiler=compiler, flags=link)


def _check(root: Path, tmp_path: Path, env: tuple[str, ...]) -> CompatReport:
    ref = oci_image(tmp_path / f"oci-{len(env)}", [root], env=env)
    return CompatChecker.default(cache_dir=tmp_path / "cache", use_cache=False).check(ref)


def _prog(report: CompatReport) -> FileVerdict:
    return next(f for f in report.files if f.path == "/app/prog")


GLIBC_BAR = "/app/prog: symbol lookup error: /app/prog: undefined symbol: bar"
MUSL_BAR = "Error relocating /app/prog: bar: symbol not found"


@pytest.mark.parametrize(
    ("dtags", "expected"),
    [
        ("disable", [GLIBC_BAR]),  # DT_RPATH is searched before LD_LIBRARY_PATH
        ("enable", []),  # DT_RUNPATH after it
        ("", []),
    ],
)
def test_glibc_order(tmp_path: Path, dtags: str, expected: list[str]) -> None:
    root = glibc_root(tmp_path / "root")
    _tree(root, tmp_path, "gcc", dtags)
    v = _prog(_check(root, tmp_path, ENV))
    assert [p.message for p in v.problems] == expected
    real = run_in_chroot(root, "/app/prog", library_path="/opt/b")
    assert real.stderr.strip().splitlines() == expected
    assert real.returncode == (127 if expected else 0)


def test_glibc_without_env(tmp_path: Path) -> None:
    root = glibc_root(tmp_path / "root")
    _tree(root, tmp_path, "gcc", "")
    v = _prog(_check(root, tmp_path, ("PATH=/usr/bin:/bin",)))
    expected = (
        "/app/prog: error while loading shared libraries: libfoo.so.1: cannot open shared "
        "object file: No such file or directory"
    )
    assert [p.message for p in v.problems] == [expected]
    assert run_in_chroot(root, "/app/prog").stderr.strip() == expected


def test_glibc_origin_and_separators(tmp_path: Path) -> None:
    """glibc splits on ';' too, skips empty elements and expands $ORIGIN (the program's dir)."""
    root = glibc_root(tmp_path / "root")
    _tree(root, tmp_path, "gcc", "")
    env = ("LD_LIBRARY_PATH=/nowhere;;$ORIGIN/../opt/b",)
    assert _prog(_check(root, tmp_path, env)).problems == ()
    assert (
        run_in_chroot(root, "/app/prog", library_path="/nowhere;;$ORIGIN/../opt/b").returncode == 0
    )


@pytest.mark.parametrize("dtags", ["disable", "enable"])
def test_musl_env_comes_first(tmp_path: Path, dtags: str) -> None:
    """musl searches LD_LIBRARY_PATH before the RPATH/RUNPATH of the loading chain."""
    root = alpine_root(tmp_path / "root")
    _tree(root, tmp_path, "musl-gcc", dtags)
    assert _prog(_check(root, tmp_path, ENV)).problems == ()
    assert run_in_chroot(root, "/app/prog", library_path="/opt/b").returncode == 0
    # without it, /opt/a of the RPATH is used: bar is missing
    v = _prog(_check(root, tmp_path, ("PATH=/usr/bin:/bin",)))
    assert [p.message for p in v.problems] == [MUSL_BAR]
    real = run_in_chroot(root, "/app/prog")
    assert real.returncode == 127 and real.stderr.strip() == MUSL_BAR


def test_on_uses_the_application_env(tmp_path: Path) -> None:
    """With --on, the application image's Env applies to its files on the base."""
    base = glibc_root(tmp_path / "base")
    app = tmp_path / "app"
    _tree(app, tmp_path, "gcc", "")
    ref = oci_image(tmp_path / "oci", [base, app], env=ENV)
    plain = oci_image(tmp_path / "oci-plain", [base])
    checker = CompatChecker.default(cache_dir=tmp_path / "cache", use_cache=False)
    assert _prog(checker.check_on(ref, plain, layers=1)).problems == ()
