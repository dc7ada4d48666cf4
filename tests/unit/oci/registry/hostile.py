"""A tiny real HTTP server on 127.0.0.1 that misbehaves on purpose, for hostile-registry tests.

Where a real socket matters (a body without end, a server sending a byte at a time, a deadline),
a mock transport proves nothing: this server speaks HTTP/1.1 over a real socket, one thread per
connection, and a test decides byte by byte what each request gets. `HostileRegistry` serves a
small real image whose manifest a test may rewrite, with a layer blob that never ends.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from tests.imagebuild import BuiltImage, build_image, file, sha256

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


@dataclass(frozen=True, slots=True)
class Request:
    method: str
    path: str
    headers: dict[str, str]


Handler = Callable[[Request, socket.socket], None]


class HostileServer:
    """Accepts connections on 127.0.0.1 and hands each request to `handler` (which writes the
    raw answer); the connection is closed after each answer."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.requests: list[Request] = []
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(16)
        self._sock.settimeout(0.2)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self._sock.getsockname()[1]}"

    def __enter__(self) -> HostileServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)
        self._sock.close()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=self._connection, args=(conn,), daemon=True).start()

    def _connection(self, conn: socket.socket) -> None:
        with conn, contextlib.suppress(OSError):
            conn.settimeout(10)
            head = b""
            while b"\r\n\r\n" not in head:
                data = conn.recv(4096)
                if not data or data.startswith(b"\x16"):
                    return  # a TLS handshake: this server speaks plain HTTP only
                head += data
            lines = head.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
            method, path, _ = lines[0].split(" ", 2)
            headers = {}
            for line in lines[1:]:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
            request = Request(method, path, headers)
            self.requests.append(request)
            self.handler(request, conn)


def answer(
    conn: socket.socket, status: int, body: bytes = b"", headers: dict[str, str] | None = None
) -> None:
    """Send a complete response."""
    all_headers = {"Content-Length": str(len(body)), "Connection": "close", **(headers or {})}
    conn.sendall(head(status, all_headers) + body)


def head(status: int, headers: dict[str, str]) -> bytes:
    lines = [f"HTTP/1.1 {status} X"] + [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def trickle(conn: socket.socket, data: bytes, delay: float, stop: Callable[[], bool]) -> None:
    """Send `data` a byte at a time, `delay` seconds apart, until done or the client leaves."""
    for i in range(len(data)):
        if stop():
            return
        conn.sendall(data[i : i + 1])
        time.sleep(delay)


# What "endless" sends at most, so that a client that never stops fails a test instead of
# filling the disk.
ENDLESS_CAP = 64 << 20


def endless(conn: socket.socket, stop: Callable[[], bool], chunk: int = 1 << 16) -> int:
    """Send zeros until the client hangs up, the server stops or ENDLESS_CAP bytes went;
    returns bytes sent."""
    block = b"\0" * chunk
    sent = 0
    with contextlib.suppress(OSError):
        while not stop() and sent < ENDLESS_CAP:
            conn.sendall(block)
            sent += chunk
    return sent


def small_image() -> BuiltImage:
    return build_image([[file("etc/os-release", "ID=debian\nVERSION_ID=12\n")]])


@dataclass
class HostileRegistry:
    """Serves `repo:tag` as a manifest whose first layer descriptor `layer` rewrites (a key set
    to None is removed); the layer blob itself is endless zeros unless `finite`."""

    image: BuiltImage = field(default_factory=small_image)
    layer: dict[str, Any] = field(default_factory=dict)
    finite: bool = False
    stall_after: int = -1  # >= 0: the layer sends this many bytes, then nothing more
    layer_bytes_sent: list[int] = field(default_factory=list)
    server: HostileServer | None = None

    def manifest_bytes(self) -> bytes:
        manifest = json.loads(self.image.manifest_bytes)
        descriptor = manifest["layers"][0]
        for key, value in self.layer.items():
            if value is None:
                descriptor.pop(key, None)
            else:
                descriptor[key] = value
        return json.dumps(manifest).encode()

    def handle(self, request: Request, conn: socket.socket) -> None:
        assert self.server is not None
        path = request.path.split("?", 1)[0]
        if path == "/v2/":
            answer(conn, 200, b"{}")
            return
        if "/manifests/" in path:
            data = self.manifest_bytes()
            headers = {"Content-Type": OCI_MANIFEST, "Docker-Content-Digest": sha256(data)}
            answer(conn, 200, b"" if request.method == "HEAD" else data, headers)
            return
        digest = path.rsplit("/", 1)[1]
        if digest == self.image.layer_digests[0] and self.stall_after >= 0:
            conn.sendall(head(200, {"Connection": "close"}) + b"\0" * self.stall_after)
            while not self.server.stopping:
                time.sleep(0.05)
            return
        if digest == self.image.layer_digests[0] and not self.finite:
            conn.sendall(head(200, {"Connection": "close"}))  # no length: until we hang up
            server = self.server
            self.layer_bytes_sent.append(endless(conn, lambda: server.stopping))
            return
        if digest in self.image.blobs:
            answer(conn, 200, self.image.blobs[digest])
            return
        answer(conn, 404)

    @contextlib.contextmanager
    def running(self) -> Iterator[HostileServer]:
        self.server = HostileServer(self.handle)
        with self.server as server:
            yield server
