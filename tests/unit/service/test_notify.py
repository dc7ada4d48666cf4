"""The senders against real receivers on loopback (an HTTP server that checks Standard Webhooks
signatures, an HTTPS one, a real SMTP server with STARTTLS), and the destination rules."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import ipaddress
import json
import socket
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from basewatch.clock import FixedClock
from basewatch.service.config import ServeSettings
from basewatch.service.models import Event, Notifier
from basewatch.service.notify import (
    DeliveryError,
    Sender,
    UnsafeDestination,
    check_destination,
    sign,
    slack_payload,
    unsafe_reason,
    webhook_body,
)

SECRET = "a-webhook-secret-of-some-length"
WHSEC = "whsec_" + base64.b64encode(b"0123456789abcdef0123456789abcdef").decode()
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


# --- a webhook receiver ------------------------------------------------------------------------


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    verified: bool  # the signature matched the secret


@dataclass
class Receiver:
    """An HTTP server on 127.0.0.1 that records every request and checks its Standard Webhooks
    signature with `secret` (on its own, not with basewatch's code). `status` is what it
    answers; `location` makes it a redirect; `stop()` closes the port (connection refused)
    and `start()` opens it again on the same port."""

    secret: str = SECRET
    status: int = 204
    location: str = ""
    answer: bytes = b""
    port: int = 0
    tls: ssl.SSLContext | None = None
    received: list[Received] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}/hook"

    def ids(self) -> list[str]:
        return [r.headers["webhook-id"] for r in self.received]

    def start(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", "0"))
                body = self.rfile.read(length)
                headers = {k.lower(): v for k, v in self.headers.items()}
                receiver.received.append(
                    Received(self.path, headers, body, verify(receiver.secret, headers, body))
                )
                self.send_response(receiver.status)
                if receiver.location:
                    self.send_header("Location", receiver.location)
                self.send_header("Content-Length", str(len(receiver.answer)))
                self.end_headers()
                self.wfile.write(receiver.answer)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        if self.tls is not None:
            server.socket = self.tls.wrap_socket(server.socket, server_side=True)
        self.port = server.server_address[1]
        self._server = server
        threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


def verify(secret: str, headers: dict[str, str], body: bytes) -> bool:
    """The receiver's side of Standard Webhooks: `v1,` + base64 HMAC-SHA256 of id.ts.body."""
    if secret.startswith("whsec_"):
        key = base64.b64decode(secret.removeprefix("whsec_"))
    else:
        key = secret.encode()
    try:
        signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + body
    except KeyError:
        return False
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    offered = headers.get("webhook-signature", "").split()
    return any(
        version == "v1" and hmac.compare_digest(value, expected)
        for version, _, value in (s.partition(",") for s in offered)
    )


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver().start()
    yield found
    found.stop()


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def settings(*allowed: str, timeout: str = "5s") -> ServeSettings:
    return ServeSettings.load(
        environ={"HOME": "/nonexistent"},
        default_vulndb=Path("/nonexistent/vuln.db"),
        flags={
            "allowed_notifier_hosts": ",".join(allowed) or None,
            "delivery_timeout": timeout,
        },
    )


def an_event(**changes: Any) -> Event:
    values: dict[str, Any] = {
        "id": 7,
        "type": "findings.new",
        "digest": "sha256:" + "ab" * 32,
        "repository": "127.0.0.1:5000/app",
        "payload": {
            "image": {"digest": "sha256:" + "ab" * 32, "repository": "127.0.0.1:5000/app"},
            "findings": [
                {
                    "id": "CVE-2026-0001",
                    "aliases": ["DEBIAN-CVE-2026-0001"],
                    "package": "openssl",
                    "version": "3.0.1-1",
                    "severity": "high",
                    "fixed_version": "3.0.2-1",
                    "kev": True,
                }
            ],
        },
        "created_at": NOW,
        "uid": "msg_0123456789abcdef",
        "severity": "high",
        "fanned_out": False,
    }
    values.update(changes)
    return Event(**values)


def a_notifier(kind: str, target: str, secret: str = "", **options: Any) -> Notifier:
    return Notifier(
        id=1,
        name=kind,
        kind=kind,
        target=target,
        secret=secret,
        options=options,
        event_types=[],
        min_severity="unknown",
        repositories=[],
        created_at=NOW,
    )


# --- webhooks ----------------------------------------------------------------------------------


@pytest.mark.parametrize("secret", [SECRET, WHSEC], ids=["raw", "whsec"])
def test_a_webhook_is_signed_as_standard_webhooks_says(receiver: Receiver, secret: str) -> None:
    receiver.secret = secret
    clock = FixedClock(NOW + timedelta(minutes=5))
    event = an_event()
    with Sender(settings("127.0.0.1"), clock=clock) as sender:
        sender.send(event, a_notifier("webhook", receiver.url, secret))
        clock.advance(30)
        sender.send(event, a_notifier("webhook", receiver.url, secret))
    first, second = receiver.received
    assert first.verified and second.verified
    assert first.path == "/hook"
    assert first.headers["webhook-id"] == second.headers["webhook-id"] == event.uid
    assert first.headers["webhook-timestamp"] == str(int((NOW + timedelta(minutes=5)).timestamp()))
    assert int(second.headers["webhook-timestamp"]) == int(first.headers["webhook-timestamp"]) + 30
    assert first.headers["webhook-signature"].startswith("v1,")
    assert first.headers["content-type"] == "application/json"
    assert first.body == second.body == webhook_body(event)
    document = json.loads(first.body)
    assert document["type"] == "findings.new"
    assert document["timestamp"] == "2026-12-01T12:00:00Z"
    data = document["data"]
    assert data["event_id"] == 7 and data["severity"] == "high"
    assert data["repository"] == "127.0.0.1:5000/app" and data["digest"] == event.digest
    assert data["findings"][0]["id"] == "CVE-2026-0001"


def test_a_wrong_secret_does_not_verify(receiver: Receiver) -> None:
    with Sender(settings("127.0.0.1")) as sender:
        sender.send(an_event(), a_notifier("webhook", receiver.url, "another-secret-entirely"))
    assert not receiver.received[0].verified


def test_the_signature_matches_the_specs_construction() -> None:
    # Standard Webhooks: HMAC-SHA256 over "{id}.{timestamp}.{body}", key = base64 after whsec_
    key = b"0123456789abcdef0123456789abcdef"
    expected = hmac.new(key, b"msg_1.1700000000.{}", hashlib.sha256).digest()
    assert sign(WHSEC, "msg_1", 1700000000, b"{}") == "v1," + base64.b64encode(expected).decode()
    raw = hmac.new(SECRET.encode(), b"msg_1.1700000000.{}", hashlib.sha256).digest()
    assert sign(SECRET, "msg_1", 1700000000, b"{}") == "v1," + base64.b64encode(raw).decode()


@pytest.mark.parametrize("status", [400, 404, 500, 503])
def test_an_answer_other_than_2xx_fails_with_its_status(receiver: Receiver, status: int) -> None:
    receiver.status = status
    receiver.answer = b"the database\nis down " + b"x" * 20000
    with Sender(settings("127.0.0.1")) as sender, pytest.raises(DeliveryError) as caught:
        sender.send(an_event(), a_notifier("webhook", receiver.url, SECRET))
    reason = str(caught.value)
    assert reason.startswith(f"HTTP {status}: the database is down")
    assert len(reason) < 400  # a bounded part of the answer, never all of it


def test_a_refused_connection_fails_clearly() -> None:
    url = f"http://127.0.0.1:{closed_port()}/hook"
    with Sender(settings("127.0.0.1")) as sender, pytest.raises(DeliveryError) as caught:
        sender.send(an_event(), a_notifier("webhook", url, SECRET))
    assert str(caught.value) == "connection refused"


def test_a_silent_receiver_fails_within_the_timeout() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)  # accepts the connection, never answers
        url = f"http://127.0.0.1:{listener.getsockname()[1]}/hook"
        sender = Sender(settings("127.0.0.1", timeout="300ms"))
        with sender, pytest.raises(DeliveryError) as caught:
            sender.send(an_event(), a_notifier("webhook", url, SECRET))
    assert str(caught.value) == "no answer within 0.3s"


