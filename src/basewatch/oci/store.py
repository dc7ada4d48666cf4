"""Read-only access to the files of an image container: a directory or a tar archive.

Nothing is extracted: members of a tar are read in place, and names never reach the host's
filesystem except below the directory the user named.
"""

from __future__ import annotations

import os
import stat
import tarfile
from pathlib import Path
from typing import BinaryIO, Protocol, cast

from basewatch.errors import ImageError, ImageNotFound
from basewatch.oci.tarstream import MAX_MEMBER_SIZE

MAX_METADATA_BYTES = 16 << 20  # manifests, indexes and configs are small; refuse giants
_COMPRESSED_MAGIC = (b"\x1f\x8b", b"BZh", b"\xfd7zXZ")  # what tarfile's "r:*" decompresses


class FileStore(Protocol):
    """Files addressed by relative path ("index.json", "blobs/sha256/ab...")."""

    label: str

    @property
    def independent_reads(self) -> bool:
        """Whether files may be read from several threads at once, each through its own
        `open`."""
        ...

    def exists(self, name: str) -> bool: ...

    def open(self, name: str) -> BinaryIO: ...

    def size(self, name: str) -> int: ...

    def close(self) -> None: ...


def read_small(store: FileStore, name: str, what: str) -> bytes:
    """Read a metadata file whole, refusing sizes no real manifest or config has."""
    if not store.exists(name):
        raise ImageError(f"{store.label}: {what} {name!r} is missing")
    if store.size(name) > MAX_METADATA_BYTES:
        raise ImageError(
            f"{store.label}: {what} {name!r} is larger than {MAX_METADATA_BYTES} bytes"
        )
    with store.open(name) as handle:
        return handle.read(MAX_METADATA_BYTES + 1)


def _clean(name: str) -> str | None:
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if ".." in parts or not parts:
        return None
    return "/".join(parts)


class DirStore:
    """Files below a host directory; symlinks are never followed out of it."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.label = str(root)

    @property
    def independent_reads(self) -> bool:
        return True  # each open is a file descriptor of its own

    def _path(self, name: str) -> Path | None:
        clean = _clean(name)
        if clean is None:
            return None
        path = self.root / clean
        try:
            # Refuse symlinks anywhere below the root: a layout has no reason to contain any.
            current = self.root
            for part in clean.split("/"):
                current = current / part
                if stat.S_ISLNK(os.lstat(current).st_mode):
                    return None
        except OSError:
            return None
        return path

    def exists(self, name: str) -> bool:
        path = self._path(name)
        return path is not None and path.is_file()

    def size(self, name: str) -> int:
        path = self._path(name)
        if path is None:
            raise ImageError(f"{self.label}: {name!r} is not a regular file inside the layout")
        return path.stat().st_size

    def open(self, name: str) -> BinaryIO:
        path = self._path(name)
        if path is None or not path.is_file():
            raise ImageError(f"{self.label}: {name!r} is missing")
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
        return os.fdopen(fd, "rb")

    def close(self) -> None:
        pass


class TarStore:
    """Members of a tar archive (uncompressed tars are read with seeks, never extracted)."""

    def __init__(self, path: Path) -> None:
        self.label = str(path)
        self._path = path
        self._plain = False
        try:
            with path.open("rb") as head:
                # not compressed: members can be sliced straight from the file
                self._plain = not head.read(6).startswith(_COMPRESSED_MAGIC)
        except FileNotFoundError as exc:
            raise ImageNotFound(f"{path}: no such file") from exc
        except OSError as exc:
            raise ImageError(f"{path}: cannot read ({exc.strerror})") from exc
        try:
            self._tar = tarfile.open(path, mode="r:*")  # noqa: SIM115 - closed by close()
        except FileNotFoundError as exc:
            raise ImageNotFound(f"{path}: no such file") from exc
        except (tarfile.TarError, OSError, EOFError, ValueError, OverflowError) as exc:
            raise ImageError(f"{path}: not a readable tar archive ({exc})") from exc
        self._members: dict[str, tarfile.TarInfo] = {}
        try:
            self._index(path)
        except BaseException:
            self._tar.close()
            raise

    def _index(self, path: Path) -> None:
        end = path.stat().st_size
        try:
            for member in self._tar:
                # Checked before tarfile seeks past the member: a huge size makes that seek
                # fail with ValueError, a negative one rewinds.
                if not 0 <= member.size <= MAX_MEMBER_SIZE or (
                    self._plain and member.offset_data + member.size > end
                ):
                    raise ImageError(
                        f"{path}: member {member.name!r} claims {member.size:,} bytes, which"
                        " the archive does not hold: it is truncated or corrupt"
                    )
                clean = _clean(member.name)
                if clean is not None:
                    self._members[clean] = member
        except (tarfile.TarError, OSError, EOFError, ValueError, OverflowError) as exc:
            raise ImageError(f"{path}: the archive is truncated or corrupt ({exc})") from exc

    @property
    def independent_reads(self) -> bool:
        # slices open the archive file anew; members of a compressed one share its stream
        return self._plain

    def names(self) -> list[str]:
        return list(self._members)

    def _member(self, name: str) -> tarfile.TarInfo | None:
        clean = _clean(name)
        member = self._members.get(clean) if clean else None
        for _ in range(8):  # docker save links duplicate layers; follow a few, inside the tar
            if member is None or not (member.issym() or member.islnk()):
                break
            base = "" if member.islnk() else member.name.rpartition("/")[0]
            target = member.linkname if member.islnk() else f"{base}/{member.linkname}"
            if member.issym() and member.linkname.startswith("/"):
                return None
            parts: list[str] = []
            for part in target.split("/"):
                if part == "..":
                    if not parts:
                        return None
                    parts.pop()
                elif part not in ("", "."):
                    parts.append(part)
            member = self._members.get("/".join(parts))
        if member is None or not member.isreg():
            return None
        return member

    def exists(self, name: str) -> bool:
        return self._member(name) is not None

    def size(self, name: str) -> int:
        member = self._member(name)
        if member is None:
            raise ImageError(f"{self.label}: {name!r} is missing")
        return member.size

    def open(self, name: str) -> BinaryIO:
        member = self._member(name)
        if member is None:
            raise ImageError(f"{self.label}: {name!r} is missing")
        if self._plain and member.offset_data + member.size <= self._path.stat().st_size:
            return cast(BinaryIO, _Slice(self._path, member.offset_data, member.size))
        handle = self._tar.extractfile(member)
        assert handle is not None
        return cast(BinaryIO, handle)

    def close(self) -> None:
        self._tar.close()


class _Slice:
    """A member of an uncompressed tar, read straight from the archive file (one copy)."""

    def __init__(self, path: Path, offset: int, size: int) -> None:
        self._file = path.open("rb")
        self._file.seek(offset)
        self._start = offset
        self._size = size
        self._left = size

    def read(self, n: int = -1) -> bytes:
        if n < 0 or n > self._left:
            n = self._left
        data = self._file.read(n) if n else b""
        self._left -= len(data)
        if n and not data:
            raise ImageError(f"{self._file.name}: the archive ends early (truncated)")
        return data

    def readinto(self, buffer: bytearray | memoryview) -> int:
        view = memoryview(buffer)[: self._left]
        n = self._file.readinto(view) or 0
        self._left -= n
        return n

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._size - self._left

    def seek(self, offset: int, whence: int = 0) -> int:
        base = {0: 0, 1: self.tell(), 2: self._size}[whence]
        target = max(0, min(self._size, base + offset))
        self._file.seek(self._start + target)
        self._left = self._size - target
        return target

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> _Slice:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
