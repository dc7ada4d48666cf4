"""The program set of issue 6 on real images: basewatch's prediction against real runs.

Programs are built here with gcc, g++ and musl-gcc: plain, fortified, C++, one calling `fcntl`
(glibc 2.28+ binds it to `fcntl64` under `_FILE_OFFSET_BITS=64`), one needing `GLIBC_2.38`
(`strlcpy`, linked against trixie's libc), one finding its library through
`RUNPATH=$ORIGIN/../lib`, a static one and a static-PIE one. They are copied into unpacked copies
of real images (Debian bookworm and trixie minbase from mmdebstrap, the Alpine 3.20.3
minirootfs), basewatch predicts each, and each is then executed in a chroot of that copy: what the
loader prints must be what basewatch predicted, message for message.

musl has no C++ library on Debian (musl-tools ships none) and Debian's musl-gcc cannot make a
static PIE (`-static-pie` gives a dynamic PIE), so the musl set has neither.
"""

from __future__ import annotations

import shutil
import subprocess
import tarfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from basewatch.compat import Cause, CompatReport, FileVerdict, Severity
from basewatch.jobs.compat import CompatChecker
from tests.fixtures import shared_fixture
from tests.integration import images
from tests.integration.images import BuildImage
from tests.unit.compat.realbin import compile_c, need_root, need_x86_64, run_in_chroot

pytestmark = pytest.mark.integration

GREET_LIB = '#include <stdio.h>\nvoid greet(void) { puts("hello"); }\n'
SOURCES = {
    "plain": '#include <stdio.h>\nint main(void) { puts("hello"); return 0; }\n',
    "fortified": (
        "#include <stdio.h>\n"
        'int main(int argc, char **argv) { printf("hello %d\\n", argc); return 0; }\n'
    ),
    "cxx": '#include <iostream>\nint main() { std::cout << "hello" << std::endl; return 0; }\n',
    "fcntl": (
        "#include <fcntl.h>\n#include <stdio.h>\n"
        'int main(void) { printf("hello %d\\n", fcntl(1, F_GETFD) >= 0); return 0; }\n'
    ),
    "recent": (
        "#include <stdio.h>\n#include <stddef.h>\n"
        "size_t strlcpy(char *, const char *, size_t);\n"
        'int main(void) { char b[6]; strlcpy(b, "hello world", sizeof b); puts(b); return 0; }\n'
    ),
    "runpath": "void greet(void);\nint main(void) { greet(); return 0; }\n",
    "static": '#include <stdio.h>\nint main(void) { puts("hello"); return 0; }\n',
    "static-pie": '#include <stdio.h>\nint main(void) { puts("hello"); return 0; }\n',
}
OUTPUT = {"fortified": "hello 1\n", "fcntl": "hello 1\n"}


@dataclass(frozen=True)
class ProgramSet:
    root: Path  # holds glibc/{bin,lib} and musl/{bin,lib}
    glibc: tuple[str, ...]
    musl: tuple[str, ...]


