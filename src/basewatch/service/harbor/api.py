"""Harbor's Pluggable Scanner API v1.2 under `[serve.harbor] prefix` (`/harbor/api/v1/...`),
and an endpoint for Harbor's webhooks (`/harbor/webhook`).

Errors of the adapter API are the spec's (`application/vnd.scanner.adapter.error+json;
version=1.0`, `{"error": {"message": ...}}`), not the service's problem documents: Harbor shows
their message. A report is made when it is asked for, from the artifact's stored inventory and
the vulnerability database as it is now, so a report polled after `db update` or
`db import` has the new findings without a new scan request.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import threading
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from basewatch import __version__
from basewatch.errors import DatabaseError, ImageError, UsageError
from basewatch.jobs.seams import SqliteVulnData
from basewatch.oci.digest import parse_digest
from basewatch.oci.reference import parse_reference
from basewatch.oci.registry.auth import credentials_from_authorization
from basewatch.report.jsondoc import dumps
from basewatch.report.scan.json import scan_document
from basewatch.service.auth import authenticate
from basewatch.service.evaluate import Matcher
from basewatch.service.harbor.reports import (
    CYCLONEDX_JSON,
    SBOM_REPORT,
    SPDX_JSON,
    VULN_REPORT_HARBOR,
    VULN_REPORT_SECURITY,
    sbom_report,
    vulnerability_report,
)
from basewatch.service.harbor.scans import Artifact, HarborScans
from basewatch.service.http import ServiceState, problem
from basewatch.service.inventories import SqlInventoryStore
from basewatch.service.models import HarborScan, HarborScanState, Image
from basewatch.service.records import watched_among

ERROR = "application/vnd.scanner.adapter.error+json; version=1.0"
METADATA = "application/vnd.scanner.adapter.metadata+json; version=1.1"
SCAN_RESPONSE = "application/vnd.scanner.adapter.scan.response+json; version=1.0"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
CONSUMES = (OCI_MANIFEST, DOCKER_MANIFEST)
# basewatch's own scan report (`basewatch scan -f json`), as the spec's vendor-specific one
VULN_REPORT_RAW = "application/vnd.scanner.adapter.vuln.report.raw"
VULN_TYPES = (VULN_REPORT_HARBOR, VULN_REPORT_SECURITY, VULN_REPORT_RAW)
SBOM_TYPES = (SPDX_JSON, CYCLONEDX_JSON)
REFRESH_AFTER = 5  # seconds Harbor waits before it polls a report again
MAX_VALUE = 2000  # characters of any string of a scan request
SCANNER = {"name": "basewatch", "vendor": "basewatch", "version": __version__}


class HarborError(Exception):
    """An answer of the adapter API other than a success, in the spec's error format."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


def error_response(status: int, message: str) -> Response:
    if status == 404:  # the spec's 404 has no body
        return Response(status_code=404)
    headers = (
        {"WWW-Authenticate": 'Basic realm="basewatch", Bearer realm="basewatch"'}
        if status == 401
        else None
    )
    return JSONResponse(
        {"error": {"message": message}}, status_code=status, media_type=ERROR, headers=headers
    )


class ReportCache:
    """The reports made lately, by what they were made from: the artifact's manifest (its
    inventory never changes), the report type, and the state of the vulnerability data (its
    change log's newest entry and its sources' update times), so Harbor's many polls of the
    same artifacts do not match it again until the data changes."""

    def __init__(self, size: int = 256) -> None:
        self._size = size
        self._items: OrderedDict[tuple[object, ...], dict[str, Any] | str] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple[object, ...]) -> dict[str, Any] | str | None:
        with self._lock:
            found = self._items.get(key)
            if found is not None:
                self._items.move_to_end(key)
            return found

    def put(self, key: tuple[object, ...], report: dict[str, Any] | str) -> None:
        with self._lock:
            self._items[key] = report
            self._items.move_to_end(key)
            while len(self._items) > self._size:
                self._items.popitem(last=False)


