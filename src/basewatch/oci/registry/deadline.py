"""One deadline for a whole HTTP request: connecting, TLS, headers and body together.

httpx's timeouts bound each single wait for the socket, so a server that sends a byte every
few seconds is never cut off. Here the calling thread sets a deadline (`deadline(seconds)`)
and the network streams httpx uses cap every connect, read and write by the time that is left,
failing with a timeout once it has passed. The deadline is per thread because blobs download
in parallel through one client, each on its own thread, and each thread reads its own answer.

A thread may also be made `cancellable` by an event: its reads then wait in short slices and
fail soon after the event is set, so that closing an image (an error, Ctrl-C, SIGTERM) does not
wait for a stalled download's read timeout.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import ssl
import threading
import time
import typing
from collections.abc import Iterator

import httpcore
import httpx

log = logging.getLogger(__name__)

_state = threading.local()
_SLICE = 0.25  # how soon a cancelled read notices


@contextlib.contextmanager
def deadline(seconds: float) -> Iterator[float]:
    """Bound everything this thread sends and receives until the block ends; an enclosing
    deadline that comes sooner wins. Yields the deadline (a `time.monotonic()` value)."""
    previous: float | None = getattr(_state, "at", None)
    at = time.monotonic() + max(seconds, 0.0)
    if previous is not None:
        at = min(at, previous)
    _state.at = at
    try:
        yield at
    finally:
        _state.at = previous


@contextlib.contextmanager
def cancellable(event: threading.Event) -> Iterator[None]:
    """Reads and connects on this thread fail soon after `event` is set, until the block ends."""
    previous: threading.Event | None = getattr(_state, "cancel", None)
    _state.cancel = event
    try:
        yield
    finally:
        _state.cancel = previous


def cancelled() -> bool:
    """True when this thread's work was cancelled."""
    event: threading.Event | None = getattr(_state, "cancel", None)
    return event is not None and event.is_set()


def expired() -> bool:
    """True when this thread's deadline has passed."""
    at: float | None = getattr(_state, "at", None)
    return at is not None and time.monotonic() >= at


def _cap(timeout: float | None, error: type[Exception]) -> float | None:
    at: float | None = getattr(_state, "at", None)
    if at is None:
        return timeout
    remaining = at - time.monotonic()
    if remaining <= 0:
        raise error("the request's deadline has passed")
    return remaining if timeout is None else min(timeout, remaining)


class _Stream(httpcore.NetworkStream):
    def __init__(self, stream: httpcore.NetworkStream) -> None:
        self._stream = stream

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        timeout = _cap(timeout, httpcore.ReadTimeout)
        event: threading.Event | None = getattr(_state, "cancel", None)
        if event is None:
            return self._stream.read(max_bytes, timeout)
        # in slices, so that a cancellation is noticed; a socket read that timed out has
        # consumed nothing and may be repeated
        give_up = None if timeout is None else time.monotonic() + timeout
        while True:
            if event.is_set():
                raise httpcore.ReadError("cancelled")
            step = _SLICE if give_up is None else min(_SLICE, give_up - time.monotonic())
            if step <= 0:
                raise httpcore.ReadTimeout("timed out")
            try:
                return self._stream.read(max_bytes, step)
            except httpcore.ReadTimeout:
                continue

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._stream.write(buffer, _cap(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._stream.close()

    def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        tls = self._stream.start_tls(
            ssl_context, server_hostname, _cap(timeout, httpcore.ConnectTimeout)
        )
        return _Stream(tls)

    def get_extra_info(self, info: str) -> typing.Any:
        return self._stream.get_extra_info(info)


class _Backend(httpcore.NetworkBackend):
    def __init__(self, backend: httpcore.NetworkBackend) -> None:
        self._backend = backend

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: typing.Iterable[typing.Any] | None = None,
    ) -> httpcore.NetworkStream:
        timeout = _cap(timeout, httpcore.ConnectTimeout)
        stream = self._backend.connect_tcp(host, port, timeout, local_address, socket_options)
        return _Stream(stream)

    def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: typing.Iterable[typing.Any] | None = None,
    ) -> httpcore.NetworkStream:
        timeout = _cap(timeout, httpcore.ConnectTimeout)
        return _Stream(self._backend.connect_unix_socket(path, timeout, socket_options))

    def sleep(self, seconds: float) -> None:
        self._backend.sleep(seconds)


@functools.cache
def tls_context(verify: bool) -> ssl.SSLContext:
    """The process's one TLS context for `verify` (httpx's own choice of CA bundle): making
    one loads the whole bundle, tens of milliseconds, and a client is made for every job."""
    return httpx.create_ssl_context(verify=verify)


def transport(verify: bool) -> httpx.HTTPTransport:
    """httpx's own transport, with its network streams bounded by the thread's deadline."""
    result = httpx.HTTPTransport(verify=tls_context(verify))
    # httpx does not take a network backend, but its connection pool does: swap it in. Should
    # a future httpx move it, the body checks in the client still bound slow bodies.
    pool = getattr(result, "_pool", None)
    backend = getattr(pool, "_network_backend", None)
    if isinstance(backend, httpcore.NetworkBackend):
        pool._network_backend = _Backend(backend)  # type: ignore[union-attr]
    else:
        log.debug("cannot bound whole requests with this httpx: only bodies are bounded")
    return result
