"""Bearer tokens: made here, stored hashed, checked on every request but `/healthz`.

A token is `bw_` and 43 URL-safe characters (256 random bits). Only its SHA-256 is stored, so
the database never holds a token that works; the token itself is shown once, when it is made.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from basewatch.clock import SYSTEM_CLOCK, Clock
from basewatch.errors import UsageError
from basewatch.service.models import ApiToken, Role

PREFIX = "bw_"


@dataclass(frozen=True, slots=True)
class Caller:
    """Who a request comes from."""

    token_id: int
    name: str
    role: Role


def new_token() -> str:
    return PREFIX + secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def create_token(
    session: Session, role: Role, name: str, token: str | None = None, clock: Clock = SYSTEM_CLOCK
) -> str:
    """Store a new token of `role` (`token` when given, else a random one) and return it."""
    value = token or new_token()
    if len(value) < 20:
        raise UsageError("an API token must be at least 20 characters long")
    session.add(
        ApiToken(name=name, role=role.value, token_hash=token_hash(value), created_at=clock.now())
    )
    return value


def has_tokens(session: Session) -> bool:
    return bool(session.scalar(select(func.count()).select_from(ApiToken)))


def bootstrap(session: Session, given: str, clock: Clock = SYSTEM_CLOCK) -> str | None:
    """On a database without tokens: the first admin token (`given`, else a random one, which is
    returned so it can be shown once). None when tokens exist already."""
    if has_tokens(session):
        return None
    token = create_token(session, Role.ADMIN, "admin (first start)", given or None, clock)
    return None if given else token


LAST_USED_STEP = 60.0  # seconds: how precisely a token's last use is kept


def authenticate(session: Session, token: str, clock: Clock = SYSTEM_CLOCK) -> Caller | None:
    """The caller a token belongs to, or None for an unknown token."""
    if not token.startswith(PREFIX) and len(token) < 20:
        return None
    digest = token_hash(token)
    row = session.scalar(select(ApiToken).where(ApiToken.token_hash == digest))
    if row is None or not hmac.compare_digest(row.token_hash, digest):
        return None
    now = clock.now()
    # kept to the minute: a read needs no write (SQLite has one writer at a time)
    if row.last_used_at is None or (now - row.last_used_at).total_seconds() >= LAST_USED_STEP:
        row.last_used_at = now
    return Caller(row.id, row.name, Role(row.role))
