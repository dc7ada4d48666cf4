"""Real binaries and root filesystems for the compat tests, and running them for real.

Programs are compiled here from tiny C sources with gcc (glibc) and musl-gcc (Debian's
musl-tools); root filesystems are assembled in tmp_path from the host's own glibc libraries or
the real Alpine minirootfs; `run_in_chroot` runs the tests' own programs inside them, so each
prediction can be compared with what the real loader prints.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from tests.fixtures import shared_fixture
from tests.imagebuild import (
    BuiltImage,
    Member,
    build_image,
    directory,
    file,
    sha256,
    symlink,
    write_oci_layout,
)

HOST_TRIPLET = "x86_64-linux-gnu"
GLIBC_LIBDIR = f"/lib/{HOST_TRIPLET}"


def need_tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} is not installed (apt-get install {_PACKAGES.get(name, name)})")
    return path


_PACKAGES = {"musl-gcc": "musl-tools", "gcc": "gcc", "g++": "g++"}


def need_root() -> None:
    if os.geteuid() != 0 or shutil.which("chroot") is None:
        pytest.skip("running binaries in a chroot needs root")


def need_x86_64() -> None:
    if os.uname().machine != "x86_64":
        pytest.skip("the host libraries and fixtures used here are x86_64")


def compile_c(out: Path, source: str, compiler: str = "gcc", flags: tuple[str, ...] = ()) -> Path:
    """Compile `source` (C text) into `out` with `compiler` and `flags`."""
    cc = need_tool(compiler)
    host_dirs = ("/bin", "/etc", "/lib", "/lib64", "/sbin", "/usr")
    if str(out.resolve()).startswith(host_dirs):  # a test joined an absolute path by mistake
        raise AssertionError(f"refusing to write {out} on the host")
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as work:
        src = Path(work) / ("main.cc" if compiler == "g++" else "main.c")
        src.write_text(source)
        done = subprocess.run(
            [cc, "-o", str(out), str(src), *flags], check=False, capture_output=True
        )
        if done.returncode != 0:
            raise AssertionError(f"{compiler} failed: {done.stderr.decode(errors='replace')}")
    return out


HELLO = '#include <stdio.h>\nint main(void) { puts("hello"); return 0; }\n'
# Loads a shared object the way Python imports an extension module, and prints dlerror().
DLOPEN = """#include <dlfcn.h>
#include <stdio.h>
int main(int argc, char **argv) {
    void *h = dlopen(argv[1], RTLD_NOW);
    if (!h) { fprintf(stderr, "%s\\n", dlerror()); return 1; }
    puts("loaded");
    return 0;
}
"""


def copy_host_file(root: Path, path: str) -> None:
    """Copy a host file to the same path under `root`, keeping symlinks as symlinks."""
    dest = root / path.lstrip("/")
    dest.parent.mkdir(parents=True, exist_ok=True)
    if os.path.islink(path):
        target = os.readlink(path)
        dest.symlink_to(target)
        resolved = target if target.startswith("/") else os.path.join(os.path.dirname(path), target)
        copy_host_file(root, os.path.normpath(resolved))
    elif not dest.exists():
        shutil.copy2(path, dest)


def glibc_root(root: Path, libs: tuple[str, ...] = ("libc.so.6",)) -> Path:
    """A Debian-style glibc root filesystem made of the host's own loader and libraries."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "lib64").mkdir(exist_ok=True)
    copy_host_file(root, f"{GLIBC_LIBDIR}/ld-linux-x86-64.so.2")
    (root / "lib64/ld-linux-x86-64.so.2").symlink_to(f"{GLIBC_LIBDIR}/ld-linux-x86-64.so.2")
    for lib in libs:
        copy_host_file(root, f"{GLIBC_LIBDIR}/{lib}")
    return root


def alpine_root(root: Path, version: str = "3.20.3") -> Path:
    """The real Alpine minirootfs, unpacked."""
    tarball = shared_fixture(f"images/alpine-minirootfs-{version}-x86_64.tar.gz")
    root.mkdir(parents=True, exist_ok=True)
    with tarfile.open(tarball) as tar:
        tar.extractall(root, filter="tar")
    return root


