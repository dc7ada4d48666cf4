"""`/api/v1/notifiers`: where events go (webhook, Slack, email), and the delivery state of
events (`deliveries_of`, for the event list).

Secrets (a webhook's signing key, an SMTP password) are taken, never given back: responses say
`secret_set`. A Slack URL is itself a credential, so only its origin is shown.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Annotated, Self
from urllib.parse import urlsplit

import httpx
from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy import select
from sqlalchemy.orm import Session

from basewatch.models import Severity
from basewatch.service.http import (
    MAX_PAGE,
    ApiError,
    Authorized,
    Db,
    RowId,
    decode_cursor,
    encode_cursor,
    service_state,
)
from basewatch.service.models import Delivery, EventType, Notifier, NotifierKind
from basewatch.service.notify import (
    DeliveryError,
    Sender,
    UnsafeDestination,
    signing_key,
    trial_event,
)

MIN_SECRET = 16  # characters of a webhook's signing secret
# one address, no display name: nothing that could smuggle another header or recipient
_ADDRESS = re.compile(r'^[^@\s<>,;:"()\[\]\\]+@[^@\s<>,;:"()\[\]\\]+$')

Address = Annotated[str, Field(min_length=3, max_length=254, pattern=_ADDRESS.pattern)]

router = APIRouter(prefix="/api/v1/notifiers", tags=["notifiers"])


# --- the wire types -----------------------------------------------------------------------------


class EmailIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    host: str = Field(min_length=1, max_length=253, examples=["smtp.example.com"])
    port: int = Field(default=587, ge=1, le=65535)
    starttls: bool = Field(default=True, description="false: plain SMTP, only without a login")
    username: str = Field(default="", max_length=200)
    password: str = Field(default="", max_length=500, repr=False)
    sender: Address = Field(alias="from")
    to: list[Address] = Field(min_length=1, max_length=50)

    @model_validator(mode="after")
    def _tls_for_credentials(self) -> Self:
        if self.password and not self.username:
            raise ValueError("a password needs a username")
        if self.username and not self.starttls:
            raise ValueError("credentials are only sent over STARTTLS: set starttls")
        return self


class NotifierIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    kind: NotifierKind
    url: str | None = Field(
        default=None, min_length=1, max_length=2000, description="webhook and slack: http(s)"
    )
    email: EmailIn | None = Field(default=None, description="email: the SMTP server and addresses")
    secret: str = Field(
        default="",
        max_length=500,
        repr=False,
        description=f"webhook: the signing key, at least {MIN_SECRET} characters (or whsec_...)",
    )
    event_types: list[EventType] = Field(
        default_factory=list, max_length=len(EventType), description="empty: every type"
    )
    min_severity: Severity = Severity.UNKNOWN
    repositories: list[Annotated[str, Field(min_length=1, max_length=512)]] = Field(
        default_factory=list, max_length=100, description="globs; empty: every repository"
    )

    @model_validator(mode="after")
    def _fits_its_kind(self) -> Self:
        if self.kind is NotifierKind.EMAIL:
            if self.email is None or self.url is not None:
                raise ValueError("an email notifier takes `email`, not `url`")
            if self.secret:
                raise ValueError("an email notifier takes its password in `email.password`")
            return self
        if self.url is None or self.email is not None:
            raise ValueError(f"a {self.kind} notifier takes `url`, not `email`")
        if self.kind is NotifierKind.WEBHOOK:
            if len(self.secret) < MIN_SECRET:
                raise ValueError(f"a webhook needs a secret of at least {MIN_SECRET} characters")
            if len(signing_key(self.secret)) < MIN_SECRET:  # ValueError for bad whsec_ base64
                raise ValueError(f"a whsec_ secret must decode to {MIN_SECRET} bytes or more")
        elif self.secret:
            raise ValueError("a slack notifier has no secret: its URL is its credential")
        return self


class EmailOut(BaseModel):
    host: str
    port: int
    starttls: bool
    username: str
    sender: str = Field(serialization_alias="from")
    to: list[str]


class NotifierOut(BaseModel):
    id: int
    name: str
    kind: str
    target: str = Field(description="where it sends (a Slack URL shows only its origin)")
    email: EmailOut | None
    secret_set: bool = Field(description="a secret or password is stored (it is never shown)")
    event_types: list[str]
    min_severity: str
    repositories: list[str]
    created_at: datetime


class NotifierPage(BaseModel):
    items: list[NotifierOut]
    next_cursor: str | None = Field(description="pass as `cursor` for the next page; null: last")


class TrialResult(BaseModel):
    ok: bool
    error: str = Field(description="why the test message was not delivered; empty when it was")


class DeliveryOut(BaseModel):
    notifier_id: int
    state: str = Field(description="pending, delivered or dead")
    attempts: int
    last_error: str
    delivered_at: datetime | None
    next_attempt_at: datetime | None = Field(description="when it is tried next; null: never")


# --- the endpoints ------------------------------------------------------------------------------


@router.post("", status_code=201)
def add_notifier(body: NotifierIn, request: Request, _who: Authorized, db: Db) -> NotifierOut:
    """Send events to a webhook, Slack or email. The destination must be public (not
    loopback, private, link-local...) unless its host is in `allowed_notifier_hosts`."""
    return notifier_out(create_notifier(db, request, body))


def create_notifier(db: Session, request: Request, body: NotifierIn) -> Notifier:
    """Store a notifier (the API's and the dashboard's), its destination checked first:
    `ApiError` 422 for one the rules refuse."""
    state = service_state(request)
    with _sender(request) as sender:
        if body.email is not None:
            target = f"smtp://{_netloc(body.email.host, body.email.port)}"
            _checked(sender, body.email.host, body.email.port)
        else:
            assert body.url is not None  # the model requires it
            target = body.url.strip()
            _checked(sender, target)
    options: dict[str, object] = {}
    secret = body.secret
    if body.email is not None:
        options = {
            "starttls": body.email.starttls,
            "username": body.email.username,
            "from": body.email.sender,
            "to": list(body.email.to),
        }
        secret = body.email.password
    notifier = Notifier(
        name=body.name,
        kind=body.kind.value,
        target=target,
        secret=secret,
        options=options,
        event_types=[t.value for t in dict.fromkeys(body.event_types)],
        min_severity=body.min_severity.value,
        repositories=list(dict.fromkeys(body.repositories)),
        created_at=state.clock.now(),
    )
    db.add(notifier)
    db.commit()
    return notifier


@router.get("")
def list_notifiers(
    _who: Authorized,
    db: Db,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
    cursor: Annotated[str | None, Query(max_length=64)] = None,
) -> NotifierPage:
    """Every notifier, oldest first, a page at a time."""
    after = int(decode_cursor(cursor, "id")) if cursor else 0
    rows = list(
        db.scalars(
            select(Notifier).where(Notifier.id > after).order_by(Notifier.id).limit(limit + 1)
        )
    )
    more = len(rows) > limit
    rows = rows[:limit]
    return NotifierPage(
        items=[notifier_out(n) for n in rows],
        next_cursor=encode_cursor("id", str(rows[-1].id)) if more and rows else None,
    )


@router.get("/{notifier_id}")
def get_notifier(notifier_id: RowId, _who: Authorized, db: Db) -> NotifierOut:
    return notifier_out(_find(db, notifier_id))


@router.delete("/{notifier_id}", status_code=204)
def remove_notifier(notifier_id: RowId, _who: Authorized, db: Db) -> Response:
    """Stop sending to a notifier; its pending deliveries go with it."""
    db.delete(_find(db, notifier_id))
    db.commit()
    return Response(status_code=204)


@router.post("/{notifier_id}/test")
def try_notifier(notifier_id: RowId, request: Request, _who: Authorized, db: Db) -> TrialResult:
    """Send a test message to a notifier now, and say whether it arrived."""
    notifier = _find(db, notifier_id)
    with _sender(request) as sender:
        try:
            sender.send(trial_event(service_state(request).clock), notifier)
        except DeliveryError as exc:
            return TrialResult(ok=False, error=str(exc))
    return TrialResult(ok=True, error="")


# --- shared with the event list -----------------------------------------------------------------


def deliveries_of(db: Session, event_ids: Iterable[int]) -> dict[int, list[DeliveryOut]]:
    """The deliveries of each event (event id -> its deliveries, by notifier); events without
    any are left out. One query for a whole page of events."""
    wanted = sorted(set(event_ids))
    found: dict[int, list[DeliveryOut]] = {}
    if not wanted:
        return found
    rows = db.scalars(
        select(Delivery)
        .where(Delivery.event_id.in_(wanted))
        .order_by(Delivery.event_id, Delivery.notifier_id)
    )
    for row in rows:
        found.setdefault(row.event_id, []).append(
            DeliveryOut(
                notifier_id=row.notifier_id,
                state=row.state,
                attempts=row.attempts,
                last_error=row.last_error,
                delivered_at=row.delivered_at,
                next_attempt_at=row.next_attempt_at if row.state == "pending" else None,
            )
        )
    return found


def notifier_out(notifier: Notifier) -> NotifierOut:
    options = notifier.options
    email = None
    if notifier.kind == NotifierKind.EMAIL:
        parts = urlsplit(notifier.target)
        email = EmailOut(
            host=parts.hostname or "",
            port=parts.port or 25,
            starttls=bool(options.get("starttls", True)),
            username=str(options.get("username", "")),
            sender=str(options.get("from", "")),
            to=[str(to) for to in options.get("to", [])],
        )
    return NotifierOut(
        id=notifier.id,
        name=notifier.name,
        kind=notifier.kind,
        target=public_target(notifier.kind, notifier.target),
        email=email,
        secret_set=bool(notifier.secret),
        event_types=notifier.event_types,
        min_severity=notifier.min_severity,
        repositories=notifier.repositories,
        created_at=notifier.created_at,
    )


def public_target(kind: str, target: str) -> str:
    """What may be shown of a target: a Slack URL's origin (its path is its credential), a
    webhook URL without its query (which may hold a token)."""
    parts = urlsplit(target)
    origin = f"{parts.scheme}://{parts.netloc}"
    if kind == NotifierKind.SLACK:
        return origin + "/…"
    if kind == NotifierKind.WEBHOOK:
        return origin + parts.path + ("?…" if parts.query else "")
    return target


# --- helpers ------------------------------------------------------------------------------------


@contextmanager
def _sender(request: Request) -> Iterator[Sender]:
    """The dispatcher's sender when it runs (the same rules, resolver and trust as delivery),
    else one made for this request from the service's settings."""
    state = service_state(request)
    if state.dispatcher is not None:
        yield state.dispatcher.sender
        return
    with Sender(state.settings, clock=state.clock) as sender:
        yield sender


def _checked(sender: Sender, url_or_host: str, port: int = 0) -> None:
    try:
        if port == 0:
            httpx.URL(url_or_host)  # what sending will parse
        sender.check(url_or_host, port)
    except httpx.InvalidURL as exc:
        raise ApiError(422, "The request is malformed", f"url: {exc}") from None
    except UnsafeDestination as exc:
        raise ApiError(
            422,
            "The request is malformed",
            f"destination refused: {exc}; list its host in allowed_notifier_hosts to allow it",
        ) from None
    except DeliveryError as exc:
        raise ApiError(422, "The request is malformed", f"destination: {exc}") from None


def _netloc(host: str, port: int) -> str:
    host = host.strip().lower()
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _find(db: Session, notifier_id: int) -> Notifier:
    notifier = db.get(Notifier, notifier_id)
    if notifier is None:
        raise ApiError(404, "Not found", f"no notifier {notifier_id}")
    return notifier
