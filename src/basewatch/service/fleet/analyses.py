"""What the workers of a fleet share about layers: their analyses, and who is reading one now.

`SharedAnalysisCache` is the scanner's analysis cache with PostgreSQL behind the local one: a
layer analysed by any worker (its packages, its ELF facts, a blob's binding to its diffID, an
assembled inventory) is found by every other under the same content address (kind, digest,
detectors key). The local files stay first, so a warm worker asks the database nothing; a row
found is written to them. The database only ever adds to what the scanner would do alone: a
row that cannot be read or written, or a database that is away, is a miss, never a failed scan.

`LayerClaims` are PostgreSQL advisory locks held by one job: the scanner claims each layer it is
about to download, so a layer is downloaded and analysed by one worker at a time and the others
wait for its result instead of fetching it too. A claim is given up when the job ends or its
connection drops (a worker killed with SIGKILL holds nothing); one waited on for longer than
`wait_seconds` is given up on, and the layer is read anyway.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import Any

import zstandard
from sqlalchemy import Connection, Engine, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError

from basewatch.clock import SYSTEM_CLOCK, Clock
from basewatch.errors import CacheError
from basewatch.service.models import LayerAnalysisRow
from basewatch.store.analysis import AnalysisCache
from basewatch.untrusted import parse_json

log = logging.getLogger(__name__)

# An entry is a layer's analysis: a large base layer's runs to a few MiB of JSON. One past this
# is refused both ways (a row is as untrusted as a file: another worker, or anyone with the
# database, wrote it).
MAX_ENTRY_BYTES = 64 * 1024 * 1024
_LEVEL = 6  # zstd: a base layer's analysis shrinks about tenfold, in milliseconds
_POLL = (0.05, 1.0)  # the first and the longest wait between two tries for a claim


class SharedAnalysisCache(AnalysisCache):
    """The analysis cache at `root`, and the fleet's rows in `engine` behind it."""

    def __init__(self, root: Path, engine: Engine, clock: Clock = SYSTEM_CLOCK) -> None:
        super().__init__(root)
        self.engine = engine
        self.clock = clock
        self._insert = postgresql.insert if engine.dialect.name == "postgresql" else sqlite.insert
        self._warned = False

    def get(
        self, layer_digest: str, detectors_key: str, kind: str = "layers"
    ) -> dict[str, Any] | None:
        found = super().get(layer_digest, detectors_key, kind)
        if found is not None:
            return found
        name = f"shared {kind} entry {layer_digest} ({detectors_key})"
        try:
            with self.engine.connect() as conn:
                blob = conn.execute(
                    select(LayerAnalysisRow.data).where(
                        LayerAnalysisRow.kind == kind,
                        LayerAnalysisRow.digest == layer_digest,
                        LayerAnalysisRow.detectors == detectors_key,
                    )
                ).scalar()
        except SQLAlchemyError as exc:
            self._database_away(exc)
            return None
        if blob is None:
            return None
        try:
            data = parse_json(_inflate(blob, name), name)
        except ValueError as exc:  # UntrustedInput is a ValueError
            log.warning("ignoring the %s: %s", name, exc)
            return None
        if not isinstance(data, dict):
            log.warning("ignoring the %s: not an object", name)
            return None
        try:
            super().put(layer_digest, detectors_key, data, kind)  # next time, from disk
        except CacheError as exc:
            log.warning("%s", exc)
        return data

    def put(
        self, layer_digest: str, detectors_key: str, data: dict[str, Any], kind: str = "layers"
    ) -> None:
        self.path(layer_digest, detectors_key, kind)  # the same names as the local cache's
        try:
            super().put(layer_digest, detectors_key, data, kind)
        finally:  # even when the local disk is full, the other workers may have it
            self._share(layer_digest, detectors_key, data, kind)

    def _share(self, digest: str, detectors_key: str, data: dict[str, Any], kind: str) -> None:
        encoded = json.dumps(data, separators=(",", ":")).encode()
        if len(encoded) > MAX_ENTRY_BYTES:
            log.warning("not sharing the %s entry %s: %d bytes", kind, digest, len(encoded))
            return
        row = {
            "kind": kind,
            "digest": digest,
            "detectors": detectors_key,
            "data": zstandard.ZstdCompressor(level=_LEVEL).compress(encoded),
            "size": len(encoded),
            "created_at": self.clock.now(),
        }
        statement = self._insert(LayerAnalysisRow).values(row).on_conflict_do_nothing()
        try:
            with self.engine.begin() as conn:
                conn.execute(statement)
        except SQLAlchemyError as exc:
            self._database_away(exc)

    def _database_away(self, exc: SQLAlchemyError) -> None:
        # once per cache at warning level: a database restart would otherwise log every layer
        level = logging.DEBUG if self._warned else logging.WARNING
        self._warned = True
        log.log(level, "the shared layer analyses cannot be used now: %s", _first_line(exc))


