"""The HTTP client `basewatch watch` and `basewatch events` share, for the API of
`basewatch serve`: a bearer token from the environment, a timeout, no redirect followed, answers
bounded in size and checked for shape.

Every failure is an `Error` with a one-line message: `UsageError` for what the caller can put
right (no token, a token refused, a watch that does not exist, a request the service calls
malformed), `ServiceError` for a service that cannot be reached, fails, or answers with
something that is not its API.
"""

from __future__ import annotations

import argparse
import base64
import json
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, TypeVar
from urllib.parse import urlsplit

import httpx
from pydantic import BaseModel, ConfigDict, ValidationError

from basewatch import __version__
from basewatch.cli.arguments import DEFAULT_SERVER
from basewatch.errors import ServiceError, UsageError
from basewatch.untrusted import UntrustedInput, parse_json

TOKEN_VARIABLE = "BASEWATCH_TOKEN"  # noqa: S105 - the variable's name, not a token
SERVER_VARIABLE = "BASEWATCH_SERVER"
TIMEOUT_SECONDS = 30.0  # a page of the API is one indexed query: seconds would mean trouble
CONNECT_SECONDS = 5.0
MAX_ANSWER_BYTES = 32 << 20  # a page of 100 events with hundreds of findings each is a few MB
PAGE_SIZE = 100
_JSON_TYPES = frozenset({"application/json", "application/problem+json"})
_Model = TypeVar("_Model", bound=BaseModel)
_NO_TOKEN = f"set {TOKEN_VARIABLE} to a token from `basewatch serve token create`"


# --- the API's objects, as the companions read them ---------------------------------------------