def router(state: ServiceState) -> APIRouter:
    settings = state.settings.harbor
    api = APIRouter(prefix=settings.prefix + "/api/v1", include_in_schema=False)
    cache = ReportCache()

    def caller(request: Request, session: Session) -> None:
        if not _authorized(request.headers.get("authorization", ""), session, state):
            raise HarborError(401, "send the token basewatch gave Harbor (Bearer or Basic)")

    @api.get("/metadata")
    def metadata(request: Request) -> Response:
        with state.sessions() as session:
            caller(request, session)
        return JSONResponse(_metadata(state), media_type=METADATA)

    @api.post("/scan")
    async def accept(request: Request) -> Response:
        body = await request.body()  # bounded by the app's middleware
        # the store is written in a worker thread: a busy database never stalls the loop
        return await run_in_threadpool(_accept, request, body)

    def _accept(request: Request, body: bytes) -> Response:
        with state.sessions() as session:
            caller(request, session)
            artifact = _artifact(body, state)
            scans = _scans(state)
            job = scans.submit(session, artifact)
            session.commit()
        scans.queued(job)
        return JSONResponse({"id": job}, status_code=202, media_type=SCAN_RESPONSE)

    @api.get("/scan/{scan_request_id}/report")
    def report(request: Request, scan_request_id: str) -> Response:
        with state.sessions() as session:
            caller(request, session)  # before anything else is said about the request
            wanted = _negotiate(request.headers.get("accept", ""))
            sbom_type = request.query_params.get("sbom_media_type", "")
            if wanted == SBOM_REPORT and sbom_type not in SBOM_TYPES:
                raise HarborError(
                    400, f"an SBOM report needs sbom_media_type: one of {', '.join(SBOM_TYPES)}"
                )
            job = session.get(HarborScan, scan_request_id[:100])
            if job is None:
                raise HarborError(404, "no such scan request")
            if job.state in (HarborScanState.QUEUED.value, HarborScanState.RUNNING.value):
                return Response(status_code=302, headers={"Refresh-After": str(REFRESH_AFTER)})
            if job.state == HarborScanState.FAILED.value:
                raise HarborError(500, job.error or "the scan failed")
            document = _report(session, state, job, wanted, sbom_type, cache)
        # names read from an image may hold undecodable bytes: escaped, not a failed report
        body = document if isinstance(document, str) else dumps(document)
        return Response(body, media_type=wanted)

    return api


def webhook_router(state: ServiceState) -> APIRouter:
    """Harbor's webhooks (a policy of notify type `http`, with the token as its auth header),
    in its Default or CloudEvents payload: a pushed artifact of a watched repository (or a
    base's) is polled at once, as docker-registry's notifications are."""
    settings = state.settings.harbor
    api = APIRouter(prefix=settings.prefix, include_in_schema=False)

    @api.post("/webhook", status_code=202)
    async def webhook(request: Request) -> Response:
        body = await request.body()  # bounded by the app's middleware
        return await run_in_threadpool(_webhook, request, body)

    def _webhook(request: Request, body: bytes) -> Response:
        with state.sessions() as session:
            if not _authorized(request.headers.get("authorization", ""), session, state):
                return problem(
                    401, "No valid token", "send the token as Harbor's webhook auth header"
                )
            try:
                payload = json.loads(body)
            except (ValueError, UnicodeDecodeError):
                payload = None
            pushes = _pushes(payload)
            if pushes is None:
                return problem(
                    422,
                    "The request is malformed",
                    "not a Harbor webhook payload (Default or CloudEvents)",
                )
            watched = watched_among(session, {name for _, name in pushes})
        if watched:
            state.poll_soon()
        return JSONResponse(
            HarborPushAccepted(pushes=len(pushes), watched=watched).model_dump(), status_code=202
        )

    return api


class HarborPushAccepted(BaseModel):
    pushes: int  # artifacts the event says were pushed
    watched: list[str]  # the watched repositories (or bases) among them: polled now


