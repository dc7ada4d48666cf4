"""rpm's own "ndb" package database (`Packages.db`, used by SUSE), read without librpm.

Layout (rpm's lib/backend/ndb/rpmpkg.c; every integer little-endian):
- a 32-byte file header: magic "RpmP", version 0, generation, number of slot pages;
- slot pages (4096 bytes each, counted from the file start, so the header takes the first two
  slots): 16-byte slots "Slot", package index, block offset, block count; a slot whose block
  offset is 0 is free;
- blobs at `block offset * 16`: a head ("BlbS", package index, timestamp, length), the header
  blob, zero padding, and a tail (Adler-32 of everything before it, length, "BlbE").
"""

from __future__ import annotations

import mmap
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from basewatch.errors import PackageDatabaseError
from basewatch.inventory.rpm.records import BadRecord, RawHeader, Record

FILE_MAGIC = b"RpmP"
_SLOT_MAGIC = b"Slot"
_BLOB_HEAD_MAGIC = b"BlbS"
_BLOB_TAIL_MAGIC = b"BlbE"
_VERSION = 0
_HEADER_SIZE = 32
_SLOT_SIZE = 16
_BLOCK_SIZE = 16
_PAGE_SIZE = 4096
_BLOB_HEAD = struct.Struct("<4sIII")
_BLOB_TAIL = struct.Struct("<II4s")
_SLOT = struct.Struct("<4sIII")


@dataclass(frozen=True, slots=True)
class _Slot:
    number: int
    package: int
    offset: int  # in blocks
    blocks: int


def read_ndb(path: Path) -> Iterator[Record]:
    """Yield every header blob of an rpm ndb `Packages.db` file, in the order rpm lists them.

    Raise `PackageDatabaseError` when the file is not an ndb database; a damaged slot or blob
    is yielded as a `BadRecord` and reading goes on.
    """
    with path.open("rb") as f:
        size = path.stat().st_size
        if size < _HEADER_SIZE:
            raise PackageDatabaseError(f"{size} bytes is too short for an ndb database")
        with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as buf:
            yield from _read(buf, size)


def _read(buf: mmap.mmap, size: int) -> Iterator[Record]:
    magic, version, _, slot_pages = struct.unpack_from("<4sIII", buf, 0)
    if magic != FILE_MAGIC:
        raise PackageDatabaseError("not an rpm ndb database (no RpmP magic)")
    if version != _VERSION:
        raise PackageDatabaseError(f"unsupported ndb version {version}")
    if slot_pages < 1:
        raise PackageDatabaseError("ndb header announces no slot pages")
    present = min(slot_pages, size // _PAGE_SIZE)
    slots: list[_Slot] = []
    first_blob_block = slot_pages * (_PAGE_SIZE // _BLOCK_SIZE)
    file_blocks = size // _BLOCK_SIZE
    bad: list[BadRecord] = []
    if present < slot_pages:
        bad.append(
            BadRecord(
                f"slot pages {present} to {slot_pages - 1}",
                PackageDatabaseError("missing: the file is truncated"),
            )
        )
    bad_magic: list[int] = []
    for number in range(_HEADER_SIZE // _SLOT_SIZE, present * _PAGE_SIZE // _SLOT_SIZE):
        magic, package, offset, blocks = _SLOT.unpack_from(buf, number * _SLOT_SIZE)
        where = f"slot {number}"
        if magic != _SLOT_MAGIC:
            bad_magic.append(number)
            continue
        if offset == 0:
            continue  # free slot
        if package == 0 or blocks == 0:
            bad.append(BadRecord(where, PackageDatabaseError("used slot without package or size")))
        elif offset < first_blob_block:
            bad.append(BadRecord(where, PackageDatabaseError("blob overlaps the slot pages")))
        elif offset + blocks > file_blocks:
            bad.append(BadRecord(where, PackageDatabaseError("blob lies past the end of the file")))
        else:
            slots.append(_Slot(number, package, offset, blocks))
    if bad_magic:
        # Usually one damaged area (or blobs mistaken for slots): say so once.
        where = f"slot {bad_magic[0]}"
        if len(bad_magic) > 1:
            where += f" and {len(bad_magic) - 1} more"
        bad.append(BadRecord(where, PackageDatabaseError("bad slot magic")))
    yield from bad
    # rpm lists packages in blob order.
    end_of_previous = 0
    for slot in sorted(slots, key=lambda s: s.offset):
        where = f"package {slot.package} (slot {slot.number})"
        # Overlapping blobs are damage (rpm refuses them too); refusing them also bounds the
        # work to one pass over the file, whatever the slots claim.
        if slot.offset < end_of_previous:
            yield BadRecord(where, PackageDatabaseError("blob overlaps the previous blob"))
            continue
        end_of_previous = slot.offset + slot.blocks
        try:
            yield RawHeader(f"package {slot.package}", _blob(buf, slot))
        except PackageDatabaseError as exc:
            yield BadRecord(where, exc)


def _blob(buf: mmap.mmap, slot: _Slot) -> bytes:
    start = slot.offset * _BLOCK_SIZE
    end = start + slot.blocks * _BLOCK_SIZE
    if slot.blocks * _BLOCK_SIZE < _BLOB_HEAD.size + _BLOB_TAIL.size:
        raise PackageDatabaseError(f"blob of {slot.blocks} blocks is too small")
    magic, package, _, length = _BLOB_HEAD.unpack_from(buf, start)
    if magic != _BLOB_HEAD_MAGIC:
        raise PackageDatabaseError("bad blob head magic")
    if package != slot.package:
        raise PackageDatabaseError(f"blob belongs to package {package}")
    needed = -(-(_BLOB_HEAD.size + length + _BLOB_TAIL.size) // _BLOCK_SIZE)
    if needed != slot.blocks:
        raise PackageDatabaseError(f"blob length {length} does not fit its {slot.blocks} blocks")
    tail_at = end - _BLOB_TAIL.size
    checksum, tail_length, tail_magic = _BLOB_TAIL.unpack_from(buf, tail_at)
    if tail_magic != _BLOB_TAIL_MAGIC or tail_length != length:
        raise PackageDatabaseError("bad blob tail")
    if zlib.adler32(buf[start:tail_at]) != checksum:
        raise PackageDatabaseError("blob checksum mismatch")
    body = start + _BLOB_HEAD.size
    return buf[body : body + length]
