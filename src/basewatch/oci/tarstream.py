"""A forward-only tar reader for layer streams, faster than `tarfile`'s stream mode.

It reads ustar, GNU (long names, long links) and PAX (path, linkpath, size) headers, checks
every header checksum, and hands out each member's content as a bounded reader that is only
valid until the next member. Anything it cannot make sense of raises ImageError: a layer is
untrusted input.

A layer that ends early is an error, never a shorter inventory: the stream must end with the
end-of-archive marker. Go's archive/tar (what Docker and containerd extract layers with), GNU
tar and Python's tarfile all accept a tar that simply stops on a member boundary, but such a tar
cannot be told apart from a truncated one, and every real writer (those three, bsdtar) writes
the marker. Like Go, we take a single zero block followed by the end of the stream as the
marker, and refuse a zero block followed by anything but a second one.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, BinaryIO

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

from basewatch.errors import ImageError

BLOCK = 512
_CHUNK = 1 << 20
_MAX_META = 1 << 20  # long names and PAX records larger than this are hostile
# No layer holds a 1 TiB file; a larger size field only serves to seek or loop somewhere odd.
MAX_MEMBER_SIZE = 1 << 40
_DECIMAL = re.compile(rb"[0-9]+")
REGULAR = frozenset(b"07\0")  # regular files: '0', contiguous '7', old-style NUL
_GNU_SPARSE = ord("S")


@dataclass(frozen=True, slots=True)
class TarMember:
    name: str
    type: int  # the typeflag byte: ord('0'), ord('5'), ...
    size: int
    mode: int
    linkname: str

    def isreg(self) -> bool:
        return self.type in REGULAR

    def isdir(self) -> bool:
        return self.type == ord("5")

    def issym(self) -> bool:
        return self.type == ord("2")

    def islnk(self) -> bool:
        return self.type == ord("1")


class TarReader:
    """Iterate members of a tar stream; `open_current()` reads the current member's content."""

    def __init__(self, raw: BinaryIO, what: str, seekable: bool = False) -> None:
        """With `seekable`, content that nobody reads is skipped with seeks instead of reads
        (the caller then verifies the layer's digest some other way)."""
        self._raw = raw
        self._what = what
        self._seekable = seekable
        self._chunk = (64 << 10) if seekable else _CHUNK
        self._buf = b""
        self._pos = 0
        self._offset = 0  # stream offset of _buf[0]
        self._remaining = 0  # content bytes of the current member not yet consumed
        self._padding = 0
        self._content_start = 0  # stream offset of the current member's content
        self._content_size = 0
        # Where the tar starts in `raw`. Invariant: `raw` is at _origin + _offset + len(_buf).
        self._origin = raw.tell() if seekable else 0
        # Where it ends, so that a skip by seeking past the end is seen as the truncation it
        # is (a seek beyond the end of a file succeeds, and the next read just finds nothing).
        self._end = 0
        if seekable:
            self._end = raw.seek(0, io.SEEK_END) - self._origin
            raw.seek(self._origin)

    # --- buffer ------------------------------------------------------------------------------

    def _fill(self, n: int) -> bool:
        """Make n bytes available at _pos; False at a clean end of stream before any of them."""
        while len(self._buf) - self._pos < n:
            chunk = self._raw.read(max(self._chunk, n))
            if not chunk:
                if len(self._buf) - self._pos == 0:
                    return False
                raise ImageError(
                    f"{self._what}: the layer ends in the middle of an entry (truncated tar)"
                )
            self._offset += self._pos
            self._buf = self._buf[self._pos :] + chunk
            self._pos = 0
        return True

    def _take(self, n: int) -> bytes:
        if not self._fill(n):
            raise ImageError(
                f"{self._what}: the layer ends in the middle of an entry (truncated tar)"
            )
        data = self._buf[self._pos : self._pos + n]
        self._pos += n
        return data

    def _skip(self, n: int) -> None:
        available = len(self._buf) - self._pos
        if n <= available:
            self._pos += n
            return
        n -= available
        self._offset += len(self._buf)
        self._buf, self._pos = b"", 0
        if self._seekable:
            if self._offset + n > self._end:
                raise ImageError(
                    f"{self._what}: the layer ends inside a file's content (truncated tar)"
                )
            self._raw.seek(n, 1)
            self._offset += n
            return
        while n > 0:
            chunk = self._raw.read(min(n, _CHUNK))
            if not chunk:
                raise ImageError(
                    f"{self._what}: the layer ends inside a file's content (truncated tar)"
                )
            n -= len(chunk)
            self._offset += len(chunk)

    def read_content(self, n: int) -> bytes:
        """Up to n bytes of the current member's content (n < 0: all of what remains)."""
        if n < 0 or n > self._remaining:
            n = self._remaining
        if n == 0:
            return b""
        available = len(self._buf) - self._pos
        if available >= n:
            data = self._buf[self._pos : self._pos + n]
            self._pos += n
        else:
            rest = self._read_raw(n - available)
            data = self._buf[self._pos :] + rest if available else rest
            self._offset += len(self._buf) + len(rest)
            self._buf, self._pos = b"", 0
        self._remaining -= len(data)
        return data

    @property
    def random_access(self) -> bool:
        """Whether `read_content_at` (and so SeekableMemberReader) works on this tar."""
        return self._seekable

    @property
    def content_size(self) -> int:
        return self._content_size

    def read_content_at(self, position: int, n: int) -> bytes:
        """Up to n bytes of the current member's content from `position` (seekable tars only).

        The stream is left where it was: iteration goes on as if nothing had been read.
        """
        assert self._seekable, "random access needs a seekable tar"
        n = min(n, self._content_size - position)
        if n <= 0 or position < 0:
            return b""
        start = self._content_start + position
        if self._offset <= start and start + n <= self._offset + len(self._buf):
            begin = start - self._offset
            return self._buf[begin : begin + n]
        self._raw.seek(self._origin + start)
        try:
            data = self._raw.read(n)
        finally:
            self._raw.seek(self._origin + self._offset + len(self._buf))
        if len(data) < n:
            raise ImageError(
                f"{self._what}: the layer ends inside a file's content (truncated tar)"
            )
        return data

    def _read_raw(self, n: int) -> bytes:
        parts = []
        while n > 0:
            chunk = self._raw.read(n)
            if not chunk:
                raise ImageError(
                    f"{self._what}: the layer ends inside a file's content (truncated tar)"
                )
            parts.append(chunk)
            n -= len(chunk)
        return b"".join(parts)

    def _finish_member(self) -> None:
        self._skip(self._remaining + self._padding)
        self._remaining = self._padding = 0

    # --- headers -----------------------------------------------------------------------------

    def __iter__(self) -> Iterator[TarMember]:
        long_name = long_link = ""
        pax: dict[str, str] = {}
        while True:
            self._finish_member()
            if not self._fill(BLOCK):
                if self._offset + self._pos == 0:
                    raise ImageError(f"{self._what}: the layer is empty (not a tar archive)")
                raise ImageError(
                    f"{self._what}: the layer ends without the tar end-of-archive marker"
                    " (truncated tar)"
                )
            block = self._take(BLOCK)
            if block.count(0) == BLOCK:
                self._end_of_archive()
                return
            self._check(block)
            typeflag = block[156]
            size = _size(_number(block[124:136], self._what), self._what)
            self._remaining = size
            self._padding = -size % BLOCK
            if typeflag in (ord("L"), ord("K")):
                value = self._meta(size).rstrip(b"\0").decode("utf-8", "replace")
                if typeflag == ord("L"):
                    long_name = value
                else:
                    long_link = value
                continue
            if typeflag in (ord("x"), ord("g")):
                records = _pax(self._meta(size), self._what)
                if typeflag == ord("x"):
                    pax = records
                continue  # global headers carry nothing per-file that we use
            name = long_name or pax.get("path") or _name(block)
            linkname = long_link or pax.get("linkpath") or _cstr(block[157:257])
            if "size" in pax:
                text = pax["size"].encode()
                if not _DECIMAL.fullmatch(text):  # int() would take "-1536", " 7", "1_0"
                    raise ImageError(
                        f"{self._what}: PAX size {pax['size']!r} is not a decimal size"
                    )
                size = _size(int(text), self._what)
                self._remaining, self._padding = size, -size % BLOCK
            if typeflag in REGULAR and name.endswith("/"):
                typeflag = ord("5")  # pre-POSIX tars mark directories with a trailing slash
            if typeflag == _GNU_SPARSE:
                typeflag = ord("6")  # sparse files are never read: keep them as "other"
            long_name = long_link = ""
            pax = {}
            mode = _number(block[100:108], self._what) & 0o7777
            self._content_start = self._offset + self._pos
            self._content_size = self._remaining
            yield TarMember(name, typeflag, size if typeflag in REGULAR else 0, mode, linkname)

    def _end_of_archive(self) -> None:
        """After a zero block: the second one, or the end of the stream, must follow."""
        if not self._fill(BLOCK):
            return  # a lone zero block, then nothing: what Go's archive/tar also accepts
        if self._take(BLOCK).count(0) != BLOCK:
            raise ImageError(
                f"{self._what}: a zero block followed by more entries at byte"
                f" {self._offset + self._pos - 2 * BLOCK}: the layer is damaged or crafted to"
                " hide files from some readers"
            )

    def _meta(self, size: int) -> bytes:
        if size > _MAX_META:
            raise ImageError(f"{self._what}: a {size}-byte long name or PAX header is hostile")
        data = self._take(size)
        self._remaining = 0
        return data

    def _check(self, block: bytes) -> None:
        try:
            stored = int(block[148:156].split(b"\0", 1)[0].strip() or b"0", 8)
        except ValueError as exc:
            raise ImageError(f"{self._what}: corrupt tar header (unreadable checksum)") from exc
        unsigned = sum(block[:148]) + 256 + sum(block[156:])
        if stored != unsigned:
            signed = sum((b - 256 if b > 127 else b) for b in block[:148] + block[156:]) + 256
            if stored != signed:
                raise ImageError(
                    f"{self._what}: corrupt tar header at byte {self._offset + self._pos - BLOCK}"
                    " (checksum mismatch): the layer is damaged or not a tar"
                )