# --- authentication ------------------------------------------------------------------------------


def _authorized(header: str, session: Session, state: ServiceState) -> bool:
    """Whether `header` carries the adapter's token (`[serve.harbor] token`, as Bearer, or as
    the password of Basic, or the Basic credential itself), or, when none is set, one of the
    service's own tokens."""
    scheme, _, value = header.strip().partition(" ")
    value = value.strip()
    if not value or scheme.lower() not in ("bearer", "basic"):
        return False
    candidates = [value]
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(value, validate=True).decode("utf-8")
        except (binascii.Error, ValueError, UnicodeDecodeError):
            decoded = ""
        if ":" in decoded:
            candidates = [decoded.split(":", 1)[1], value]
    expected = state.settings.harbor.token
    if expected:
        return any(hmac.compare_digest(c.encode(), expected.encode()) for c in candidates)
    found = any(authenticate(session, c, state.clock) is not None for c in candidates[:1])
    if session.dirty:
        session.commit()  # last_used_at
    return found


# --- scan requests -------------------------------------------------------------------------------


def _scans(state: ServiceState) -> HarborScans:
    if state.harbor is None:
        raise HarborError(501, "this service runs no scan workers")
    return state.harbor


def _artifact(body: bytes, state: ServiceState) -> Artifact:
    """The checked request; 400 for what is not JSON or has values of the wrong type, 422
    for a missing or bad field, 501 for an artifact that is not an image manifest."""
    try:
        document = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise HarborError(400, "the request body is not JSON") from None
    if not isinstance(document, dict):
        raise HarborError(400, "the request must be a JSON object")
    registry = _object(document, "registry")
    artifact = _object(document, "artifact")
    url = _string(registry, "registry.url")
    authorization = _string(registry, "registry.authorization", secret=True)
    repository = _string(artifact, "artifact.repository")
    digest = _string(artifact, "artifact.digest")
    tag = _string(artifact, "artifact.tag")
    mime_type = _string(artifact, "artifact.mime_type")
    capabilities = _capabilities(document.get("enabled_capabilities"))
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.path.strip("/"):
        raise HarborError(422, "registry.url: expected the registry's base URL (https://HOST)")
    if parts.username or parts.password or parts.query or parts.fragment:
        raise HarborError(422, "registry.url: credentials, a query or a fragment do not belong")
    host = parts.netloc.lower()
    if host not in state.settings.allowed_registries:
        raise HarborError(422, f"registry.url: {host} is not in the service's allowed_registries")
    try:
        parse_digest(digest, "artifact.digest")
    except ImageError as exc:
        raise HarborError(422, str(exc)) from None
    checks = [("repository", f"{host}/{repository}@{digest}")]
    if tag:
        checks.append(("tag", f"{host}/{repository}:{tag}"))
    for name, text in checks:
        try:
            parse_reference(text)
        except UsageError as exc:
            raise HarborError(422, f"artifact.{name}: {exc}") from None
    if mime_type and mime_type not in CONSUMES:
        raise HarborError(
            501, f"artifact.mime_type: basewatch scans {' and '.join(CONSUMES)}, not {mime_type}"
        )
    if authorization:
        try:
            credentials_from_authorization(authorization)
        except ValueError as exc:
            raise HarborError(422, f"registry.authorization: {exc}") from None
    return Artifact(
        registry_url=f"{parts.scheme}://{host}",
        repository=repository,
        digest=digest,
        tag=tag,
        mime_type=mime_type,
        authorization=authorization,
        capabilities=capabilities,
    )


