"""Writing reports: to stdout, or to a path without damaging what the path names.

- A path that is not a regular file (a character device such as `/dev/null`, a FIFO,
  `/dev/stdout`) is opened and written in place, as a shell redirection would: it is never
  replaced by a regular file.
- A symlink is written through to its target; the link stays a link.
- An existing regular file is replaced atomically (temporary file in the same directory, then
  rename), so a reader never sees half a report, and keeps its mode (and owner, when we may).
- A new file gets 0666 minus the umask, like every other tool.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import sys
import tempfile
from pathlib import Path

from basewatch.errors import OutputError


def write_output(data: bytes, destination: str | None) -> None:
    if destination in (None, "-"):
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        return
    write_file(Path(destination), data)


def write_file(path: Path, data: bytes) -> None:
    """Write `data` to `path` by the rules in the module docstring; raises `OutputError`."""
    try:
        st: os.stat_result | None = os.stat(path)  # follows symlinks
    except FileNotFoundError:
        st = None
    except OSError as exc:
        raise _error(path, exc) from exc
    if st is not None and not stat.S_ISREG(st.st_mode):
        if stat.S_ISDIR(st.st_mode):
            raise OutputError(f"cannot write {path}: it is a directory; name a file")
        if stat.S_ISSOCK(st.st_mode):
            raise OutputError(f"cannot write {path}: it is a socket")
        _write_in_place(path, data)
        return
    if st is not None and _through_a_descriptor(path):
        # /dev/stdout, /proc/self/fd/N and the like: the file behind a descriptor someone
        # holds (`basewatch ... -o /dev/stdout > report`). Replacing it would leave that
        # descriptor on an unlinked file; write where it points.
        _write_in_place(path, data)
        return
    _replace(Path(os.path.realpath(path)), data, st, shown=path)


def _through_a_descriptor(path: Path) -> bool:
    """Whether `path`, or a symlink on the way to its target, is under /dev or /proc."""
    current = Path(os.path.abspath(path))
    for _ in range(40):  # the kernel's own limit on symlinks followed
        if current.parts[1:2] in (("dev",), ("proc",)):
            return True
        if not current.is_symlink():
            return False
        current = Path(os.path.abspath(current.parent / os.readlink(current)))
    return False


def _write_in_place(path: Path, data: bytes) -> None:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_TRUNC | os.O_NOCTTY | os.O_CLOEXEC)
    except OSError as exc:
        raise _error(path, exc) from exc
    try:
        view = memoryview(data)
        while view:
            written = os.write(fd, view)
            view = view[written:]
    except OSError as exc:
        raise _error(path, exc) from exc
    finally:
        os.close(fd)


def _replace(target: Path, data: bytes, st: os.stat_result | None, *, shown: Path) -> None:
    parent = target.parent
    try:
        fd, tmp = tempfile.mkstemp(dir=parent, prefix=f".{target.name}.", suffix=".tmp")
    except OSError as exc:
        if st is not None and exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
            # A writable file in a directory we may not create files in: write it in place.
            _write_in_place(target, data)
            return
        raise _error(shown, exc) from exc
    try:
        try:
            if st is None:
                os.fchmod(fd, 0o666 & ~_umask())
            else:
                os.fchmod(fd, stat.S_IMODE(st.st_mode))
                if (st.st_uid, st.st_gid) != (os.geteuid(), os.getegid()):
                    # not root: the file becomes ours, as with any editor's save
                    with contextlib.suppress(PermissionError):
                        os.fchown(fd, st.st_uid, st.st_gid)
            view = memoryview(data)
            while view:
                written = os.write(fd, view)
                view = view[written:]
        finally:
            os.close(fd)
        os.replace(tmp, target)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise _error(shown, exc) from exc
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _umask() -> int:
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _error(path: Path, exc: OSError) -> OutputError:
    reason = exc.strerror or str(exc)
    if exc.errno == errno.ENXIO:
        reason = "nothing is reading from it"
    return OutputError(f"cannot write {path}: {reason}")