@pytest.fixture(scope="module")
def programs(build_image: BuildImage, tmp_path_factory: pytest.TempPathFactory) -> ProgramSet:
    """The issue's program set, built once: /app/glibc/bin/* and /app/musl/bin/*."""
    need_x86_64()
    trixie_libc = build_image(images.TRIXIE_MINBASE).rootfs / "usr/lib/x86_64-linux-gnu/libc.so.6"
    root = tmp_path_factory.mktemp("programs") / "app"
    shared = ("-shared", "-fPIC", "-Wl,-soname,libgreet.so.1")
    runpath = ("-Wl,-rpath,$ORIGIN/../lib", "-Wl,--enable-new-dtags")
    glibc_flags: dict[str, tuple[str, ...]] = {
        "plain": (),
        "fortified": ("-O2", "-D_FORTIFY_SOURCE=2"),
        "cxx": (),
        "fcntl": ("-D_FILE_OFFSET_BITS=64",),
        # strlcpy@GLIBC_2.38 from trixie's libc (the host's is older); its own needs on ld.so
        # are the host linker's business only
        "recent": (str(trixie_libc), "-Wl,--allow-shlib-undefined"),
        "runpath": (str(root / "glibc/lib/libgreet.so.1"), *runpath),
        "static": ("-static",),
        "static-pie": ("-static-pie",),
    }
    compile_c(root / "glibc/lib/libgreet.so.1", GREET_LIB, flags=shared)
    for name, flags in glibc_flags.items():
        compiler = "g++" if name == "cxx" else "gcc"
        compile_c(root / "glibc/bin" / name, SOURCES[name], compiler=compiler, flags=flags)
    musl_flags: dict[str, tuple[str, ...]] = {
        "plain": (),
        "fortified": ("-O2", "-D_FORTIFY_SOURCE=2"),
        "fcntl": ("-D_FILE_OFFSET_BITS=64",),
        "recent": (),  # musl has had strlcpy all along
        "runpath": (str(root / "musl/lib/libgreet.so.1"), *runpath),
        "static": ("-static",),
    }
    compile_c(root / "musl/lib/libgreet.so.1", GREET_LIB, compiler="musl-gcc", flags=shared)
    for name, flags in musl_flags.items():
        compile_c(root / "musl/bin" / name, SOURCES[name], compiler="musl-gcc", flags=flags)
    return ProgramSet(root, tuple(glibc_flags), tuple(musl_flags))


def copy_image_root(source: Path, dest: Path) -> Path:
    """A private copy of a cached image's root filesystem (the cache itself stays untouched)."""
    need_root()  # chroot, and a copy that keeps owners and device nodes
    subprocess.run(["cp", "-a", str(source), str(dest)], check=True)
    return dest


def alpine_copy(dest: Path) -> Path:
    tarball = shared_fixture("images/alpine-minirootfs-3.20.3-x86_64.tar.gz")
    dest.mkdir(parents=True)
    with tarfile.open(tarball) as tar:
        tar.extractall(dest, filter="tar")
    return dest


def place(programs: ProgramSet, root: Path) -> None:
    shutil.copytree(programs.root, root / "app", symlinks=True)


def check(root: Path, cache: Path) -> CompatReport:
    return CompatChecker.default(cache_dir=cache).check(f"dir:{root}")


def verdict(report: CompatReport, path: str) -> FileVerdict:
    found = [f for f in report.files if f.path == path]
    assert found, f"{path} not in the report"
    return found[0]


def outcome(v: FileVerdict) -> str:
    """A short name for the prediction: "runs", or the cause and subject of the errors."""
    errors = [p for p in v.problems if p.severity is Severity.ERROR]
    return "runs" if not errors else ", ".join(f"{p.cause.value} {p.subject}" for p in errors)


def assert_real_run_matches(root: Path, v: FileVerdict, program: str) -> None:
    """Execute `v.path` in a chroot of `root` and compare with the prediction."""
    real = run_in_chroot(root, v.path)
    errors = [p for p in v.problems if p.severity is Severity.ERROR]
    if not errors:
        assert v.problems == (), v.problems
        assert (real.returncode, real.stderr) == (0, ""), (v.path, real)
        assert real.stdout == OUTPUT.get(program, "hello\n")
    elif errors[0].cause is Cause.INTERPRETER_MISSING:
        # the kernel's ENOENT for an existing file, which a shell reports as "not found"
        assert real.enoent, (v.path, real)
        assert [p.message for p in errors] == [f"{v.path}: not found"]
    else:
        assert real.returncode != 0 and real.stdout == "", (v.path, real)
        assert real.stderr.splitlines() == [p.message for p in errors]


def run_all(programs: ProgramSet, root: Path, report: CompatReport) -> dict[str, str]:
    """Every program's predicted outcome, after checking each against a real run."""
    seen = {}
    for family, names in (("glibc", programs.glibc), ("musl", programs.musl)):
        for name in names:
            v = verdict(report, f"/app/{family}/bin/{name}")
            assert_real_run_matches(root, v, name)
            seen[f"{family}/{name}"] = outcome(v)
    # the library the RUNPATH programs load is predicted as loading (or not) like them
    return seen


