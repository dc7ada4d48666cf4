"""Sending one event to one notifier: a signed webhook (Standard Webhooks), a Slack
incoming-webhook message, or an email over SMTP; and the check every destination passes, at
creation and again before every attempt.

    DeliveryError            one attempt failed; the message is a short reason ("HTTP 500")
    └── UnsafeDestination    the destination is refused by the rules (scheme, address)

A destination is resolved once per attempt and the connection goes to the very address that was
checked (the host name still rides in `Host`, TLS SNI and certificate checks), so a name that
resolves to a public address for the check and to a private one for the connection cannot slip
through. Redirects are never followed: a redirect cannot escape these rules.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import hmac
import ipaddress
import json
import smtplib
import socket
import ssl
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from typing import Any, assert_never
from urllib.parse import urlsplit

import httpx

from basewatch.clock import SYSTEM_CLOCK, Clock
from basewatch.errors import Error
from basewatch.service.config import ServeSettings
from basewatch.service.models import Event, EventType, Notifier, NotifierKind

# Standard Webhooks: the rest of a secret with this prefix is the key, in base64
SECRET_PREFIX = "whsec_"  # noqa: S105 - a prefix, not a secret
MAX_ANSWER_BYTES = 4096  # of a receiver's answer, read to say why it failed; the rest is dropped
MAX_REASON = 300  # characters of a receiver's answer kept in a failure's reason
MAX_LISTED = 10  # advisories or images named in a Slack message or an email, before "and N more"
TEST_EVENT_TYPE = "test"  # the type of what `POST /api/v1/notifiers/{id}/test` sends

# getaddrinfo's signature, so tests can make a name resolve where they need it to
Resolver = Callable[..., Sequence[tuple[Any, Any, Any, Any, tuple[Any, ...]]]]
IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
_NAT64 = ipaddress.ip_network("64:ff9b::/96")  # IPv4 addresses embedded in IPv6 (RFC 6052)


class DeliveryError(Error):
    """One delivery attempt failed; the message is a short reason ("connection refused")."""


class UnsafeDestination(DeliveryError):
    """The destination is refused: not http(s), or an address that is not public and whose host
    is not in `allowed_notifier_hosts`."""


@dataclass(frozen=True, slots=True)
class Destination:
    """Where one attempt connects: the host as named, and the address that was checked."""

    scheme: str  # "http", "https", or "" for a bare host (SMTP)
    host: str  # lowercase, IPv6 without brackets
    port: int
    address: str  # the checked address: the one to connect to


# --- destinations ---------------------------------------------------------------------------


def check_destination(
    url_or_host: str,
    allowed_hosts: Iterable[str],
    *,
    port: int = 0,
    resolve: Resolver = socket.getaddrinfo,
) -> Destination:
    """The destination of a webhook/Slack URL (http or https) or a bare SMTP host (with `port`),
    resolved now. Raises UnsafeDestination when the URL is not http(s) or any address it resolves
    to is not public (loopback, private, link-local, metadata...) and its host is not listed in
    `allowed_hosts`; DeliveryError when it does not resolve."""
    scheme = ""
    if "://" in url_or_host:
        try:
            parts = urlsplit(url_or_host)
        except ValueError:
            raise UnsafeDestination("not a valid URL") from None
        scheme = parts.scheme.lower()
        if scheme not in ("http", "https"):
            raise UnsafeDestination(f"the scheme {scheme or 'none'!r} is not http or https")
        if parts.username is not None or parts.password is not None:
            raise UnsafeDestination("a URL with a user name or password (use the secret)")
        try:
            port = parts.port or (443 if scheme == "https" else 80)
        except ValueError:
            raise UnsafeDestination("the URL's port is not a number from 1 to 65535") from None
        host = (parts.hostname or "").lower()
    else:
        host = url_or_host.strip().lower().removeprefix("[").removesuffix("]")
    if not host:
        raise UnsafeDestination("no host")
    if not 0 < port < 65536:
        raise UnsafeDestination(f"the port {port} is not from 1 to 65535")
    addresses = _resolve(host, port, resolve)
    if not _listed(host, port, frozenset(allowed_hosts)):
        for address in addresses:
            why = unsafe_reason(address)
            if why:
                shown = f"{host} resolves to {address}" if host != str(address) else str(address)
                raise UnsafeDestination(f"{shown}, {why}")
    return Destination(scheme, host, port, str(addresses[0]))


def unsafe_reason(address: IpAddress) -> str:
    """Why a notifier may not be sent to `address` (unless its host is allowed); "" when it is a
    public address."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or (
            ipaddress.IPv4Address(int(address) & 0xFFFFFFFF) if address in _NAT64 else None
        )
        if embedded is not None:
            inner = unsafe_reason(embedded)
            return f"an IPv6 form of {embedded}, {inner}" if inner else ""
    if str(address) == "169.254.169.254":
        return "the cloud metadata address"
    checks = (
        (address.is_loopback, "a loopback address"),
        (address.is_link_local, "a link-local address"),
        (address.is_unspecified, "the unspecified address"),
        (address.is_multicast, "a multicast address"),
        (address.is_private, "a private address"),
        (address.is_reserved, "a reserved address"),
        (not address.is_global, "not a public address"),
    )
    return next((why for bad, why in checks if bad), "")


