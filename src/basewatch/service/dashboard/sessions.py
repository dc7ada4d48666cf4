"""Dashboard logins: a token typed once into the login page opens a session, kept in a cookie
(`Secure`, `HttpOnly`, `SameSite=Strict`) whose value only the browser knows: the database keeps
its SHA-256, the token it was opened with and the token every form must carry (CSRF)."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from basewatch.clock import Clock
from basewatch.service.auth import Caller, authenticate
from basewatch.service.models import ApiToken, Role, WebSession

COOKIE = "bw_session"
LIFETIME = timedelta(hours=12)


@dataclass(frozen=True, slots=True)
class Viewer:
    """Who is looking at a page: the token's caller, and the session's form token."""

    caller: Caller
    csrf: str

    @property
    def admin(self) -> bool:
        return self.caller.role.may_write


def _hash(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def log_in(session: Session, token: str, clock: Clock) -> str | None:
    """A new session for `token` (the cookie's value), or None when the token is not known."""
    caller = authenticate(session, token.strip(), clock)
    if caller is None:
        return None
    now = clock.now()
    session.execute(delete(WebSession).where(WebSession.expires_at < now))  # the stale ones
    value = secrets.token_urlsafe(32)
    session.add(
        WebSession(
            id_hash=_hash(value),
            token_id=caller.token_id,
            csrf=secrets.token_urlsafe(32),
            created_at=now,
            expires_at=now + LIFETIME,
        )
    )
    session.commit()
    return value


def viewer_of(session: Session, cookie: str | None, clock: Clock) -> Viewer | None:
    """The viewer a session cookie belongs to, while the session lasts and its token exists."""
    if not cookie or len(cookie) > 200:
        return None
    row = session.get(WebSession, _hash(cookie))
    if row is None or row.expires_at <= clock.now():
        return None
    token = session.scalar(select(ApiToken).where(ApiToken.id == row.token_id))
    if token is None:
        return None
    return Viewer(Caller(token.id, token.name, Role(token.role)), row.csrf)


def log_out(session: Session, cookie: str | None) -> None:
    if cookie and len(cookie) <= 200:
        session.execute(delete(WebSession).where(WebSession.id_hash == _hash(cookie)))
        session.commit()


def form_token_matches(viewer: Viewer, sent: str) -> bool:
    return hmac.compare_digest(viewer.csrf.encode(), sent.encode())