def _inflate(blob: bytes, name: str) -> bytes:
    """The JSON a row holds, never more than MAX_ENTRY_BYTES of it."""
    try:
        with zstandard.ZstdDecompressor().stream_reader(io.BytesIO(blob)) as reader:
            data = reader.read(MAX_ENTRY_BYTES + 1)
    except zstandard.ZstdError as exc:
        raise ValueError(f"not zstd data: {exc}") from exc
    if len(data) > MAX_ENTRY_BYTES:
        raise ValueError(f"it inflates past {MAX_ENTRY_BYTES} bytes")
    return data


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


class LayerClaims:
    """The claims one job holds, on a connection of its own; a context manager that gives
    them all up when the job ends. Without PostgreSQL (the embedded service, one process) a
    claim is always granted at once: there is nobody else to wait for."""

    def __init__(self, engine: Engine, wait_seconds: float) -> None:
        self.engine = engine
        self.wait_seconds = wait_seconds
        self.waited = 0.0  # seconds this job spent waiting for others' claims
        self._held: set[str] = set()
        self._conn: Connection | None = None
        self._lock = threading.Lock()  # a scanner may ask from more than one thread
        self._usable = engine.dialect.name == "postgresql"

    def __enter__(self) -> LayerClaims:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.release()

    @property
    def held(self) -> frozenset[str]:
        return frozenset(self._held)

    def claim(self, key: str) -> bool:
        """Hold `key` until the job ends; True when another worker held it first and this
        waited for it to be given up (so what it guarded may be done now: look again)."""
        with self._lock:
            if not self._usable or key in self._held:
                return False
            started = time.monotonic()
            pause = _POLL[0]
            first = True
            try:
                while not self._try(key):
                    first = False
                    if time.monotonic() - started + pause > self.wait_seconds:
                        log.warning(
                            "%s: still claimed by another worker after %.0fs; going ahead",
                            key,
                            self.wait_seconds,
                        )
                        return True
                    time.sleep(pause)
                    pause = min(pause * 2, _POLL[1])
            except SQLAlchemyError as exc:
                # without the database nobody holds a claim: carry on without one
                log.warning("cannot claim %s: %s", key, _first_line(exc))
                self._drop()
                return not first
            finally:
                self.waited += time.monotonic() - started
            self._held.add(key)
            return not first

    def _try(self, key: str) -> bool:
        if self._conn is None:
            self._conn = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        granted = self._conn.execute(
            text("SELECT pg_try_advisory_lock(hashtextextended(:key, 0))"), {"key": key}
        ).scalar()
        return bool(granted)

    def release(self) -> None:
        """Give up every claim (closing the connection would too)."""
        with self._lock:
            if self._conn is not None and self._held:
                try:
                    self._conn.execute(text("SELECT pg_advisory_unlock_all()"))
                except SQLAlchemyError as exc:
                    log.debug("giving up claims: %s", exc)
            self._held.clear()
            self._drop()

    def _drop(self) -> None:
        self._held.clear()  # a connection's advisory locks end with it
        if self._conn is not None:
            with contextlib.suppress(SQLAlchemyError):
                self._conn.close()
            self._conn = None
