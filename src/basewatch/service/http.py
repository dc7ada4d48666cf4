"""What every endpoint of the service's API shares: the state it is given, the database session
and caller of a request, problem+json errors, and cursors."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import Depends, Request
from fastapi import Path as FastApiPath
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from basewatch.clock import SYSTEM_CLOCK, Clock
from basewatch.service.auth import Caller, authenticate
from basewatch.service.config import ServeSettings

if TYPE_CHECKING:
    from basewatch.service.delivery import Dispatcher
    from basewatch.service.fleet.scheduler import Scheduler
    from basewatch.service.harbor.scans import HarborScans
    from basewatch.service.reevaluate import Reevaluator
    from basewatch.service.updater import Updater
    from basewatch.service.watcher import Watcher

PROBLEM = "application/problem+json"
MAX_BODY_BYTES = 1 << 20  # no request of this API needs more
MAX_PAGE = 500
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


@dataclass(frozen=True, slots=True)
class ServiceState:
    settings: ServeSettings
    engine: Engine
    sessions: sessionmaker[Session]
    clock: Clock = SYSTEM_CLOCK
    watcher: Watcher | None = None  # polls in the background while the app runs
    reevaluator: Reevaluator | None = None  # follows the vulnerability database's changes
    dispatcher: Dispatcher | None = None  # delivers the outbox to the notifiers
    updater: Updater | None = None  # the service's own `db update`
    harbor: HarborScans | None = None  # runs Harbor's scan requests
    # `serve --no-local-workers`: queues the work of the watcher for the fleet's workers
    scheduler: Scheduler | None = None

    def poll_soon(self, pushed: Iterable[tuple[str, str]] = ()) -> None:
        """Look at the watches now (a watch was added, a push arrived), not at the next
        interval; a fleet polls each pushed (repository, tag) ahead of the schedule."""
        if self.watcher is not None:
            self.watcher.wake()
        if self.scheduler is not None:
            tagged = [(repository, tag) for repository, tag in pushed if tag]
            for repository, tag in tagged:
                self.scheduler.pushed(repository, tag)
            if not tagged:
                self.scheduler.wake()


class Problem(BaseModel):
    type: str = "about:blank"
    title: str
    status: int
    detail: str = ""


PROBLEMS: dict[int | str, dict[str, Any]] = {
    code: {"model": Problem, "content": {PROBLEM: {}}, "description": title}
    for code, title in (
        (400, "Bad request"),
        (401, "No valid bearer token"),
        (403, "The token may not do this"),
        (404, "Not found"),
        (409, "Conflict"),
        (413, "Request body too large"),
        (422, "The request is malformed"),
    )
}


def problem(status: int, title: str, detail: str = "") -> JSONResponse:
    body = Problem(title=title, status=status, detail=detail).model_dump()
    headers = {"WWW-Authenticate": 'Bearer realm="basewatch"'} if status == 401 else None
    return JSONResponse(body, status_code=status, media_type=PROBLEM, headers=headers)


class ApiError(Exception):
    def __init__(self, status: int, title: str, detail: str = "") -> None:
        super().__init__(detail or title)
        self.status, self.title, self.detail = status, title, detail


def service_state(request: Request) -> ServiceState:
    state = request.app.state.service
    assert isinstance(state, ServiceState)  # set by create_app
    return state


def _session(request: Request) -> Iterator[Session]:
    with service_state(request).sessions() as session:
        yield session


Db = Annotated[Session, Depends(_session)]


def _caller(request: Request, db: Db) -> Caller:
    """The caller of a request, from its bearer token; writes need an admin token."""
    found = _known(request, db)
    if request.method in WRITE_METHODS and not found.role.may_write:
        raise ApiError(403, "The token may not do this", f"a {found.role} token only reads")
    return found


def _known(request: Request, db: Db) -> Caller:
    """The caller of a request, from its bearer token, whatever its role."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiError(401, "No valid bearer token", "send Authorization: Bearer TOKEN")
    found = authenticate(db, token.strip(), service_state(request).clock)
    if found is None:
        raise ApiError(401, "No valid bearer token", "the token is not known")
    if db.dirty:
        db.commit()  # last_used_at
    return found


Authorized = Annotated[Caller, Depends(_caller)]
# any valid token, also a viewer's: for what only makes the service look sooner (push events)
AnyToken = Annotated[Caller, Depends(_known)]
# ids are 64-bit integers in every database (a larger one is malformed, not a server error)
WatchId = Annotated[int, FastApiPath(ge=1, le=2**63 - 1)]
# the id of any other row (bases, notifiers): bounded the same way
RowId = Annotated[int, FastApiPath(ge=1, le=2**63 - 1)]


def encode_cursor(kind: str, last: str) -> str:
    return base64.urlsafe_b64encode(f"{kind}:{last}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str, kind: str) -> str:
    """The last key of the previous page; 400 for a cursor this API did not give out."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raw = ""
    found, _, last = raw.partition(":")
    if found != kind or not last or (kind == "id" and not last.isdigit()):
        raise ApiError(400, "Bad request", "cursor: not a cursor this API gave out")
    return last
