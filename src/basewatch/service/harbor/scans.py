"""Harbor's scan requests as durable jobs: stored when Harbor posts them, run by a few worker
threads, resumed after a restart.

A job pulls and inventories its artifact through the watcher's indexing (the sbom job, the blob
and analysis caches, base attribution, compat, policies), so the artifact becomes an indexed
image like a watched one: re-evaluated when the vulnerability data changes, on the dashboard,
with events. An artifact indexed before (by a watch, or an earlier request, also one running
now) is not pulled again: jobs of one digest run one at a time and the later ones reuse it.

Harbor's credential is sealed while the job waits and dropped once it ran; it never reaches a
log line, an error message or the store as sent.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from urllib.parse import urlsplit

from sqlalchemy import select, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from basewatch.clock import SYSTEM_CLOCK, Clock
from basewatch.errors import Error, TransientError
from basewatch.oci.registry.auth import (
    ChainedCredentials,
    CredentialStore,
    DockerConfigCredentials,
    StaticCredentials,
    credentials_from_authorization,
)
from basewatch.oci.registry.options import RegistryOptions
from basewatch.service.config import ServeSettings
from basewatch.service.harbor.sealing import Sealer
from basewatch.service.models import HarborScan, HarborScanState
from basewatch.service.watcher import Watcher

log = logging.getLogger(__name__)

MAX_ERROR = 1000
IDLE_WAIT = 5.0  # seconds between looks at the queue when nothing woke the workers
# a pull that failed for a reason that passes (the registry busy or unreachable, the store
# locked by another writer) is tried again this many times, after 1 s, 2 s, 4 s
TRANSIENT_TRIES = 4


@dataclass(frozen=True, slots=True)
class Artifact:
    """What Harbor asks to be scanned (the spec's Registry and Artifact, checked)."""

    registry_url: str  # scheme://host[:port]
    repository: str  # in that registry: project/name
    digest: str
    tag: str = ""
    mime_type: str = ""
    authorization: str = dataclasses.field(default="", repr=False)  # as Harbor sent it
    # capability type -> the media types Harbor enabled (all of them when it named none)
    capabilities: Mapping[str, tuple[str, ...]] = dataclasses.field(default_factory=dict)

    @property
    def host(self) -> str:
        return urlsplit(self.registry_url).netloc.lower()

    @property
    def reference(self) -> str:
        """`host/repository`: how the service names the repository (as a watch would)."""
        return f"{self.host}/{self.repository}"


class HarborScans:
    """The queue of Harbor's scan requests and the workers that run them (`run()` until
    `stop()`, `concurrency` jobs at once)."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        settings: ServeSettings,
        watcher: Watcher,
        sealer: Sealer,
        clock: Clock = SYSTEM_CLOCK,
        transient_wait: float = 1.0,
    ) -> None:
        self._sessions = sessions
        self._transient_wait = transient_wait  # before the first retry; doubled for each next
        self._settings = settings
        self._watcher = watcher
        self._sealer = sealer
        self._clock = clock
        self._wake = threading.Condition()
        self._stop = threading.Event()
        self._digests: dict[str, threading.Lock] = {}
        self._digests_lock = threading.Lock()
        self.pulled = 0  # artifacts pulled and inventoried by this process (the rest reused)
        # a fleet's (`serve --no-local-workers`): queue a job for a worker; None: run it here
        self.defer: Callable[[str], object] | None = None

    # --- accepting ----------------------------------------------------------------------------

    def submit(self, session: Session, artifact: Artifact) -> str:
        """Store a job for `artifact` (the caller commits) and return its id."""
        now = self._clock.now()
        job = HarborScan(
            id=str(uuid.uuid4()),
            state=HarborScanState.QUEUED.value,
            registry_url=artifact.registry_url,
            repository=artifact.repository,
            digest=artifact.digest,
            tag=artifact.tag,
            mime_type=artifact.mime_type,
            capabilities={k: list(v) for k, v in artifact.capabilities.items()},
            credential=self._sealer.seal(artifact.authorization)
            if artifact.authorization
            else None,
            image_digest=None,
            reused=False,
            attempts=0,
            error="",
            created_at=now,
            updated_at=now,
        )
        session.add(job)
        return job.id

    def wake(self) -> None:
        with self._wake:
            self._wake.notify_all()

    def queued(self, job_id: str) -> None:
        """A job was stored (and committed): a fleet's worker runs it, else this process's."""
        if self.defer is not None:
            self.defer(job_id)
        else:
            self.wake()

    # --- running ------------------------------------------------------------------------------

    def stop(self) -> None:
        self._stop.set()
        self.wake()

    def run(self) -> None:
        """Requeue what a previous process left running, then run jobs until `stop()`."""
        if self.defer is not None:
            return  # the fleet runs them (and hands back those of dead workers)
        self.recover()
        workers = [
            threading.Thread(target=self._work, name=f"harbor-scan-{n}", daemon=True)
            for n in range(self._settings.harbor.concurrency)
        ]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()

    def recover(self) -> int:
        """Jobs left `running` by a process that stopped (killed, or restarted) run again: one
        service runs them, so nothing else can be running them now."""
        with self._sessions() as session:
            result = session.execute(
                update(HarborScan)
                .where(HarborScan.state == HarborScanState.RUNNING.value)
                .values(state=HarborScanState.QUEUED.value, updated_at=self._clock.now())
            )
            session.commit()
            count = int(getattr(result, "rowcount", 0) or 0)
        if count:
            log.info("harbor: %d scan request(s) cut short by a restart run again", count)
        return count

    def _work(self) -> None:
        while not self._stop.is_set():
            try:
                job = self._claim()
                if job is None:
                    with self._wake:
                        self._wake.wait(IDLE_WAIT)
                    continue
                self.run_job(job)
            except Exception:  # a bug: keep the worker alive, say so loudly
                log.exception("harbor: a scan worker failed")
                self._stop.wait(1.0)

    def _claim(self) -> str | None:
        """The oldest queued job, now `running` (taken by exactly one worker), or None."""
        with self._sessions() as session:
            for job_id in session.scalars(
                select(HarborScan.id)
                .where(HarborScan.state == HarborScanState.QUEUED.value)
                .order_by(HarborScan.created_at, HarborScan.id)
                .limit(8)
            ):
                taken = session.execute(
                    update(HarborScan)
                    .where(
                        HarborScan.id == job_id,
                        HarborScan.state == HarborScanState.QUEUED.value,
                    )
                    .values(
                        state=HarborScanState.RUNNING.value,
                        attempts=HarborScan.attempts + 1,
                        updated_at=self._clock.now(),
                    )
                )
                session.commit()
                if int(getattr(taken, "rowcount", 0) or 0) == 1:
                    return str(job_id)
        return None

    def run_job(self, job_id: str) -> None:
        """Pull and index the job's artifact (unless it is indexed already) and record how it
        went; the credential is dropped either way."""
        with self._sessions() as session:
            job = session.get(HarborScan, job_id)
            if job is None:
                return
            artifact = Artifact(job.registry_url, job.repository, job.digest, job.tag)
            sealed = job.credential
        state, error, pulled = HarborScanState.DONE, "", False
        with self._digest_lock(artifact.digest):
            for attempt in range(TRANSIENT_TRIES):
                try:
                    registry = self._registry_options(artifact, sealed)
                    pulled = self._watcher.index_artifact(
                        artifact.reference, artifact.digest, registry
                    )
                    state, error = HarborScanState.DONE, ""
                    break
                except (TransientError, OperationalError) as exc:
                    state, error = HarborScanState.FAILED, _transient(exc)
                    log.info("harbor: %s@%s: %s", artifact.reference, artifact.digest, error)
                    if attempt + 1 < TRANSIENT_TRIES and not self._stop.wait(
                        self._transient_wait * 2**attempt
                    ):
                        continue
                    if self._stop.is_set():
                        return  # stopping: left running, run again at the next start
                    break
                except Error as exc:
                    state, error = HarborScanState.FAILED, str(exc)
                    break
                except Exception:
                    log.exception(
                        "harbor: scanning %s@%s failed", artifact.reference, artifact.digest
                    )
                    state, error = HarborScanState.FAILED, "internal error (see the service's log)"
                    break
        if pulled:
            self.pulled += 1
        with self._sessions() as session:
            job = session.get(HarborScan, job_id)
            if job is None:
                return
            job.state = state.value
            job.error = error[:MAX_ERROR]
            job.credential = None
            job.reused = state is HarborScanState.DONE and not pulled
            job.image_digest = artifact.digest if state is HarborScanState.DONE else None
            job.updated_at = self._clock.now()
            session.commit()
        if error:
            log.warning("harbor: %s@%s: %s", artifact.reference, artifact.digest, error)

    @contextmanager
    def _digest_lock(self, digest: str) -> Iterator[None]:
        with self._digests_lock:
            lock = self._digests.setdefault(digest, threading.Lock())
        with lock:
            yield

    def _registry_options(self, artifact: Artifact, sealed: str | None) -> RegistryOptions:
        """The watcher's registry options, with Harbor's credential for its registry only
        (other registries, such as a base's, keep Docker's config) and plain HTTP when
        Harbor's URL says so."""
        base = self._watcher.registry_options
        options = base
        if artifact.host not in self._settings.allowed_registries:
            raise _Refused(f"{artifact.host} is not in allowed_registries")
        if sealed is not None:
            secret = self._sealer.open(sealed)
            if secret is None:
                raise _Refused(
                    "the registry credential cannot be opened with this process's Harbor key "
                    "(it changed since the request was made, or, in a fleet, this worker's "
                    "[serve.harbor] key is not the service's): scan the artifact again"
                )
            try:
                credentials = credentials_from_authorization(secret)
            except ValueError as exc:
                raise _Refused(f"registry.authorization: {exc}") from None
            stores: list[CredentialStore] = [StaticCredentials(credentials, artifact.host)]
            if base.credentials is not None:
                stores.append(base.credentials)
            elif base.docker_config is not None:
                stores.append(DockerConfigCredentials(base.docker_config))
            options = dataclasses.replace(options, credentials=ChainedCredentials(*stores))
        if urlsplit(artifact.registry_url).scheme == "http":
            options = dataclasses.replace(
                options, insecure_registries=options.insecure_registries | {artifact.host}
            )
        return options


def _transient(exc: Exception) -> str:
    if isinstance(exc, OperationalError):  # SQLite busy, PostgreSQL gone: says which below
        return "(transient) the service's database: " + type(exc.orig or exc).__name__
    return f"(transient) {exc}"


class _Refused(Error):
    """A job that cannot run as asked (its registry is not allowed, its credential is lost)."""
