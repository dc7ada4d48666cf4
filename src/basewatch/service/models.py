"""The service's tables (SQLAlchemy 2 declarative mapping). The schema itself is written by the
Alembic migrations in `migrations/versions`; these classes must describe the newest one."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

from basewatch.models import Severity


class UtcDateTime(TypeDecorator[datetime]):
    """A moment, stored and read back in UTC on every database (SQLite keeps no zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("a moment without a time zone")
        return value.astimezone(UTC)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Role(StrEnum):
    ADMIN = "admin"  # may change anything
    VIEWER = "viewer"  # may only read

    @property
    def may_write(self) -> bool:
        return self is Role.ADMIN


class Base(DeclarativeBase):
    pass


class ApiToken(Base):
    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(20))
    # SHA-256 of the token: tokens are 256 random bits, so a fast hash is enough to keep a
    # database leak from handing out working tokens
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    last_used_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)


class Watch(Base):
    __tablename__ = "watches"
    __table_args__ = (UniqueConstraint("repository", name="uq_watches_repository"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    repository: Mapped[str] = mapped_column(String(512))  # host[:port]/name, canonical
    tags: Mapped[list[str]] = mapped_column(JSON)  # glob patterns
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    created_by: Mapped[int | None] = mapped_column(
        ForeignKey("api_tokens.id", ondelete="SET NULL"), nullable=True
    )


Index("ix_watches_created_at", Watch.created_at)


class TagState(Base):
    """Where a watched tag pointed when it was last looked at."""

    __tablename__ = "tags"
    __table_args__ = (UniqueConstraint("repository", "tag", name="uq_tags_repository_tag"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    repository: Mapped[str] = mapped_column(String(512))
    tag: Mapped[str] = mapped_column(String(128))
    digest: Mapped[str] = mapped_column(String(100))
    checked_at: Mapped[datetime] = mapped_column(UtcDateTime())
    changed_at: Mapped[datetime] = mapped_column(UtcDateTime())


class TagMove(Base):
    """One digest a tag pointed at, from when it was first seen there."""

    __tablename__ = "tag_history"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    repository: Mapped[str] = mapped_column(String(512))
    tag: Mapped[str] = mapped_column(String(128))
    digest: Mapped[str] = mapped_column(String(100))
    seen_at: Mapped[datetime] = mapped_column(UtcDateTime())


class Image(Base):
    """An indexed image, by the digest its tag pointed at (an index or a manifest)."""

    __tablename__ = "images"

    digest: Mapped[str] = mapped_column(String(100), primary_key=True)
    manifest_digest: Mapped[str] = mapped_column(String(100))  # the platform manifest read
    repository: Mapped[str] = mapped_column(String(512))
    platform: Mapped[str] = mapped_column(String(64))
    base_reference: Mapped[str] = mapped_column(String(600))
    base_digest: Mapped[str] = mapped_column(String(100))
    base_method: Mapped[str] = mapped_column(String(20))
    packages: Mapped[int] = mapped_column(Integer)
    partial: Mapped[bool] = mapped_column()
    indexed_at: Mapped[datetime] = mapped_column(UtcDateTime())
    # set when the base's tag moved away from `base_digest`: a rebuild would pick up the new one
    rebuild_needed: Mapped[bool] = mapped_column(default=False)
    rebuild_reason: Mapped[str] = mapped_column(String(1000), default="")
    release: Mapped[str] = mapped_column(String(200), default="")  # "Debian 12 (bookworm)"
    eol: Mapped[str] = mapped_column(String(10), default="")  # its end of life (ISO day), or ""
    eol_reached_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    # its findings now, kept by each evaluation (the image list sorts and filters by them):
    # the highest severity's rank (`Severity.rank`; -1: no finding), how many, fixable, on KEV
    worst: Mapped[int] = mapped_column(Integer, default=-1)
    findings: Mapped[int] = mapped_column(Integer, default=0)
    fixable: Mapped[int] = mapped_column(Integer, default=0)
    kev: Mapped[int] = mapped_column(Integer, default=0)
    # its policies now (`image_policies`): True when a policy whose action is `fail` fails
    # (what makes `basewatch policy` exit 1); None until its policies were first evaluated
    policy_failed: Mapped[bool | None] = mapped_column(nullable=True, default=None)
    # the fingerprint of the policy configuration those verdicts were made under ("" none):
    # an image made under another one is evaluated again (`policies.fingerprint`)
    policy_config: Mapped[str] = mapped_column(String(64), default="")


Index("ix_images_worst", Image.worst)
Index("ix_images_findings", Image.findings)
Index("ix_images_fixable", Image.fixable)
Index("ix_images_kev", Image.kev)


class StoredInventory(Base):
    """An inventory as the versioned codec writes it (`basewatch.codec`)."""

    __tablename__ = "inventories"

    digest: Mapped[str] = mapped_column(String(100), primary_key=True)  # manifest digest
    document: Mapped[dict[str, Any]] = mapped_column(JSON)
    stored_at: Mapped[datetime] = mapped_column(UtcDateTime())


class InventoryPackage(Base):
    """Which stored inventories hold a package: re-evaluation reads only those."""

    __tablename__ = "inventory_packages"

    digest: Mapped[str] = mapped_column(
        ForeignKey("inventories.digest", ondelete="CASCADE"), primary_key=True
    )
    ecosystem: Mapped[str] = mapped_column(String(100), primary_key=True)
    name: Mapped[str] = mapped_column(String(300), primary_key=True)


class BaseTag(Base):
    """A base tag images were built on, polled like a watched tag: where it points now."""

    __tablename__ = "bases"
    __table_args__ = (UniqueConstraint("reference", name="uq_bases_reference"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    reference: Mapped[str] = mapped_column(String(700))  # host[:port]/name:tag
    repository: Mapped[str] = mapped_column(String(512))
    tag: Mapped[str] = mapped_column(String(128))
    digest: Mapped[str] = mapped_column(String(100))  # "" until it could be resolved
    manifest_digest: Mapped[str] = mapped_column(String(100))  # its inventory's key, or ""
    checked_at: Mapped[datetime] = mapped_column(UtcDateTime())
    changed_at: Mapped[datetime] = mapped_column(UtcDateTime())
    problem: Mapped[str] = mapped_column(String(1000), default="")  # why it is not polled


class FindingId(Base):
    """Every id a finding of an image is known by (its advisory's id and aliases)."""

    __tablename__ = "finding_ids"

    digest: Mapped[str] = mapped_column(
        ForeignKey("images.digest", ondelete="CASCADE"), primary_key=True
    )
    id: Mapped[str] = mapped_column(String(200), primary_key=True)
    advisory: Mapped[str] = mapped_column(String(200), primary_key=True)


Index("ix_finding_ids_id", FindingId.id)
Index("ix_inventory_packages_package", InventoryPackage.ecosystem, InventoryPackage.name)
Index("ix_inventory_packages_name", InventoryPackage.name)
Index("ix_tag_history_tag", TagMove.repository, TagMove.tag)
Index("ix_tag_history_digest", TagMove.digest)
Index("ix_tags_digest", TagState.digest)
Index("ix_images_repository", Image.repository)
Index("ix_images_base", Image.base_reference, Image.base_digest)


class ImageFinding(Base):
    """One finding of an image's latest evaluation: the snapshot the next one is diffed with."""

    __tablename__ = "image_findings"

    digest: Mapped[str] = mapped_column(
        ForeignKey("images.digest", ondelete="CASCADE"), primary_key=True
    )
    advisory: Mapped[str] = mapped_column(String(200), primary_key=True)  # the preferred id
    package: Mapped[str] = mapped_column(String(300), primary_key=True)
    version: Mapped[str] = mapped_column(String(200), primary_key=True)
    aliases: Mapped[list[str]] = mapped_column(JSON)
    ecosystem: Mapped[str] = mapped_column(String(100))
    severity: Mapped[str] = mapped_column(String(20))
    fixed_version: Mapped[str] = mapped_column(String(200))
    kev: Mapped[bool] = mapped_column()
    first_seen: Mapped[datetime] = mapped_column(UtcDateTime())


class Evaluation(Base):
    """When an image was last matched, and against which database (its sources' times)."""

    __tablename__ = "evaluations"

    digest: Mapped[str] = mapped_column(
        ForeignKey("images.digest", ondelete="CASCADE"), primary_key=True
    )
    evaluated_at: Mapped[datetime] = mapped_column(UtcDateTime())
    database: Mapped[str] = mapped_column(String(1000))  # "" when there was no database
    unchecked: Mapped[list[str]] = mapped_column(JSON)  # what the database could not check


class ImageCompat(Base):
    """Whether an image's ELF files load on its own filesystem (its base and its app layers),
    as the compat job predicts it when the image is indexed (`compat_summary`)."""

    __tablename__ = "image_compat"

    digest: Mapped[str] = mapped_column(
        String(100), ForeignKey("images.digest", ondelete="CASCADE"), primary_key=True
    )
    verdict: Mapped[str] = mapped_column(String(20))  # `CompatVerdict`
    libc: Mapped[str] = mapped_column(String(100))  # "musl 1.2.5", "glibc 2.36"; "" unknown
    files: Mapped[int] = mapped_column(Integer)  # ELF files checked
    failing: Mapped[int] = mapped_column(Integer)  # of those, how many would not load
    # the failing files' problems, worst first: path, severity, cause, message, fix
    problems: Mapped[list[dict[str, str]]] = mapped_column(JSON)
    notes: Mapped[list[str]] = mapped_column(JSON)  # the report's warnings, then its notes
    not_checked: Mapped[list[str]] = mapped_column(JSON)  # why the check could not run
    checked_at: Mapped[datetime] = mapped_column(UtcDateTime())


class Bookmark(Base):
    """A value the service keeps for itself: `vulndb_seq`, the change log read and its last
    entry read."""

    __tablename__ = "service_state"

    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    value: Mapped[str] = mapped_column(String(1000))


Index("ix_image_findings_advisory", ImageFinding.advisory)
Index("ix_images_policy_failed", Image.policy_failed)


class ImagePolicy(Base):
    """One policy's current verdict on an image (`service.policies`): what `basewatch policy`
    would say of it, from the stored facts, and which of pass/fail was last announced."""

    __tablename__ = "image_policies"

    digest: Mapped[str] = mapped_column(
        ForeignKey("images.digest", ondelete="CASCADE"), primary_key=True
    )
    policy: Mapped[str] = mapped_column(String(100), primary_key=True)  # its id
    title: Mapped[str] = mapped_column(String(300))
    status: Mapped[str] = mapped_column(String(20))  # `policy.Status`
    action: Mapped[str] = mapped_column(String(10))  # `policy.Action`
    reason: Mapped[str] = mapped_column(String(2000))
    # the failing items, at most `policies.MAX_ITEMS`: subject, id, severity (findings)
    items: Mapped[list[dict[str, str]]] = mapped_column(JSON)
    item_count: Mapped[int] = mapped_column(Integer)  # how many fail it, all told
    # "fail" or "pass": what the last policy.failed / policy.passed event (or the silent first
    # evaluation) said; "" when nothing was said yet (every verdict so far not evaluated)
    reported: Mapped[str] = mapped_column(String(20))
    changed_at: Mapped[datetime] = mapped_column(UtcDateTime())  # when the verdict last changed


class ImageAttestations(Base):
    """The image's supply-chain attestations as its registry listed them when it was indexed
    (referrers of its manifest and of its index): policies read them without asking again."""

    __tablename__ = "image_attestations"

    digest: Mapped[str] = mapped_column(
        String(100), ForeignKey("images.digest", ondelete="CASCADE"), primary_key=True
    )
    # kind, artifact_type, digest of each; None: not known (`why` says why)
    attestations: Mapped[list[dict[str, str]] | None] = mapped_column(JSON, nullable=True)
    why: Mapped[str] = mapped_column(String(1000))
    checked_at: Mapped[datetime] = mapped_column(UtcDateTime())


class PolicyHistory(Base):
    """An image's failing policies from the evaluation that changed them: the policies it
    fails at a moment are those of its last row before it (the dashboard's "fail gap")."""

    __tablename__ = "policy_history"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    digest: Mapped[str] = mapped_column(ForeignKey("images.digest", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(UtcDateTime())
    failing: Mapped[list[str]] = mapped_column(JSON)  # policy ids whose status is fail, sorted


Index("ix_policy_history_digest", PolicyHistory.digest, PolicyHistory.at)
Index("ix_policy_history_at", PolicyHistory.at)


class EventType(StrEnum):
    FINDINGS_NEW = "findings.new"  # an image has an advisory it did not have
    FINDINGS_FIXED = "findings.fixed"  # an advisory no longer applies to an image
    FINDINGS_FIXABLE = "findings.fixable"  # a fixed version became known for a finding
    KEV_ADDED = "kev.added"  # a finding was added to CISA's Known Exploited Vulnerabilities
    BASE_MOVED = "base.moved"  # a base tag moved: the images built on the old digest need a rebuild
    EOL_REACHED = "eol.reached"  # the release of an image's base reached its end of life
    POLICY_FAILED = "policy.failed"  # a policy's verdict on an image became fail
    POLICY_PASSED = "policy.passed"  # ... and went from fail back to pass


class Event(Base):
    """One change worth telling someone about, written in the same transaction as the change
    (the outbox): committed together, or not at all."""

    __tablename__ = "events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    type: Mapped[str] = mapped_column(String(40))
    digest: Mapped[str] = mapped_column(String(100))
    repository: Mapped[str] = mapped_column(String(512))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    # the message id every delivery attempt carries (`webhook-id`): random, never reused
    uid: Mapped[str] = mapped_column(String(64), default=lambda: "msg_" + uuid.uuid4().hex)
    # the highest severity the event is about (`unknown` for events about no finding)
    severity: Mapped[str] = mapped_column(String(20), default=Severity.UNKNOWN.value)
    fanned_out: Mapped[bool] = mapped_column(default=False)  # its deliveries exist


Index("ix_events_type", Event.type, Event.id)
Index("ix_events_fanned_out", Event.fanned_out, Event.id)


class NotifierKind(StrEnum):
    WEBHOOK = "webhook"  # JSON, signed as Standard Webhooks says
    SLACK = "slack"  # a Slack incoming-webhook payload
    EMAIL = "email"  # SMTP with STARTTLS


class Notifier(Base):
    """Where events go. `target` is the URL (webhook, slack) or `smtp://host:port` (email);
    `secret` (the webhook's signing key, the SMTP password) is never sent back by the API."""

    __tablename__ = "notifiers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(20))
    target: Mapped[str] = mapped_column(String(2000))
    secret: Mapped[str] = mapped_column(String(500))
    options: Mapped[dict[str, Any]] = mapped_column(JSON)  # email: from, to, username, starttls
    event_types: Mapped[list[str]] = mapped_column(JSON)  # empty: every type
    min_severity: Mapped[str] = mapped_column(String(20))
    repositories: Mapped[list[str]] = mapped_column(JSON)  # globs; empty: every repository
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())


class DeliveryState(StrEnum):
    PENDING = "pending"  # not delivered yet: due at next_attempt_at
    DELIVERED = "delivered"
    DEAD = "dead"  # given up on (dead-lettered): kept, with the last error


class Delivery(Base):
    """One event on its way to one notifier."""

    __tablename__ = "deliveries"
    __table_args__ = (
        UniqueConstraint("event_id", "notifier_id", name="uq_deliveries_event_notifier"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"))
    notifier_id: Mapped[int] = mapped_column(ForeignKey("notifiers.id", ondelete="CASCADE"))
    state: Mapped[str] = mapped_column(String(20))
    attempts: Mapped[int] = mapped_column(Integer)
    next_attempt_at: Mapped[datetime] = mapped_column(UtcDateTime())
    last_error: Mapped[str] = mapped_column(String(1000))
    delivered_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())


Index("ix_deliveries_due", Delivery.state, Delivery.next_attempt_at)


class FindingCounts(Base):
    """An image's finding counts from the evaluation that changed them: its findings over time
    (an image's counts at a moment are those of its last row before it)."""

    __tablename__ = "finding_history"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    digest: Mapped[str] = mapped_column(ForeignKey("images.digest", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(UtcDateTime())
    critical: Mapped[int] = mapped_column(Integer)
    high: Mapped[int] = mapped_column(Integer)
    medium: Mapped[int] = mapped_column(Integer)
    low: Mapped[int] = mapped_column(Integer)
    other: Mapped[int] = mapped_column(Integer)  # negligible and unknown
    fixable: Mapped[int] = mapped_column(Integer)
    kev: Mapped[int] = mapped_column(Integer)
    # of the fixable ones, by severity (0 in rows older than migration 0010, but each image's
    # latest)
    fixable_critical: Mapped[int] = mapped_column(Integer, default=0)
    fixable_high: Mapped[int] = mapped_column(Integer, default=0)
    fixable_medium: Mapped[int] = mapped_column(Integer, default=0)
    fixable_low: Mapped[int] = mapped_column(Integer, default=0)
    fixable_other: Mapped[int] = mapped_column(Integer, default=0)


Index("ix_finding_history_digest", FindingCounts.digest, FindingCounts.at)
Index("ix_finding_history_at", FindingCounts.at)


class WebSession(Base):
    """A dashboard login: the cookie's value is only known to the browser (its SHA-256 is
    kept), tied to the token it was opened with (deleting the token ends it)."""

    __tablename__ = "web_sessions"

    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    token_id: Mapped[int] = mapped_column(ForeignKey("api_tokens.id", ondelete="CASCADE"))
    csrf: Mapped[str] = mapped_column(String(64))  # the forms' token (synchronizer pattern)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime())


class HarborScanState(StrEnum):
    QUEUED = "queued"  # accepted, waiting for a worker (also after a restart cut one short)
    RUNNING = "running"  # a worker is pulling and inventorying the artifact
    DONE = "done"  # the artifact is an indexed image: its report is made on each request
    FAILED = "failed"  # it could not be pulled or read: the report is an error


class HarborScan(Base):
    """A scan request Harbor made (`POST /scan`): a durable job, polled by its id."""

    __tablename__ = "harbor_scans"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    state: Mapped[str] = mapped_column(String(20))
    registry_url: Mapped[str] = mapped_column(String(2000))
    repository: Mapped[str] = mapped_column(String(500))  # in Harbor's registry: project/name
    digest: Mapped[str] = mapped_column(String(100))  # the artifact's manifest digest
    tag: Mapped[str] = mapped_column(String(200))
    mime_type: Mapped[str] = mapped_column(String(200))
    # what Harbor enabled: {"vulnerability": [media types], "sbom": [media types]}
    capabilities: Mapped[dict[str, Any]] = mapped_column(JSON)
    # Harbor's `registry.authorization`, sealed (`harbor.sealing`); None once the artifact was
    # pulled (or when Harbor sent none)
    credential: Mapped[str | None] = mapped_column(Text, nullable=True)
    image_digest: Mapped[str | None] = mapped_column(String(100), nullable=True)  # images.digest
    reused: Mapped[bool] = mapped_column(default=False)  # indexed before: not pulled again
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str] = mapped_column(String(2000), default="")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())


Index("ix_harbor_scans_state", HarborScan.state, HarborScan.created_at)
Index("ix_harbor_scans_digest", HarborScan.digest)


class LayerAnalysisRow(Base):
    """A layer's analysis (or a blob's binding to its diffID, or an ELF file's facts) shared by
    every worker of a fleet: what `store.analysis.AnalysisCache` keeps on one machine's disk,
    zstd-compressed JSON under the same (kind, digest, detectors) name."""

    __tablename__ = "layer_analyses"

    kind: Mapped[str] = mapped_column(String(20), primary_key=True)
    digest: Mapped[str] = mapped_column(String(100), primary_key=True)
    detectors: Mapped[str] = mapped_column(String(200), primary_key=True)
    data: Mapped[bytes] = mapped_column(LargeBinary)
    size: Mapped[int] = mapped_column(Integer)  # bytes of the JSON before compression
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())


class RegistryLimit(Base):
    """A registry's request budget across the fleet (a token bucket) and, after it answered
    429, until when nobody in the fleet asks it anything."""

    __tablename__ = "registry_limits"

    # the column is `registry`; the attribute may not be (Declarative keeps that name)
    host: Mapped[str] = mapped_column("registry", String(300), primary_key=True)
    tokens: Mapped[float] = mapped_column(Float)
    refilled_at: Mapped[datetime] = mapped_column(UtcDateTime())
    paused_until: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    pauses: Mapped[int] = mapped_column(Integer, default=0)  # 429s seen
    requests: Mapped[int] = mapped_column(BigInteger, default=0)  # requests let through


class ParkedJob(Base):
    """A fleet job given up on: it kept killing (or outliving) the workers that ran it, or kept
    failing past its retries. Shown by `basewatch serve jobs`, never retried by itself."""

    __tablename__ = "parked_jobs"

    job_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    task: Mapped[str] = mapped_column(String(100))
    args: Mapped[dict[str, Any]] = mapped_column(JSON)
    lock: Mapped[str] = mapped_column(String(300))
    attempts: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(String(2000))
    parked_at: Mapped[datetime] = mapped_column(UtcDateTime())
