"""The Berkeley DB hash database that rpm up to 4.15 keeps in `Packages`, read without libdb.

The file is a sequence of fixed-size pages; page 0 is the hash metadata. Bucket N starts on
page `N + spares[ceil(log2(N + 1))]` and continues through `next_pgno`. Each bucket page holds
key/data item pairs; an item too large for the page is an `H_OFFPAGE` reference to a chain of
overflow pages. rpm's keys are header instance numbers (4 bytes, in the creating host's byte
order) and its values are header blobs; key 0 holds rpm's own counter, not a package.

Only read-only walking is needed, so no lock, log or environment file is consulted. Every page
number is checked against the file and every page is visited at most once, so a hostile file
cannot make the walk loop or read out of bounds.
"""

from __future__ import annotations

import mmap
import struct
from collections.abc import Iterator
from pathlib import Path

from basewatch.errors import PackageDatabaseError
from basewatch.inventory.rpm.records import BadRecord, RawHeader, Record

HASH_MAGIC = 0x061561
_META_SIZE = 512  # every metadata page is at least this big (DBMETASIZE)
_P_HASH_UNSORTED = 2  # hash page written by Berkeley DB before 4.6
_P_OVERFLOW = 7
_P_HASHMETA = 8
_P_HASH = 13
_H_KEYDATA = 1
_H_DUPLICATE = 2
_H_OFFPAGE = 3
_H_OFFDUP = 4
_PAGE_HEADER = 26  # SIZEOF_PAGE
_CHECKSUM_HEADER = 32  # SIZEOF_PAGE + PG_CHKSUM, when the file was created with checksums
_DBMETA_CHKSUM = 0x01
_SPARES = 32  # NCACHED
_RPM_COUNTER_KEY = b"\0\0\0\0"


def read_bdb(path: Path) -> Iterator[Record]:
    """Yield every header blob of an rpm Berkeley DB `Packages` file.

    Raise `PackageDatabaseError` when the file is not a usable hash database; damage confined
    to one bucket or record is yielded as a `BadRecord` and the walk goes on.
    """
    with path.open("rb") as f:
        size = path.stat().st_size
        if size < _META_SIZE:
            raise PackageDatabaseError(
                f"{size} bytes is too short for a Berkeley DB file (at least {_META_SIZE})"
            )
        with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as buf:
            yield from _HashDatabase(buf, size).records()