GLIBC_SET = ("plain", "fortified", "cxx", "fcntl", "runpath", "static", "static-pie")
MUSL_DYNAMIC = ("plain", "fortified", "fcntl", "recent", "runpath")
GLIBC_INTERP = "interpreter-missing /lib64/ld-linux-x86-64.so.2"
MUSL_INTERP = "interpreter-missing /lib/ld-musl-x86_64.so.1"


@pytest.mark.parametrize(
    ("recipe", "glibc", "recent"),
    [
        (images.BOOKWORM_MINBASE, "2.36", "version-missing GLIBC_2.38"),
        (images.TRIXIE_MINBASE, "2.41", "runs"),
    ],
    ids=["bookworm", "trixie"],
)
def test_program_set_on_debian(
    recipe: images.Recipe,
    glibc: str,
    recent: str,
    programs: ProgramSet,
    build_image: BuildImage,
    tmp_path: Path,
) -> None:
    root = copy_image_root(build_image(recipe).rootfs, tmp_path / "root")
    place(programs, root)
    report = check(root, tmp_path / "cache")
    assert report.libc.version == glibc
    expected = {f"glibc/{n}": "runs" for n in GLIBC_SET}
    expected["glibc/recent"] = recent
    expected |= {f"musl/{n}": MUSL_INTERP for n in MUSL_DYNAMIC}
    expected["musl/static"] = "runs"
    assert run_all(programs, root, report) == expected
    if recent != "runs":
        v = verdict(report, "/app/glibc/bin/recent")
        assert v.problems[0].message == (
            "/app/glibc/bin/recent: /lib/x86_64-linux-gnu/libc.so.6: version `GLIBC_2.38' not "
            "found (required by /app/glibc/bin/recent)"
        )
        assert "glibc >= 2.38 (this image has glibc 2.36)" in v.problems[0].fix
    # nothing of the image itself is predicted to fail
    assert [f.path for f in report.failures if not f.path.startswith("/app/")] == []


def test_program_set_on_alpine(programs: ProgramSet, tmp_path: Path) -> None:
    root = alpine_copy(tmp_path / "root")
    place(programs, root)
    report = check(root, tmp_path / "cache")
    expected = {f"glibc/{n}": GLIBC_INTERP for n in (*GLIBC_SET, "recent")}
    expected |= {"glibc/static": "runs", "glibc/static-pie": "runs"}
    expected |= {f"musl/{n}": "runs" for n in (*MUSL_DYNAMIC, "static")}
    assert run_all(programs, root, report) == expected
    fix = verdict(report, "/app/glibc/bin/plain").problems[0].fix
    assert "gcompat" in fix


def test_glibc_programs_on_alpine_with_on(programs: ProgramSet, tmp_path: Path) -> None:
    """`--on alpine:3.20.3 --path /app`: the glibc programs lack their interpreter, as a run of
    them in the real Alpine root shows."""
    app = tmp_path / "image"
    place(programs, app)
    alpine = shared_fixture("images/alpine-minirootfs-3.20.3-x86_64.tar.gz")
    report = CompatChecker.default(cache_dir=tmp_path / "cache").check_on(
        f"dir:{app}", f"rootfs:{alpine}", path="/app"
    )
    assert report.libc.version == "1.2.5"
    assert {f.path for f in report.files} >= {f"/app/glibc/bin/{n}" for n in programs.glibc}
    assert all(f.path.startswith("/app/") for f in report.files)
    root = alpine_copy(tmp_path / "root")
    place(programs, root)
    outcomes = run_all(programs, root, report)
    assert outcomes["glibc/fortified"] == GLIBC_INTERP
    assert {k for k, o in outcomes.items() if o != "runs"} == {
        f"glibc/{n}" for n in programs.glibc if not n.startswith("static")
    }


