"""Background readers: the read-ahead thread and the GIL hand-off they run under."""

from __future__ import annotations

import io
import sys

import pytest

from basewatch.oci.layer import BackgroundHash
from basewatch.oci.prefetch import PrefetchReader, quick_gil_handoff


def test_handoff_shortens_the_switch_interval_while_readers_run() -> None:
    before = sys.getswitchinterval()
    with quick_gil_handoff():
        inside = sys.getswitchinterval()
        with quick_gil_handoff():  # a second reader at the same time
            assert sys.getswitchinterval() == inside
        assert sys.getswitchinterval() == inside  # the first one still runs
    assert inside < before
    assert sys.getswitchinterval() == before


def test_handoff_is_restored_when_the_reader_fails() -> None:
    before = sys.getswitchinterval()
    with pytest.raises(RuntimeError), quick_gil_handoff():
        raise RuntimeError("reader failed")
    assert sys.getswitchinterval() == before


def test_handoff_never_lengthens_a_shorter_interval() -> None:
    before = sys.getswitchinterval()
    sys.setswitchinterval(0.0001)
    try:
        with quick_gil_handoff():
            assert sys.getswitchinterval() <= 0.0001
    finally:
        sys.setswitchinterval(before)


def test_readers_restore_the_interval_when_they_end() -> None:
    before = sys.getswitchinterval()
    data = bytes(range(256)) * 20_000
    with PrefetchReader(io.BytesIO(data)) as reader:
        assert reader.read() == data
    hashes = [BackgroundHash(lambda: io.BytesIO(data)) for _ in range(3)]
    assert len({h.result() for h in hashes}) == 1
    assert sys.getswitchinterval() == before
