"""`basewatch compat` on real images, checked against the images' own loaders.

On a real Debian bookworm image with python3 (every executable and library) and on the real
Alpine and busybox images, basewatch must predict no failure where the real loader succeeds:
each file is given to the image's own loader in list mode (`ld.so --list`, musl's `ldd` mode),
in a chroot of the test's own unpacked image (never inside basewatch). Binaries of Debian trixie
(glibc 2.41) transplanted onto bookworm (2.36) with `--on` must report the glibc versions they
need, as the real loader does.
"""

from __future__ import annotations

import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

from basewatch.compat import Cause, CompatReport, FileKind, LibcFamily
from basewatch.jobs.compat import CompatChecker
from tests.fixtures import shared_fixture
from tests.integration import images
from tests.integration.images import BuildImage

pytestmark = pytest.mark.integration


def checker(tmp_path: Path) -> CompatChecker:
    return CompatChecker.default(cache_dir=tmp_path / "cache")


def loader_list(root: Path, loader: str, paths: list[str]) -> set[str]:
    """The paths the image's own loader fails to load in list mode, run in a chroot of root."""
    chroot, unshare = shutil.which("chroot"), shutil.which("unshare")
    if chroot is None or unshare is None:
        pytest.skip("chroot and unshare are needed to run the image's loader")
    script = 'for f in "$@"; do "$0" --list "$f" >/dev/null 2>&1 || echo "$f"; done'
    done = subprocess.run(
        [unshare, "--fork", "--pid", "--mount", f"--mount-proc={root / 'proc'}",
         chroot, str(root), "/bin/sh", "-c", script, loader, *paths],
        capture_output=True, text=True, check=True, env={"PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    return set(done.stdout.split())


def loadable(report: CompatReport) -> list[str]:
    return [
        f.path
        for f in report.files
        if f.kind in (FileKind.DYNAMIC, FileKind.SHARED_LIBRARY) and f.libc is not LibcFamily.NONE
    ]


def test_bookworm_python_every_elf(build_image: BuildImage, tmp_path: Path) -> None:
    image = build_image(images.BOOKWORM_PYTHON)
    report = checker(tmp_path).check(image.ref("oci-dir"))
    assert (report.libc.family, report.libc.version) == (LibcFamily.GLIBC, "2.36")
    assert len(report.files) > 500
    assert [f.path for f in report.files if not f.loads] == []
    (image.rootfs / "proc").mkdir(exist_ok=True)
    real_failures = loader_list(image.rootfs, "/lib64/ld-linux-x86-64.so.2", loadable(report))
    assert real_failures == set()


@pytest.mark.parametrize(("version", "musl"), [("3.20.3", "1.2.5"), ("3.18.9", "1.2.4")])
def test_alpine_every_elf(version: str, musl: str, tmp_path: Path) -> None:
    tarball = shared_fixture(f"images/alpine-minirootfs-{version}-x86_64.tar.gz")
    report = checker(tmp_path).check(f"rootfs:{tarball}")
    assert (report.libc.family, report.libc.version) == (LibcFamily.MUSL, musl)
    assert [f.path for f in report.files if not f.loads] == []
    root = tmp_path / "root"
    root.mkdir()
    with tarfile.open(tarball) as tar:
        tar.extractall(root, filter="tar")
    (root / "proc").mkdir(exist_ok=True)
    assert loader_list(root, "/lib/ld-musl-x86_64.so.1", loadable(report)) == set()


@pytest.mark.parametrize(
    ("name", "family", "version"),
    [("glibc", LibcFamily.GLIBC, "2.41"), ("musl", LibcFamily.NONE, "")],
)
def test_busybox_images(name: str, family: LibcFamily, version: str, tmp_path: Path) -> None:
    oci = shared_fixture(f"images/busybox-1.38.0-{name}-amd64.oci.tar")
    report = checker(tmp_path).check(f"oci:{oci}")
    assert (report.libc.family, report.libc.version) == (family, version)
    assert report.files and all(f.loads for f in report.files)


def test_trixie_programs_on_bookworm(build_image: BuildImage, tmp_path: Path) -> None:
    trixie = build_image(images.TRIXIE_MINBASE)
    bookworm = build_image(images.BOOKWORM_MINBASE)
    report = checker(tmp_path).check_on(
        trixie.ref("oci-dir"), bookworm.ref("oci-dir"), path="/usr/bin"
    )
    assert report.libc.version == "2.36"
    causes = {p.cause for f in report.files for p in f.problems}
    assert Cause.VERSION_MISSING in causes
    needs = {
        p.subject for f in report.files for p in f.problems if p.cause is Cause.VERSION_MISSING
    }
    assert "GLIBC_2.38" in needs and all(n >= "GLIBC_2.37" for n in needs if "GLIBC" in n)
    # the same binaries on their own image load
    own = checker(tmp_path).check(trixie.ref("oci-dir"))
    assert [f.path for f in own.files if not f.loads] == []
