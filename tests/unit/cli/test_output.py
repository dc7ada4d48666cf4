"""`-o PATH` never damages what PATH names: devices, FIFOs, symlinks, modes, owners."""

from __future__ import annotations

import os
import stat
import threading
from pathlib import Path

import pytest

from basewatch.cli.output import write_file
from basewatch.errors import OutputError
from tests.bounded import run_bounded
from tests.imagebuild import DEBIAN_OS_RELEASE, build_image, dpkg_status, file, write_docker_archive

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="mknod and chown need root")


def _null_device(where: Path) -> Path:
    """A private character device with /dev/null's numbers (1, 3)."""
    device = where / "null"
    os.mknod(device, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    device.chmod(0o666)  # mknod applies the umask
    return device


@needs_root
def test_a_character_device_stays_a_device(tmp_path: Path) -> None:
    device = _null_device(tmp_path)
    write_file(device, b"report\n")
    st = os.lstat(device)
    assert stat.S_ISCHR(st.st_mode)
    assert os.major(st.st_rdev) == 1
    assert os.minor(st.st_rdev) == 3
    assert stat.S_IMODE(st.st_mode) == 0o666
    assert [p.name for p in tmp_path.iterdir()] == ["null"]  # no temporary file left


def test_a_fifo_is_written_in_place(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    received: list[bytes] = []

    def reader() -> None:
        with fifo.open("rb") as handle:
            received.append(handle.read())

    thread = threading.Thread(target=reader)
    thread.start()
    write_file(fifo, b"through the pipe")
    thread.join(timeout=10)
    assert received == [b"through the pipe"]
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)


def test_a_symlink_is_written_through(tmp_path: Path) -> None:
    target = tmp_path / "real.json"
    target.write_bytes(b"old")
    target.chmod(0o640)
    link = tmp_path / "link.json"
    link.symlink_to("real.json")
    write_file(link, b"new")
    assert link.is_symlink()
    assert os.readlink(link) == "real.json"
    assert target.read_bytes() == b"new"
    assert stat.S_IMODE(target.stat().st_mode) == 0o640


def test_a_dangling_symlink_creates_its_target(tmp_path: Path) -> None:
    link = tmp_path / "link.json"
    link.symlink_to("made.json")
    write_file(link, b"x")
    assert link.is_symlink()
    assert (tmp_path / "made.json").read_bytes() == b"x"


def test_a_regular_file_keeps_its_mode(tmp_path: Path) -> None:
    for mode in (0o644, 0o600, 0o755):
        path = tmp_path / f"out-{mode:o}"
        path.write_bytes(b"old")
        path.chmod(mode)
        write_file(path, b"new")
        assert path.read_bytes() == b"new"
        assert stat.S_IMODE(path.stat().st_mode) == mode


@needs_root
def test_a_regular_file_keeps_its_owner_when_root(tmp_path: Path) -> None:
    path = tmp_path / "owned"
    path.write_bytes(b"old")
    os.chown(path, 1234, 5678)
    write_file(path, b"new")
    st = path.stat()
    assert (st.st_uid, st.st_gid) == (1234, 5678)


def test_a_new_file_gets_0666_minus_the_umask(tmp_path: Path) -> None:
    old = os.umask(0o027)
    try:
        write_file(tmp_path / "new", b"x")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "new").stat().st_mode) == 0o640


def test_a_replaced_file_leaves_no_temporary_behind(tmp_path: Path) -> None:
    path = tmp_path / "out"
    path.write_bytes(b"old")
    write_file(path, b"new")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_a_directory_or_missing_parent_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(OutputError, match="is a directory"):
        write_file(tmp_path, b"x")
    with pytest.raises(OutputError, match="No such file"):
        write_file(tmp_path / "missing" / "out", b"x")


def test_dev_stdout_is_the_processes_stdout(tmp_path: Path) -> None:
    """`-o /dev/stdout` with stdout redirected to a file writes into that file, keeps it."""
    out = tmp_path / "captured"
    with out.open("w+b") as handle:
        pid = os.fork()
        if pid == 0:  # pragma: no cover - child
            code = 0
            try:
                os.dup2(handle.fileno(), 1)
                write_file(Path("/dev/stdout"), b"to stdout\n")
            except BaseException:
                code = 1
            os._exit(code)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        # written into the very file the descriptor holds, not into a replacement
        assert os.pread(handle.fileno(), 100, 0) == b"to stdout\n"
    assert out.read_bytes() == b"to stdout\n"
    assert Path("/dev/stdout").is_symlink()


@needs_root
def test_basewatch_as_root_with_o_on_a_character_device(tmp_path: Path) -> None:
    """The whole command, as root: `sbom -o DEVICE` leaves the device a device."""
    built = build_image(
        [
            [
                file("etc/os-release", DEBIAN_OS_RELEASE),
                file("var/lib/dpkg/status", dpkg_status(("libc6", "2.36-9+deb12u7"))),
            ]
        ]
    )
    archive = write_docker_archive(tmp_path / "img.tar", [(built, ["test/img:1"])])
    devices = tmp_path / "dev"
    devices.mkdir()
    device = _null_device(devices)
    result = run_bounded(
        [
            "sbom",
            f"docker-archive:{archive}",
            "-f",
            "json",
            "-o",
            str(device),
            "--cache-dir",
            str(tmp_path / "cache"),
        ],
        timeout=60,
    )
    result.check_refused(0)
    assert stat.S_ISCHR(os.lstat(device).st_mode)
    assert [p.name for p in devices.iterdir()] == ["null"]
