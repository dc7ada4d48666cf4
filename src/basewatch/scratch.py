"""Scratch space: private directories under `<cache>/tmp`, removed when their work ends.

Every temporary file basewatch writes (files a detector spools, layers pulled with
`--no-cache`) lives in one place. Each directory holds an flock on its `.lock` for as long as
its owner works in it; a directory whose lock anyone can take belongs to a process that died
(SIGKILL, a lost machine) and is removed by the next one that asks for scratch space. When the
cache directory cannot be written (read-only, a full disk), the system's temporary directory
is used instead, in a directory only this user can enter, with the same rules. The CLI turns
SIGTERM into an exception, so an interrupted run removes its scratch space on the way out.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import shutil
import stat
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from basewatch.errors import CacheError

log = logging.getLogger(__name__)

LOCK_NAME = ".lock"
# A directory is only swept once it is older than this, so one that is being set up (created,
# lock not yet taken) is never mistaken for a dead process's.
GRACE_SECONDS = 60.0


def scratch_root(cache_root: Path) -> Path:
    return cache_root / "tmp"


@contextlib.contextmanager
def scratch_dir(cache_root: Path, prefix: str = "scratch-") -> Iterator[Path]:
    """A new private directory, removed when the block ends (exceptions included)."""
    base, path = _create(cache_root, prefix)
    lock = path / LOCK_NAME
    fd = os.open(lock, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)
        os.close(fd)
        with contextlib.suppress(OSError):
            base.rmdir()  # only when no other process is using it


def _create(cache_root: Path, prefix: str) -> tuple[Path, Path]:
    base = scratch_root(cache_root)
    try:
        base.mkdir(parents=True, exist_ok=True)
        sweep(base)
        return base, Path(tempfile.mkdtemp(dir=base, prefix=f"{prefix}{os.getpid()}-"))
    except OSError as exc:
        log.debug("cannot use %s for scratch space (%s); using the system's", base, exc)
    fallback = Path(tempfile.gettempdir()) / f"basewatch-{os.geteuid()}"
    try:
        fallback.mkdir(mode=0o700, exist_ok=True)
        st = os.lstat(fallback)
        if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.geteuid() or st.st_mode & 0o077:
            raise CacheError(
                f"{fallback} is not a private directory of this user: remove it, or give a "
                "writable --cache-dir"
            )
        sweep(fallback)
        return fallback, Path(tempfile.mkdtemp(dir=fallback, prefix=f"{prefix}{os.getpid()}-"))
    except OSError as exc:
        raise CacheError(
            f"no place for scratch files: {base} and {fallback} cannot be written ({exc}); "
            "give a writable --cache-dir"
        ) from exc


def sweep(base: Path, now: float | None = None) -> int:
    """Remove what dead processes left in `base`; returns how many directories went."""
    now = time.time() if now is None else now
    removed = 0
    try:
        entries = list(os.scandir(base))
    except OSError:
        return 0
    for entry in entries:
        try:
            st = entry.stat(follow_symlinks=False)
        except OSError:
            continue
        if now - st.st_mtime < GRACE_SECONDS:
            continue
        if stat.S_ISDIR(st.st_mode):
            if _abandoned(Path(entry.path)):
                shutil.rmtree(entry.path, ignore_errors=True)
                removed += 1
        elif stat.S_ISREG(st.st_mode) and entry.name.startswith("tmp"):
            # a loose temporary file from an earlier version of basewatch
            with contextlib.suppress(OSError):
                os.unlink(entry.path)
    return removed


def _abandoned(path: Path) -> bool:
    """True when no live process holds the directory's lock (or it never had one)."""
    try:
        fd = os.open(path / LOCK_NAME, os.O_RDWR | os.O_CLOEXEC | os.O_NOFOLLOW)
    except FileNotFoundError:
        return True  # no lock: left by an earlier version, or died while being set up
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False  # its owner is alive
    finally:
        os.close(fd)  # closing drops our lock; the directory goes right after
    return True
