"""The service's HTTP API (FastAPI): JSON under `/api/v1`, errors as RFC 9457 problem+json,
bearer tokens on everything but `/healthz`, the OpenAPI document at `/api/openapi.json`."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Annotated, Any

from fastapi import FastAPI, Query, Request, Response
from fastapi import Path as FastApiPath
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse, PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session
from starlette.exceptions import HTTPException

from basewatch import __version__
from basewatch.errors import DatabaseError
from basewatch.jobs.seams import SqliteVulnData
from basewatch.policy import Action, Status
from basewatch.service.api_notifiers import DeliveryOut, deliveries_of
from basewatch.service.api_notifiers import router as notifiers_router
from basewatch.service.bases import tags_of
from basewatch.service.dashboard.web import error_page, is_page
from basewatch.service.dashboard.web import install as install_dashboard
from basewatch.service.http import (
    MAX_BODY_BYTES,
    MAX_PAGE,
    PROBLEMS,
    WRITE_METHODS,
    AnyToken,
    ApiError,
    Authorized,
    Db,
    Problem,
    RowId,
    ServiceState,
    WatchId,
    decode_cursor,
    encode_cursor,
    problem,
)
from basewatch.service.inventories import SqlInventoryStore
from basewatch.service.metrics import metrics_registry
from basewatch.service.models import (
    BaseTag,
    Event,
    EventType,
    FindingId,
    Image,
    ImageFinding,
    ImagePolicy,
    TagMove,
    Watch,
)
from basewatch.service.records import (
    BaseOut,
    ImageCounts,
    WatchIn,
    bases_out,
    create_watch,
    image_counts,
    policies_of,
    watched_among,
)

# --- the wire types -----------------------------------------------------------------------------


class WatchOut(BaseModel):
    id: int
    repository: str
    tags: list[str]
    created_at: datetime


class WatchPage(BaseModel):
    items: list[WatchOut]
    next_cursor: str | None = Field(description="pass as `cursor` for the next page; null: last")


class ImageOut(BaseModel):
    digest: str = Field(description="what the tag pointed at: an index or a manifest")
    manifest_digest: str = Field(description="the platform manifest that was read")
    repository: str
    tags: list[str] = Field(description="the watched tags that point at it now")
    platform: str
    base_reference: str = Field(description="the base it was built on; empty when unknown")
    base_digest: str
    base_method: str = Field(description="how the base was found: annotation, catalog, history")
    packages: int
    partial: bool = Field(description="some of it could not be read: see the inventory")
    indexed_at: datetime
    findings: dict[str, int] = Field(description="findings by severity (none before evaluation)")
    fixable: int = Field(description="findings a newer package version fixes")
    kev: int = Field(description="findings on CISA's Known Exploited Vulnerabilities list")
    evaluated_at: datetime | None = Field(description="when it was last matched; null: never")
    not_checked: list[str] = Field(description="what the last evaluation could not check")
    base_moved: bool = Field(description="the base's tag points at another digest now")
    rebuild_needed: bool = Field(description="a rebuild would pick up a newer base")
    rebuild_reason: str
    release: str = Field(description="the distribution release it runs; empty when unknown")
    eol: str = Field(description="that release's end of life (ISO day); empty when unknown")
    policy_failed: bool = Field(
        description="a policy whose action is `fail` fails (what makes `basewatch policy` exit "
        "1); false also before its policies were evaluated"
    )


class ImagePage(BaseModel):
    items: list[ImageOut]
    next_cursor: str | None


class BasePage(BaseModel):
    items: list[BaseOut]
    next_cursor: str | None


class BaseDetail(BaseOut):
    images: list[ImageOut] = Field(description="the images built on it (the first 500)")


class PackageOut(BaseModel):
    name: str
    version: str
    type: str
    ecosystem: str
    purl: str
    origin: str
    layer: str = Field(description="the diffID of the layer that added it")


class FindingOut(BaseModel):
    id: str
    aliases: list[str]
    package: str
    version: str
    ecosystem: str
    severity: str
    fixed_version: str
    kev: bool
    first_seen: datetime


class AffectedImage(BaseModel):
    digest: str
    repository: str
    tags: list[str]
    finding: FindingOut


class AffectedPage(BaseModel):
    items: list[AffectedImage]


class EventOut(BaseModel):
    id: int
    type: str = Field(description=", ".join(t.value for t in EventType))
    created_at: datetime
    digest: str
    repository: str
    severity: str = Field(description="the highest severity it is about (unknown: none)")
    message_id: str = Field(description="the `webhook-id` of every delivery attempt")
    payload: dict[str, Any]
    fanned_out: bool = Field(description="its deliveries to the notifiers exist")
    deliveries: list[DeliveryOut] = Field(description="one per notifier it goes to")


class EventPage(BaseModel):
    items: list[EventOut]
    next_cursor: str | None


class RegistryTarget(BaseModel):
    model_config = ConfigDict(extra="allow")

    repository: str = Field(default="", max_length=512)
    digest: str = Field(default="", max_length=100)
    tag: str = Field(default="", max_length=128)
    mediaType: str = Field(default="", max_length=200)


class RegistryRequest(BaseModel):
    model_config = ConfigDict(extra="allow")

    host: str = Field(default="", max_length=300)


class RegistryEvent(BaseModel):
    """One event of docker-registry's notification envelope (only what is read)."""

    model_config = ConfigDict(extra="allow")

    id: str = Field(default="", max_length=200)
    action: str = Field(default="", max_length=40)
    target: RegistryTarget = Field(default_factory=RegistryTarget)
    request: RegistryRequest = Field(default_factory=RegistryRequest)


