"""Read a stream ahead in a background thread, so that decompression and hashing (which release
the GIL) overlap with tar parsing on another core. Memory stays bounded by the queue depth.

Such a thread needs the GIL back after every chunk it reads, decompresses or hashes, and the
interpreter hands it over once per switch interval (5 ms by default) while the parser computes;
large chunks keep those waits few. The switch interval is the process's, not the library's: it
is never changed here (a long-running service shares the interpreter with other work).
"""

from __future__ import annotations

import contextlib
import queue
import threading
from typing import BinaryIO

_CHUNK = 1 << 20
_DEPTH = 8  # at most this many chunks wait in memory


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