def _resolve(host: str, port: int, resolve: Resolver) -> list[IpAddress]:
    try:
        found = resolve(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError, ValueError) as exc:
        raise DeliveryError(f"{host} does not resolve ({exc})") from None
    addresses: list[IpAddress] = []
    for _family, _type, _proto, _name, sockaddr in found:
        text = str(sockaddr[0]).split("%", 1)[0]  # a scope id (fe80::1%eth0) is not the address
        try:
            address = ipaddress.ip_address(text)
        except ValueError:
            continue
        if address not in addresses:
            addresses.append(address)
    if not addresses:
        raise DeliveryError(f"{host} does not resolve to an IP address")
    return addresses


def _listed(host: str, port: int, allowed: frozenset[str]) -> bool:
    names = (host, f"[{host}]") if ":" in host else (host,)
    return any(name in allowed or f"{name}:{port}" in allowed for name in names)


# --- what is sent -------------------------------------------------------------------------------


def signing_key(secret: str) -> bytes:
    """The HMAC key of a webhook secret: the decoded base64 of `whsec_<base64>`, else the
    secret's UTF-8 bytes. Raises ValueError for a `whsec_` secret that is not base64."""
    if secret.startswith(SECRET_PREFIX):
        try:
            return base64.b64decode(secret.removeprefix(SECRET_PREFIX), validate=True)
        except binascii.Error:
            raise ValueError("a whsec_ secret must be base64 after the prefix") from None
    return secret.encode("utf-8")