def _cstr(field: bytes) -> str:
    return field.split(b"\0", 1)[0].decode("utf-8", "replace")


def _name(block: bytes) -> str:
    name = _cstr(block[0:100])
    if block[257:263] == b"ustar\x00":  # POSIX ustar: a prefix may hold the leading directories
        prefix = _cstr(block[345:500])
        if prefix:
            return f"{prefix}/{name}"
    return name


def _size(value: int, what: str) -> int:
    """A member size from a header: a negative one would rewind the reader onto its own header
    (a loop), a huge one only serves to seek somewhere odd."""
    if value < 0:
        raise ImageError(f"{what}: a tar entry has a negative size ({value}): the layer is corrupt")
    if value > MAX_MEMBER_SIZE:
        raise ImageError(
            f"{what}: a tar entry claims {value:,} bytes, more than any real layer holds"
            f" ({MAX_MEMBER_SIZE:,}): the layer is corrupt or hostile"
        )
    return value


def _number(field: bytes, what: str) -> int:
    if field and field[0] & 0x80:  # GNU base-256 for values that do not fit in octal
        value = int.from_bytes(field[1:], "big")
        return -(256 ** (len(field) - 1) - value) if field[0] == 0xFF else value
    text = field.split(b"\0", 1)[0].strip()
    if not text:
        return 0
    try:
        return int(text, 8)
    except ValueError as exc:
        raise ImageError(f"{what}: corrupt tar header (bad number {field!r})") from exc