class RegistryEnvelope(BaseModel):
    model_config = ConfigDict(extra="allow")

    events: list[RegistryEvent] = Field(max_length=1000)


class PushAccepted(BaseModel):
    events: int = Field(description="events in the envelope")
    pushes: int = Field(description="of those, pushes of a tag or manifest")
    watched: list[str] = Field(
        description="the watched repositories (and bases of indexed images) they name: polled now"
    )


class SourceOut(BaseModel):
    name: str = Field(description="osv:ECOSYSTEM, kev, epss, secdb:...")
    records: int
    updated_at: str = Field(description="when it was last imported or updated")
    data_date: str = Field(description="how new its data is, as the source says")


class UpdateOut(BaseModel):
    started_at: datetime
    finished_at: datetime
    ecosystems: list[str]
    changed_packages: int
    unavailable: list[str] = Field(description="dumps the server does not have")
    error: str = Field(description="why it failed; empty when it did not")
    eol_error: str = Field(
        default="", description="why the end-of-life table was not refreshed; empty when it was"
    )


class VulnDbOut(BaseModel):
    path: str
    exists: bool
    sources: list[SourceOut]
    update_running: bool
    last_update: UpdateOut | None = Field(description="the service's last update; null: none")
    update_interval: float = Field(description="seconds between scheduled updates; 0: none")


class UpdateStarted(BaseModel):
    started: bool = Field(description="false: an update was running already")


class TagMoveOut(BaseModel):
    repository: str
    tag: str
    digest: str
    seen_at: datetime


class PolicyItemOut(BaseModel):
    subject: str = Field(description="what fails it, as a person reads it")
    id: str = Field(description="the advisory, package, reference... it is about")
    severity: str = Field(default="", description="a finding's severity; empty for others")


class PolicyOut(BaseModel):
    id: str = Field(description="the policy's id (docs/policies/ID.md)")
    title: str
    status: Status = Field(description="not-evaluated: no data to decide on, `reason` says why")
    action: Action = Field(description="fail: a failure blocks; warn: it is only reported")
    reason: str = Field(description="why it passed, failed or could not be evaluated")
    items: list[PolicyItemOut] = Field(description="the items that fail it (the first 50)")
    item_count: int = Field(description="how many items fail it, all told")
    changed_at: datetime = Field(description="when this verdict last changed")