def sign(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` header: `v1,` and the base64 HMAC-SHA256 of
    `{id}.{timestamp}.{body}` (Standard Webhooks)."""
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(signing_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")


def webhook_body(event: Event) -> bytes:
    """The JSON a webhook receives; the same bytes on every attempt."""
    data = {
        **event.payload,
        "event_id": event.id,
        "digest": event.digest,
        "repository": event.repository,
        "severity": event.severity,
    }
    document = {"type": event.type, "timestamp": _iso(event.created_at), "data": data}
    return json.dumps(document, separators=(",", ":"), sort_keys=True).encode("utf-8")


def summary(event: Event) -> tuple[str, list[str]]:
    """A one-line title of an event and its detail lines (advisories, images), for people."""
    title = f"[basewatch] {event.type}: {event.repository or 'basewatch'}"
    lines = [f"image: {event.repository}@{event.digest}"] if event.digest else []
    if event.severity and event.severity != "unknown":
        lines.append(f"severity: {event.severity}")
    findings = event.payload.get("findings")
    images = event.payload.get("images")
    if isinstance(findings, list) and findings:
        lines.append("advisories:")
        lines += [f"  - {_finding_line(f)}" for f in findings[:MAX_LISTED]]
        if len(findings) > MAX_LISTED:
            lines.append(f"  ... and {len(findings) - MAX_LISTED} more")
    if event.type == EventType.BASE_MOVED and isinstance(images, list) and images:
        lines.append("images to rebuild:")
        lines += [f"  - {_image_line(i)}" for i in images[:MAX_LISTED]]
        if len(images) > MAX_LISTED:
            lines.append(f"  ... and {len(images) - MAX_LISTED} more")
    policy = event.payload.get("policy")
    if event.type in _POLICY_EVENTS and isinstance(policy, dict):
        verb = "fails" if event.type == EventType.POLICY_FAILED else "passes again"
        lines.append(f"policy: {verb} {policy.get('id', '?')} ({policy.get('action', '')})")
        lines.append(f"why: {policy.get('reason', '')}")
        items = event.payload.get("items")
        count = event.payload.get("item_count")
        if isinstance(items, list) and items:
            lines.append("failing:")
            lines += [f"  - {_item_line(i)}" for i in items[:MAX_LISTED]]
            more = (count if isinstance(count, int) else len(items)) - MAX_LISTED
            if more > 0:
                lines.append(f"  ... and {more} more")
    message = event.payload.get("message")
    if isinstance(message, str) and message:
        lines.append(message)
    return title, lines


_POLICY_EVENTS = frozenset({EventType.POLICY_FAILED.value, EventType.POLICY_PASSED.value})


def _item_line(item: object) -> str:
    if isinstance(item, dict):
        return str(item.get("subject") or item.get("id") or "?")
    return str(item)


def slack_payload(event: Event) -> dict[str, Any]:
    """A Slack incoming-webhook message: `text` for notifications, `blocks` for the channel."""
    title, lines = summary(event)
    head = f"*{event.type}* in `{event.repository}`" if event.repository else f"*{event.type}*"
    if event.digest:
        head += f" (`{_short(event.digest)}`)"
    blocks: list[dict[str, Any]] = [{"type": "section", "text": {"type": "mrkdwn", "text": head}}]
    details = "\n".join(line for line in lines if not line.startswith("image: "))
    if details:
        # a section's text holds at most 3000 characters
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": details[:2900]}})
    return {"text": title, "blocks": blocks}


def email_message(event: Event, notifier: Notifier) -> EmailMessage:
    """The email of an event: plain text, its Message-ID made from the event's message id (so a
    redelivery is recognisably the same message)."""
    title, lines = summary(event)
    message = EmailMessage()
    message["Subject"] = title
    message["From"] = str(notifier.options.get("from", ""))
    message["To"] = ", ".join(str(to) for to in notifier.options.get("to", []))
    message["Message-ID"] = f"<{event.uid}@basewatch>"
    message.set_content("\n".join([title, "", *lines, ""]))
    return message


def trial_event(clock: Clock = SYSTEM_CLOCK) -> Event:
    """An event that is never stored: what a notifier's test sends."""
    return Event(
        id=None,
        type=TEST_EVENT_TYPE,
        digest="",
        repository="",
        payload={"message": "a test from basewatch: this notifier works"},
        created_at=clock.now(),
        uid="msg_" + uuid.uuid4().hex,
        severity="unknown",
        fanned_out=True,
    )


def _finding_line(finding: object) -> str:
    if not isinstance(finding, dict):
        return str(finding)
    text = f"{finding.get('id', '?')} ({finding.get('severity', 'unknown')})"
    if finding.get("package"):
        text += f" in {finding['package']} {finding.get('version', '')}".rstrip()
    if finding.get("fixed_version"):
        text += f", fixed in {finding['fixed_version']}"
    return text + (", known exploited" if finding.get("kev") else "")


def _image_line(image: object) -> str:
    if not isinstance(image, dict):
        return str(image)
    if image.get("reference"):
        return str(image["reference"])
    name = str(image.get("repository", ""))
    tags = image.get("tags")
    if isinstance(tags, list) and tags:
        name += ":" + ",".join(str(t) for t in tags)
    elif image.get("tag"):
        name += f":{image['tag']}"
    return name + (f"@{_short(str(image['digest']))}" if image.get("digest") else "")


def _short(digest: str) -> str:
    algorithm, _, hexpart = digest.partition(":")
    return f"{algorithm}:{hexpart[:12]}" if hexpart else digest[:19]


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


# --- sending ------------------------------------------------------------------------------------


class Sender:
    """Sends an event to a notifier, one attempt at a time, each to a destination checked just
    before it (`check_destination`) and bounded by `delivery_timeout`.

    `tls` replaces the system's trust store (webhooks over https, SMTP STARTTLS); `transport`
    and `resolve` are seams for tests."""

    def __init__(
        self,
        settings: ServeSettings,
        *,
        clock: Clock = SYSTEM_CLOCK,
        tls: ssl.SSLContext | None = None,
        transport: httpx.BaseTransport | None = None,
        resolve: Resolver = socket.getaddrinfo,
    ) -> None:
        self._allowed = settings.allowed_notifier_hosts
        self._timeout = settings.delivery_timeout
        self._clock = clock
        self._tls = tls
        self.resolve = resolve
        self._http = httpx.Client(
            timeout=settings.delivery_timeout,
            follow_redirects=False,  # a redirect cannot escape the destination rules
            trust_env=False,  # a proxy would connect to something other than what was checked
            verify=tls if tls is not None else True,
            transport=transport,
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Sender:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def check(self, url_or_host: str, port: int = 0) -> Destination:
        """`check_destination` with this sender's allowed hosts and resolver."""
        return check_destination(url_or_host, self._allowed, port=port, resolve=self.resolve)

    def send(self, event: Event, notifier: Notifier) -> None:
        """Deliver `event` to `notifier` once; raises DeliveryError saying why it failed."""
        kind = NotifierKind(notifier.kind)
        match kind:
            case NotifierKind.WEBHOOK:
                self._webhook(event, notifier)
            case NotifierKind.SLACK:
                body = json.dumps(slack_payload(event), separators=(",", ":")).encode("utf-8")
                self._post(notifier.target, body, {})
            case NotifierKind.EMAIL:
                self._email(event, notifier)
            case _:
                assert_never(kind)

    def _webhook(self, event: Event, notifier: Notifier) -> None:
        body = webhook_body(event)
        timestamp = int(self._clock.now().timestamp())
        try:
            signature = sign(notifier.secret, event.uid, timestamp, body)
        except ValueError as exc:
            raise DeliveryError(str(exc)) from None
        headers = {
            "webhook-id": event.uid,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": signature,
        }
        self._post(notifier.target, body, headers)

    def _post(self, url: str, body: bytes, headers: dict[str, str]) -> None:
        destination = self.check(url)
        try:
            original = httpx.URL(url)
            pinned = original.copy_with(host=destination.address)
        except (httpx.InvalidURL, ValueError):
            raise UnsafeDestination("not a valid URL") from None
        extensions = {"sni_hostname": destination.host} if destination.scheme == "https" else {}
        request_headers = {
            **headers,
            "host": original.netloc.decode("ascii"),
            "content-type": "application/json",
            "user-agent": "basewatch",
        }
        deadline = self._clock.monotonic() + self._timeout
        try:
            with self._http.stream(
                "POST", pinned, content=body, headers=request_headers, extensions=extensions
            ) as response:
                status = response.status_code
                if 200 <= status < 300:
                    return
                answer = b""
                for chunk in response.iter_bytes():
                    answer += chunk
                    if len(answer) >= MAX_ANSWER_BYTES or self._clock.monotonic() > deadline:
                        break
        except httpx.TimeoutException:
            raise DeliveryError(f"no answer within {self._timeout:g}s") from None
        except httpx.ConnectError as exc:
            raise DeliveryError(_connect_reason(exc)) from None
        except httpx.TransportError as exc:
            raise DeliveryError(f"the connection failed: {type(exc).__name__}: {exc}") from None
        if 300 <= status < 400:
            raise DeliveryError(
                f"HTTP {status}: redirects are not followed (a redirect cannot escape the "
                "destination rules)"
            )
        text = " ".join(answer[:MAX_ANSWER_BYTES].decode("utf-8", "replace").split())
        raise DeliveryError(f"HTTP {status}" + (f": {text[:MAX_REASON]}" if text else ""))

    def _email(self, event: Event, notifier: Notifier) -> None:
        options = notifier.options
        target = urlsplit(notifier.target)
        try:
            host, port = target.hostname or "", target.port or 25
        except ValueError:
            raise DeliveryError("the SMTP port is not a number") from None
        destination = self.check(host, port)
        starttls = bool(options.get("starttls", True))
        username = str(options.get("username", ""))
        if username and not starttls:
            raise DeliveryError("refusing to send SMTP credentials without STARTTLS")
        try:
            message = email_message(event, notifier)
        except ValueError as exc:  # an address that would break a header
            raise DeliveryError(f"the email cannot be made: {exc}") from None
        smtp = _PinnedSmtp(destination, timeout=self._timeout)
        try:
            smtp.connect(destination.host, destination.port)
            smtp.ehlo()
            if starttls:
                if not smtp.has_extn("starttls"):
                    raise DeliveryError("the SMTP server does not offer STARTTLS")
                smtp.starttls(context=self._tls or ssl.create_default_context())
                smtp.ehlo()
            if username:
                smtp.login(username, notifier.secret)
            smtp.send_message(message)
            with contextlib.suppress(smtplib.SMTPException, OSError):
                smtp.quit()  # sent already: a server that hangs up early changes nothing
        except smtplib.SMTPAuthenticationError as exc:
            raise DeliveryError(f"the SMTP server refused the login ({exc.smtp_code})") from None
        except smtplib.SMTPRecipientsRefused as exc:
            raise DeliveryError(
                f"the SMTP server refused the recipients {', '.join(sorted(exc.recipients))}"
            ) from None
        except smtplib.SMTPResponseException as exc:
            error = exc.smtp_error
            reply = error.decode("utf-8", "replace") if isinstance(error, bytes) else str(error)
            raise DeliveryError(f"SMTP {exc.smtp_code}: {reply[:MAX_REASON]}") from None
        except smtplib.SMTPException as exc:
            raise DeliveryError(f"SMTP: {exc}") from None
        except ssl.SSLError as exc:
            raise DeliveryError(f"TLS with the SMTP server failed: {exc.reason or exc}") from None
        except TimeoutError:
            raise DeliveryError(f"no answer within {self._timeout:g}s") from None
        except ConnectionRefusedError:
            raise DeliveryError("connection refused") from None
        except OSError as exc:
            raise DeliveryError(f"cannot reach the SMTP server: {exc}") from None
        finally:
            smtp.close()


class _PinnedSmtp(smtplib.SMTP):
    """SMTP to the address that was checked, under the host's name: STARTTLS sends it (SNI)
    and checks the certificate against it."""

    def __init__(self, destination: Destination, timeout: float) -> None:
        super().__init__(local_hostname=socket.gethostname(), timeout=timeout)
        self._address = destination.address
        self._host = destination.host  # what smtplib's starttls names as server_hostname

    def _get_socket(self, host: str, port: int, timeout: float) -> socket.socket:
        return socket.create_connection((self._address, port), timeout, self.source_address)


def _connect_reason(exc: httpx.ConnectError) -> str:
    text = str(exc)
    if "refused" in text.lower():
        return "connection refused"
    if "certificate" in text.lower() or "ssl" in text.lower():
        return f"TLS failed: {text[:MAX_REASON]}"
    return f"cannot connect: {text[:MAX_REASON]}"