@dataclass(frozen=True)
class Run:
    returncode: int
    stdout: str
    stderr: str
    enoent: bool = False  # execve failed: the program (or its interpreter) was not found
    enoexec: bool = False  # execve failed: the kernel cannot run this format (wrong machine)


# execve directly, as container runtimes do (chroot(1) uses execvp, which retries a file the
# kernel refuses with ENOEXEC as a shell script); an exec failure is reported as its errno.
_EXEC = """
import os, sys
os.chroot(sys.argv[1])
os.chdir("/")
env = {"PATH": "/usr/bin:/bin", "LC_ALL": "C"}
if os.environ.get("BASEWATCH_TEST_LD_LIBRARY_PATH") is not None:
    env["LD_LIBRARY_PATH"] = os.environ["BASEWATCH_TEST_LD_LIBRARY_PATH"]
try:
    os.execve(sys.argv[2], sys.argv[2:], env)
except OSError as exc:
    sys.stderr.write(f"execve: {exc.errno} {exc.strerror}\\n")
    sys.exit(255)
"""


def run_in_chroot(root: Path, *argv: str, library_path: str | None = None) -> Run:
    """Run one of the tests' own programs inside `root` as a container would: chroot, then
    execve, with its own /proc (glibc resolves the program's $ORIGIN through /proc/self/exe);
    `library_path` is the LD_LIBRARY_PATH it gets (as from an image config's Env)."""
    need_root()
    env = dict(os.environ)
    if library_path is not None:
        env["BASEWATCH_TEST_LD_LIBRARY_PATH"] = library_path
    command = [sys.executable, "-c", _EXEC, str(root), *argv]
    unshare = shutil.which("unshare")
    if unshare:
        (root / "proc").mkdir(exist_ok=True)
        command = [unshare, "--fork", "--pid", "--mount", f"--mount-proc={root / 'proc'}", *command]
    done = subprocess.run(command, check=False, capture_output=True, text=True, env=env)
    failed = done.returncode == 255 and done.stderr.startswith("execve: ")
    errno_value = int(done.stderr.split()[1]) if failed else 0
    return Run(
        done.returncode,
        done.stdout,
        done.stderr,
        enoent=errno_value == errno.ENOENT,
        enoexec=errno_value == errno.ENOEXEC,
    )


def members_from_dir(root: Path) -> list[Member]:
    """The files, directories and symlinks under `root` as layer members (for imagebuild)."""
    members: list[Member] = []
    for path in sorted(root.rglob("*")):
        name = str(path.relative_to(root))
        if path.is_symlink():
            members.append(symlink(name, os.readlink(path)))
        elif path.is_dir():
            members.append(directory(name))
        else:
            members.append(file(name, path.read_bytes(), mode=path.stat().st_mode & 0o777))
    return members


def oci_image(out: Path, layers: list[Path], tag: str = "test", env: tuple[str, ...] = ()) -> str:
    """An OCI layout with one layer per directory in `layers` and `env` as the config's Env;
    returns its reference."""
    image = build_image([members_from_dir(layer) for layer in layers])
    if env:
        image = _with_env(image, env)
    write_oci_layout(out, [(image, tag)])
    return f"oci:{out}:{tag}"


def _with_env(image: BuiltImage, env: tuple[str, ...]) -> BuiltImage:
    """The same image with `Env` set in its config (a new config blob and manifest)."""
    config = json.loads(image.config_bytes)
    config["config"]["Env"] = list(env)
    config_bytes = json.dumps(config).encode()
    manifest = json.loads(image.manifest_bytes)
    manifest["config"]["digest"] = sha256(config_bytes)
    manifest["config"]["size"] = len(config_bytes)
    manifest_bytes = json.dumps(manifest).encode()
    blobs = {
        d: b
        for d, b in image.blobs.items()
        if d not in (sha256(image.config_bytes), sha256(image.manifest_bytes))
    }
    blobs[sha256(config_bytes)] = config_bytes
    blobs[sha256(manifest_bytes)] = manifest_bytes
    return replace(
        image,
        config=config,
        config_bytes=config_bytes,
        manifest=manifest,
        manifest_bytes=manifest_bytes,
        blobs=blobs,
    )
