"""The dashboard's pages: server-rendered (Jinja2), working without JavaScript, over the same
database, tokens and roles as the API. A page needs a session (the login page opens one from a
token); a form that changes something needs an admin's session and the session's form token."""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Form, Query, Request
from fastapi import Path as FastApiPath
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup
from pydantic import ValidationError
from sqlalchemy import String, cast, exists, func, select, union
from sqlalchemy.orm import Session

from basewatch import __version__
from basewatch.clock import today
from basewatch.jobs.seams import SqliteVulnData
from basewatch.models import Inventory, Origin, Severity
from basewatch.policy import Status
from basewatch.service.api_notifiers import NotifierIn, create_notifier, deliveries_of
from basewatch.service.bases import tags_of
from basewatch.service.config import ServeSettings
from basewatch.service.dashboard.advice import image_advice
from basewatch.service.dashboard.charts import Series, line_chart
from basewatch.service.dashboard.history import (
    Day,
    fleet_history,
    fleet_now,
    image_history,
    policy_failures,
)
from basewatch.service.dashboard.sessions import (
    COOKIE,
    LIFETIME,
    Viewer,
    form_token_matches,
    log_in,
    log_out,
    viewer_of,
)
from basewatch.service.http import ApiError, Db, ServiceState, service_state
from basewatch.service.inventories import SqlInventoryStore
from basewatch.service.models import (
    BaseTag,
    Evaluation,
    Event,
    EventType,
    FindingId,
    Image,
    ImageCompat,
    ImageFinding,
    InventoryPackage,
    Notifier,
    TagMove,
    TagState,
    Watch,
)
from basewatch.service.records import (
    WatchIn,
    bases_out,
    create_watch,
    failing_policies,
    image_counts,
    policies_of,
)
from basewatch.vulndb.names import normalize_name

PAGE = 50  # rows of a table page
ORDER = [s.value for s in sorted(Severity, key=lambda s: -s.rank)]
SECURITY_HEADERS = {
    # no script, no frame, nothing from elsewhere: the charts' <style> is the only inline part
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}

