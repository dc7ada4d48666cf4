"""`lint --fix` end to end: layouts as tars, failed lookups as errors, files kept as they were."""

from __future__ import annotations

import os
import socket
import stat
import tarfile
import time
from pathlib import Path

import pytest

from basewatch.cli.exit_codes import ExitCode
from basewatch.errors import ImageError
from tests.bounded import run_bounded
from tests.fixtures import shared_fixture
from tests.unit.lint.helpers import LINT_MEMORY_MB
from tests.unit.lint.test_cli import run

BUSYBOX_TAR = "images/busybox-1.38.0-musl-amd64.oci.tar"
BUSYBOX = "sha256:a34ce92094b7b100a98fbd21411a92825f6827b1bc5f6918c253516c90556998"


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return tmp_path


def test_oci_layout_may_be_a_tar(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (project / "Dockerfile").write_text("FROM busybox:1.38.0-musl\nUSER 1000\n")
    assert run(["--fix", "--oci-layout", str(shared_fixture(BUSYBOX_TAR))]) == ExitCode.OK
    assert (
        project / "Dockerfile"
    ).read_text() == f"FROM busybox:1.38.0-musl@{BUSYBOX}\nUSER 1000\n"
    assert "pinned 1 FROM line" in capsys.readouterr().err


def test_an_oci_layout_that_is_not_one_is_an_image_error(project: Path) -> None:
    (project / "Dockerfile").write_text("FROM busybox:1.38.0-musl\n")
    (project / "junk.tar").write_bytes(b"not a tar at all" * 100)
    with tarfile.open(project / "empty.tar", "w"):
        pass
    bad_index = project / "bad-index.tar"
    (project / "index.json").write_text('["not", "an", "index"]')
    with tarfile.open(bad_index, "w") as archive:
        archive.add(project / "index.json", "index.json")
    for layout, why in (
        ("junk.tar", "not a readable tar archive"),
        ("empty.tar", "'index.json' is missing"),
        ("bad-index.tar", "index.json is not an image index"),
        ("missing", "no such file"),
    ):
        with pytest.raises(ImageError, match=f"--oci-layout {layout}: not an OCI layout .*{why}"):
            run(["--fix", "--oci-layout", layout])
    assert (project / "Dockerfile").read_text() == "FROM busybox:1.38.0-musl\n"


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])  # closed again when the block ends: nothing listens


def test_failed_lookups_are_errors_per_reference(tmp_path: Path) -> None:
    port = closed_port()
    original = (
        f"FROM 127.0.0.1:{port}/library/a:1\n"
        "FROM nonexistent.invalid/team/b:2\n"
        f"FROM 127.0.0.1:{port}/library/a:1 AS again\n"
        "USER 1000\n"
    )
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text(original)
    started = time.monotonic()
    result = run_bounded(
        ["lint", "--fix", str(dockerfile)],
        timeout=60,  # generous: without retries on refused/unresolvable this is well under 5 s
        memory_mb=LINT_MEMORY_MB,
        env={**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")},
    )
    result.check_refused(ExitCode.IMAGE_ERROR)
    assert time.monotonic() - started < 30
    errors = [line for line in result.stderr.splitlines() if line.startswith("basewatch: error:")]
    assert len(errors) == 3, result.stderr  # every FROM that could not be pinned, with why
    assert f"{dockerfile}:1: 127.0.0.1:{port}/library/a:1 not pinned:" in errors[0]
    assert "refused" in errors[0] and "refused" in errors[2]
    assert f"{dockerfile}:2: nonexistent.invalid/team/b:2 not pinned:" in errors[1]
    assert "cannot be resolved" in errors[1]
    assert f"{dockerfile}:3: 127.0.0.1:{port}/library/a:1 not pinned:" in errors[2]
    assert "3 FROM line(s) could not be pinned" in result.stderr
    assert dockerfile.read_text() == original


@pytest.mark.parametrize("mode", [0o644, 0o755, 0o600])
def test_fix_keeps_the_mode(project: Path, mode: int, capsys: pytest.CaptureFixture[str]) -> None:
    dockerfile = project / "Dockerfile"
    dockerfile.write_text("FROM busybox:1.38.0-musl\nUSER 1000\n")
    dockerfile.chmod(mode)
    assert run(["--fix", "--oci-layout", str(shared_fixture(BUSYBOX_TAR))]) == ExitCode.OK
    assert BUSYBOX in dockerfile.read_text()
    assert stat.S_IMODE(dockerfile.stat().st_mode) == mode


def test_fix_writes_through_a_symlink(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (project / "docker").mkdir()
    target = project / "docker" / "Dockerfile.real"
    target.write_text("FROM busybox:1.38.0-musl\nUSER 1000\n")
    target.chmod(0o640)
    link = project / "Dockerfile"
    link.symlink_to("docker/Dockerfile.real")
    assert run(["--fix", "--oci-layout", str(shared_fixture(BUSYBOX_TAR))]) == ExitCode.OK
    assert link.is_symlink() and os.readlink(link) == "docker/Dockerfile.real"
    assert target.read_text() == f"FROM busybox:1.38.0-musl@{BUSYBOX}\nUSER 1000\n"
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
