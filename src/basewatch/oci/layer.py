"""Streaming one layer: decompress, verify, and turn tar members into safe entries."""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import io
import os
import stat
import tarfile
import threading
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import BinaryIO, cast

from basewatch.errors import ImageError, UnreadableEntry, UnsafePath
from basewatch.models import EntryKind
from basewatch.oci.digest import HashingReader
from basewatch.oci.prefetch import PrefetchReader
from basewatch.oci.tarstream import MemberReader, SeekableMemberReader, TarMember, TarReader

WHITEOUT_PREFIX = ".wh."
_BUFFER = 256 << 10
# BackgroundHash reads this much per call: the thread needs the GIL back after each read and
# each update (see `prefetch`), so fewer, larger chunks wait less. The pages
# are only resident as far as a read fills them.
_HASH_CHUNK = 16 << 20
OPAQUE_MARKER = ".wh..wh..opq"
_GZIP_MAGIC = b"\x1f\x8b"
_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"


@dataclass(frozen=True, slots=True)
class FileEntry:
    """One entry of a layer, with a normalised absolute path ("/etc/os-release").

    For WHITEOUT the path is the deleted path; for OPAQUE it is the directory made opaque.
    `link` is the raw symlink target, or the normalised hardlink target.
    """

    path: str
    kind: EntryKind
    size: int = 0
    mode: int = 0
    link: str = ""


# A reader for the entry's content, valid only until the iteration moves on; None unless FILE.
Opener = Callable[[], BinaryIO]


def normalize_path(name: str, what: str) -> str:
    """The absolute, normalised form of a tar member name; refuses any `..` component."""
    parts = []
    for part in name.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            raise UnsafePath(f"{what}: entry {name!r} climbs out of the image root with '..'")
        parts.append(part)
    return "/" + "/".join(parts)


def _peek_reader(raw: BinaryIO) -> tuple[bytes, BinaryIO]:
    head = raw.read(4)
    return head, _Prepend(head, raw)  # type: ignore[return-value]


class _Prepend:
    """A forward-only reader that returns `head` before the rest of `raw`."""

    def __init__(self, head: bytes, raw: BinaryIO) -> None:
        self._head = head
        self._raw = raw

    def read(self, n: int = -1) -> bytes:
        if self._head:
            if n < 0:
                data, self._head = self._head + self._raw.read(), b""
                return data
            data, self._head = self._head[:n], self._head[n:]
            if len(data) < n:
                data += self._raw.read(n - len(data))
            return data
        return self._raw.read(n)

    def readable(self) -> bool:
        return True


def decompressed(raw: BinaryIO, what: str) -> BinaryIO:
    """Wrap `raw` so that reads return the uncompressed layer (gzip, zstd or plain tar)."""
    head, reader = _peek_reader(raw)
    if head.startswith(_GZIP_MAGIC):
        return gzip.GzipFile(fileobj=reader, mode="rb")  # type: ignore[return-value]
    if head == _ZSTD_MAGIC:
        return cast(BinaryIO, _ZstdReader(reader, what))
    return reader


class _ZstdFrames:
    """Follows the frame and block structure of zstd data as it streams past, without
    decompressing it, to tell whether the data stopped on a frame boundary.

    zstandard's stream reader reports a frame cut short as a clean end of stream, so a zstd
    layer cut after its tar end-of-archive marker would read as complete; a decompressor
    object would tell, but it has no bound on the output of one input chunk (a zstd block of
    a few bytes can stand for 128 KiB). Frame layout: RFC 8878, section 3.1.
    """

    def __init__(self, what: str) -> None:
        self._what = what
        self._state = "magic"
        self._header = bytearray()
        self._need = 4
        self._skip = 0
        self._checksum = False
        self.frames = 0

    def feed(self, data: bytes) -> None:
        i, end = 0, len(data)
        while i < end:
            if self._skip:
                step = min(self._skip, end - i)
                self._skip -= step
                i += step
                if not self._skip and self._state == "magic":
                    self.frames += 1  # the last byte of a frame went past
                continue
            step = min(self._need - len(self._header), end - i)
            self._header += data[i : i + step]
            i += step
            if len(self._header) == self._need:
                header, self._header = bytes(self._header), bytearray()
                self._advance(header)

    def _advance(self, header: bytes) -> None:
        match self._state:
            case "magic":
                value = int.from_bytes(header, "little")
                if value == 0xFD2FB528:
                    self._state, self._need = "descriptor", 1
                elif value & 0xFFFFFFF0 == 0x184D2A50:  # a skippable frame
                    self._state, self._need = "skippable", 4
                else:
                    raise ImageError(
                        f"{self._what}: data after a zstd frame is not another frame"
                        " (the blob is corrupt)"
                    )
            case "skippable":
                self._skip = int.from_bytes(header, "little")
                self._state, self._need = "magic", 4
                if not self._skip:
                    self.frames += 1
            case "descriptor":
                descriptor = header[0]
                single_segment = bool(descriptor & 0x20)
                self._checksum = bool(descriptor & 0x04)
                content_size = (1 if single_segment else 0, 2, 4, 8)[descriptor >> 6]
                rest = (0 if single_segment else 1) + (0, 1, 2, 4)[descriptor & 3] + content_size
                self._state = "frame header"
                if rest:
                    self._need = rest
                else:
                    self._state, self._need = "block", 3
            case "frame header":
                self._state, self._need = "block", 3
            case "block":
                value = int.from_bytes(header, "little")
                last, kind, size = value & 1, (value >> 1) & 3, value >> 3
                self._skip = 1 if kind == 1 else size  # an RLE block stores its one byte
                if last:
                    self._state, self._need = "magic", 4
                    self._skip += 4 if self._checksum else 0
                    if not self._skip:
                        self.frames += 1

    def complete(self) -> bool:
        return self._state == "magic" and not self._header and not self._skip and self.frames > 0


