"""Writing reports: to stdout, or atomically to a file (never a half-written report)."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

from basewatch.errors import OutputError


def write_output(data: bytes, destination: str | None) -> None:
    if destination in (None, "-"):
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        return
    path = Path(destination)
    parent = path.parent if str(path.parent) else Path(".")
    try:
        fd, tmp = tempfile.mkstemp(dir=parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:
        raise OutputError(f"cannot write {destination}: {exc.strerror}") from exc
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise OutputError(f"cannot write {destination}: {exc.strerror}") from exc
