"""A webhook receiver on loopback that checks Standard Webhooks signatures the way a receiver
does (HMAC-SHA256 over `id.timestamp.body` with the shared secret), and can be told to be down
(connection refused) or to fail (HTTP 500) for a while."""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.server
import json
import socket
import threading
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Delivery:
    webhook_id: str
    timestamp: int
    body: dict[str, Any]


@dataclass
class Receiver:
    secret: str  # whsec_<base64>
    port: int = 0
    answer: int = 200  # the status every request gets while it is up
    accepted: list[Delivery] = field(default_factory=list)  # verified and answered 2xx
    attempts: int = 0  # requests seen (any answer)
    bad_signatures: int = 0
    host: str = "127.0.0.1"  # where it listens (a fleet's workers reach it elsewhere)
    _server: http.server.ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/hook"

    def key(self) -> bytes:
        return base64.b64decode(self.secret.removeprefix("whsec_"))

    def verify(self, headers: dict[str, str], body: bytes) -> bool:
        message_id = headers.get("webhook-id", "")
        timestamp = headers.get("webhook-timestamp", "")
        signed = f"{message_id}.{timestamp}.".encode() + body
        expected = base64.b64encode(hmac.new(self.key(), signed, hashlib.sha256).digest())
        offered = [
            part.split(",", 1)[1].encode()
            for part in headers.get("webhook-signature", "").split()
            if part.startswith("v1,")
        ]
        return bool(message_id) and any(hmac.compare_digest(expected, o) for o in offered)

    def start(self) -> None:
        """Listen (again, on the same port when it had one)."""
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(min(length, 1 << 20))
                headers = {k.lower(): v for k, v in self.headers.items()}
                with receiver._lock:
                    receiver.attempts += 1
                    status = receiver.answer
                    if status < 300:
                        if receiver.verify(headers, body):
                            receiver.accepted.append(
                                Delivery(
                                    headers["webhook-id"],
                                    int(headers["webhook-timestamp"]),
                                    json.loads(body),
                                )
                            )
                        else:
                            receiver.bad_signatures += 1
                            status = 401
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

        class Server(http.server.ThreadingHTTPServer):
            allow_reuse_address = True
            daemon_threads = True

        self._server = Server((self.host, self.port), Handler)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop listening: connections are refused until `start` again."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def of_type(self, kind: str) -> list[Delivery]:
        with self._lock:
            return [d for d in self.accepted if d.body.get("type") == kind]


def reserve_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