class _FrameTap:
    """Passes reads through, showing every compressed byte to a `_ZstdFrames`."""

    def __init__(self, raw: BinaryIO, frames: _ZstdFrames) -> None:
        self._raw = raw
        self._frames = frames

    def read(self, n: int = -1) -> bytes:
        data = self._raw.read(n)
        self._frames.feed(data)
        return data

    def readable(self) -> bool:
        return True


class _ZstdReader:
    """zstd decompression that raises when the compressed data ends inside a frame."""

    def __init__(self, raw: BinaryIO, what: str) -> None:
        import zstandard

        self._what = what
        self._frames = _ZstdFrames(what)
        tap = cast(BinaryIO, _FrameTap(raw, self._frames))
        self._stream = zstandard.ZstdDecompressor().stream_reader(tap, read_across_frames=True)

    def read(self, n: int = -1) -> bytes:
        data = self._stream.read(n)
        if not data and n != 0 and not self._frames.complete():
            raise ImageError(f"{self._what}: zstd data ends inside a frame (the blob is truncated)")
        return data

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        self._stream.close()  # type: ignore[no-untyped-call]


def _decode_error(exc: BaseException, what: str) -> ImageError:
    if isinstance(exc, EOFError):
        return ImageError(f"{what}: compressed data ends early (the blob is truncated)")
    return ImageError(f"{what}: cannot decompress or read the layer ({exc})")


def _zstd_error() -> type[Exception]:
    try:
        import zstandard
    except ImportError:  # pragma: no cover - zstandard is a dependency
        return zlib.error
    return zstandard.ZstdError


# What reading a broken layer stream raises: turned into ImageError by translate_read_errors.
STREAM_ERRORS: tuple[type[BaseException], ...] = (
    EOFError,
    zlib.error,
    gzip.BadGzipFile,
    tarfile.TarError,
    _zstd_error(),
)


@contextlib.contextmanager
def translate_read_errors(what: str) -> Iterator[None]:
    """Turn decompression and tar errors raised inside the block into ImageError."""
    try:
        yield
    except ImageError:
        raise
    except STREAM_ERRORS as exc:
        raise _decode_error(exc, what) from exc


class TarLayerStream:
    """One pass over a layer tar (compressed or not), yielding its entries in order.

    The uncompressed stream is hashed: after `entries()` is exhausted, `diff_id` holds its
    digest, and when `expected_diff_id` was given a mismatch raises DigestMismatch naming `what`.
    Errors from decompression or tar parsing raised while iterating become ImageError.
    """

    def __init__(self, raw: BinaryIO, what: str, expected_diff_id: str = "") -> None:
        self._raw = raw
        self._what = what
        self._expected = expected_diff_id
        self.diff_id = ""

    def entries(self) -> Iterator[tuple[FileEntry, Opener | None]]:
        what = self._what
        with translate_read_errors(what):
            plain = decompressed(self._raw, what)
            hashing = HashingReader(plain, self._expected or "sha256:", f"{what} (diffID)")
            with PrefetchReader(cast(BinaryIO, hashing)) as prefetch:
                yield from tar_entries(TarReader(cast(BinaryIO, prefetch), what), what)
                while prefetch.read(1 << 20):
                    pass  # the rest of the stream (tar padding) still counts for the diffID
            # the prefetch thread has stopped: the hashers are ours again
            if self._expected:
                hashing.verify()
            self.diff_id = hashing.hexdigest()