def test_glibc_programs_on_alpine_with_a_compat_loader(
    programs: ProgramSet, tmp_path: Path
) -> None:
    """Alpine's libc6-compat way of running glibc programs (the glibc loader name is a symlink
    to musl's), made by hand: musl then loads them and reports, before the program starts, each
    glibc-only symbol it does not have (`__printf_chk` of fortified builds, `fcntl64`)."""
    root = alpine_copy(tmp_path / "root")
    (root / "lib64").mkdir()
    (root / "lib64/ld-linux-x86-64.so.2").symlink_to("/lib/ld-musl-x86_64.so.1")
    place(programs, root)
    report = check(root, tmp_path / "cache")
    outcomes = run_all(programs, root, report)
    glibc = {k: o for k, o in outcomes.items() if k.startswith("glibc/")}
    assert glibc["glibc/plain"] == "runs"
    assert glibc["glibc/fortified"] == "symbol-missing __printf_chk"
    assert glibc["glibc/fcntl"] == "symbol-missing fcntl64"


# --- Python extension modules, imported by the image's own python3 --------------------------

EXTENSION = """#include <Python.h>
%(extra)s
static PyObject *hello(PyObject *self, PyObject *args) { return %(value)s; }
static PyMethodDef methods[] = {{"hello", hello, METH_NOARGS, ""}, {NULL, NULL, 0, NULL}};
static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "%(name)s", "", -1, methods};
%(linkage)s PyMODINIT_FUNC PyInit_%(name)s(void) { return PyModule_Create(&module); }
"""
EXTENSIONS = {
    "plain": ("", 'PyUnicode_FromString("hello")', "gcc"),
    # a C++ module: libstdc++ is needed at import
    "cxx": (
        '#include <string>\nstatic std::string text() { return std::string("hel") + "lo"; }',
        "PyUnicode_FromString(text().c_str())",
        "g++",
    ),
    # an API the interpreter does not have: Python dlopens with RTLD_NOW, so import fails
    "missing": ("PyObject *PyFoo_Missing(void);", "PyFoo_Missing()", "gcc"),
}
DIST = "/usr/lib/python3/dist-packages"
IMPORT = """import importlib, sys
try:
    print(importlib.import_module(sys.argv[1]).hello())
except ImportError as exc:
    print(exc, file=sys.stderr)
    sys.exit(3)
"""


def python_includes() -> list[str]:
    config = shutil.which("python3-config")
    if config is None:
        pytest.skip("python3-config is needed to build an extension module")
    flags = subprocess.run([config, "--includes"], capture_output=True, text=True, check=True)
    return flags.stdout.split()


def test_python_extensions_on_bookworm_python(build_image: BuildImage, tmp_path: Path) -> None:
    """Extension modules built against the host's Python 3.11 headers and imported by the
    image's own python3.11: the undefined `Py*` symbols bind to the interpreter's exports."""
    need_x86_64()
    root = copy_image_root(build_image(images.BOOKWORM_PYTHON).rootfs, tmp_path / "root")
    includes = python_includes()
    for name, (extra, value, compiler) in EXTENSIONS.items():
        linkage = 'extern "C"' if compiler == "g++" else ""
        source = EXTENSION % {"extra": extra, "value": value, "name": name, "linkage": linkage}
        out = root / DIST.lstrip("/") / f"{name}.cpython-311-x86_64-linux-gnu.so"
        flags = ("-shared", "-fPIC", "-Wl,--no-as-needed", *includes)
        compile_c(out, source, compiler=compiler, flags=flags)

    def predicted_and_real() -> dict[str, tuple[list[str], str]]:
        report = check(root, tmp_path / "cache")
        out = {}
        for name in EXTENSIONS:
            v = verdict(report, f"{DIST}/{name}.cpython-311-x86_64-linux-gnu.so")
            errors = [p.message for p in v.problems if p.severity is Severity.ERROR]
            real = run_in_chroot(root, "/usr/bin/python3", "-c", IMPORT, name)
            assert real.returncode == (3 if errors else 0), (name, real)
            assert real.stderr.splitlines() == errors
            out[name] = (errors, real.stdout)
        return out

    ext = f"{DIST}/missing.cpython-311-x86_64-linux-gnu.so"
    assert predicted_and_real() == {
        "plain": ([], "hello\n"),
        "cxx": ([], "hello\n"),
        "missing": ([f"{ext}: undefined symbol: PyFoo_Missing"], ""),
    }
    # the same image without libstdc++ (removed as dpkg would, cache updated by ldconfig)
    purge = "PATH=/usr/sbin:/usr/bin:/sbin:/bin dpkg --purge --force-depends libstdc++6"
    assert run_in_chroot(root, "/bin/sh", "-c", purge).returncode == 0
    missing = "libstdc++.so.6: cannot open shared object file: No such file or directory"
    assert predicted_and_real()["cxx"] == ([missing], "")


