"""RPM header blobs as the package databases store them (no lead, no 8-byte magic).

A blob is `il` (big-endian u32), `dl` (u32), `il` index entries of 16 bytes (tag, type, offset,
count, all big-endian) and a data store of `dl` bytes. Every entry is checked against the data
store before anything is read from it: blobs come from images and may be hostile.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import IntEnum

from basewatch.errors import PackageDatabaseError

# rpm refuses more index entries or data than this (HEADER_TAGS_MAX, HEADER_DATA_MAX).
MAX_ENTRIES = 0xFFFF
MAX_DATA = 0x0FFFFFFF

_ENTRY = struct.Struct(">iIiI")
_INTRO = struct.Struct(">II")
_REGION_SIZE = 16  # a region tag's data is one index entry: the region trailer


class Tag(IntEnum):
    """The header tags basewatch reads (values from rpm's rpmtag.h)."""

    HEADERIMAGE = 61
    HEADERSIGNATURES = 62
    HEADERIMMUTABLE = 63
    HEADERI18NTABLE = 100
    NAME = 1000
    VERSION = 1001
    RELEASE = 1002
    EPOCH = 1003
    SUMMARY = 1004
    SIZE = 1009
    VENDOR = 1011
    LICENSE = 1014
    ARCH = 1022
    OLDFILENAMES = 1027
    SOURCERPM = 1044
    DIRINDEXES = 1116
    BASENAMES = 1117
    DIRNAMES = 1118
    MODULARITYLABEL = 5096


class TagType(IntEnum):
    """How an entry's data is encoded."""

    NULL = 0
    CHAR = 1
    INT8 = 2
    INT16 = 3
    INT32 = 4
    INT64 = 5
    STRING = 6
    BIN = 7
    STRING_ARRAY = 8
    I18NSTRING = 9


_REGION_TAGS = frozenset({Tag.HEADERIMAGE, Tag.HEADERSIGNATURES, Tag.HEADERIMMUTABLE})
_STRING_TYPES = frozenset({TagType.STRING, TagType.STRING_ARRAY, TagType.I18NSTRING})
# Bytes per element for fixed-size types; string types are NUL-terminated instead.
_SIZES = {
    TagType.NULL: 0,
    TagType.CHAR: 1,
    TagType.INT8: 1,
    TagType.INT16: 2,
    TagType.INT32: 4,
    TagType.INT64: 8,
    TagType.BIN: 1,
}
_INT_FORMATS = {TagType.INT8: "B", TagType.INT16: "H", TagType.INT32: "I", TagType.INT64: "Q"}


@dataclass(frozen=True, slots=True)
class Entry:
    """One index entry, already checked to start inside the data store."""

    tag: int
    type: TagType
    offset: int
    count: int


class Header:
    """A parsed header: typed, bounds-checked access to its tags."""

    __slots__ = ("_data", "_entries")

    def __init__(self, entries: dict[int, Entry], data: bytes) -> None:
        self._entries = entries
        self._data = data

    def __contains__(self, tag: int) -> bool:
        return tag in self._entries

    def tags(self) -> tuple[int, ...]:
        """Every tag present, in index order."""
        return tuple(self._entries)

    def entry(self, tag: int) -> Entry | None:
        return self._entries.get(tag)

    def string(self, tag: int) -> str | None:
        """The tag's string (the untranslated one for I18NSTRING), or None when absent."""
        entry = self._entries.get(tag)
        if entry is None:
            return None
        if entry.type not in (TagType.STRING, TagType.I18NSTRING):
            raise PackageDatabaseError(f"tag {tag} is {entry.type.name}, expected a string")
        return self._strings(entry, 1)[0]

    def strings(self, tag: int) -> tuple[str, ...] | None:
        """All strings of a STRING_ARRAY, I18NSTRING or STRING tag, or None when absent."""
        entry = self._entries.get(tag)
        if entry is None:
            return None
        if entry.type not in _STRING_TYPES:
            raise PackageDatabaseError(f"tag {tag} is {entry.type.name}, expected strings")
        return self._strings(entry, entry.count)

    def integers(self, tag: int) -> tuple[int, ...] | None:
        """The unsigned values of an INT8/16/32/64 tag, or None when absent."""
        entry = self._entries.get(tag)
        if entry is None:
            return None
        fmt = _INT_FORMATS.get(entry.type)
        if fmt is None:
            raise PackageDatabaseError(f"tag {tag} is {entry.type.name}, expected an integer")
        # Fixed-size entries were checked to fit in the data store at parse time.
        return struct.unpack_from(f">{entry.count}{fmt}", self._data, entry.offset)

    def integer(self, tag: int) -> int | None:
        """The first value of an integer tag, or None when absent."""
        values = self.integers(tag)
        return values[0] if values else None

    def binary(self, tag: int) -> bytes | None:
        entry = self._entries.get(tag)
        if entry is None:
            return None
        if entry.type is not TagType.BIN:
            raise PackageDatabaseError(f"tag {tag} is {entry.type.name}, expected BIN")
        return self._data[entry.offset : entry.offset + entry.count]

    def _strings(self, entry: Entry, count: int) -> tuple[str, ...]:
        data = self._data
        out: list[str] = []
        pos = entry.offset
        for _ in range(count):
            end = data.find(b"\0", pos)
            if end < 0:
                raise PackageDatabaseError(
                    f"tag {entry.tag}: string at offset {pos} runs past the end of the data store"
                )
            out.append(data[pos:end].decode("utf-8", errors="replace"))
            pos = end + 1
        return tuple(out)


def parse_header(blob: bytes) -> Header:
    """Parse one stored header blob; raise `PackageDatabaseError` if any part is malformed."""
    if len(blob) < _INTRO.size:
        raise PackageDatabaseError(f"header blob of {len(blob)} bytes is too short")
    il, dl = _INTRO.unpack_from(blob)
    if il < 1 or il > MAX_ENTRIES:
        raise PackageDatabaseError(f"header has {il} index entries (allowed: 1 to {MAX_ENTRIES})")
    if dl > MAX_DATA:
        raise PackageDatabaseError(f"header data store of {dl} bytes is too large")
    expected = _INTRO.size + il * _ENTRY.size + dl
    if len(blob) != expected:
        raise PackageDatabaseError(
            f"header blob is {len(blob)} bytes, but {il} entries and {dl} data bytes"
            f" need {expected}"
        )
    start = _INTRO.size + il * _ENTRY.size
    data = blob[start:]

    entries: dict[int, Entry] = {}
    first = 0
    tag0, _, _, _ = _ENTRY.unpack_from(blob, _INTRO.size)
    if tag0 in _REGION_TAGS:
        _check_region(blob, il, data)
        first = 1
    for index in range(first, il):
        tag, raw_type, offset, count = _ENTRY.unpack_from(blob, _INTRO.size + index * _ENTRY.size)
        entry = _check_entry(index, tag, raw_type, offset, count, dl)
        # Entries appended after the region ("dribble") replace region entries of the same
        # tag, as rpm's headerImport does.
        entries[tag] = entry
    return Header(entries, data)


def _check_region(blob: bytes, il: int, data: bytes) -> None:
    tag, raw_type, offset, count = _ENTRY.unpack_from(blob, _INTRO.size)
    if raw_type != TagType.BIN or count != _REGION_SIZE:
        raise PackageDatabaseError(f"region tag {tag}: type {raw_type} count {count}, not BIN/16")
    if offset < 0 or offset + _REGION_SIZE > len(data):
        raise PackageDatabaseError(f"region tag {tag}: trailer offset {offset} is out of bounds")
    t_tag, t_type, t_offset, t_count = _ENTRY.unpack(data[offset : offset + _REGION_SIZE])
    if t_tag != tag or t_type != TagType.BIN or t_count != _REGION_SIZE:
        raise PackageDatabaseError(f"region tag {tag}: trailer does not match")
    # The trailer's offset is minus the size of the region's index.
    region_entries, rest = divmod(-t_offset, _ENTRY.size)
    if rest or region_entries < 1 or region_entries > il:
        raise PackageDatabaseError(f"region tag {tag}: trailer claims an impossible region size")


def _check_entry(index: int, tag: int, raw_type: int, offset: int, count: int, dl: int) -> Entry:
    where = f"header entry {index} (tag {tag})"
    if tag < Tag.HEADERI18NTABLE:
        raise PackageDatabaseError(f"{where}: tag number is reserved")
    try:
        tag_type = TagType(raw_type)
    except ValueError:
        raise PackageDatabaseError(f"{where}: unknown data type {raw_type}") from None
    if count < 1 or count > dl:
        raise PackageDatabaseError(f"{where}: count {count} is out of range")
    if offset < 0 or offset >= dl:
        raise PackageDatabaseError(f"{where}: offset {offset} points outside the data store")
    size = _SIZES.get(tag_type)
    if size is not None:
        if size and offset % size:
            raise PackageDatabaseError(f"{where}: offset {offset} is misaligned")
        if offset + size * count > dl:
            raise PackageDatabaseError(f"{where}: data runs past the end of the data store")
    elif tag_type is TagType.STRING and count != 1:
        raise PackageDatabaseError(f"{where}: a STRING entry must have count 1")
    return Entry(tag=tag, type=tag_type, offset=offset, count=count)