class ImageDetail(ImageOut):
    packages_list: list[PackageOut] = Field(alias="package_list")
    layers: list[str] = Field(description="the diffID of each layer, bottom first")
    tag_history: list[TagMoveOut]
    finding_list: list[FindingOut]
    policies: list[PolicyOut] = Field(
        description="every configured policy's verdict, from the stored facts; empty until "
        "they were first evaluated"
    )

    model_config = ConfigDict(populate_by_name=True)


class Health(BaseModel):
    status: str
    version: str


# --- the application ------------------------------------------------------------------------------


def create_app(state: ServiceState) -> FastAPI:
    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        workers = [
            w
            for w in (
                state.watcher,
                state.reevaluator,
                state.dispatcher,
                state.updater,
                state.harbor,
                state.scheduler,
            )
            if w is not None
        ]
        threads = [
            threading.Thread(target=w.run, name=type(w).__name__, daemon=True) for w in workers
        ]
        for thread in threads:
            thread.start()
        try:
            yield
        finally:
            for worker in workers:
                worker.stop()  # the work in flight stops at its next image or tag
            for thread in threads:
                thread.join(timeout=60)

    app = FastAPI(
        lifespan=lifespan,
        title="basewatch",
        version=__version__,
        summary="Keeps watch over container images and their bases.",
        openapi_url=None,  # served below, behind the token like everything else
        docs_url=None,
        redoc_url=None,
        responses=PROBLEMS,
    )
    app.state.service = state
    app.include_router(notifiers_router)
    harbor_api = ""
    if state.settings.harbor.enabled:
        from basewatch.service.harbor import api as harbor

        harbor_api = state.settings.harbor.prefix + "/api/v1/"
        app.include_router(harbor.router(state))
        app.include_router(harbor.webhook_router(state))

        @app.exception_handler(harbor.HarborError)
        async def harbor_error(_request: Request, exc: harbor.HarborError) -> Response:
            return harbor.error_response(exc.status, exc.message)

    install_dashboard(app, state)
    registry, timings = metrics_registry(state.sessions, state.reevaluator)
    if state.watcher is not None:
        state.watcher.timings = timings
    if state.scheduler is not None:  # the fleet's queue and workers, read at each scrape
        from basewatch.service.fleet.metrics import QueueState

        registry.register(QueueState(state.scheduler.fleet))

    @app.middleware("http")
    async def bounded_body(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        length = request.headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > MAX_BODY_BYTES):
            return problem(413, "Request body too large", f"at most {MAX_BODY_BYTES} bytes")
        if length is None and request.method in WRITE_METHODS:
            body = b""
            async for chunk in request.stream():
                body += chunk
                if len(body) > MAX_BODY_BYTES:
                    return problem(413, "Request body too large", f"at most {MAX_BODY_BYTES} bytes")
            request._body = body  # read once, within the bound
        return await call_next(request)

    @app.exception_handler(ApiError)
    async def api_error(_request: Request, exc: ApiError) -> JSONResponse:
        return problem(exc.status, exc.title, exc.detail)

    def harbor_path(request: Request) -> bool:
        return bool(harbor_api) and request.url.path.startswith(harbor_api)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> Response:
        if harbor_path(request):
            from basewatch.service.harbor.api import error_response

            return error_response(exc.status_code, str(exc.detail))
        if is_page(request):
            return error_page(request, exc.status_code, str(exc.detail), "")
        return problem(exc.status_code, str(exc.detail), "")

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> Response:
        details = "; ".join(
            f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg', '')}"
            for e in exc.errors()[:10]
        )
        if is_page(request):
            return error_page(request, 422, "That request is malformed", details)
        return problem(422, "The request is malformed", details)

    @app.exception_handler(SQLAlchemyError)
    async def database_down(request: Request, exc: SQLAlchemyError) -> Response:
        if harbor_path(request):  # the spec knows no 503
            from basewatch.service.harbor.api import error_response

            return error_response(500, "the service cannot reach its database: try again")
        if is_page(request):
            detail = "the service cannot reach its database: try again shortly"
            return error_page(request, 503, "The database is unavailable", detail)
        return problem(503, "The database is unavailable", type(exc).__name__)

    @app.get("/healthz", tags=["health"])
    def healthz() -> Health:
        """Whether the process is up (no token needed)."""
        return Health(status="ok", version=__version__)

    @app.get(
        "/readyz",
        tags=["health"],
        responses={503: {"model": Problem, "description": "The database is unavailable"}},
    )
    def readyz(_who: Authorized, db: Db) -> Health:
        """Whether the service can serve: its database answers."""
        db.execute(text("SELECT 1"))
        return Health(status="ready", version=__version__)

    @app.get("/metrics", tags=["health"], response_class=PlainTextResponse)
    def metrics(_who: Authorized) -> PlainTextResponse:
        """Prometheus metrics: images, watches, findings by severity, outbox size, and poll and
        index latency."""
        return PlainTextResponse(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    @app.get("/api/openapi.json", include_in_schema=False)
    def openapi(_who: Authorized) -> JSONResponse:
        return JSONResponse(_document(app))

    @app.post("/api/v1/watches", status_code=201, tags=["watches"])
    def add_watch(body: WatchIn, who: Authorized, db: Db) -> WatchOut:
        """Watch a registry repository: the tags matching `tags` (globs) are indexed and
        polled."""
        return _watch_out(create_watch(db, state, body, who))

    @app.get("/api/v1/watches", tags=["watches"])
    def list_watches(
        _who: Authorized,
        db: Db,
        limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
        cursor: Annotated[str | None, Query(max_length=64)] = None,
    ) -> WatchPage:
        """Every watch, oldest first, a page at a time."""
        after = int(decode_cursor(cursor, "id")) if cursor else 0
        rows = list(
            db.scalars(select(Watch).where(Watch.id > after).order_by(Watch.id).limit(limit + 1))
        )
        more = len(rows) > limit
        rows = rows[:limit]
        return WatchPage(
            items=[_watch_out(w) for w in rows],
            next_cursor=encode_cursor("id", str(rows[-1].id)) if more and rows else None,
        )

    @app.get("/api/v1/watches/{watch_id}", tags=["watches"])
    def get_watch(watch_id: WatchId, _who: Authorized, db: Db) -> WatchOut:
        return _watch_out(_find_watch(db, watch_id))

    @app.delete("/api/v1/watches/{watch_id}", status_code=204, tags=["watches"])
    def remove_watch(watch_id: WatchId, _who: Authorized, db: Db) -> Response:
        db.delete(_find_watch(db, watch_id))
        db.commit()
        return Response(status_code=204)

    @app.get("/api/v1/images", tags=["images"])
    def list_images(
        _who: Authorized,
        db: Db,
        limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
        cursor: Annotated[str | None, Query(max_length=200)] = None,
    ) -> ImagePage:
        """Every indexed image, by digest, a page at a time."""
        after = decode_cursor(cursor, "digest") if cursor else ""
        rows = list(
            db.scalars(
                select(Image).where(Image.digest > after).order_by(Image.digest).limit(limit + 1)
            )
        )
        more = len(rows) > limit
        rows = rows[:limit]
        digests = [r.digest for r in rows]
        tags, counts = tags_of(db, digests), image_counts(db, rows)
        return ImagePage(
            items=[_image_out(r, tags.get(r.digest, []), counts[r.digest]) for r in rows],
            next_cursor=encode_cursor("digest", rows[-1].digest) if more and rows else None,
        )

    @app.get("/api/v1/images/{digest}", tags=["images"])
    def get_image(
        digest: Annotated[str, FastApiPath(max_length=100)], _who: Authorized, db: Db
    ) -> ImageDetail:
        """One image: its packages, layers, findings, policy verdicts and the history of the
        tags that pointed at it."""
        row = db.get(Image, digest)
        if row is None:
            raise ApiError(404, "Not found", f"no indexed image {digest}")
        inventory = SqlInventoryStore(state.sessions).get(row.manifest_digest)
        history = db.scalars(
            select(TagMove).where(TagMove.digest == digest).order_by(TagMove.seen_at, TagMove.id)
        )
        out = _image_out(
            row, tags_of(db, [digest]).get(digest, []), image_counts(db, [row])[digest]
        )
        findings = db.scalars(
            select(ImageFinding)
            .where(ImageFinding.digest == digest)
            .order_by(ImageFinding.advisory, ImageFinding.package)
        )
        return ImageDetail(
            **out.model_dump(),
            package_list=[
                PackageOut(
                    name=p.name,
                    version=p.version,
                    type=p.type.value,
                    ecosystem=p.ecosystem,
                    purl=p.purl,
                    origin=p.origin.value,
                    layer=p.layer,
                )
                for p in (inventory.packages if inventory else ())
            ],
            layers=[layer.diff_id for layer in inventory.image.layers] if inventory else [],
            tag_history=[
                TagMoveOut(repository=m.repository, tag=m.tag, digest=m.digest, seen_at=m.seen_at)
                for m in history
            ],
            finding_list=[_finding_out(f) for f in findings],
            policies=[_policy_out(p) for p in policies_of(db, digest, state.settings)],
        )

    @app.get("/api/v1/findings", tags=["findings"])
    def affected(
        _who: Authorized,
        db: Db,
        advisory: Annotated[str, Query(alias="id", min_length=1, max_length=200)],
    ) -> AffectedPage:
        """Which images have an advisory, by any of its ids (CVE, GHSA, DEBIAN-CVE...)."""
        wanted = advisory.strip()
        keys = db.execute(
            select(FindingId.digest, FindingId.advisory)
            .where(FindingId.id == wanted)
            .order_by(FindingId.digest, FindingId.advisory)
        ).all()
        rows: list[ImageFinding] = []
        for digest, found in keys:
            rows.extend(
                db.scalars(
                    select(ImageFinding)
                    .where(ImageFinding.digest == digest, ImageFinding.advisory == found)
                    .order_by(ImageFinding.package, ImageFinding.version)
                )
            )
        digests = sorted({r.digest for r in rows})
        images = {i.digest: i for i in db.scalars(select(Image).where(Image.digest.in_(digests)))}
        tags = tags_of(db, digests)
        return AffectedPage(
            items=[
                AffectedImage(
                    digest=r.digest,
                    repository=images[r.digest].repository,
                    tags=tags.get(r.digest, []),
                    finding=_finding_out(r),
                )
                for r in rows
                if r.digest in images
            ]
        )

    @app.get("/api/v1/vulndb", tags=["vulndb"])
    def vulndb_status(_who: Authorized) -> VulnDbOut:
        """The vulnerability database the service matches with: its sources and the last
        update the service ran."""
        data = SqliteVulnData(state.settings.vulndb, "")
        sources: list[SourceOut] = []
        if data.exists():
            try:
                with data.open() as store:
                    sources = [
                        SourceOut(
                            name=s.name,
                            records=s.records,
                            updated_at=s.updated_at,
                            data_date=s.data_date,
                        )
                        for s in store.sources()
                    ]
            except DatabaseError as exc:
                raise ApiError(503, "The vulnerability database is unusable", str(exc)) from None
        updater = state.updater
        last = updater.last if updater is not None else None
        return VulnDbOut(
            path=str(state.settings.vulndb),
            exists=data.exists(),
            sources=sources,
            update_running=updater.running if updater is not None else False,
            last_update=UpdateOut(
                started_at=last.started_at,
                finished_at=last.finished_at,
                ecosystems=list(last.ecosystems),
                changed_packages=last.changed_packages,
                unavailable=list(last.unavailable),
                error=last.error,
                eol_error=last.eol_error,
            )
            if last is not None
            else None,
            update_interval=state.settings.vulndb_update_interval,
        )

    @app.post("/api/v1/vulndb/update", status_code=202, tags=["vulndb"])
    def vulndb_update(_who: Authorized) -> UpdateStarted:
        """Update the vulnerability database now (the OSV dumps of the stored inventories'
        ecosystems); the images it changes are re-evaluated within `vulndb_check_interval`."""
        if state.updater is None:
            raise ApiError(409, "Conflict", "this service runs no updates")
        return UpdateStarted(started=state.updater.trigger())

    @app.get("/api/v1/bases", tags=["bases"])
    def list_bases(
        _who: Authorized,
        db: Db,
        limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
        cursor: Annotated[str | None, Query(max_length=64)] = None,
    ) -> BasePage:
        """The base tags the indexed images were built on, each polled like a watched tag,
        with how many images depend on it."""
        after = int(decode_cursor(cursor, "id")) if cursor else 0
        rows = list(
            db.scalars(
                select(BaseTag).where(BaseTag.id > after).order_by(BaseTag.id).limit(limit + 1)
            )
        )
        more = len(rows) > limit
        rows = rows[:limit]
        return BasePage(
            items=bases_out(db, rows),
            next_cursor=encode_cursor("id", str(rows[-1].id)) if more and rows else None,
        )

    @app.get("/api/v1/bases/{base_id}", tags=["bases"])
    def get_base(base_id: RowId, _who: Authorized, db: Db) -> BaseDetail:
        """One base tag and the images built on it."""
        row = db.get(BaseTag, base_id)
        if row is None:
            raise ApiError(404, "Not found", f"no base {base_id}")
        (out,) = bases_out(db, [row])
        images = list(
            db.scalars(
                select(Image)
                .where(Image.base_reference == row.reference)
                .order_by(Image.repository, Image.digest)
                .limit(MAX_PAGE)
            )
        )
        digests = [i.digest for i in images]
        tags, counts = tags_of(db, digests), image_counts(db, images)
        return BaseDetail(
            **out.model_dump(),
            images=[_image_out(i, tags.get(i.digest, []), counts[i.digest]) for i in images],
        )

    @app.post(
        "/api/v1/events/registry",
        status_code=202,
        tags=["events"],
        openapi_extra={
            "requestBody": {
                "content": {
                    "application/vnd.docker.distribution.events.v1+json": {
                        "schema": {"$ref": "#/components/schemas/RegistryEnvelope"}
                    }
                }
            }
        },
    )
    def registry_events(body: RegistryEnvelope, _who: AnyToken, db: Db) -> PushAccepted:
        """docker-registry's notifications (its `notifications.endpoints`, with an
        `Authorization: Bearer TOKEN` header; a viewer token is enough): a push to a watched
        repository is polled at once. Polling stays the backstop, since a registry drops
        notifications when it restarts."""
        pushes = [e for e in body.events if e.action == "push" and e.target.repository.strip()]
        watched = watched_among(db, {e.target.repository.strip().strip("/") for e in pushes})
        if watched:
            state.poll_soon(
                (repository, e.target.tag.strip())
                for repository in watched
                for e in pushes
                if repository.split("/", 1)[-1] == e.target.repository.strip().strip("/")
            )
        return PushAccepted(events=len(body.events), pushes=len(pushes), watched=watched)

    @app.get("/api/v1/events", tags=["events"])
    def list_events(
        _who: Authorized,
        db: Db,
        limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
        cursor: Annotated[str | None, Query(max_length=64)] = None,
        kind: Annotated[EventType | None, Query(alias="type")] = None,
    ) -> EventPage:
        """The events, oldest first: what changed in which image."""
        after = int(decode_cursor(cursor, "id")) if cursor else 0
        query = select(Event).where(Event.id > after)
        if kind is not None:
            query = query.where(Event.type == kind.value)
        rows = list(db.scalars(query.order_by(Event.id).limit(limit + 1)))
        more = len(rows) > limit
        rows = rows[:limit]
        deliveries = deliveries_of(db, [e.id for e in rows])
        return EventPage(
            items=[
                EventOut(
                    id=e.id,
                    type=e.type,
                    created_at=e.created_at,
                    digest=e.digest,
                    repository=e.repository,
                    severity=e.severity,
                    message_id=e.uid,
                    payload=e.payload,
                    fanned_out=e.fanned_out,
                    deliveries=deliveries.get(e.id, []),
                )
                for e in rows
            ],
            next_cursor=encode_cursor("id", str(rows[-1].id)) if more and rows else None,
        )

    return app


def _finding_out(row: ImageFinding) -> FindingOut:
    return FindingOut(
        id=row.advisory,
        aliases=row.aliases,
        package=row.package,
        version=row.version,
        ecosystem=row.ecosystem,
        severity=row.severity,
        fixed_version=row.fixed_version,
        kev=row.kev,
        first_seen=row.first_seen,
    )


def _policy_out(row: ImagePolicy) -> PolicyOut:
    return PolicyOut(
        id=row.policy,
        title=row.title,
        status=Status(row.status),
        action=Action(row.action),
        reason=row.reason,
        items=[
            PolicyItemOut(
                subject=str(item.get("subject", "")),
                id=str(item.get("id", "")),
                severity=str(item.get("severity", "")),
            )
            for item in row.items
        ],
        item_count=row.item_count,
        changed_at=row.changed_at,
    )


def _image_out(row: Image, tags: list[str], counts: ImageCounts) -> ImageOut:
    evaluation = counts.evaluation
    return ImageOut(
        digest=row.digest,
        manifest_digest=row.manifest_digest,
        repository=row.repository,
        tags=tags,
        platform=row.platform,
        base_reference=row.base_reference,
        base_digest=row.base_digest,
        base_method=row.base_method,
        packages=row.packages,
        partial=row.partial,
        indexed_at=row.indexed_at,
        findings=counts.by_severity,
        fixable=counts.fixable,
        kev=counts.kev,
        evaluated_at=evaluation.evaluated_at if evaluation else None,
        not_checked=evaluation.unchecked if evaluation else ["not evaluated yet"],
        base_moved=bool(counts.base_now and row.base_digest and counts.base_now != row.base_digest),
        rebuild_needed=row.rebuild_needed,
        rebuild_reason=row.rebuild_reason,
        release=row.release,
        eol=row.eol,
        policy_failed=bool(row.policy_failed),
    )


def _document(app: FastAPI) -> dict[str, Any]:
    if app.openapi_schema is None:
        app.openapi_schema = get_openapi(
            title=app.title,
            version=app.version,
            summary=app.summary,
            routes=app.routes,
            openapi_version=app.openapi_version,
        )
        app.openapi_schema["components"]["securitySchemes"] = {
            "bearer": {"type": "http", "scheme": "bearer"}
        }
        app.openapi_schema["security"] = [{"bearer": []}]
        health = app.openapi_schema["paths"].get("/healthz", {}).get("get")
        if health is not None:
            health["security"] = []
    return app.openapi_schema


def _find_watch(db: Session, watch_id: int) -> Watch:
    watch = db.get(Watch, watch_id)
    if watch is None:
        raise ApiError(404, "Not found", f"no watch {watch_id}")
    return watch


def _watch_out(watch: Watch) -> WatchOut:
    return WatchOut(
        id=watch.id, repository=watch.repository, tags=watch.tags, created_at=watch.created_at
    )