_env = Environment(
    loader=PackageLoader("basewatch.service.dashboard", "templates"),
    autoescape=select_autoescape(["html"]),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


def _short(digest: str) -> str:
    return digest.split(":", 1)[-1][:12] if digest else ""


def _size(delta: int | None) -> str:
    """A signed size change ("+1.2 MB", "-340 kB"); "unknown" when either size is."""
    if delta is None:
        return "unknown"
    sign = "+" if delta > 0 else "-" if delta < 0 else "±"
    value = float(abs(delta))
    for unit in ("B", "kB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{sign}{value:.0f} {unit}" if unit == "B" else f"{sign}{value:.1f} {unit}"
        value /= 1000
    raise AssertionError("unreachable")


_env.filters["short"] = _short
_env.globals["size"] = _size
_env.filters["quote"] = lambda text: urllib.parse.quote(str(text), safe="")
_env.globals["version"] = __version__


class LoginNeeded(Exception):
    def __init__(self, path: str) -> None:
        super().__init__(path)
        self.path = path


class PageError(Exception):
    def __init__(self, status: int, title: str, detail: str = "") -> None:
        super().__init__(detail or title)
        self.status, self.title, self.detail = status, title, detail


def render(request: Request, template: str, viewer: Viewer | None, **context: Any) -> HTMLResponse:
    status = int(context.pop("status", 200))
    html = _env.get_template(template).render(
        viewer=viewer, path=request.url.path, query=dict(request.query_params), **context
    )
    return HTMLResponse(html, status_code=status, headers=SECURITY_HEADERS)


def _viewer(request: Request, db: Db) -> Viewer:
    state = service_state(request)
    found = viewer_of(db, request.cookies.get(COOKIE), state.clock)
    if found is None:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise LoginNeeded(target)
    return found


Looker = Annotated[Viewer, Depends(_viewer)]


def _admin_form(viewer: Viewer, csrf: str) -> None:
    """A form that changes something: the session's own form token, and an admin's session."""
    if not form_token_matches(viewer, csrf):
        raise PageError(403, "This form has expired", "reload the page and send it again")
    if not viewer.admin:
        raise PageError(403, "Not allowed", "a viewer token only looks; changes need an admin")


def _safe_next(target: str) -> str:
    """Only a path of this site: never an absolute URL or a scheme-relative one."""
    if not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


def install(app: FastAPI, state: ServiceState) -> None:
    """Add the dashboard to the service's app: its pages, its static files, its errors."""
    app.mount(
        "/static",
        StaticFiles(packages=[("basewatch.service.dashboard", "static")]),
        name="static",
    )
    app.include_router(router)

    @app.exception_handler(LoginNeeded)
    async def login_needed(_request: Request, exc: LoginNeeded) -> Response:
        query = urllib.parse.urlencode({"next": exc.path})
        return RedirectResponse(f"/login?{query}", status_code=303, headers=SECURITY_HEADERS)

    @app.exception_handler(PageError)
    async def page_error(request: Request, exc: PageError) -> Response:
        return error_page(request, exc.status, exc.title, exc.detail)


API_PREFIXES = ("/api/", "/metrics", "/healthz", "/readyz")


def is_page(request: Request) -> bool:
    """Whether a request is for the dashboard (its errors are pages, not problem+json)."""
    return not request.url.path.startswith(API_PREFIXES)


def error_page(request: Request, status: int, title: str, detail: str) -> HTMLResponse:
    return render(request, "error.html", None, status=status, title=title, detail=detail)


router = APIRouter(include_in_schema=False)

# --- login ---------------------------------------------------------------------------------------


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, next: str = "/") -> HTMLResponse:
    return render(request, "login.html", None, next=_safe_next(next), problem="")


@router.post("/login", response_class=HTMLResponse)
def login(
    request: Request,
    db: Db,
    token: Annotated[str, Form(max_length=200)] = "",
    next: Annotated[str, Form(max_length=2000)] = "/",
) -> Response:
    state = service_state(request)
    cookie = log_in(db, token, state.clock) if token.strip() else None
    if cookie is None:
        return render(
            request,
            "login.html",
            None,
            status=401,
            next=_safe_next(next),
            problem="That token is not known here.",
        )
    response = RedirectResponse(_safe_next(next), status_code=303, headers=SECURITY_HEADERS)
    response.set_cookie(
        COOKIE,
        cookie,
        max_age=int(LIFETIME.total_seconds()),
        httponly=True,
        secure=True,
        samesite="strict",
        path="/",
    )
    return response


@router.post("/logout")
def logout(request: Request, db: Db, viewer: Looker, csrf: Annotated[str, Form()] = "") -> Response:
    if not form_token_matches(viewer, csrf):
        raise PageError(403, "This form has expired", "reload the page and send it again")
    log_out(db, request.cookies.get(COOKIE))
    response = RedirectResponse("/login", status_code=303, headers=SECURITY_HEADERS)
    response.delete_cookie(COOKIE, path="/", secure=True, httponly=True, samesite="strict")
    return response


# --- overview ------------------------------------------------------------------------------------


def _severity_totals(db: Session) -> tuple[dict[str, int], dict[str, int], int]:
    """Open findings by severity over the fleet, the fixable ones by severity, and KEV: the
    sums of each image's latest counts ("other": negligible and unknown)."""
    now = fleet_now(db)
    names = (*ORDER[:4], "other")
    return (
        {name: now[name] for name in names},
        {name: now[f"fixable_{name}"] for name in names},
        now["kev"],
    )


def _chart(title: str, description: str, days: list[tuple[date, Day]]) -> Markup:
    series = [
        Series(name, [(day, counts[key]) for day, counts in days])
        for name, key in (
            ("All open", "total"),
            ("Critical", "critical"),
            ("High", "high"),
            ("Fixable", "fixable"),
        )
    ]
    return Markup(line_chart(series, title=title, description=description))  # noqa: S704


def _policy_chart(
    days: list[tuple[date, dict[str, int]]], settings: ServeSettings
) -> Markup | None:
    """The fail gap: a line per policy some image failed in the period, in the order the
    configuration lists them; None when none did."""
    failed = {policy for _, counts in days for policy in counts}
    if not failed:
        return None
    order = {config.id: n for n, config in enumerate(settings.policies)}
    series = [
        Series(policy, [(day, counts.get(policy, 0)) for day, counts in days])
        for policy in sorted(failed, key=lambda p: (order.get(p, len(order)), p))
    ]
    chart = line_chart(
        series,
        title="Policy failures over the fleet, last 30 days",
        description=(
            "For each policy, how many images fail it each day (the fail gap), from the "
            "stored policy verdicts."
        ),
    )
    return Markup(chart)  # noqa: S704


@router.get("/", response_class=HTMLResponse)
def overview(request: Request, db: Db, viewer: Looker) -> HTMLResponse:
    state = service_state(request)
    day = today(state.clock)
    by, fixable, kev = _severity_totals(db)
    images = db.scalar(select(func.count()).select_from(Image)) or 0
    rebuild = db.scalar(select(func.count()).where(Image.rebuild_needed.is_(True))) or 0
    policy_failed = db.scalar(select(func.count()).where(Image.policy_failed.is_(True))) or 0
    soon = (day + timedelta(days=90)).isoformat()
    ending = list(
        db.execute(
            select(Image.base_reference, func.min(Image.eol), func.count())
            .where(Image.base_reference != "", Image.eol != "", Image.eol <= soon)
            .group_by(Image.base_reference)
            .order_by(func.min(Image.eol))
            .limit(20)
        )
    )
    history = fleet_history(db, day)
    events = list(db.scalars(select(Event).order_by(Event.id.desc()).limit(10)))
    return render(
        request,
        "overview.html",
        viewer,
        unchecked=_fleet_unchecked(db, state, images),
        images=images,
        rebuild=rebuild,
        by=by,
        fixable=fixable,
        kev=kev,
        ending=[(str(r), str(e), int(c), str(e) < day.isoformat()) for r, e, c in ending],
        chart=_chart(
            "Open findings over the fleet, last 30 days",
            "Findings of every indexed image each day, from the stored evaluations.",
            history,
        ),
        policy_failed=policy_failed,
        policy_chart=_policy_chart(policy_failures(db, day), state.settings),
        policies_evaluated=bool(
            db.scalar(select(exists().where(Image.policy_failed.is_not(None))))
        ),
        events=events,
        summary=_summary,
        queue=_queue(state),
    )


def _queue(state: ServiceState) -> dict[str, Any] | None:
    """The fleet's queue (`serve --no-local-workers`): jobs waiting and running by queue, and
    the workers heard from within the lease; None without a fleet."""
    if state.scheduler is None:
        return None
    fleet = state.scheduler.fleet
    try:
        counts = fleet.counts()
        workers = fleet.workers()
    except Exception as exc:  # the page still shows the rest, and says why this is missing
        return {"error": f"the queue cannot be read: {type(exc).__name__}"}
    queues: dict[str, dict[str, int]] = {}
    for count in counts:
        queues.setdefault(count.queue, {})[count.status] = count.jobs
    return {
        "error": "",
        "queues": sorted(queues.items()),
        "waiting": sum(c.jobs for c in counts if c.status == "todo"),
        "max_queued": state.settings.fleet.max_queued,
        "alive": sum(1 for w in workers if w.alive),
        "silent": sum(1 for w in workers if not w.alive),
        "lease": state.settings.fleet.lease,
        "parked": len(fleet.parked_jobs(1000)),
        "workers": workers,
    }


def _fleet_unchecked(db: Session, state: ServiceState, images: int) -> list[str]:
    """What the fleet's numbers leave out, said before them: images never evaluated, and the
    reasons evaluations gave for what they could not check (with how many images each)."""
    found: list[str] = []
    if not state.settings.vulndb.is_file():
        found.append(f"no vulnerability database at {state.settings.vulndb}: nothing is matched")
    evaluated = db.scalar(select(func.count()).select_from(Evaluation)) or 0
    if images > evaluated:
        found.append(f"{images - evaluated} image(s) not evaluated yet: their findings are unknown")
    reasons: dict[str, int] = {}
    for unchecked, count in db.execute(
        select(cast(Evaluation.unchecked, String), func.count())
        .where(cast(Evaluation.unchecked, String) != "[]")
        .group_by(cast(Evaluation.unchecked, String))
        .limit(200)
    ):
        for reason in json.loads(unchecked):
            reasons[str(reason)] = reasons.get(str(reason), 0) + int(count)
    for reason, count in sorted(reasons.items(), key=lambda item: (-item[1], item[0]))[:10]:
        found.append(f"{count} image(s): {reason}")
    return found


def _summary(event: Event) -> str:
    payload = event.payload
    if event.type == EventType.BASE_MOVED.value:
        images = payload.get("images", [])
        return (
            f"{len(images)} image(s) to rebuild on {payload.get('base', {}).get('reference', '')}"
        )
    if event.type in (
        EventType.EOL_REACHED.value,
        EventType.POLICY_FAILED.value,
        EventType.POLICY_PASSED.value,
    ):
        return str(payload.get("summary", ""))
    findings = payload.get("findings", [])
    ids = sorted({str(f.get("id", "")) for f in findings})
    return ", ".join(ids[:5]) + (f" and {len(ids) - 5} more" if len(ids) > 5 else "")


# --- images --------------------------------------------------------------------------------------


def _by(column: Any) -> Callable[[bool], tuple[Any, ...]]:
    return lambda down: (column.desc() if down else column, Image.digest)


# the columns the image list sorts by (each indexed), and their labels
SORTS: dict[str, tuple[str, Callable[[bool], tuple[Any, ...]]]] = {
    "repository": ("repository", _by(Image.repository)),
    "worst": ("worst severity", _by(Image.worst)),
    "findings": ("findings", _by(Image.findings)),
    "fixable": ("fixable", _by(Image.fixable)),
    "kev": ("KEV", _by(Image.kev)),
    "rebuild": ("rebuild needed", _by(Image.rebuild_needed)),
    "indexed": ("last indexed", _by(Image.indexed_at)),
    "digest": ("digest", _by(Image.digest)),
}


@dataclass
class Row:
    image: Image
    tags: list[str]
    counts: dict[str, int]
    fixable: int
    kev: int
    evaluation: Evaluation | None = None  # None: never evaluated (nothing was checked)
    failing: list[tuple[str, str]] = field(default_factory=list)  # (policy, action) it fails

    @property
    def worst(self) -> str:
        return next((s for s in ORDER if self.counts.get(s)), "")


def _rows(db: Session, images: list[Image]) -> list[Row]:
    counts = image_counts(db, images)
    digests = [i.digest for i in images]
    tags = tags_of(db, digests)
    failing = failing_policies(db, digests)
    return [
        Row(
            i,
            tags.get(i.digest, []),
            counts[i.digest].by_severity,
            counts[i.digest].fixable,
            counts[i.digest].kev,
            counts[i.digest].evaluation,
            failing.get(i.digest, []),
        )
        for i in images
    ]


@router.get("/images", response_class=HTMLResponse)
def images_page(
    request: Request,
    db: Db,
    viewer: Looker,
    q: Annotated[str, Query(max_length=300)] = "",
    severity: Annotated[str, Query(max_length=20)] = "",
    rebuild: Annotated[str, Query(max_length=5)] = "",
    kev: Annotated[str, Query(max_length=5)] = "",
    policy: Annotated[str, Query(max_length=10)] = "",
    sort: Annotated[str, Query(max_length=20)] = "repository",
    order: Annotated[str, Query(max_length=4)] = "asc",
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
) -> HTMLResponse:
    query = select(Image)
    text = q.strip()
    if text:
        # each way of matching on its own index, then one set of digests
        holding = select(InventoryPackage.digest).where(
            InventoryPackage.name.in_({text, normalize_name("PyPI", text)})
        )
        matching = union(
            select(Image.digest).where(Image.repository.contains(text, autoescape=True)),
            select(FindingId.digest).where(FindingId.id == text),
            select(Image.digest).where(Image.manifest_digest.in_(holding)),
        )
        query = query.where(Image.digest.in_(matching))
    if severity in ORDER:
        query = query.where(
            exists().where(ImageFinding.digest == Image.digest, ImageFinding.severity == severity)
        )
    if rebuild == "yes":
        query = query.where(Image.rebuild_needed.is_(True))
    if kev == "yes":
        query = query.where(Image.kev > 0)
    if policy == "failed":
        query = query.where(Image.policy_failed.is_(True))
    key = sort if sort in SORTS else "repository"
    down = order == "desc"
    total = db.scalar(select(func.count()).select_from(query.subquery())) or 0
    found = list(
        db.scalars(query.order_by(*SORTS[key][1](down)).offset((page - 1) * PAGE).limit(PAGE))
    )
    pages = max(1, (total + PAGE - 1) // PAGE)
    return render(
        request,
        "images.html",
        viewer,
        rows=_rows(db, found),
        total=total,
        page=page,
        pages=pages,
        sort=key,
        order="desc" if down else "asc",
        q=text,
        severity=severity if severity in ORDER else "",
        rebuild=rebuild == "yes",
        kev=kev == "yes",
        policy_failed=policy == "failed",
        severities=ORDER,
        sorts={name: label for name, (label, _) in SORTS.items()},
        link=_link(request),
    )


def _link(request: Request) -> Callable[..., str]:
    """The current page's URL with some query parameters replaced (None: removed)."""

    def link(**changes: object) -> str:
        params = dict(request.query_params)
        for name, value in changes.items():
            if value is None:
                params.pop(name, None)
            else:
                params[name] = str(value)
        return request.url.path + ("?" + urllib.parse.urlencode(params) if params else "")

    return link


@dataclass
class PackageFindings:
    name: str
    version: str
    origin: str  # "base", "app" or ""
    findings: list[ImageFinding]

    @property
    def remedy(self) -> str:
        if self.origin == Origin.BASE.value:
            return "base refresh"
        if self.origin:
            return "app change"
        return "unknown"


def _grouped(
    findings: Iterable[ImageFinding], inventory: Inventory | None
) -> list[PackageFindings]:
    origins = {p.name: p.origin.value for p in inventory.packages} if inventory else {}
    groups: dict[tuple[str, str], PackageFindings] = {}
    for finding in findings:
        key = (finding.package, finding.version)
        if key not in groups:
            groups[key] = PackageFindings(
                finding.package, finding.version, origins.get(finding.package, ""), []
            )
        groups[key].findings.append(finding)
    rank = {s: n for n, s in enumerate(ORDER)}
    for group in groups.values():
        group.findings.sort(key=lambda f: (rank.get(f.severity, 99), f.advisory))
    return sorted(
        groups.values(),
        key=lambda g: (min(rank.get(f.severity, 99) for f in g.findings), g.name),
    )


@router.get("/images/{digest}", response_class=HTMLResponse)
def image_page(
    request: Request,
    db: Db,
    viewer: Looker,
    digest: Annotated[str, FastApiPath(max_length=100)],
) -> HTMLResponse:
    state = service_state(request)
    image = db.get(Image, digest)
    if image is None:
        raise PageError(404, "Not found", f"no indexed image {digest}")
    inventory = SqlInventoryStore(state.sessions).get(image.manifest_digest)
    findings = list(db.scalars(select(ImageFinding).where(ImageFinding.digest == digest)))
    history = list(
        db.scalars(
            select(TagMove).where(TagMove.digest == digest).order_by(TagMove.seen_at, TagMove.id)
        )
    )
    tags = list(db.scalars(select(TagState).where(TagState.digest == digest)))
    base = (
        db.scalar(select(BaseTag).where(BaseTag.reference == image.base_reference))
        if image.base_reference
        else None
    )
    days = image_history(db, digest, today(state.clock))
    (row,) = _rows(db, [image])
    evaluation = db.get(Evaluation, digest)
    policies = policies_of(db, digest, state.settings)
    advice = image_advice(
        db,
        SqlInventoryStore(state.sessions),
        SqliteVulnData(state.settings.vulndb, ""),
        image,
        inventory,
        state.settings.alternatives,
    )
    return render(
        request,
        "image.html",
        viewer,
        row=row,
        image=image,
        unchecked=evaluation.unchecked if evaluation is not None else ["not evaluated yet"],
        advice=advice,
        compat=db.get(ImageCompat, digest),
        policies=policies,
        not_evaluated=[p for p in policies if p.status == Status.NOT_EVALUATED.value],
        inventory=inventory,
        groups=_grouped(findings, inventory),
        history=history,
        tags=tags,
        base=base,
        chart=_chart(
            f"Findings of {image.repository} over time",
            "This image's open findings each day since it was first evaluated.",
            days,
        ),
    )


# --- bases ---------------------------------------------------------------------------------------


@router.get("/bases", response_class=HTMLResponse)
def bases_page(
    request: Request, db: Db, viewer: Looker, page: Annotated[int, Query(ge=1, le=100_000)] = 1
) -> HTMLResponse:

    rows = list(
        db.scalars(
            select(BaseTag).order_by(BaseTag.reference).offset((page - 1) * PAGE).limit(PAGE)
        )
    )
    total = db.scalar(select(func.count()).select_from(BaseTag)) or 0
    eols = dict(
        db.execute(
            select(Image.base_reference, func.min(Image.eol))
            .where(Image.base_reference.in_([r.reference for r in rows]), Image.eol != "")
            .group_by(Image.base_reference)
        ).all()
    )
    return render(
        request,
        "bases.html",
        viewer,
        bases=list(zip(rows, bases_out(db, rows), strict=True)),
        eols=eols,
        today=today(service_state(request).clock).isoformat(),
        page=page,
        pages=max(1, (total + PAGE - 1) // PAGE),
        link=_link(request),
    )


@router.get("/bases/{base_id}", response_class=HTMLResponse)
def base_page(
    request: Request,
    db: Db,
    viewer: Looker,
    base_id: Annotated[int, FastApiPath(ge=1, le=2**63 - 1)],
) -> HTMLResponse:

    base = db.get(BaseTag, base_id)
    if base is None:
        raise PageError(404, "Not found", f"no base {base_id}")
    (out,) = bases_out(db, [base])
    dependents = list(
        db.scalars(
            select(Image)
            .where(Image.base_reference == base.reference)
            .order_by(Image.repository, Image.digest)
            .limit(PAGE * 4)
        )
    )
    moved = db.scalar(
        select(Event)
        .where(Event.type == EventType.BASE_MOVED.value, Event.repository == base.repository)
        .order_by(Event.id.desc())
        .limit(1)
    )
    fixes: dict[str, int] = {}
    arrives: dict[str, int] = {}
    if moved is not None and moved.payload.get("base", {}).get("reference") == base.reference:
        for entry in moved.payload.get("images", []):
            for item in entry.get("fixes", []):
                fixes[str(item)] = fixes.get(str(item), 0) + 1
            for item in entry.get("arrives", []):
                arrives[str(item)] = arrives.get(str(item), 0) + 1
    return render(
        request,
        "base_detail.html",
        viewer,
        base=base,
        out=out,
        rows=_rows(db, dependents),
        moved=moved,
        fixes=sorted(fixes.items(), key=lambda kv: (-kv[1], kv[0])),
        arrives=sorted(arrives.items(), key=lambda kv: (-kv[1], kv[0])),
    )


# --- advisories ----------------------------------------------------------------------------------


@router.get("/advisories", response_class=HTMLResponse)
def advisory_search(
    viewer: Looker,
    id: Annotated[str, Query(max_length=200)] = "",
) -> Response:
    wanted = id.strip()
    if not wanted:
        raise PageError(400, "Which advisory?", "give an id: CVE-..., GHSA-..., DEBIAN-CVE-...")
    target = "/advisories/" + urllib.parse.quote(wanted, safe="")
    return RedirectResponse(target, status_code=303, headers=SECURITY_HEADERS)


@router.get("/advisories/{advisory}", response_class=HTMLResponse)
def advisory_page(
    request: Request,
    db: Db,
    viewer: Looker,
    advisory: Annotated[str, FastApiPath(max_length=200)],
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
) -> HTMLResponse:
    state = service_state(request)
    # every query goes through an index: finding ids by id, findings by their preferred id
    preferred = sorted(
        str(a)
        for a in db.scalars(
            select(FindingId.advisory).where(FindingId.id == advisory).distinct().limit(100)
        )
    )
    holders = select(FindingId.digest).where(FindingId.id == advisory).distinct()
    total = db.scalar(select(func.count()).select_from(holders.subquery())) or 0
    pages = max(1, (total + PAGE - 1) // PAGE)
    digests = [
        str(d)
        for d in db.scalars(
            holders.order_by(FindingId.digest).offset((page - 1) * PAGE).limit(PAGE)
        )
    ]
    findings = (
        list(
            db.scalars(
                select(ImageFinding)
                .where(ImageFinding.digest.in_(digests), ImageFinding.advisory.in_(preferred))
                .order_by(ImageFinding.digest, ImageFinding.package)
            )
        )
        if digests
        else []
    )
    images = {i.digest: i for i in db.scalars(select(Image).where(Image.digest.in_(digests)))}
    of_it = ImageFinding.advisory.in_(preferred)
    severities = {str(v) for v in db.scalars(select(ImageFinding.severity).where(of_it).distinct())}
    known = db.scalar(select(ImageFinding.aliases).where(of_it).limit(1)) or []
    aliases = sorted(({str(a) for a in known} | set(preferred)) - {advisory})
    rank = {s: n for n, s in enumerate(ORDER)}
    severity = min(severities, key=lambda s: rank.get(s, 99), default="")
    epss = _epss(state, [advisory, *aliases])
    bases = [
        (str(reference), int(count))
        for reference, count in db.execute(
            select(Image.base_reference, func.count())
            .where(Image.digest.in_(holders), Image.base_reference != "")
            .group_by(Image.base_reference)
            .order_by(Image.base_reference)
            .limit(100)
        )
    ]
    base_ids = {
        str(reference): int(row_id)
        for reference, row_id in db.execute(
            select(BaseTag.reference, BaseTag.id).where(
                BaseTag.reference.in_([r for r, _ in bases])
            )
        )
    }
    kev = bool(db.scalar(select(exists().where(of_it, ImageFinding.kev.is_(True)))))
    return render(
        request,
        "advisory.html",
        viewer,
        advisory=advisory,
        aliases=aliases,
        severity=severity,
        kev=kev,
        epss=epss,
        findings=findings,
        images=images,
        holders=total,
        bases=bases,
        base_ids=base_ids,
        page=page,
        pages=pages,
        link=_link(request),
    )


def _epss(state: ServiceState, ids: list[str]) -> tuple[float, float] | None:
    data = SqliteVulnData(state.settings.vulndb, "")
    cves = [i for i in ids if i.startswith("CVE-")]
    if not cves or not data.exists():
        return None
    try:
        with data.open() as store:
            facts = store.enrichment(cves)
    except Exception:  # an unusable database: the page shows no EPSS, it does not fail
        return None
    scored = [f for f in facts.values() if f.epss is not None]
    if not scored:
        return None
    best = max(scored, key=lambda f: f.epss or 0.0)
    return best.epss or 0.0, best.epss_percentile or 0.0


# --- events --------------------------------------------------------------------------------------


@router.get("/events", response_class=HTMLResponse)
def events_page(
    request: Request,
    db: Db,
    viewer: Looker,
    type: Annotated[str, Query(max_length=40)] = "",
    before: Annotated[int, Query(ge=0, le=2**63 - 1)] = 0,
) -> HTMLResponse:
    query = select(Event)
    kinds = [k.value for k in EventType]
    if type in kinds:
        query = query.where(Event.type == type)
    if before:
        query = query.where(Event.id < before)
    rows = list(db.scalars(query.order_by(Event.id.desc()).limit(PAGE + 1)))
    more = len(rows) > PAGE
    rows = rows[:PAGE]
    return render(
        request,
        "events.html",
        viewer,
        events=rows,
        deliveries=deliveries_of(db, [e.id for e in rows]),
        kinds=kinds,
        kind=type if type in kinds else "",
        older=rows[-1].id if more and rows else 0,
        summary=_summary,
        link=_link(request),
    )


# --- watches and notifiers (admins change them) --------------------------------------------------


@router.get("/watches", response_class=HTMLResponse)
def watches_page(request: Request, db: Db, viewer: Looker) -> HTMLResponse:
    return _watches(request, db, viewer, problem="", status=200)


def _watches(request: Request, db: Db, viewer: Viewer, problem: str, status: int) -> HTMLResponse:
    watches = list(db.scalars(select(Watch).order_by(Watch.repository).limit(1000)))
    notifiers = list(db.scalars(select(Notifier).order_by(Notifier.id).limit(1000)))
    return render(
        request,
        "watches.html",
        viewer,
        watches=watches,
        notifiers=notifiers,
        problem=problem,
        status=status,
        kinds=[k.value for k in EventType],
        allowed=sorted(service_state(request).settings.allowed_registries),
    )


@router.post("/watches", response_class=HTMLResponse)
def add_watch(
    request: Request,
    db: Db,
    viewer: Looker,
    repository: Annotated[str, Form(max_length=512)] = "",
    tags: Annotated[str, Form(max_length=2000)] = "*",
    csrf: Annotated[str, Form(max_length=200)] = "",
) -> Response:

    _admin_form(viewer, csrf)
    globs = [t.strip() for t in tags.replace(",", " ").split() if t.strip()] or ["*"]
    try:
        body = WatchIn(repository=repository, tags=globs)
        create_watch(db, service_state(request), body, viewer.caller)
    except ApiError as exc:
        return _watches(request, db, viewer, problem=exc.detail or exc.title, status=exc.status)
    except ValueError as exc:  # pydantic's: a glob too long, too many
        return _watches(request, db, viewer, problem=str(exc).splitlines()[0], status=422)
    return RedirectResponse("/watches", status_code=303, headers=SECURITY_HEADERS)


@router.post("/watches/{watch_id}/delete", response_class=HTMLResponse)
def remove_watch(
    db: Db,
    viewer: Looker,
    watch_id: Annotated[int, FastApiPath(ge=1, le=2**63 - 1)],
    csrf: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    _admin_form(viewer, csrf)
    watch = db.get(Watch, watch_id)
    if watch is not None:
        db.delete(watch)
        db.commit()
    return RedirectResponse("/watches", status_code=303, headers=SECURITY_HEADERS)


@router.post("/notifiers", response_class=HTMLResponse)
def add_notifier(
    request: Request,
    db: Db,
    viewer: Looker,
    name: Annotated[str, Form(max_length=200)] = "",
    kind: Annotated[str, Form(max_length=20)] = "webhook",
    url: Annotated[str, Form(max_length=2000)] = "",
    secret: Annotated[str, Form(max_length=500)] = "",
    event_types: Annotated[list[str] | None, Form(max_length=20)] = None,
    min_severity: Annotated[str, Form(max_length=20)] = "unknown",
    repositories: Annotated[str, Form(max_length=5000)] = "",
    email_host: Annotated[str, Form(max_length=253)] = "",
    email_port: Annotated[int, Form(ge=1, le=65535)] = 587,
    email_username: Annotated[str, Form(max_length=200)] = "",
    email_password: Annotated[str, Form(max_length=500)] = "",
    email_from: Annotated[str, Form(max_length=320)] = "",
    email_to: Annotated[str, Form(max_length=5000)] = "",
    csrf: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    _admin_form(viewer, csrf)
    document: dict[str, Any] = {
        "name": name,
        "kind": kind,
        "event_types": event_types or [],
        "min_severity": min_severity,
        "repositories": repositories.split(),
    }
    if kind == "email":
        document["email"] = {
            "host": email_host,
            "port": email_port,
            "username": email_username,
            "password": email_password,
            "from": email_from,
            "to": email_to.replace(",", " ").split(),
        }
    else:
        document["url"] = url or None
        document["secret"] = secret
    try:
        create_notifier(db, request, NotifierIn.model_validate(document))
    except ApiError as exc:
        return _watches(request, db, viewer, problem=exc.detail or exc.title, status=exc.status)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'form'}: {e['msg']}" for e in exc.errors()[:5]
        )
        return _watches(request, db, viewer, problem=problems, status=422)
    return RedirectResponse("/watches", status_code=303, headers=SECURITY_HEADERS)


@router.post("/notifiers/{notifier_id}/delete", response_class=HTMLResponse)
def remove_notifier(
    db: Db,
    viewer: Looker,
    notifier_id: Annotated[int, FastApiPath(ge=1, le=2**63 - 1)],
    csrf: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    _admin_form(viewer, csrf)
    notifier = db.get(Notifier, notifier_id)
    if notifier is not None:
        db.delete(notifier)
        db.commit()
    return RedirectResponse("/watches", status_code=303, headers=SECURITY_HEADERS)