def test_a_redirect_is_a_failure_and_is_not_followed(receiver: Receiver) -> None:
    elsewhere = Receiver().start()
    try:
        receiver.status, receiver.location = 302, elsewhere.url
        with Sender(settings("127.0.0.1")) as sender, pytest.raises(DeliveryError) as caught:
            sender.send(an_event(), a_notifier("webhook", receiver.url, SECRET))
        assert "HTTP 302" in str(caught.value) and "redirect" in str(caught.value)
        assert len(receiver.received) == 1
        assert elsewhere.received == []
    finally:
        elsewhere.stop()


def test_the_connection_goes_to_the_checked_address_under_the_hosts_name(
    receiver: Receiver,
) -> None:
    # hooks.test exists only in this resolver: the request can only arrive if the sender
    # connects to the address it checked, and the receiver still sees the name
    def resolve(host: str, port: int, **_: Any) -> list[Any]:
        assert host == "hooks.test"
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port))]

    url = f"http://hooks.test:{receiver.port}/hook"
    with Sender(settings("hooks.test"), resolve=resolve) as sender:
        sender.send(an_event(), a_notifier("webhook", url, SECRET))
    assert receiver.received[0].headers["host"] == f"hooks.test:{receiver.port}"
    assert receiver.received[0].verified


def test_a_name_that_rebinds_to_a_private_address_is_refused_at_the_attempt(
    receiver: Receiver,
) -> None:
    answers = iter(["93.184.215.14", "127.0.0.1"])

    def resolve(host: str, port: int, **_: Any) -> list[Any]:
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (next(answers), port))]

    url = f"http://rebind.test:{receiver.port}/hook"
    with Sender(settings(), resolve=resolve) as sender:
        assert sender.check(url).address == "93.184.215.14"  # when the notifier was made
        with pytest.raises(UnsafeDestination, match=r"rebind\.test resolves to 127\.0\.0\.1"):
            sender.send(an_event(), a_notifier("webhook", url, SECRET))
    assert receiver.received == []