def _pax(data: bytes, what: str) -> dict[str, str]:
    records: dict[str, str] = {}
    pos = 0
    while pos < len(data):
        if data[pos] == 0:
            break
        space = data.find(b" ", pos)
        if space < 0:
            raise ImageError(f"{what}: malformed PAX header")
        try:
            length = int(data[pos:space])
        except ValueError as exc:
            raise ImageError(f"{what}: malformed PAX header length") from exc
        if length <= space - pos or pos + length > len(data):
            raise ImageError(f"{what}: malformed PAX header record")
        record = data[space + 1 : pos + length - 1]
        key, sep, value = record.partition(b"=")
        if not sep:
            raise ImageError(f"{what}: malformed PAX header record")
        records[key.decode("utf-8", "replace")] = value.decode("utf-8", "replace")
        pos += length
    return records


class MemberReader(io.RawIOBase):
    """Raw, forward-only access to the current member's content; wrap it in io.BufferedReader
    (as `tar_entries` does) for readline, iteration and the rest of the file API."""

    def __init__(self, reader: TarReader) -> None:
        super().__init__()
        self._reader = reader

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: WriteableBuffer) -> int:
        view = memoryview(buffer).cast("B")
        data = self._reader.read_content(len(view))
        view[: len(data)] = data
        return len(data)

    def read(self, n: int = -1) -> bytes:
        return self._reader.read_content(n)

    def readall(self) -> bytes:
        return self._reader.read_content(-1)

    def close(self) -> None:
        pass  # the member stays readable until the archive moves on; nothing to release


class SeekableMemberReader(io.RawIOBase):
    """Random access to the current member's content in a seekable tar, so that a detector
    which needs a few headers of a large file (an ELF's tables) reads only those. Each reader
    has its own position; like MemberReader it is valid until the archive moves on."""

    def __init__(self, reader: TarReader) -> None:
        super().__init__()
        self._reader = reader
        self._size = reader.content_size
        self._position = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_SET:
            target = offset
        elif whence == io.SEEK_CUR:
            target = self._position + offset
        elif whence == io.SEEK_END:
            target = self._size + offset
        else:
            raise ValueError(f"invalid whence {whence}")
        if target < 0:
            raise ValueError(f"negative seek position {target}")
        self._position = target
        return target

    def readinto(self, buffer: WriteableBuffer) -> int:
        view = memoryview(buffer).cast("B")
        data = self._reader.read_content_at(self._position, len(view))
        view[: len(data)] = data
        self._position += len(data)
        return len(data)

    def close(self) -> None:
        pass  # nothing of its own to release
