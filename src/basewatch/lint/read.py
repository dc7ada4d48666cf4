"""Read a Dockerfile, bounded: regular files only, at most MAX_DOCKERFILE_BYTES.

A path that names a FIFO would block `open` forever, and one that names a device
(`Dockerfile -> /dev/zero`) never ends, so the file is opened without blocking and checked
through its own descriptor before a byte is read. Symlinks are followed: a link to a regular
file is an ordinary Dockerfile.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import BinaryIO

from basewatch.errors import DockerfileReadError

MAX_DOCKERFILE_BYTES = 4 * 1024 * 1024  # real Dockerfiles are kilobytes
_CHUNK = 64 * 1024

_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def read_dockerfile(path: Path) -> bytes:
    """The bytes of the Dockerfile at `path`; raises DockerfileReadError saying why not."""
    flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        raise DockerfileReadError(f"cannot read {path}: {exc.strerror}") from exc
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            kind = next((name for test, name in _KINDS if test(st.st_mode)), "not a file")
            raise DockerfileReadError(
                f"cannot read {path}: it is {kind}, not a regular file (name the Dockerfile "
                "itself, or pass - to read it from standard input)"
            )
        _check_size(path, st.st_size)
        handle = os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise
    with handle:
        return read_stream(handle, str(path))  # it may have grown since fstat


def read_stream(stream: BinaryIO, label: str = "<stdin>") -> bytes:
    """A Dockerfile from a stream (standard input), refused past MAX_DOCKERFILE_BYTES."""
    # In chunks: `read(MAX + 1)` would allocate the whole limit up front for every file.
    chunks: list[bytes] = []
    size = 0
    try:
        while chunk := stream.read(_CHUNK):
            chunks.append(chunk)
            size += len(chunk)
            _check_size(label, size)
    except OSError as exc:
        raise DockerfileReadError(f"cannot read {label}: {exc.strerror}") from exc
    return b"".join(chunks)


def _check_size(label: Path | str, size: int) -> None:
    if size > MAX_DOCKERFILE_BYTES:
        raise DockerfileReadError(
            f"cannot read {label}: it is larger than {MAX_DOCKERFILE_BYTES:,} bytes, which no "
            "real Dockerfile is (is it the right file?)"
        )