# --- https: certificates are checked against the host's name -----------------------------------


def make_certificate(directory: Path, name: str) -> tuple[Path, Path]:
    """A throwaway self-signed certificate for `name` (its own trust anchor) and its key."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    names: list[x509.GeneralName] = [x509.DNSName(name)]
    with contextlib.suppress(ValueError):
        names = [x509.IPAddress(ipaddress.ip_address(name))]
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(datetime.now(UTC) - timedelta(days=1))
        .not_valid_after(datetime.now(UTC) + timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / f"{name}.crt", directory / f"{name}.key"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def server_context(cert: Path, key: Path) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    return context


@pytest.mark.parametrize("served", ["hooks.test", "other.test"])
def test_https_checks_the_certificate_against_the_name_not_the_address(
    tmp_path: Path, served: str
) -> None:
    cert, key = make_certificate(tmp_path, served)
    receiver = Receiver(tls=server_context(cert, key)).start()

    def resolve(host: str, port: int, **_: Any) -> list[Any]:
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port))]

    trust = ssl.create_default_context(cafile=str(cert))
    url = f"https://hooks.test:{receiver.port}/hook"
    try:
        with Sender(settings("hooks.test"), tls=trust, resolve=resolve) as sender:
            if served == "hooks.test":
                sender.send(an_event(), a_notifier("webhook", url, SECRET))
                assert receiver.received[0].verified
            else:
                with pytest.raises(DeliveryError, match="TLS failed"):
                    sender.send(an_event(), a_notifier("webhook", url, SECRET))
                assert receiver.received == []
    finally:
        receiver.stop()


# --- slack -------------------------------------------------------------------------------------


def test_slack_gets_an_incoming_webhook_message(receiver: Receiver) -> None:
    with Sender(settings("127.0.0.1")) as sender:
        sender.send(an_event(), a_notifier("slack", receiver.url))
    got = receiver.received[0]
    assert "webhook-signature" not in got.headers
    message = json.loads(got.body)
    assert message == slack_payload(an_event())
    assert message["text"] == "[basewatch] findings.new: 127.0.0.1:5000/app"
    blocks = " ".join(b["text"]["text"] for b in message["blocks"])
    assert "*findings.new*" in blocks and "`sha256:abababababab`" in blocks
    assert "CVE-2026-0001 (high) in openssl 3.0.1-1, fixed in 3.0.2-1, known exploited" in blocks


def test_a_base_moved_message_lists_the_images_to_rebuild() -> None:
    event = an_event(
        type="base.moved",
        severity="unknown",
        repository="127.0.0.1:5000/base",
        payload={
            "images": [
                {
                    "repository": f"127.0.0.1:5000/app{i}",
                    "tags": ["1"],
                    "digest": "sha256:" + "c" * 64,
                }
                for i in range(12)
            ]
        },
    )
    text = slack_payload(event)["blocks"][1]["text"]["text"]
    assert "images to rebuild:" in text
    assert "127.0.0.1:5000/app0:1@sha256:cccccccccccc" in text
    assert "... and 2 more" in text


# --- email -------------------------------------------------------------------------------------


@dataclass
class Mailbox:
    """A real SMTP server on loopback (aiosmtpd), with STARTTLS and a login when asked."""

    port: int
    messages: list[tuple[Envelope, Message]] = field(default_factory=list)
    logins: list[tuple[str, str]] = field(default_factory=list)
    tls_used: list[bool] = field(default_factory=list)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        assert isinstance(envelope.content, bytes)
        self.messages.append((envelope, message_from_bytes(envelope.content)))
        self.tls_used.append(session.ssl is not None)
        return "250 OK"

    def authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        assert isinstance(data, LoginPassword)
        self.logins.append((data.login.decode(), data.password.decode()))
        ok = data.login == b"alerts" and data.password == b"smtp-password"
        return AuthResult(success=ok, handled=False)


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[Path, Path]:
    return make_certificate(tmp_path, "127.0.0.1")


def start_mailbox(tls: ssl.SSLContext | None, **options: Any) -> tuple[Mailbox, Controller]:
    mailbox = Mailbox(closed_port())
    controller = Controller(
        mailbox,
        hostname="127.0.0.1",
        port=mailbox.port,
        tls_context=tls,
        authenticator=mailbox.authenticate,
        **options,
    )
    controller.start()
    return mailbox, controller


def an_email_notifier(port: int, **options: Any) -> Notifier:
    values: dict[str, Any] = {
        "from": "basewatch@example.com",
        "to": ["sec@example.com", "ops@example.com"],
        "starttls": True,
    }
    values.update(options)
    secret = str(values.pop("password", ""))
    return a_notifier("email", f"smtp://127.0.0.1:{port}", secret, **values)


def test_email_goes_over_starttls_with_a_login(certificate: tuple[Path, Path]) -> None:
    mailbox, controller = start_mailbox(
        server_context(*certificate), require_starttls=True, auth_require_tls=True
    )
    trust = ssl.create_default_context(cafile=str(certificate[0]))
    try:
        notifier = an_email_notifier(mailbox.port, username="alerts", password="smtp-password")
        with Sender(settings("127.0.0.1"), tls=trust) as sender:
            sender.send(an_event(), notifier)
    finally:
        controller.stop()
    assert mailbox.logins == [("alerts", "smtp-password")]
    assert mailbox.tls_used == [True]
    ((envelope, message),) = mailbox.messages
    assert envelope.mail_from == "basewatch@example.com"
    assert envelope.rcpt_tos == ["sec@example.com", "ops@example.com"]
    assert message["Subject"] == "[basewatch] findings.new: 127.0.0.1:5000/app"
    assert message["From"] == "basewatch@example.com"
    assert message["To"] == "sec@example.com, ops@example.com"
    assert message["Message-ID"] == "<msg_0123456789abcdef@basewatch>"
    body = message.get_payload(decode=True)
    assert isinstance(body, bytes)
    text = body.decode()
    assert "image: 127.0.0.1:5000/app@sha256:" in text
    assert "CVE-2026-0001 (high) in openssl 3.0.1-1, fixed in 3.0.2-1" in text


def test_a_wrong_password_fails_clearly(certificate: tuple[Path, Path]) -> None:
    mailbox, controller = start_mailbox(server_context(*certificate), require_starttls=True)
    trust = ssl.create_default_context(cafile=str(certificate[0]))
    try:
        notifier = an_email_notifier(mailbox.port, username="alerts", password="wrong")
        sender = Sender(settings("127.0.0.1"), tls=trust)
        with sender, pytest.raises(DeliveryError, match="refused the login"):
            sender.send(an_event(), notifier)
    finally:
        controller.stop()
    assert mailbox.messages == []


def test_an_untrusted_smtp_certificate_fails(certificate: tuple[Path, Path]) -> None:
    mailbox, controller = start_mailbox(server_context(*certificate), require_starttls=True)
    try:
        sender = Sender(settings("127.0.0.1"))  # the system's trust: not this certificate
        with sender, pytest.raises(DeliveryError, match="TLS with the SMTP server failed"):
            sender.send(an_event(), an_email_notifier(mailbox.port))
    finally:
        controller.stop()
    assert mailbox.messages == []


def test_a_server_without_starttls_gets_nothing_when_tls_is_asked_for() -> None:
    mailbox, controller = start_mailbox(None)
    try:
        with Sender(settings("127.0.0.1")) as sender:
            with pytest.raises(DeliveryError, match="does not offer STARTTLS"):
                sender.send(an_event(), an_email_notifier(mailbox.port))
            sender.send(an_event(), an_email_notifier(mailbox.port, starttls=False))
    finally:
        controller.stop()
    assert mailbox.tls_used == [False]  # only the one that said starttls=false


def test_credentials_are_never_sent_without_tls() -> None:
    mailbox, controller = start_mailbox(None, auth_require_tls=False)
    try:
        notifier = an_email_notifier(
            mailbox.port, starttls=False, username="alerts", password="smtp-password"
        )
        sender = Sender(settings("127.0.0.1"))
        with sender, pytest.raises(DeliveryError, match="without STARTTLS"):
            sender.send(an_event(), notifier)
    finally:
        controller.stop()
    assert mailbox.logins == [] and mailbox.messages == []


def test_a_closed_smtp_port_is_refused() -> None:
    with Sender(settings("127.0.0.1")) as sender, pytest.raises(DeliveryError) as caught:
        sender.send(an_event(), an_email_notifier(closed_port()))
    assert str(caught.value) == "connection refused"


# --- destination rules -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("target", "why"),
    [
        ("http://127.0.0.1:8080/hook", "127.0.0.1, a loopback address"),
        ("http://[::1]:8080/hook", "::1, a loopback address"),
        ("https://10.1.2.3/hook", "10.1.2.3, a private address"),
        ("http://192.168.0.10/hook", "a private address"),
        ("http://169.254.169.254/latest/meta-data/", "the cloud metadata address"),
        ("http://[fe80::1]/hook", "a link-local address"),
        ("http://0.0.0.0/hook", "the unspecified address"),
        ("http://[::ffff:127.0.0.1]/hook", "an IPv6 form of 127.0.0.1, a loopback address"),
        ("http://[::ffff:169.254.169.254]/", "an IPv6 form of 169.254.169.254"),
        ("http://224.0.0.1/hook", "a multicast address"),
        ("http://100.64.0.1/hook", "not a public address"),
        ("http://localhost:8080/hook", "localhost resolves to"),
        ("ftp://93.184.215.14/hook", "the scheme 'ftp' is not http or https"),
        ("file:///etc/passwd", "the scheme 'file' is not http or https"),
        ("http://user:pw@93.184.215.14/hook", "a user name or password"),
    ],
)
def test_unsafe_destinations_are_refused(target: str, why: str) -> None:
    with pytest.raises(UnsafeDestination) as caught:
        check_destination(target, frozenset())
    assert why in str(caught.value)


@pytest.mark.parametrize(
    ("target", "allowed"),
    [
        ("http://127.0.0.1:8080/hook", "127.0.0.1"),
        ("http://127.0.0.1:8080/hook", "127.0.0.1:8080"),
        ("http://[::1]:8080/hook", "[::1]"),
        ("http://localhost:8080/hook", "localhost"),
        ("https://10.1.2.3/hook", "10.1.2.3:443"),
    ],
)
def test_listed_hosts_are_allowed(target: str, allowed: str) -> None:
    found = check_destination(target, settings(allowed).allowed_notifier_hosts)
    assert ipaddress.ip_address(found.address).is_loopback or found.address == "10.1.2.3"


def test_a_listed_host_on_another_port_is_still_refused() -> None:
    with pytest.raises(UnsafeDestination):
        check_destination("http://127.0.0.1:9999/hook", frozenset({"127.0.0.1:8080"}))


def test_a_bare_smtp_host_is_checked_like_a_url() -> None:
    with pytest.raises(UnsafeDestination, match="a loopback address"):
        check_destination("127.0.0.1", frozenset(), port=25)
    assert check_destination("8.8.8.8", frozenset(), port=587).address == "8.8.8.8"


def test_one_unsafe_address_among_public_ones_is_enough_to_refuse() -> None:
    def resolve(host: str, port: int, **_: Any) -> list[Any]:
        return [
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.215.14", port)),
            (socket.AF_INET6, socket.SOCK_STREAM, 6, "", ("fd00::1", port, 0, 0)),
        ]

    with pytest.raises(UnsafeDestination, match="fd00::1, a private address"):
        check_destination("https://mixed.test/hook", frozenset(), resolve=resolve)


def test_public_addresses_pass() -> None:
    for address in ("93.184.215.14", "8.8.8.8", "2606:4700::1111", "::ffff:8.8.8.8"):
        assert unsafe_reason(ipaddress.ip_address(address)) == ""
    found = check_destination("https://93.184.215.14/hook", frozenset())
    assert (found.scheme, found.host, found.port) == ("https", "93.184.215.14", 443)


def test_a_name_that_does_not_resolve_fails() -> None:
    def resolve(host: str, port: int, **_: Any) -> list[Any]:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    with pytest.raises(DeliveryError, match=r"nowhere\.test does not resolve") as caught:
        check_destination("https://nowhere.test/hook", frozenset(), resolve=resolve)
    assert not isinstance(caught.value, UnsafeDestination)
