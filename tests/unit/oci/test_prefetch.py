"""Background readers: the read-ahead thread and the background hash."""

from __future__ import annotations

import io
import sys

import pytest

from basewatch.oci.layer import BackgroundHash
from basewatch.oci.prefetch import PrefetchReader


def test_readers_leave_the_switch_interval_alone() -> None:
    # the interval is the process's: a service running other work beside a scan shares it
    before = sys.getswitchinterval()
    data = bytes(range(256)) * 20_000
    with PrefetchReader(io.BytesIO(data)) as reader:
        assert sys.getswitchinterval() == before
        assert reader.read() == data
    hashes = [BackgroundHash(lambda: io.BytesIO(data)) for _ in range(3)]
    assert len({h.result() for h in hashes}) == 1
    assert sys.getswitchinterval() == before


def test_a_read_error_reaches_the_consumer() -> None:
    class Broken(io.RawIOBase):
        def readable(self) -> bool:
            return True

        def read(self, n: int = -1) -> bytes:
            raise OSError("disk gone")

    with PrefetchReader(Broken()) as reader, pytest.raises(OSError, match="disk gone"):  # type: ignore[arg-type]
        reader.read(10)
