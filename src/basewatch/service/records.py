"""What the API and the dashboard both read and write: the watch a caller adds, a base tag with
its dependents, the finding counts of a page of images and their policy verdicts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import case, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from basewatch.errors import UsageError
from basewatch.oci.reference import parse_reference
from basewatch.policy import Status
from basewatch.service.auth import Caller
from basewatch.service.config import ServeSettings
from basewatch.service.http import ApiError, ServiceState
from basewatch.service.models import BaseTag, Evaluation, Image, ImageFinding, ImagePolicy, Watch


class WatchIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    repository: str = Field(min_length=1, max_length=512, examples=["127.0.0.1:5000/app"])
    tags: list[Annotated[str, Field(min_length=1, max_length=128)]] = Field(
        default_factory=lambda: ["*"], min_length=1, max_length=100
    )


class BaseOut(BaseModel):
    id: int
    reference: str = Field(description="the base's tag: host[:port]/name:tag")
    digest: str = Field(description="where the tag points now; empty until resolved")
    checked_at: datetime
    changed_at: datetime
    not_polled: str = Field(description="why the tag is not polled; empty when it is")
    dependents: int = Field(description="indexed images built on this tag")
    on_current: int = Field(description="of those, built on the digest it points at now")


def bases_out(db: Session, rows: list[BaseTag]) -> list[BaseOut]:
    references = [r.reference for r in rows]
    dependents: dict[str, int] = {}
    current: dict[str, int] = {}
    if references:
        for reference, digest, count in db.execute(
            select(Image.base_reference, Image.base_digest, func.count())
            .where(Image.base_reference.in_(references))
            .group_by(Image.base_reference, Image.base_digest)
        ):
            dependents[reference] = dependents.get(reference, 0) + int(count)
            now = next(r.digest for r in rows if r.reference == reference)
            if now and digest == now:
                current[reference] = current.get(reference, 0) + int(count)
    return [
        BaseOut(
            id=r.id,
            reference=r.reference,
            digest=r.digest,
            checked_at=r.checked_at,
            changed_at=r.changed_at,
            not_polled=r.problem,
            dependents=dependents.get(r.reference, 0),
            on_current=current.get(r.reference, 0),
        )
        for r in rows
    ]


@dataclass
class ImageCounts:
    by_severity: dict[str, int]
    fixable: int = 0
    kev: int = 0
    evaluation: Evaluation | None = None
    base_now: str = ""  # where the image's base tag points now, when it is polled


def image_counts(db: Session, images: list[Image]) -> dict[str, ImageCounts]:
    """Findings by severity, fixable and KEV counts, the last evaluation and the base tag of
    each image: three queries for a whole page, not three per image."""
    digests = [i.digest for i in images]
    found = {d: ImageCounts({}) for d in digests}
    if not digests:
        return found
    references = sorted({i.base_reference for i in images if i.base_reference})
    now = {
        reference: digest
        for reference, digest in db.execute(
            select(BaseTag.reference, BaseTag.digest).where(BaseTag.reference.in_(references))
        )
    }
    for image in images:
        found[image.digest].base_now = now.get(image.base_reference, "")
    rows = db.execute(
        select(
            ImageFinding.digest,
            ImageFinding.severity,
            func.count(),
            func.sum(case((ImageFinding.fixed_version != "", 1), else_=0)),
            func.sum(case((ImageFinding.kev, 1), else_=0)),
        )
        .where(ImageFinding.digest.in_(digests))
        .group_by(ImageFinding.digest, ImageFinding.severity)
    )
    for digest, severity, count, fixable, kev in rows:
        counts = found[digest]
        counts.by_severity[severity] = int(count)
        counts.fixable += int(fixable or 0)
        counts.kev += int(kev or 0)
    for evaluation in db.scalars(select(Evaluation).where(Evaluation.digest.in_(digests))):
        found[evaluation.digest].evaluation = evaluation
    return found


def policies_of(db: Session, digest: str, settings: ServeSettings) -> list[ImagePolicy]:
    """The image's stored verdicts, in the order the configuration lists the policies (those
    it no longer lists last)."""
    order = {config.id: n for n, config in enumerate(settings.policies)}
    rows = db.scalars(select(ImagePolicy).where(ImagePolicy.digest == digest))
    return sorted(rows, key=lambda r: (order.get(r.policy, len(order)), r.policy))


def failing_policies(db: Session, digests: list[str]) -> dict[str, list[tuple[str, str]]]:
    """(policy id, action) of the policies each image fails now: one query for a page."""
    found: dict[str, list[tuple[str, str]]] = {d: [] for d in digests}
    if digests:
        for digest, policy, action in db.execute(
            select(ImagePolicy.digest, ImagePolicy.policy, ImagePolicy.action)
            .where(ImagePolicy.digest.in_(digests), ImagePolicy.status == Status.FAIL.value)
            .order_by(ImagePolicy.digest, ImagePolicy.policy)
        ):
            found[digest].append((str(policy), str(action)))
    return found


def create_watch(db: Session, state: ServiceState, body: WatchIn, who: Caller) -> Watch:
    """Store a watch (the API's and the dashboard's): `ApiError` 422 for a repository not on an
    allowed registry, 409 when it is watched already; the watcher looks at it at once."""
    repository = _repository(body.repository, state.settings)
    watch = Watch(
        repository=repository,
        tags=list(dict.fromkeys(body.tags)),
        created_at=state.clock.now(),
        created_by=who.token_id,
    )
    db.add(watch)
    try:
        db.commit()
    except IntegrityError:
        db.rollback()
        raise ApiError(409, "Conflict", f"{repository} is watched already") from None
    state.poll_soon()
    return watch


def _repository(text: str, settings: ServeSettings) -> str:
    """The canonical `host[:port]/name` of a repository to watch, from an allowed registry."""
    try:
        ref = parse_reference(text.strip().removeprefix("registry:"))
    except UsageError as exc:
        raise ApiError(422, "The request is malformed", f"repository: {exc}") from None
    if ref.tag not in ("", "latest") or ref.digest or ":" in text.rsplit("/", 1)[-1]:
        raise ApiError(
            422, "The request is malformed", "repository: name a repository, not a tag or digest"
        )
    if ref.registry not in settings.allowed_registries:
        allowed = ", ".join(sorted(settings.allowed_registries)) or "none"
        raise ApiError(
            422,
            "The request is malformed",
            f"repository: the registry {ref.registry} is not in allowed_registries ({allowed})",
        )
    return f"{ref.registry}/{ref.repository}"


def watched_among(session: Session, pushed: set[str]) -> list[str]:
    """The watched repositories, and the bases' (a base tag moved: its dependents learn it),
    among the repository paths a registry says were pushed (`project/name`, without the host:
    a registry may name itself otherwise than the watch does)."""
    known = {w.repository for w in session.scalars(select(Watch))}
    known.update(session.scalars(select(BaseTag.repository).where(BaseTag.problem == "")))
    return sorted(r for r in known if r.split("/", 1)[-1] in pushed)