def _object(document: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = document.get(key)
    if value is None:
        raise HarborError(422, f"{key}: missing")
    if not isinstance(value, dict):
        raise HarborError(400, f"{key}: expected an object")
    return value


def _string(document: Mapping[str, Any], name: str, *, secret: bool = False) -> str:
    value = document.get(name.split(".", 1)[1], "")
    if value is None:
        return ""
    if not isinstance(value, str):
        raise HarborError(400, f"{name}: expected a string")
    if len(value) > (16 << 10 if secret else MAX_VALUE):
        raise HarborError(422, f"{name}: too long")
    return value.strip()


def _capabilities(value: object) -> dict[str, tuple[str, ...]]:
    """Capability type -> the media types Harbor wants (all when it names none)."""
    every = {"vulnerability": VULN_TYPES, "sbom": SBOM_TYPES}
    if value is None:
        return dict(every)
    if not isinstance(value, list):
        raise HarborError(400, "enabled_capabilities: expected an array")
    found: dict[str, tuple[str, ...]] = {}
    for index, item in enumerate(value[:10]):
        where = f"enabled_capabilities[{index}]"
        if not isinstance(item, dict):
            raise HarborError(400, f"{where}: expected an object")
        kind = item.get("type")
        if not isinstance(kind, str):
            raise HarborError(400 if kind is not None else 422, f"{where}.type: expected a string")
        if kind not in every:
            raise HarborError(501, f"{where}.type: basewatch has no {kind!r} capability")
        parameters = item.get("parameters")
        types: object = None
        if isinstance(parameters, dict):
            types = parameters.get("sbom_media_types")
        elif parameters is not None:
            raise HarborError(400, f"{where}.parameters: expected an object")
        if types is None:
            found[kind] = every[kind]
            continue
        if not isinstance(types, list) or not all(isinstance(t, str) for t in types):
            raise HarborError(400, f"{where}.parameters.sbom_media_types: expected strings")
        unknown = [t for t in types if t not in every[kind]]
        if unknown:
            raise HarborError(422, f"{where}: basewatch does not produce {', '.join(unknown)}")
        found[kind] = tuple(types) or every[kind]
    return found


# --- reports -------------------------------------------------------------------------------------


def _negotiate(accept: str) -> str:
    """The report type the Accept header asks for: the first one basewatch produces, in the
    order given (Harbor's vulnerability report when it names none); 501 when it names only
    types basewatch does not produce."""
    if not accept.strip():
        return VULN_REPORT_HARBOR
    produced = {_normal(t): t for t in (*VULN_TYPES, SBOM_REPORT)}
    for item in accept.split(","):
        media = _normal(item)
        if media in produced:
            return produced[media]
        if media.split(";", 1)[0] in ("*/*", "application/*", "application/json"):
            return VULN_REPORT_HARBOR
    raise HarborError(501, f"basewatch produces no report of type {accept[:200]!r}")


def _normal(media: str) -> str:
    """`type/subtype; version=x` without spaces, case, or the q parameter."""
    parts = [p.strip().lower() for p in media.split(";")]
    kept = [p.replace(" ", "") for p in parts if p and not p.startswith("q=")]
    return ";".join(kept)


def _report(
    session: Session,
    state: ServiceState,
    job: HarborScan,
    wanted: str,
    sbom_type: str,
    cache: ReportCache,
) -> dict[str, Any] | str:
    image = session.get(Image, job.image_digest or job.digest)
    data = _data_state(state) if wanted != SBOM_REPORT else ()
    key = (
        (image.manifest_digest, wanted, sbom_type, job.repository, job.tag, job.mime_type, data)
        if image is not None and data is not None
        else None
    )
    found = cache.get(key) if key is not None else None
    if found is not None:
        return found
    report = _make_report(state, image, job, wanted, sbom_type)
    if key is not None:
        cache.put(key, report)
    return report


def _data_state(state: ServiceState) -> tuple[object, ...] | None:
    """What tells the vulnerability data now from before a change; None when it cannot say
    (no change log, no database): such reports are made again each time."""
    data = SqliteVulnData(state.settings.vulndb, "")
    if not data.exists():
        return None
    try:
        with data.open() as store:
            log_name = store.change_log()
            newest = store.changes_since(2**62)[0]
            sources = tuple(sorted((s.name, s.updated_at) for s in store.sources()))
    except DatabaseError:
        return None
    return (str(state.settings.vulndb), log_name, newest, sources) if log_name else None


def _make_report(
    state: ServiceState, image: Image | None, job: HarborScan, wanted: str, sbom_type: str
) -> dict[str, Any] | str:
    inventory = (
        SqlInventoryStore(state.sessions, state.clock).get(image.manifest_digest)
        if image is not None
        else None
    )
    if inventory is None:
        raise HarborError(500, "the artifact's inventory is gone: scan it again")
    artifact = {
        "repository": job.repository,
        "digest": job.digest,
        "tag": job.tag,
        "mime_type": job.mime_type or OCI_MANIFEST,
    }
    now = state.clock.now()
    if wanted == SBOM_REPORT:
        return sbom_report(
            inventory, sbom_type, artifact=artifact, scanner=SCANNER, generated_at=now
        )
    try:
        with Matcher(SqliteVulnData(state.settings.vulndb, "")) as matcher:
            scan = matcher.match(inventory)
    except (DatabaseError, SQLAlchemyError) as exc:
        raise HarborError(500, f"the vulnerability database is unusable: {exc}") from None
    if isinstance(scan, str):
        raise HarborError(500, f"no vulnerability report: {scan}")
    if wanted == VULN_REPORT_RAW:
        return dumps(scan_document(scan)).decode("utf-8")
    return vulnerability_report(scan, artifact=artifact, scanner=SCANNER, generated_at=now)


def _metadata(state: ServiceState) -> dict[str, Any]:
    properties = {
        "harbor.scanner-adapter/scanner-type": "os-package-vulnerability",
        "harbor.scanner-adapter/vulnerability-database-updated-at": _database_updated(state),
        "basewatch/base-attribution": "annotation, catalog, history",
        "basewatch/reports": "made on request from the stored inventory and the current data",
    }
    return {
        "scanner": SCANNER,
        "capabilities": [
            {
                "type": "vulnerability",
                "consumes_mime_types": list(CONSUMES),
                "produces_mime_types": list(VULN_TYPES),
            },
            {
                "type": "sbom",
                "consumes_mime_types": list(CONSUMES),
                "produces_mime_types": [SBOM_REPORT],
                "additional_attributes": {"sbom_media_types": list(SBOM_TYPES)},
            },
        ],
        "properties": {k: v for k, v in properties.items() if v},
    }


def _database_updated(state: ServiceState) -> str:
    """When the vulnerability data was last updated (the newest source's), ISO 8601; ""."""
    data = SqliteVulnData(state.settings.vulndb, "")
    if not data.exists():
        return ""
    try:
        with data.open() as store:
            moments = [s.updated_at for s in store.sources() if s.updated_at]
    except DatabaseError:
        return ""
    return max(moments) if moments else ""


# --- webhooks ------------------------------------------------------------------------------------

_PUSH_TYPES = ("PUSH_ARTIFACT", "harbor.artifact.pushed")


def _pushes(payload: object) -> list[tuple[str, str]] | None:
    """(registry host, repository) of each artifact a webhook says was pushed; [] for another
    kind of event; None for what is not a Harbor webhook."""
    if not isinstance(payload, dict) or not isinstance(payload.get("type"), str):
        return None
    data = payload.get("data") if "specversion" in payload else payload.get("event_data")
    if not isinstance(data, dict):
        return None
    if payload["type"] not in _PUSH_TYPES:
        return []
    repository = data.get("repository")
    resources = data.get("resources")
    if not isinstance(repository, dict) or not isinstance(resources, list):
        return None
    name = repository.get("repo_full_name")
    if not isinstance(name, str) or not name.strip():
        return None
    found: list[tuple[str, str]] = []
    for resource in resources[:1000]:
        if not isinstance(resource, dict):
            return None
        url = resource.get("resource_url")
        host = url.split("/", 1)[0].lower() if isinstance(url, str) and "/" in url else ""
        found.append((host, name.strip().strip("/")))
    return found