def tar_entries(reader: TarReader, what: str) -> Iterator[tuple[FileEntry, Opener | None]]:
    """The safe entries of a tar, each regular file with an opener valid until the next one."""

    def opener() -> BinaryIO:
        # In a seekable tar, detectors may seek: an ELF's tables are read, not the whole file.
        raw = SeekableMemberReader(reader) if reader.random_access else MemberReader(reader)
        return cast(BinaryIO, io.BufferedReader(raw, _BUFFER))

    for member in reader:
        entry = _entry_for(member, what)
        if entry is not None:
            yield entry, (opener if entry.kind is EntryKind.FILE else None)


def is_plain_tar(raw: BinaryIO) -> bool:
    """Whether a seekable blob is an uncompressed tar (its position is left unchanged)."""
    start = raw.tell()
    head = raw.read(4)
    raw.seek(start)
    return not (head.startswith(_GZIP_MAGIC) or head == _ZSTD_MAGIC)


class BackgroundHash:
    """Hash a whole blob in a thread (hashlib releases the GIL) while the caller parses it."""

    def __init__(self, opener: Callable[[], BinaryIO], algorithm: str = "sha256") -> None:
        self._opener = opener
        self._algorithm = algorithm
        self._digest = ""
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="basewatch-hash", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            hasher = hashlib.new(self._algorithm)
            buffer = bytearray(_HASH_CHUNK)
            view = memoryview(buffer)
            with self._opener() as handle:
                readinto = cast(io.BufferedIOBase, handle).readinto
                while n := readinto(view):
                    hasher.update(view[:n])
            self._digest = f"{self._algorithm}:{hasher.hexdigest()}"
        except BaseException as exc:  # re-raised by result()
            self._error = exc

    def result(self) -> str:
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._digest


def _entry_for(member: TarMember, what: str) -> FileEntry | None:
    path = normalize_path(member.name, what)
    if path == "/":
        return None
    parent, _, base = path.rpartition("/")
    parent = parent or "/"
    if base.startswith(WHITEOUT_PREFIX):
        if base == OPAQUE_MARKER:
            return FileEntry(parent, EntryKind.OPAQUE)
        if base.startswith(".wh..wh."):
            return None  # aufs bookkeeping (.wh..wh.plnk, .wh..wh.aufs): not content
        target = base[len(WHITEOUT_PREFIX) :]
        if target in ("", ".", ".."):
            raise UnsafePath(f"{what}: whiteout {member.name!r} names no file")
        return FileEntry(f"{parent.rstrip('/')}/{target}", EntryKind.WHITEOUT)
    mode = member.mode & 0o7777
    if member.isreg():
        return FileEntry(path, EntryKind.FILE, member.size, mode)
    if member.isdir():
        return FileEntry(path, EntryKind.DIR, 0, mode)
    if member.issym():
        return FileEntry(path, EntryKind.SYMLINK, 0, mode, member.linkname)
    if member.islnk():
        target = normalize_path(member.linkname, what)
        return FileEntry(path, EntryKind.HARDLINK, member.size, mode, target)
    return FileEntry(path, EntryKind.OTHER, 0, mode)


def iter_dir_entries(root: str) -> Iterator[tuple[FileEntry, Opener | None]]:
    """Walk an unpacked root filesystem without following any symlink, like one layer."""

    root_fd_path = os.path.abspath(root)

    def walk(rel: str) -> Iterator[tuple[FileEntry, Opener | None]]:
        host_dir = root_fd_path + rel
        try:
            with os.scandir(host_dir) as it:
                children = sorted(it, key=lambda e: e.name)
        except OSError as exc:
            raise ImageError(f"dir:{root}: cannot list {rel or '/'} ({exc.strerror})") from exc
        for child in children:
            path = f"{rel}/{child.name}"
            st = child.stat(follow_symlinks=False)
            mode = stat.S_IMODE(st.st_mode)
            if stat.S_ISDIR(st.st_mode):
                yield FileEntry(path, EntryKind.DIR, 0, mode), None
                yield from walk(path)
            elif stat.S_ISLNK(st.st_mode):
                yield FileEntry(path, EntryKind.SYMLINK, 0, mode, os.readlink(child.path)), None
            elif stat.S_ISREG(st.st_mode):
                yield FileEntry(path, EntryKind.FILE, st.st_size, mode), _host_opener(child.path)
            else:
                yield FileEntry(path, EntryKind.OTHER, 0, mode), None

    yield from walk("")


def _host_opener(host_path: str) -> Opener:

    def open_file() -> BinaryIO:
        # O_NOFOLLOW: a file swapped for a symlink after the walk is refused, never followed.
        try:
            fd = os.open(host_path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        except OSError as exc:
            raise UnreadableEntry(f"{host_path}: cannot read ({exc.strerror})") from exc
        return os.fdopen(fd, "rb")

    return open_file
