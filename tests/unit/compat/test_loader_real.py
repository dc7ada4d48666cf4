"""Predictions of the loader model against what the real loaders do, message for message.

Each test compiles tiny programs with gcc or musl-gcc, places them in a real root filesystem
(the host's glibc libraries, or the real Alpine minirootfs), asks basewatch for its prediction,
then runs the program in a chroot of that same tree and compares.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from basewatch.compat import Cause, CompatReport, FileKind, FileVerdict, LibcFamily
from basewatch.jobs.compat import CompatChecker
from tests.fixtures import shared_fixture
from tests.unit.compat.realbin import (
    DLOPEN,
    GLIBC_LIBDIR,
    HELLO,
    alpine_root,
    compile_c,
    glibc_root,
    need_x86_64,
    run_in_chroot,
)

pytestmark = pytest.mark.usefixtures("x86_64")


@pytest.fixture
def x86_64() -> None:
    need_x86_64()


def check(root: Path, tmp_path: Path) -> CompatReport:
    checker = CompatChecker.default(cache_dir=tmp_path / "cache", use_cache=False)
    return checker.check(f"dir:{root}")


def verdict(report: CompatReport, path: str) -> FileVerdict:
    for f in report.files:
        if f.path == path:
            return f
    raise AssertionError(f"{path} not in the report: {[f.path for f in report.files]}")


def messages(v: FileVerdict) -> list[str]:
    return [p.message for p in v.problems]


def test_glibc_program_on_glibc_loads(tmp_path: Path) -> None:
    root = glibc_root(tmp_path / "root")
    compile_c(root / "app/hello", HELLO)
    report = check(root, tmp_path)
    v = verdict(report, "/app/hello")
    assert (v.kind, v.libc, v.problems) == (FileKind.DYNAMIC, LibcFamily.GLIBC, ())
    assert report.libc.family is LibcFamily.GLIBC and report.libc.version
    assert run_in_chroot(root, "/app/hello").stdout == "hello\n"


def test_glibc_program_on_alpine_has_no_interpreter(tmp_path: Path) -> None:
    root = alpine_root(tmp_path / "root")
    compile_c(root / "app/hello", HELLO, flags=("-O2", "-D_FORTIFY_SOURCE=2"))
    report = check(root, tmp_path)
    assert (report.libc.family, report.libc.version) == (LibcFamily.MUSL, "1.2.5")
    v = verdict(report, "/app/hello")
    assert [p.cause for p in v.problems] == [Cause.INTERPRETER_MISSING]
    assert v.problems[0].subject == "/lib64/ld-linux-x86-64.so.2"
    assert messages(v) == ["/app/hello: not found"]
    assert "gcompat" in v.problems[0].fix
    assert run_in_chroot(root, "/app/hello").enoent
    # everything Alpine ships loads
    assert [f.path for f in report.files if not f.loads] == ["/app/hello"]


def test_musl_program_on_glibc_has_no_interpreter(tmp_path: Path) -> None:
    root = glibc_root(tmp_path / "root")
    compile_c(root / "app/hello", HELLO, compiler="musl-gcc")
    v = verdict(check(root, tmp_path), "/app/hello")
    assert v.libc is LibcFamily.MUSL
    assert messages(v) == ["/app/hello: not found"]
    assert v.problems[0].subject == "/lib/ld-musl-x86_64.so.1"
    assert run_in_chroot(root, "/app/hello").enoent


def test_musl_program_on_alpine_loads(tmp_path: Path) -> None:
    root = alpine_root(tmp_path / "root")
    compile_c(root / "app/hello", HELLO, compiler="musl-gcc")
    v = verdict(check(root, tmp_path), "/app/hello")
    assert v.loads and v.problems == ()
    assert run_in_chroot(root, "/app/hello").stdout == "hello\n"


def test_static_and_static_pie(tmp_path: Path) -> None:
    root = tmp_path / "root"
    compile_c(root / "app/static", HELLO, flags=("-static",))
    compile_c(root / "app/static-pie", HELLO, flags=("-static-pie",))
    compile_c(root / "app/musl-static", HELLO, compiler="musl-gcc", flags=("-static",))
    report = check(root, tmp_path)
    assert report.libc.family is LibcFamily.NONE
    assert verdict(report, "/app/static").kind is FileKind.STATIC
    assert verdict(report, "/app/static-pie").kind is FileKind.STATIC_PIE
    assert verdict(report, "/app/musl-static").kind is FileKind.STATIC
    assert all(f.loads for f in report.files)
    for name in ("static", "static-pie", "musl-static"):
        assert run_in_chroot(root, f"/app/{name}").stdout == "hello\n"


def test_missing_library_glibc_message(tmp_path: Path) -> None:
    root = glibc_root(tmp_path / "root")
    lib = compile_c(
        tmp_path / "libfoo.so.1",
        "int foo(void) { return 42; }\n",
        flags=("-shared", "-fPIC", "-Wl,-soname,libfoo.so.1"),
    )
    compile_c(
        root / "app/prog",
        "int foo(void);\nint main(void) { return foo() == 42 ? 0 : 1; }\n",
        flags=(str(lib),),
    )
    v = verdict(check(root, tmp_path), "/app/prog")
    expected = (
        "/app/prog: error while loading shared libraries: libfoo.so.1: cannot open shared "
        "object file: No such file or directory"
    )
    assert messages(v) == [expected]
    real = run_in_chroot(root, "/app/prog")
    assert real.returncode == 127 and real.stderr.strip() == expected


def test_runpath_origin_finds_the_library(tmp_path: Path) -> None:
    root = glibc_root(tmp_path / "root")
    lib = compile_c(
        root / "opt/app/lib/libfoo.so.1",
        "int foo(void) { return 42; }\n",
        flags=("-shared", "-fPIC", "-Wl,-soname,libfoo.so.1"),
    )
    compile_c(
        root / "opt/app/bin/prog",
        "int foo(void);\nint main(void) { return foo() == 42 ? 0 : 1; }\n",
        flags=(str(lib), "-Wl,-rpath,$ORIGIN/../lib", "-Wl,--enable-new-dtags"),
    )
    report = check(root, tmp_path)
    v = verdict(report, "/opt/app/bin/prog")
    assert v.problems == ()
    assert run_in_chroot(root, "/opt/app/bin/prog").returncode == 0
    # moved elsewhere, $ORIGIN/../lib no longer holds it: both agree it fails
    shutil.move(root / "opt/app/bin/prog", root / "prog")
    v = verdict(check(root, tmp_path), "/prog")
    assert [p.cause for p in v.problems] == [Cause.LIBRARY_MISSING]
    real = run_in_chroot(root, "/prog")
    assert real.stderr.strip() == v.problems[0].message


def test_glibc_version_too_new(tmp_path: Path) -> None:
    """The real busybox of the glibc busybox image needs GLIBC_2.38; the host has 2.36."""
    import tarfile

    oci = shared_fixture("images/busybox-1.38.0-glibc-amd64.oci.tar")
    root = glibc_root(tmp_path / "root", ("libc.so.6", "libm.so.6", "libresolv.so.2"))
    report = check(root, tmp_path)
    if report.libc.version >= "2.38":
        pytest.skip(f"the host's glibc is {report.libc.version}: no newer need to show")
    _extract_busybox(oci, root / "bin/busybox", tarfile)
    report = check(root, tmp_path)
    v = verdict(report, "/bin/busybox")
    assert [p.cause for p in v.problems] == [Cause.VERSION_MISSING]
    expected = (
        f"/bin/busybox: {GLIBC_LIBDIR}/libc.so.6: version `GLIBC_2.38' not found "
        "(required by /bin/busybox)"
    )
    assert messages(v) == [expected]
    assert "glibc >= 2.38" in v.problems[0].fix
    real = run_in_chroot(root, "/bin/busybox", "true")
    assert real.returncode == 1 and real.stderr.strip() == expected


def _extract_busybox(oci: Path, dest: Path, tarfile_mod: object) -> None:
    import io
    import json
    import tarfile

    with tarfile.open(oci) as outer:

        def blob(digest: str) -> bytes:
            member = outer.extractfile(f"blobs/sha256/{digest.split(':')[1]}")
            assert member is not None
            return member.read()

        index = json.loads(blob_from(outer, "index.json"))
        manifest = json.loads(blob(index["manifests"][0]["digest"]))
        for layer in manifest["layers"]:
            with tarfile.open(fileobj=io.BytesIO(blob(layer["digest"]))) as inner:
                member = inner.extractfile("bin/busybox")
                if member is not None:
                    dest.parent.mkdir(parents=True, exist_ok=True)
                    dest.write_bytes(member.read())
                    dest.chmod(0o755)
                    return
    raise AssertionError("no bin/busybox in the busybox image")


def blob_from(outer: object, name: str) -> bytes:
    import tarfile

    assert isinstance(outer, tarfile.TarFile)
    member = outer.extractfile(name)
    assert member is not None
    return member.read()


def test_extension_needing_libstdcxx_on_glibc_without_it(tmp_path: Path) -> None:
    root = glibc_root(tmp_path / "root")
    ext = "usr/lib/python3/dist-packages/fast.cpython-311-x86_64-linux-gnu.so"
    compile_c(
        root / ext,
        "int fast(void) { return 1; }\n",
        compiler="g++",
        flags=("-shared", "-fPIC", "-Wl,--no-as-needed", "-lstdc++"),
    )
    compile_c(root / "app/load", DLOPEN)
    v = verdict(check(root, tmp_path), f"/{ext}")
    assert v.kind is FileKind.SHARED_LIBRARY and "libstdc++.so.6" in v.needed
    expected = "libstdc++.so.6: cannot open shared object file: No such file or directory"
    assert messages(v) == [expected]
    assert "libstdc++6" in v.problems[0].fix
    assert run_in_chroot(root, "/app/load", f"/{ext}").stderr.strip() == expected


def test_musl_extension_needing_libstdcxx_on_alpine(tmp_path: Path) -> None:
    root = alpine_root(tmp_path / "root")
    stub = compile_c(
        tmp_path / "stub/libstdc++.so.6",
        "int cxx(void) { return 1; }\n",
        compiler="musl-gcc",
        flags=("-shared", "-fPIC", "-Wl,-soname,libstdc++.so.6"),
    )
    ext = "usr/lib/python3.12/site-packages/fast.cpython-312-x86_64-linux-musl.so"
    compile_c(
        root / ext,
        "int cxx(void);\nint fast(void) { return cxx(); }\n",
        compiler="musl-gcc",
        flags=("-shared", "-fPIC", str(stub)),
    )
    compile_c(root / "app/load", DLOPEN, compiler="musl-gcc")
    v = verdict(check(root, tmp_path), f"/{ext}")
    expected = (
        f"Error loading shared library libstdc++.so.6: No such file or directory (needed by /{ext})"
    )
    assert messages(v)[0] == expected
    assert "apk add libstdc++" in v.problems[0].fix
    real = run_in_chroot(root, "/app/load", f"/{ext}")
    assert real.stderr.strip() == expected


def test_musl_symbol_not_found(tmp_path: Path) -> None:
    root = alpine_root(tmp_path / "root")
    new = compile_c(
        tmp_path / "new/libfoo.so.1",
        "int foo(void) { return 1; }\nint bar(void) { return 2; }\n",
        compiler="musl-gcc",
        flags=("-shared", "-fPIC", "-Wl,-soname,libfoo.so.1"),
    )
    compile_c(
        root / "usr/lib/libfoo.so.1",
        "int foo(void) { return 1; }\n",
        compiler="musl-gcc",
        flags=("-shared", "-fPIC", "-Wl,-soname,libfoo.so.1"),
    )
    compile_c(
        root / "app/prog",
        "int foo(void); int bar(void);\nint main(void) { return foo() + bar() == 3 ? 0 : 1; }\n",
        compiler="musl-gcc",
        flags=(str(new),),
    )
    v = verdict(check(root, tmp_path), "/app/prog")
    assert messages(v) == ["Error relocating /app/prog: bar: symbol not found"]
    real = run_in_chroot(root, "/app/prog")
    assert real.returncode == 127 and real.stderr.strip() == messages(v)[0]


@pytest.mark.parametrize("bind_now", [True, False])
def test_glibc_undefined_symbol(tmp_path: Path, bind_now: bool) -> None:
    root = glibc_root(tmp_path / "root")
    full = compile_c(
        tmp_path / "full/libfoo.so.1",
        "int foo(void) { return 1; }\nint bar(void) { return 2; }\n",
        flags=("-shared", "-fPIC", "-Wl,-soname,libfoo.so.1"),
    )
    compile_c(
        root / GLIBC_LIBDIR.lstrip("/") / "libfoo.so.1",
        "int foo(void) { return 1; }\n",
        flags=("-shared", "-fPIC", "-Wl,-soname,libfoo.so.1"),
    )
    compile_c(
        root / "app/prog",
        "int foo(void); int bar(void);\nint main(void) { return foo() + bar() == 3 ? 0 : 1; }\n",
        flags=(str(full), "-Wl,-z,now" if bind_now else "-Wl,-z,lazy"),
    )
    v = verdict(check(root, tmp_path), "/app/prog")
    expected = "/app/prog: symbol lookup error: /app/prog: undefined symbol: bar"
    assert messages(v) == [expected]
    assert v.loads is not bind_now  # lazy: it starts, and fails when bar is called
    real = run_in_chroot(root, "/app/prog")
    assert real.returncode == 127 and real.stderr.strip() == expected


def test_malformed_elf_never_breaks_the_scan(tmp_path: Path) -> None:
    root = glibc_root(tmp_path / "root")
    libc = root / GLIBC_LIBDIR.lstrip("/") / "libc.so.6"
    (root / "app").mkdir()
    (root / "app/broken.so").write_bytes(libc.read_bytes()[:4000])
    compile_c(root / "app/hello", HELLO)
    report = check(root, tmp_path)
    assert [p.cause for p in verdict(report, "/app/broken.so").problems] == [Cause.MALFORMED]
    assert verdict(report, "/app/hello").problems == ()


LIBFOO = "int foo(void) { return 42; }\n"
USES_FOO = "int foo(void);\nint main(void) { return foo() == 42 ? 0 : 1; }\n"


def test_glibc_ld_so_conf_and_cache(tmp_path: Path) -> None:
    """A library in a directory only ld.so.conf names is found through ld.so.cache, and only
    once ldconfig has indexed it."""
    ldconfig = shutil.which("ldconfig")
    if ldconfig is None:
        pytest.skip("ldconfig is not installed")
    root = glibc_root(tmp_path / "root")
    lib = compile_c(
        root / "opt/vendor/lib/libfoo.so.1",
        LIBFOO,
        flags=("-shared", "-fPIC", "-Wl,-soname,libfoo.so.1"),
    )
    compile_c(root / "app/prog", USES_FOO, flags=(str(lib),))
    (root / "etc/ld.so.conf.d").mkdir(parents=True)
    (root / "etc/ld.so.conf").write_text("include /etc/ld.so.conf.d/*.conf\n")
    (root / "etc/ld.so.conf.d/vendor.conf").write_text("/opt/vendor/lib\n")
    # no cache at all: glibc does not read ld.so.conf itself
    v = verdict(check(root, tmp_path), "/app/prog")
    assert [p.cause for p in v.problems] == [Cause.LIBRARY_MISSING]
    assert run_in_chroot(root, "/app/prog").stderr.strip() == v.problems[0].message
    subprocess.run([ldconfig, "-r", str(root)], check=True, capture_output=True)
    assert verdict(check(root, tmp_path), "/app/prog").problems == ()
    assert run_in_chroot(root, "/app/prog").returncode == 0
    # a library added after ldconfig ran is not in the cache: a warning, and not found
    compile_c(
        root / "opt/vendor/lib/libbar.so.2",
        "int bar(void) { return 1; }\n",
        flags=("-shared", "-fPIC", "-Wl,-soname,libbar.so.2"),
    )
    compile_c(root / "app/prog2", "int bar(void);\nint main(void) { return bar() - 1; }\n",
              flags=(str(root / "opt/vendor/lib/libbar.so.2"),))  # fmt: skip
    report = check(root, tmp_path)
    assert any("libbar.so.2" in w and "/opt/vendor/lib" in w for w in report.warnings)
    v = verdict(report, "/app/prog2")
    assert [p.subject for p in v.problems] == ["libbar.so.2"]
    assert run_in_chroot(root, "/app/prog2").stderr.strip() == v.problems[0].message


def test_musl_path_file(tmp_path: Path) -> None:
    root = alpine_root(tmp_path / "root")
    lib = compile_c(
        root / "opt/vendor/lib/libfoo.so.1",
        LIBFOO,
        compiler="musl-gcc",
        flags=("-shared", "-fPIC", "-Wl,-soname,libfoo.so.1"),
    )
    compile_c(root / "app/prog", USES_FOO, compiler="musl-gcc", flags=(str(lib),))
    v = verdict(check(root, tmp_path), "/app/prog")
    # musl reports the missing library, then the symbols it would have provided
    assert messages(v) == [
        "Error loading shared library libfoo.so.1: No such file or directory (needed by /app/prog)",
        "Error relocating /app/prog: foo: symbol not found",
    ]
    real = run_in_chroot(root, "/app/prog")
    assert real.returncode == 127 and real.stderr.splitlines() == messages(v)
    (root / "etc/ld-musl-x86_64.path").write_text("/lib\n/usr/lib\n/opt/vendor/lib\n")
    assert verdict(check(root, tmp_path), "/app/prog").problems == ()
    assert run_in_chroot(root, "/app/prog").returncode == 0


def test_node_addon_with_a_loadable_variant(tmp_path: Path) -> None:
    root = alpine_root(tmp_path / "root")
    prebuilds = root / "srv/node_modules/@acme/fast/prebuilds/linux-x64"
    addon = '#include <stdio.h>\nvoid hello(int n, const char *s) { printf("%d %s\\n", n, s); }\n'
    shared = ("-shared", "-fPIC", "-O2", "-D_FORTIFY_SOURCE=2")
    compile_c(prebuilds / "node.napi.glibc.node", addon, flags=shared)
    compile_c(prebuilds / "node.napi.musl.node", addon, compiler="musl-gcc", flags=shared)
    report = check(root, tmp_path)
    glibc = verdict(report, "/srv/node_modules/@acme/fast/prebuilds/linux-x64/node.napi.glibc.node")
    assert glibc.loads and [p.subject for p in glibc.problems] == ["__printf_chk"]
    assert "node.napi.musl.node loads instead" in glibc.problems[0].message
    # alone, the glibc build is an error: musl has no __printf_chk
    (prebuilds / "node.napi.musl.node").unlink()
    compile_c(root / "app/load", DLOPEN, compiler="musl-gcc")
    glibc = verdict(check(root, tmp_path), glibc.path)
    assert not glibc.loads
    expected = f"Error relocating {glibc.path}: __printf_chk: symbol not found"
    assert messages(glibc) == [expected]
    assert run_in_chroot(root, "/app/load", glibc.path).stderr.strip() == expected


def test_wrong_architecture(tmp_path: Path) -> None:
    from tests.unit.elf.test_reader import synthetic

    root = glibc_root(tmp_path / "root")
    arm = root / "app/arm64-prog"
    arm.parent.mkdir(parents=True)
    data = bytearray(synthetic(64, False, 183))
    data[16] = 2  # ET_EXEC, and no PT_INTERP: the kernel must refuse the machine itself
    data[64 + 56 : 64 + 60] = bytes(4)  # the PT_INTERP header (the second) becomes PT_NULL
    arm.write_bytes(bytes(data))
    arm.chmod(0o755)
    compile_c(root / "app/hello", HELLO)  # the image's own architecture is the majority's
    v = verdict(check(root, tmp_path), "/app/arm64-prog")
    assert [p.cause for p in v.problems] == [Cause.WRONG_ARCHITECTURE]
    assert messages(v) == ["exec /app/arm64-prog: exec format error"]
    assert v.problems[0].subject == "aarch64 (64-bit)"
    real = run_in_chroot(root, "/app/arm64-prog")
    if "Exec format error" not in real.stderr:
        pytest.skip(
            f"this kernel does not answer ENOEXEC here (binfmt_misc, sandbox): {real.stderr!r}"
        )


def test_musl_relocation_order_and_copy_relocations(tmp_path: Path) -> None:
    """A glibc C++ program on Alpine whose glibc loader name leads to musl's (as libc6-compat
    arranges): musl reports a line per failed relocation, PLT ones first, and a COPY relocation
    (`std::cout`, defined in the program itself) fails when no library defines it."""
    from basewatch.elf.reader import parse_elf

    root = alpine_root(tmp_path / "root")
    (root / "lib64").mkdir()
    (root / "lib64/ld-linux-x86-64.so.2").symlink_to("/lib/ld-musl-x86_64.so.1")
    source = '#include <iostream>\nint main() { std::cout << "hello" << std::endl; }\n'
    prog = compile_c(root / "app/cxx", source, compiler="g++")
    with prog.open("rb") as f:
        relocations = parse_elf(f, symbols=True).relocations
    assert ("_ZSt4cout", True) in relocations
    names = [name for name, _ in relocations]
    # a call (DT_JMPREL) is relocated before the COPY relocation (DT_RELA)
    assert names.index("_ZNSolsEPFRSoS_E") < names.index("_ZSt4cout")
    v = verdict(check(root, tmp_path), "/app/cxx")
    assert messages(v)[0] == (
        "Error loading shared library libstdc++.so.6: No such file or directory "
        "(needed by /app/cxx)"
    )
    assert messages(v)[-1] == "Error relocating /app/cxx: _ZSt4cout: symbol not found"
    real = run_in_chroot(root, "/app/cxx")
    assert real.returncode == 127 and real.stderr.splitlines() == messages(v)