class RemoteWatch(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    id: int
    repository: str
    tags: list[str]
    created_at: datetime


class RemoteEvent(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    id: int
    type: str
    created_at: datetime
    digest: str
    repository: str
    payload: dict[str, Any]


class _Page(BaseModel):
    items: list[dict[str, Any]]
    next_cursor: str | None


def parse_watch(document: Mapping[str, Any], server: str) -> RemoteWatch:
    return _parse(RemoteWatch, document, server)


def parse_event(document: Mapping[str, Any], server: str) -> RemoteEvent:
    return _parse(RemoteEvent, document, server)


def _parse(model: type[_Model], document: Mapping[str, Any], server: str) -> _Model:
    try:
        return model.model_validate(document)
    except ValidationError as exc:
        raise _unexpected(server, exc) from None


def _unexpected(server: str, exc: ValidationError) -> ServiceError:
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first.get("loc", ())) or "the document"
    return ServiceError(
        f"the service at {server} answered with an unexpected document ({where}: "
        f"{first.get('msg', 'invalid')}): is it the basewatch service, of this version?"
    )


def after_cursor(last_id: int) -> str:
    """The cursor of the page after the object with id `last_id`, as the API writes it
    (service/http.py's `encode_cursor("id", ...)`; a test keeps the two in step)."""
    return base64.urlsafe_b64encode(f"id:{last_id}".encode()).decode().rstrip("=")


def printable(text: str, limit: int = 300) -> str:
    """`text` from the service, safe for a terminal: control characters (escape sequences, a
    carriage return that would hide what came before) become `?`, and it is cut at `limit`."""
    cleaned = "".join(c if c.isprintable() else "?" for c in text)
    return cleaned if len(cleaned) <= limit else cleaned[: limit - 3] + "..."


# --- where the service is -------------------------------------------------------------------------


def client_from(args: argparse.Namespace, environ: Mapping[str, str]) -> ServiceClient:
    """The client for this run: `--server`, else BASEWATCH_SERVER, else the default; the token
    from BASEWATCH_TOKEN."""
    server = server_url(getattr(args, "server", None) or environ.get(SERVER_VARIABLE, ""))
    token = environ.get(TOKEN_VARIABLE, "").strip()
    if not token:
        raise UsageError(f"no API token: {_NO_TOKEN}")
    return ServiceClient(server, token)


def server_url(given: str) -> str:
    """The service's base URL, checked: http(s), a host, no credentials in it."""
    text = given.strip() or DEFAULT_SERVER
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        raise UsageError(f"the server URL {text!r} is malformed") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(
            f"the server URL {text!r} is not an http:// or https:// URL with a host "
            f"(e.g. {DEFAULT_SERVER})"
        )
    if parts.username is not None or parts.password is not None:
        raise UsageError(
            f"the server URL must not hold credentials: give the token in {TOKEN_VARIABLE}"
        )
    if parts.query or parts.fragment:
        raise UsageError(f"the server URL {text!r} must not have a query or fragment")
    return text.rstrip("/")


# --- the client -----------------------------------------------------------------------------------


class ServiceClient:
    """Speaks to the API at `server` with `token`; `transport` is for tests."""

    def __init__(
        self,
        server: str,
        token: str,
        *,
        transport: httpx.BaseTransport | None = None,
        timeout: float = TIMEOUT_SECONDS,
        max_bytes: int = MAX_ANSWER_BYTES,
    ) -> None:
        self.server = server
        self.timeout = timeout
        self.max_bytes = max_bytes
        self._client = httpx.Client(
            base_url=server + "/",
            headers={
                "Authorization": f"Bearer {token}",
                "Accept": "application/json",
                # what is bounded is what we parse: no compressed answer to inflate
                "Accept-Encoding": "identity",
                "User-Agent": f"basewatch/{__version__}",
            },
            timeout=httpx.Timeout(timeout, connect=min(CONNECT_SECONDS, timeout)),
            follow_redirects=False,
            trust_env=False,  # the service is named by --server, not by proxy variables
            transport=transport,
        )

    def __enter__(self) -> ServiceClient:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self._client.close()

    def get(self, path: str, params: Mapping[str, str | int] | None = None) -> dict[str, Any]:
        return self._object(self.request("GET", path, params=params))

    def post(self, path: str, body: Mapping[str, Any]) -> dict[str, Any]:
        return self._object(self.request("POST", path, body=body))

    def delete(self, path: str) -> None:
        self.request("DELETE", path)

    def items(
        self,
        path: str,
        params: Mapping[str, str | int] | None = None,
        *,
        cursor: str | None = None,
        page_size: int = PAGE_SIZE,
    ) -> Iterator[dict[str, Any]]:
        """Every item of a paged list from `cursor` on, following `next_cursor` page by page."""
        while True:
            query: dict[str, str | int] = {**(params or {}), "limit": page_size}
            if cursor is not None:
                query["cursor"] = cursor
            try:
                page = _Page.model_validate(self.get(path, query))
            except ValidationError as exc:
                raise _unexpected(self.server, exc) from None
            yield from page.items
            if page.next_cursor is None or not page.items:
                return
            cursor = page.next_cursor

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str | int] | None = None,
        body: Mapping[str, Any] | None = None,
    ) -> Any:
        """The parsed JSON of the answer (None for 204), or an `Error` saying what went wrong."""
        try:
            with self._client.stream(
                method, path.lstrip("/"), params=params, json=body
            ) as response:
                if response.is_redirect:
                    where = printable(response.headers.get("location", "elsewhere"))
                    raise ServiceError(
                        f"the server at {self.server} answered with a redirect to {where}, "
                        "which is not followed: give the service's own URL"
                    )
                data = self._read(response)
        except httpx.ConnectError as exc:
            raise ServiceError(
                f"cannot reach the service at {self.server}: is `basewatch serve` running? "
                f"({_reason(exc)})"
            ) from None
        except httpx.TimeoutException:
            raise ServiceError(
                f"the service at {self.server} did not answer within {self.timeout:g} s"
            ) from None
        except httpx.TransportError as exc:  # the connection broke, or garbage that is not HTTP
            raise ServiceError(
                f"the connection to the service at {self.server} failed: {_reason(exc)}"
            ) from None
        if response.status_code == 204:
            return None
        document = self._json(response, data)
        if response.status_code >= 400:
            raise self._refused(response.status_code, document)
        if not 200 <= response.status_code < 300:
            raise ServiceError(
                f"the service at {self.server} answered {response.status_code}, which this "
                "client does not expect"
            )
        return document

    def _read(self, response: httpx.Response) -> bytes:
        length = response.headers.get("content-length", "")
        if length.isdigit() and int(length) > self.max_bytes:
            raise self._too_large()
        data = bytearray()
        for chunk in response.iter_bytes():
            data += chunk
            if len(data) > self.max_bytes:
                raise self._too_large()
        return bytes(data)

    def _too_large(self) -> ServiceError:
        return ServiceError(
            f"the answer of the server at {self.server} is larger than {self.max_bytes:,} "
            "bytes: is it the basewatch service?"
        )

    def _json(self, response: httpx.Response, data: bytes) -> Any:
        kind = response.headers.get("content-type", "").split(";")[0].strip().lower()
        if kind not in _JSON_TYPES:
            raise ServiceError(
                f"the server at {self.server} answered {response.status_code} with "
                f"{printable(kind, 80) or 'no content type'}, not JSON: is it the basewatch "
                "service?"
            )
        try:
            return parse_json(data, "the answer")
        except (json.JSONDecodeError, UnicodeDecodeError, UntrustedInput):
            raise ServiceError(
                f"the server at {self.server} answered {response.status_code} with malformed "
                "JSON: is it the basewatch service?"
            ) from None

    def _object(self, document: Any) -> dict[str, Any]:
        if not isinstance(document, dict):
            raise ServiceError(
                f"the service at {self.server} answered with JSON that is not an object: is it "
                "the basewatch service?"
            )
        return document

    def _refused(self, status: int, document: Any) -> Exception:
        """The error for a problem+json answer (RFC 9457: `title`, `detail`)."""
        problem = document if isinstance(document, dict) else {}
        title = printable(str(problem.get("title") or ""), 100)
        detail = printable(str(problem.get("detail") or title or f"status {status}"))
        match status:
            case 401:
                return UsageError(
                    f"the service at {self.server} refused the token (401: {detail}): {_NO_TOKEN}"
                )
            case 403:
                return UsageError(f"forbidden (403): {detail}; changes need an admin token")
            case 404:
                return UsageError(f"not found (404): {detail}")
            case 409:
                return UsageError(f"conflict (409): {detail}")
            case _ if status < 500:
                return UsageError(f"the service refused the request ({status}): {detail}")
            case _:
                return ServiceError(
                    f"the service at {self.server} failed ({status} {title or 'error'}): {detail}"
                )


def _reason(exc: httpx.TransportError) -> str:
    """The operating system's words for a transport error, without the `[Errno N]` prefix."""
    text = str(exc) or type(exc).__name__
    if text.startswith("[Errno") and "] " in text:
        text = text.split("] ", 1)[1]
    return printable(text, 200)


def utc_text(when: datetime) -> str:
    """A time from the API as `YYYY-MM-DDTHH:MM:SSZ` (UTC, to the second)."""
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
