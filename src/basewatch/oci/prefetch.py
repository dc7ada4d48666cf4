"""Read a stream ahead in a background thread, so that decompression and hashing (which release
the GIL) overlap with tar parsing on another core. Memory stays bounded by the queue depth.

Such a thread needs the GIL back after every chunk it reads, decompresses or hashes. While the
parsing thread computes, the interpreter only hands the GIL over once per switch interval (5 ms
by default), so the reader thread would spend most of its time waiting: hashing a 213 MiB layer
beside a busy parser took 0.30 s with 16 MiB chunks instead of 0.14 s. `quick_gil_handoff`
shortens the interval while such threads run, and restores it after the last one ends.
"""

from __future__ import annotations

import contextlib
import queue
import sys
import threading
from collections.abc import Iterator
from typing import BinaryIO

_CHUNK = 1 << 20
_DEPTH = 8  # at most this many chunks wait in memory
_HANDOFF_INTERVAL = 0.0002  # seconds; the interpreter's default switch interval is 0.005


class _GilHandoff:
    """Counts the background readers running; the first one in shortens the interpreter's
    switch interval, the last one out restores it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._users = 0
        self._saved = 0.0

    @contextlib.contextmanager
    def active(self) -> Iterator[None]:
        with self._lock:
            if self._users == 0:
                self._saved = sys.getswitchinterval()
                sys.setswitchinterval(min(self._saved, _HANDOFF_INTERVAL))
            self._users += 1
        try:
            yield
        finally:
            with self._lock:
                self._users -= 1
                if self._users == 0:
                    sys.setswitchinterval(self._saved)


_HANDOFF = _GilHandoff()


def quick_gil_handoff() -> contextlib.AbstractContextManager[None]:
    """Run the body of a background reader thread inside this (see the module docstring)."""
    return _HANDOFF.active()


class PrefetchReader:
    """A forward-only reader fed by a thread that reads `raw` in chunks.

    Errors raised while reading `raw` are re-raised by `read` in the consuming thread.
    Call `close()` (or use `with`) so that the thread stops if the consumer gives up early.
    """

    def __init__(self, raw: BinaryIO) -> None:
        self._raw = raw
        self._queue: queue.Queue[bytes | BaseException] = queue.Queue(maxsize=_DEPTH)
        self._stop = threading.Event()
        self._buffer = b""
        self._pos = 0
        self._eof = False
        self._thread = threading.Thread(target=self._run, name="basewatch-prefetch", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        with quick_gil_handoff():
            try:
                while not self._stop.is_set():
                    chunk = self._raw.read(_CHUNK)
                    self._put(chunk)
                    if not chunk:
                        return
            except BaseException as exc:  # handed to the consumer, which raises it
                self._put(exc)

    def _put(self, item: bytes | BaseException) -> None:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    def _next(self) -> bool:
        if self._eof:
            return False
        item = self._queue.get()
        if isinstance(item, BaseException):
            self._eof = True
            raise item
        if not item:
            self._eof = True
            return False
        self._buffer, self._pos = item, 0
        return True

    def read(self, n: int = -1) -> bytes:
        if n < 0:
            parts = [self._buffer[self._pos :]]
            self._buffer, self._pos = b"", 0
            while self._next():
                parts.append(self._buffer)
            self._buffer = b""
            return b"".join(parts)
        if self._pos >= len(self._buffer) and not self._next():
            return b""
        data = self._buffer[self._pos : self._pos + n]
        self._pos += len(data)
        return data

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        self._stop.set()
        while self._thread.is_alive():
            with contextlib.suppress(queue.Empty):
                self._queue.get(timeout=0.1)
        self._thread.join()

    def __enter__(self) -> PrefetchReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