# --- Node addons, required by a real node ---------------------------------------------------

# Node-API as node_api.h declares it (npm's node-api-headers); declared here so that building
# needs no download. Node finds the module by its `napi_register_module_v1` export.
ADDON = """#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
typedef struct napi_env__ *napi_env;
typedef struct napi_value__ *napi_value;
typedef int napi_status;
napi_status napi_create_string_utf8(napi_env, const char *, size_t, napi_value *);
napi_status napi_set_named_property(napi_env, napi_value, const char *, napi_value);
%(extra)s
napi_value napi_register_module_v1(napi_env env, napi_value exports) {
    napi_value text;
    %(call)s
    napi_create_string_utf8(env, "hello", SIZE_MAX, &text);
    napi_set_named_property(env, exports, "greeting", text);
    return exports;
}
"""
ADDONS = {
    "plain": ("", ""),
    # needs a library of its package that nothing puts on the search path
    "bundled": ("void greet(void);", "greet();"),
    # a Node-API function this node lacks, called only when asked: node dlopens lazily
    "newer": (
        "napi_status napi_frobnicate(napi_env);",
        'if (getenv("CALL_IT")) napi_frobnicate(env);',
    ),
}
REQUIRE = """try {
    if (process.argv[2]) process.env.CALL_IT = "1";
    console.log(require(process.argv[1]).greeting);
} catch (e) { console.error(e.message); process.exit(3); }
"""


def test_node_addons_on_bookworm(build_image: BuildImage, tmp_path: Path) -> None:
    """Addons in node_modules, required by the host's node (v20, a glibc build) copied into a
    bookworm image, which holds the libstdc++ and libgcc it needs: the undefined `napi_*`
    symbols bind to node's exports."""
    need_x86_64()
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed")
    root = copy_image_root(build_image(images.BOOKWORM_MINBASE).rootfs, tmp_path / "root")
    shutil.copy2(Path(node).resolve(), root / "usr/bin/node")
    # one package per addon: a package's failing variant is no failure when another loads
    modules = root / "srv/node_modules"
    lib = compile_c(
        modules / "bundled/lib/libgreet.so.1",
        GREET_LIB,
        flags=("-shared", "-fPIC", "-Wl,-soname,libgreet.so.1"),
    )
    for name, (extra, call) in ADDONS.items():
        flags = ("-shared", "-fPIC", *((str(lib),) if name == "bundled" else ()))
        source = ADDON % {"extra": extra, "call": call}
        compile_c(modules / f"{name}/build/Release/addon.node", source, flags=flags)
    report = check(root, tmp_path / "cache")
    addon = "/srv/node_modules/{}/build/Release/addon.node".format
    predicted = {
        name: [(p.severity, p.message) for p in verdict(report, addon(name)).problems]
        for name in ADDONS
    }
    missing = f"{lib.name}: cannot open shared object file: No such file or directory"
    lazy = f"symbol lookup error: {addon('newer')}: undefined symbol: napi_frobnicate"
    assert predicted == {
        "plain": [],
        "bundled": [(Severity.ERROR, missing)],
        "newer": [(Severity.WARNING, lazy)],
    }
    run = {n: run_in_chroot(root, "/usr/bin/node", "-e", REQUIRE, addon(n)) for n in ADDONS}
    assert (run["plain"].returncode, run["plain"].stdout) == (0, "hello\n")
    assert (run["bundled"].returncode, run["bundled"].stderr) == (3, missing + "\n")
    # it loads; the call fails, and glibc prefixes the message with the program's name
    assert (run["newer"].returncode, run["newer"].stdout) == (0, "hello\n")
    called = run_in_chroot(root, "/usr/bin/node", "-e", REQUIRE, addon("newer"), "call")
    assert called.returncode == 127
    assert called.stderr == f"/usr/bin/node: {lazy}\n"
