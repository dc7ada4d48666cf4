"""Dockerfiles are read bounded: regular files (through symlinks) up to 4 MiB; FIFOs, devices
and directories are refused with a clear error, reported like any unreadable Dockerfile."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest

from basewatch.cli.exit_codes import ExitCode
from basewatch.errors import DockerfileReadError
from basewatch.lint.engine import lint_file
from basewatch.lint.read import MAX_DOCKERFILE_BYTES, read_dockerfile, read_stream
from tests.bounded import run_bounded
from tests.unit.lint.helpers import LINT_MEMORY_MB, TODAY


def test_a_symlink_to_a_regular_file_is_read(tmp_path: Path) -> None:
    (tmp_path / "real").write_text("FROM alpine:3.22\n")
    (tmp_path / "Dockerfile").symlink_to("real")
    assert read_dockerfile(tmp_path / "Dockerfile") == b"FROM alpine:3.22\n"
    result = lint_file(tmp_path / "Dockerfile", today=TODAY)
    assert result.errors == () and result.findings


def test_directories_and_devices_are_refused(tmp_path: Path) -> None:
    with pytest.raises(DockerfileReadError, match="it is a directory, not a regular file"):
        read_dockerfile(tmp_path)
    (tmp_path / "null").symlink_to("/dev/null")
    result = lint_file(tmp_path / "null")
    assert result.errors == (
        f"cannot read {tmp_path / 'null'}: it is a character device, not a regular file"
        " (name the Dockerfile itself, or pass - to read it from standard input)",
    )
    missing = lint_file(tmp_path / "missing")
    assert missing.errors == (f"cannot read {tmp_path / 'missing'}: No such file or directory",)


def test_more_than_the_limit_is_refused(tmp_path: Path) -> None:
    big = tmp_path / "Dockerfile"
    big.write_bytes(b"FROM alpine:3.22\n" + b"#" * MAX_DOCKERFILE_BYTES)
    with pytest.raises(DockerfileReadError, match="larger than 4,194,304 bytes"):
        read_dockerfile(big)
    with pytest.raises(DockerfileReadError, match="<stdin>: it is larger than"):
        read_stream(io.BytesIO(b"#" * (MAX_DOCKERFILE_BYTES + 1)))
    assert read_stream(io.BytesIO(b"FROM a:1\n")) == b"FROM a:1\n"


def test_fifo_and_dev_zero_are_refused_without_hanging(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)  # nobody writes: a blocking open would wait forever
    zero = tmp_path / "zero"
    zero.symlink_to("/dev/zero")  # never ends: an unbounded read fills memory
    (tmp_path / "Dockerfile").write_text("FROM alpine:3.22\nUSER 1000\n")
    result = run_bounded(
        ["lint", str(fifo), str(zero), str(tmp_path / "Dockerfile")],
        timeout=60,
        memory_mb=LINT_MEMORY_MB,
    )
    result.check_refused(ExitCode.PARTIAL)  # like any unreadable Dockerfile: the rest is linted
    assert f"cannot read {fifo}: it is a FIFO (named pipe), not a regular file" in result.stderr
    assert f"cannot read {zero}: it is a character device" in result.stderr
    assert "BW103" in result.stdout
