"""File contents as detectors meet them."""

from __future__ import annotations

import io
from typing import BinaryIO, cast


class _ForwardOnly(io.RawIOBase):
    def __init__(self, data: bytes) -> None:
        super().__init__()
        self._data = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        return self._data.readinto(buffer)


def member_stream(data: bytes, *, seekable: bool) -> BinaryIO:
    """`data` as a file of an uncompressed tar or a directory (seekable), or as a member of a
    compressed layer: readable once, front to back."""
    if seekable:
        return io.BytesIO(data)
    return cast(BinaryIO, io.BufferedReader(_ForwardOnly(data)))