class _HashDatabase:
    def __init__(self, buf: mmap.mmap, size: int) -> None:
        self._buf = buf
        self._size = size
        little = struct.unpack_from("<I", buf, 12)[0]
        big = struct.unpack_from(">I", buf, 12)[0]
        if little == HASH_MAGIC:
            self._order = "<"
        elif big == HASH_MAGIC:
            self._order = ">"
        else:
            raise PackageDatabaseError(
                "not a Berkeley DB hash database (bad magic number at offset 12)"
            )
        order = self._order
        page_size = struct.unpack_from(order + "I", buf, 20)[0]
        encrypt_alg, page_type, meta_flags = struct.unpack_from("BBB", buf, 24)
        if page_type != _P_HASHMETA:
            raise PackageDatabaseError(f"page 0 has type {page_type}, not hash metadata")
        if page_size < 512 or page_size > 65536 or page_size & (page_size - 1):
            raise PackageDatabaseError(f"invalid Berkeley DB page size {page_size}")
        if encrypt_alg:
            raise PackageDatabaseError("the Berkeley DB file is encrypted")
        self._page_size = page_size
        self._overhead = _CHECKSUM_HEADER if meta_flags & _DBMETA_CHKSUM else _PAGE_HEADER
        self._pages = size // page_size
        self._max_bucket = struct.unpack_from(order + "I", buf, 72)[0]
        self._spares = struct.unpack_from(f"{order}{_SPARES}I", buf, 96)
        self._page_header = struct.Struct(order + "8xIIIHHBB")
        self._visited: set[int] = set()  # bucket pages and overflow pages already read

    def records(self) -> Iterator[Record]:
        buckets = self._max_bucket + 1
        # Every bucket owns at least one page, so a claim of more buckets than pages is
        # damage (most often a truncated copy); don't let it drive a near-endless loop.
        readable = min(buckets, self._pages)
        if readable < buckets:
            yield BadRecord(
                f"buckets {readable} to {buckets - 1}",
                PackageDatabaseError(
                    f"the metadata names {buckets} buckets but the file has {self._pages} pages"
                ),
            )
        for bucket in range(readable):
            # __db_log2(bucket + 1), which stays below NCACHED for any real file.
            split = bucket.bit_length()
            if split >= _SPARES:
                break
            yield from self._bucket(bucket, bucket + self._spares[split])

    def _bucket(self, bucket: int, pgno: int) -> Iterator[Record]:
        where = f"bucket {bucket}"
        try:
            while pgno:
                page = self._page(pgno, "bucket")
                _, _, next_pgno, entries, _, _, page_type = self._page_header.unpack_from(page)
                if page_type == 0 and entries == 0 and not any(page):
                    return  # a bucket page never written: an empty bucket
                if page_type not in (_P_HASH, _P_HASH_UNSORTED):
                    raise PackageDatabaseError(f"page {pgno} has type {page_type}, not hash")
                self._check_pgno(page, pgno)
                yield from self._items(pgno, page, entries)
                pgno = next_pgno
        except PackageDatabaseError as exc:
            yield BadRecord(where, exc)

    def _items(self, pgno: int, page: bytes, entries: int) -> Iterator[Record]:
        if entries % 2:
            raise PackageDatabaseError(f"page {pgno} has an odd number of items ({entries})")
        first_item = self._overhead + 2 * entries
        if first_item > self._page_size:
            raise PackageDatabaseError(f"page {pgno} claims {entries} items, more than fit")
        offsets = struct.unpack_from(f"{self._order}{entries}H", page, self._overhead)
        end = self._page_size
        items: list[bytes] = []
        for index, offset in enumerate(offsets):
            # Items are packed from the end of the page down: each ends where the previous
            # index's item begins.
            if offset < first_item or offset >= end:
                raise PackageDatabaseError(f"page {pgno} item {index} has a bad offset {offset}")
            items.append(page[offset:end])
            end = offset
        for index in range(0, entries, 2):
            where = f"page {pgno} item {index}"
            try:
                key = self._value(items[index], pgno)
                if key == _RPM_COUNTER_KEY:
                    continue
                if len(key) == 4:
                    where = f"record {struct.unpack(self._order + 'I', key)[0]}"
                yield RawHeader(where, self._value(items[index + 1], pgno))
            except PackageDatabaseError as exc:
                yield BadRecord(where, exc)

    def _value(self, item: bytes, pgno: int) -> bytes:
        kind = item[0]
        if kind == _H_KEYDATA:
            return item[1:]
        if kind == _H_OFFPAGE:
            if len(item) < 12:
                raise PackageDatabaseError(f"page {pgno}: overflow reference is truncated")
            first, total = struct.unpack_from(self._order + "II", item, 4)
            return self._overflow(first, total)
        if kind in (_H_DUPLICATE, _H_OFFDUP):
            raise PackageDatabaseError("duplicate data items are not used by rpm")
        raise PackageDatabaseError(f"page {pgno}: unknown item type {kind}")

    def _overflow(self, pgno: int, total: int) -> bytes:
        if total > self._size:
            raise PackageDatabaseError(f"overflow item of {total} bytes is larger than the file")
        chunks: list[bytes] = []
        length = 0
        capacity = self._page_size - self._overhead
        while pgno:
            page = self._page(pgno, "overflow")
            _, _, next_pgno, _, used, _, page_type = self._page_header.unpack_from(page)
            if page_type != _P_OVERFLOW:
                raise PackageDatabaseError(f"page {pgno} has type {page_type}, not overflow")
            self._check_pgno(page, pgno)
            if used > capacity:
                raise PackageDatabaseError(f"overflow page {pgno} claims {used} bytes")
            length += used
            if length > total:
                raise PackageDatabaseError(f"overflow chain is longer than its item ({total})")
            chunks.append(page[self._overhead : self._overhead + used])
            pgno = next_pgno
        if length != total:
            raise PackageDatabaseError(f"overflow chain holds {length} bytes, expected {total}")
        return b"".join(chunks)

    def _page(self, pgno: int, role: str) -> bytes:
        if pgno >= self._pages:
            raise PackageDatabaseError(
                f"{role} page {pgno} is past the end of the file ({self._pages} pages)"
            )
        if pgno in self._visited:
            raise PackageDatabaseError(f"{role} page {pgno} is reached twice (a page loop)")
        self._visited.add(pgno)
        start = pgno * self._page_size
        return self._buf[start : start + self._page_size]

    def _check_pgno(self, page: bytes, pgno: int) -> None:
        stored = struct.unpack_from(self._order + "I", page, 8)[0]
        if stored != pgno:
            raise PackageDatabaseError(f"page {pgno} is labelled as page {stored}")
