"""`SqliteStore`: the vulnerability database in one SQLite file.

Layout (schema version 1):

- `advisories(id, modified, record)`: each OSV record once, as JSON without its `affected`.
- `affected(advisory_id, source, ecosystem, name, entry)`: one row per affected package,
  indexed by (ecosystem, normalised name); `entry` is the `Affected` as JSON.
- `memberships(source, advisory_id, modified)`: which source (an OSV dump, a secdb file, a
  directory of local records) brought which record. Affected rows belong to one source, so two
  sources may contribute packages to the same id (Alpine's per-release secdb files do) and an
  update can replace one source wholesale without touching the others.
- `ids(alias, advisory_id)`: every id, alias and upstream id of a record -> the record.
- `sources`: a `SourceStatus` per source; `meta`: the schema version.
- `refused(source, ecosystem, name, advisory_id, reason)`: the packages malformed records
  named, when the record was readable that far, so a scan can tell whether a refusal concerns
  the image in hand (and is partial for it) or some other package (and is not).
- `kev(cve, ...)` and `epss(cve, score, percentile)`: the enrichment feeds.

Within one source a record replaces the stored copy of the same id unless the stored copy was
modified later. Writers never touch a database in use: `rebuilding()` works on a copy and swaps
it in with `os.replace`, so a failed import or update leaves the previous file as it was.
Writers are serialised by `writer_lock` (`flock` on `<db>.lock`): the copy is taken after the
lock, so a second writer starts from the first one's result and no write is lost. Holding the
lock also proves that the temporary files of earlier writers are stale (a writer that was
killed), so they are swept then. Readers need no lock: they see the old file or the new one. A
long-lived reader (the service's) notices the swap: at most once per `RECHECK_SECONDS` of its
clock, a query compares the file at the path with the one it opened, and reopens it when it was
replaced.

Writers keep track of what they change: before a record or a refusal is first touched its
packages' state is remembered, and `take_changed` compares it with the state after, so an
update says which (ecosystem, package) pairs it changed and a re-import of the same data none.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import re
import sqlite3
import stat
import tempfile
import time
import uuid
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import timedelta
from itertools import islice
from pathlib import Path
from types import TracebackType
from typing import Any

from basewatch.clock import SYSTEM_CLOCK, Clock
from basewatch.errors import DatabaseError, Remedy
from basewatch.vulndb.epss import EpssScore
from basewatch.vulndb.kev import KevEntry
from basewatch.vulndb.model import (
    Advisory,
    Affected,
    AffectedRange,
    Enrichment,
    EventKind,
    RangeEvent,
    SourceStatus,
)
from basewatch.vulndb.names import normalize_name
from basewatch.vulndb.osv import Withdrawn, modified_key
from basewatch.vulndb.store import (
    EVERYTHING,
    KEV_CHANGE,
    PackageKey,
    VulnStore,
    VulnWriter,
    WriteCounts,
)

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
_CHUNK = 2000  # records per batch of writes
_LOOKUP_BATCH = 5000  # packages per batch of lookups (fewer when SQLite allows fewer variables)
_STATE_BATCH = 500  # record ids per query when remembering what a write changes
# A read-only store looks whether its file was replaced at most this often (seconds).
RECHECK_SECONDS = 1.0

# Added to schema 1 after its release: a database without them gets them on its next write
# (`_migrate`) and reads as if they were empty until then.
_ADDED_TABLES = (
    "CREATE TABLE refused (source TEXT NOT NULL, ecosystem TEXT NOT NULL, name TEXT NOT NULL, "
    "advisory_id TEXT NOT NULL, reason TEXT NOT NULL);",
    "CREATE INDEX refused_by_package ON refused (ecosystem, name);",
)
# The log of changed packages: each writer appends the (ecosystem, name) pairs its import or
# update changed, in the same transaction, so that another process (the service) can ask what
# changed since the sequence number it saw last and re-evaluate only those packages.
_CHANGES_TABLE = (
    "CREATE TABLE changes (seq INTEGER PRIMARY KEY AUTOINCREMENT, ecosystem TEXT NOT NULL, "
    "name TEXT NOT NULL, at TEXT NOT NULL);"
)
_ADDED_COLUMNS = (("sources", "data_date", "TEXT NOT NULL DEFAULT ''"),)
# Change-log entries are kept this long: a reader away for longer re-evaluates everything.
CHANGE_LOG_DAYS = 90
_LOG_TIME = "%Y-%m-%dT%H:%M:%SZ"
# Writers wait this long for another writer of the same database, then give up.
LOCK_TIMEOUT = 600.0
# What `rebuilding` and `update` leave beside the database while they work (mkstemp names).
_TEMPORARY = r"\.{name}\.(?:download\.)?[a-z0-9_]{{8}}\.(?:new|zip)"

_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE sources (
    name TEXT PRIMARY KEY,
    records INTEGER NOT NULL,
    updated_at TEXT NOT NULL,
    origin TEXT NOT NULL DEFAULT '',
    etag TEXT NOT NULL DEFAULT '',
    last_modified TEXT NOT NULL DEFAULT '',
    malformed INTEGER NOT NULL DEFAULT 0,
    data_date TEXT NOT NULL DEFAULT ''
) WITHOUT ROWID;
CREATE TABLE advisories (
    id TEXT PRIMARY KEY,
    modified TEXT NOT NULL,
    record TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE memberships (
    source TEXT NOT NULL,
    advisory_id TEXT NOT NULL,
    modified TEXT NOT NULL,
    PRIMARY KEY (source, advisory_id)
) WITHOUT ROWID;
CREATE INDEX memberships_by_advisory ON memberships (advisory_id);
CREATE TABLE affected (
    advisory_id TEXT NOT NULL,
    source TEXT NOT NULL,
    ecosystem TEXT NOT NULL,
    name TEXT NOT NULL,
    entry TEXT NOT NULL
);
CREATE INDEX affected_by_package ON affected (ecosystem, name);
CREATE INDEX affected_by_record ON affected (advisory_id, source);
CREATE TABLE ids (
    alias TEXT NOT NULL,
    advisory_id TEXT NOT NULL,
    PRIMARY KEY (alias, advisory_id)
) WITHOUT ROWID;
CREATE INDEX ids_by_advisory ON ids (advisory_id);
CREATE TABLE kev (
    cve TEXT PRIMARY KEY,
    date_added TEXT NOT NULL,
    due_date TEXT NOT NULL,
    ransomware TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE epss (
    cve TEXT PRIMARY KEY,
    score REAL NOT NULL,
    percentile REAL NOT NULL
) WITHOUT ROWID;
""" + ("\n".join((*_ADDED_TABLES, _CHANGES_TABLE)))


# The identity of a file: replaced (renamed over) or rewritten, it changes.
_Identity = tuple[int, int, int, int]  # st_dev, st_ino, st_mtime_ns, st_size


@dataclass(frozen=True, slots=True)
class _RecordState:
    """What one record id shows the packages it names: its advisory row and affected rows."""

    record: int | None  # hash of the advisory row; None when the id is not stored
    rows: frozenset[tuple[str, str, int]]  # (ecosystem, normalised name, hash of the entry)


_ABSENT = _RecordState(None, frozenset())


class SqliteStore(VulnStore, VulnWriter):
    """A `VulnStore` and a `VulnWriter` over one SQLite file."""

    def __init__(
        self,
        connection: sqlite3.Connection,
        path: Path,
        readonly: bool,
        *,
        clock: Clock = SYSTEM_CLOCK,
        recheck_after: float = RECHECK_SECONDS,
    ) -> None:
        self._db = connection
        self.path = path
        self.readonly = readonly
        self._in_transaction = False
        self._stored: dict[str, dict[str, str]] = {}  # source -> {id: modified key}
        # (ecosystem, name) -> refused record ids, read once by a read-only store: the table
        # holds only malformed records, and a scan asks about every package of the image
        self._refused: dict[tuple[str, str], list[str]] | None = None
        # Swap detection (read-only stores): the file opened, and when it was last compared.
        self._clock = clock
        self._recheck_after = recheck_after
        self._identity: _Identity | None = None
        self._checked_at = clock.monotonic()
        # Change tracking (writers): the state of every record id and of the refusals before
        # this writer first touched them since the last `take_changed`.
        self._before: dict[str, _RecordState] = {}
        self._refused_before: frozenset[tuple[str, str, str]] | None = None

    # -- opening ------------------------------------------------------------------------

    @classmethod
    def open(
        cls,
        path: Path | str,
        readonly: bool = True,
        *,
        clock: Clock = SYSTEM_CLOCK,
        recheck_after: float = RECHECK_SECONDS,
    ) -> SqliteStore:
        """Open the database at `path`; writable opens create a missing one.

        A read-only store follows the file at `path`: when an update has replaced it, the next
        query (at most one look per `recheck_after` seconds of `clock`) reopens it. Raises
        `DatabaseError` when it is missing (read-only), not a basewatch database, or from
        another schema version.
        """
        path = Path(path)
        if readonly:
            connection, identity = _connect_readonly(path)
            store = cls(connection, path, readonly=True, clock=clock, recheck_after=recheck_after)
            store._identity = identity
            store._check()
            return store
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            connection = sqlite3.connect(path, isolation_level=None)
        except (OSError, sqlite3.Error) as exc:
            raise DatabaseError(f"cannot open the vulnerability database {path}: {exc}") from exc
        store = cls(connection, path, readonly=False, clock=clock)
        store._initialise()
        return store

    def _initialise(self) -> None:
        try:
            tables = {
                row[0]
                for row in self._db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
            }
        except sqlite3.DatabaseError as exc:
            self.close()
            raise DatabaseError(
                f"{self.path} is not a basewatch vulnerability database ({exc}): delete it, "
                "then create it again",
                remedy=Remedy.CREATE_DATABASE,
                path=str(self.path),
            ) from exc
        if not tables:
            self._db.executescript(_SCHEMA)
            self._db.execute(
                "INSERT INTO meta (key, value) VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),)
            )
            self._name_log()
            return
        self._check()
        self._migrate()

    def _name_log(self) -> None:
        """Give the change log its identity, once: a reader's bookmark names the log it is in,
        so another database at the same path (deleted, imported anew) is not read as this one."""
        self._db.execute(
            "INSERT OR IGNORE INTO meta (key, value) VALUES ('change_log', ?)", (uuid.uuid4().hex,)
        )

    def _migrate(self) -> None:
        """Add what schema 1 gained since a database was written (a writer's copy only)."""
        if not self._has_table("refused"):
            for statement in _ADDED_TABLES:
                self._db.execute(statement)
        if not self._has_table("changes"):
            self._db.execute(_CHANGES_TABLE)
        self._name_log()
        for table, column, declaration in _ADDED_COLUMNS:
            if not self._has_column(table, column):
                self._db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {declaration}")

    def _has_table(self, name: str) -> bool:
        rows = self._read("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,))
        return bool(rows)

    def _has_column(self, table: str, column: str) -> bool:
        return any(row[1] == column for row in self._read(f"PRAGMA table_info({table})"))

    def _check(self) -> None:
        try:
            row = self._db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        except sqlite3.DatabaseError as exc:
            self.close()
            raise DatabaseError(
                f"{self.path} is not a basewatch vulnerability database ({exc}): delete it, "
                "then create it again",
                remedy=Remedy.CREATE_DATABASE,
                path=str(self.path),
            ) from exc
        version = row[0] if row else None
        if version != str(SCHEMA_VERSION):
            self.close()
            raise DatabaseError(
                f"{self.path} has database schema {version}, this basewatch uses "
                f"{SCHEMA_VERSION}: delete it, then create it again",
                remedy=Remedy.CREATE_DATABASE,
                path=str(self.path),
            )

    def close(self) -> None:
        self._db.close()

    def _follow_swaps(self) -> None:
        """Reopen the file at `path` if it is not the one open (a read-only store only)."""
        if self._identity is None:
            return
        moment = self._clock.monotonic()
        if moment - self._checked_at < self._recheck_after:
            return
        self._checked_at = moment
        current = _identity_of(self.path)
        if current is None or current == self._identity:
            return  # the same file, or none at all: keep reading the one open
        log.info("%s was replaced (by an update or import): reopening it", self.path)
        connection, identity = _connect_readonly(self.path)
        previous, self._db = self._db, connection
        try:
            self._check()
        except DatabaseError:
            self._db = previous  # the new file is unusable: say so, keep the old one open
            connection.close()
            raise
        previous.close()
        self._identity = identity
        self._refused = None

    def __enter__(self) -> SqliteStore:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    # -- VulnStore ----------------------------------------------------------------------

    def affected(self, ecosystem: str, name: str) -> Sequence[tuple[Advisory, Affected]]:
        return self.affected_many([(ecosystem, name)])[(ecosystem, name)]

    def affected_many(
        self, ecosystem_names: Iterable[PackageKey]
    ) -> dict[PackageKey, Sequence[tuple[Advisory, Affected]]]:
        self._follow_swaps()
        wanted = _by_index_key(ecosystem_names)
        found: dict[PackageKey, list[tuple[Advisory, Affected]]] = {
            key: [] for key in wanted.values()
        }
        rows: dict[PackageKey, list[tuple[str, int, str]]] = {key: [] for key in found}
        records: dict[str, str] = {}
        for batch in _batches(list(found), self._lookup_batch()):
            # The entries, then each record they belong to once (records are the bulk of what
            # is read, and many entries share one). Sorting is left to Python: in SQLite's temp
            # store, with the records, it costs more than the lookups themselves.
            for ecosystem, name, advisory_id, position, entry, record in self._read(
                f"WITH wanted (ecosystem, name) AS (VALUES {_pairs_sql(len(batch))}), "  # noqa: S608
                "hits AS (SELECT a.ecosystem, a.name, a.advisory_id, a.rowid AS position, "
                "a.entry FROM wanted w "
                "JOIN affected a ON a.ecosystem = w.ecosystem AND a.name = w.name) "
                "SELECT ecosystem, name, advisory_id, position, entry, NULL FROM hits "
                "UNION ALL SELECT NULL, NULL, id, NULL, NULL, record FROM advisories "
                "WHERE id IN (SELECT advisory_id FROM hits)",
                [part for key in batch for part in key],
            ):
                if ecosystem is None:
                    records[advisory_id] = record
                else:
                    rows[(ecosystem, name)].append((advisory_id, position, entry))
        advisories: dict[str, Advisory] = {}  # parsed once, however many packages share one
        for key, hits in rows.items():
            # By record id, then first appearance; an entry two sources gave comes back once.
            seen: set[tuple[str, str]] = set()
            for advisory_id, _, entry in sorted(hits, key=lambda hit: hit[:2]):
                if (advisory_id, entry) in seen or advisory_id not in records:
                    continue
                seen.add((advisory_id, entry))
                advisory = advisories.get(advisory_id)
                if advisory is None:
                    advisory = advisories[advisory_id] = advisory_from_json(records[advisory_id])
                found[key].append((advisory, affected_from_json(entry)))
        return {pair: found[key] for pair, key in wanted.items()}

    def enrichment(self, cves: Iterable[str]) -> dict[str, Enrichment]:
        self._follow_swaps()
        wanted = sorted({c.strip().upper() for c in cves if c.strip()})
        kev: dict[str, tuple[str, str, str]] = {}
        epss: dict[str, tuple[float, float]] = {}
        for cve in wanted:
            for _, added, due, ransomware in self._read(
                "SELECT cve, date_added, due_date, ransomware FROM kev WHERE cve = ?", (cve,)
            ):
                kev[cve] = (added, due, ransomware)
            for _, score, percentile in self._read(
                "SELECT cve, score, percentile FROM epss WHERE cve = ?", (cve,)
            ):
                epss[cve] = (score, percentile)
        result = {}
        for cve in sorted(kev.keys() | epss.keys()):
            added, due, ransomware = kev.get(cve, ("", "", ""))
            score, percentile = epss.get(cve, (None, None))
            result[cve] = Enrichment(
                cve=cve,
                kev=cve in kev,
                kev_date_added=added,
                kev_due_date=due,
                kev_ransomware=ransomware,
                epss=score,
                epss_percentile=percentile,
            )
        return result

    def sources(self) -> Sequence[SourceStatus]:
        self._follow_swaps()
        # A database written before `data_date` existed reads as if no data carried a date.
        columns = "name, records, updated_at, origin, etag, last_modified, malformed"
        if self._has_column("sources", "data_date"):
            columns += ", data_date"
        return [
            SourceStatus(*row)
            for row in self._read(f"SELECT {columns} FROM sources ORDER BY name")  # noqa: S608
        ]

    def refused(self, ecosystem: str, name: str) -> Sequence[str]:
        """The ids of records refused at import that named this package (in this ecosystem)."""
        return self.refused_many([(ecosystem, name)])[(ecosystem, name)]

    def refused_many(
        self, ecosystem_names: Iterable[PackageKey]
    ) -> dict[PackageKey, Sequence[str]]:
        self._follow_swaps()
        wanted = _by_index_key(ecosystem_names)
        if self.readonly:
            if self._refused is None:
                self._refused = {}
                if self._has_table("refused"):
                    rows = self._read(
                        "SELECT DISTINCT ecosystem, name, advisory_id FROM refused ORDER BY 3"
                    )
                    for eco, pkg, advisory in rows:
                        self._refused.setdefault((str(eco), str(pkg)), []).append(str(advisory))
            held = self._refused
            return {pair: held.get(key, []) for pair, key in wanted.items()}
        found: dict[PackageKey, list[str]] = {key: [] for key in wanted.values()}
        if self._has_table("refused"):
            for batch in _batches(list(found), self._lookup_batch()):
                rows = self._read(
                    f"WITH wanted (ecosystem, name) AS (VALUES {_pairs_sql(len(batch))}) "  # noqa: S608
                    "SELECT DISTINCT r.ecosystem, r.name, r.advisory_id FROM wanted w "
                    "JOIN refused r ON r.ecosystem = w.ecosystem AND r.name = w.name "
                    "ORDER BY 3",
                    [part for key in batch for part in key],
                )
                for eco, pkg, advisory in rows:
                    found[(str(eco), str(pkg))].append(str(advisory))
        return {pair: found[key] for pair, key in wanted.items()}

    def ecosystems(self) -> Sequence[str]:
        self._follow_swaps()
        return [row[0] for row in self._read("SELECT DISTINCT ecosystem FROM affected ORDER BY 1")]

    def _lookup_batch(self) -> int:
        """Packages per lookup query: two variables each, under SQLite's limit."""
        return max(
            1, min(_LOOKUP_BATCH, self._db.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER) // 2)
        )

    # -- other reads --------------------------------------------------------------------

    def source(self, name: str) -> SourceStatus | None:
        return next((s for s in self.sources() if s.name == name), None)

    def advisory(self, record_id: str) -> Advisory | None:
        """One record with every affected entry every source gave it, or None."""
        self._follow_swaps()
        row = self._read("SELECT record FROM advisories WHERE id = ?", (record_id,))
        if not row:
            return None
        entries = self._read(
            "SELECT entry, min(rowid) AS first FROM affected WHERE advisory_id = ? "
            "GROUP BY entry ORDER BY first",
            (record_id,),
        )
        advisory = advisory_from_json(row[0][0])
        affected = tuple(affected_from_json(entry) for entry, _ in entries)
        return replace(advisory, affected=affected)

    def ids_for(self, any_id: str) -> tuple[str, ...]:
        """The record ids that carry `any_id` as their id, an alias or an upstream id."""
        self._follow_swaps()
        rows = self._read(
            "SELECT DISTINCT advisory_id FROM ids WHERE alias = ? ORDER BY 1", (any_id,)
        )
        return tuple(row[0] for row in rows)

    def count_advisories(self) -> int:
        self._follow_swaps()
        return int(self._read("SELECT count(*) FROM advisories")[0][0])

    def newest_modified(self, source: str) -> str:
        """The latest `modified` (a `modified_key`) among the source's records; "" when none."""
        rows = self._read("SELECT max(modified) FROM memberships WHERE source = ?", (source,))
        return str(rows[0][0] or "") if rows else ""

    def modified_of(self, source: str, record_ids: Sequence[str]) -> dict[str, str]:
        """The `modified` (a `modified_key`) of those of `record_ids` the source holds."""
        held: dict[str, str] = {}
        for record_id in record_ids:
            rows = self._read(
                "SELECT modified FROM memberships WHERE source = ? AND advisory_id = ?",
                (source, record_id),
            )
            if rows:
                held[record_id] = str(rows[0][0])
        return held

    def source_records(self, source: str) -> int:
        rows = self._read("SELECT count(*) FROM memberships WHERE source = ?", (source,))
        return int(rows[0][0])

    def data_date(self, source: str) -> str:
        """The newest `modified` among the source's records as an RFC 3339 time; "" if none."""
        key = self.newest_modified(source)
        # modified_key's form "2024-01-01T00:00:00.000000Z": keep it, minus a zero fraction
        return key.replace(".000000Z", "Z")

    def _read(self, sql: str, parameters: Sequence[Any] = ()) -> list[Any]:
        try:
            return self._db.execute(sql, parameters).fetchall()
        except sqlite3.Error as exc:
            raise DatabaseError(
                f"cannot read the vulnerability database {self.path}: {exc}"
            ) from exc

    # -- writing ------------------------------------------------------------------------

    def write_records(self, items: Iterable[tuple[str, Advisory | Withdrawn]]) -> WriteCounts:
        """Store (source, record) pairs; within a source the later `modified` wins.

        A withdrawn record removes the source's copy unless that copy is newer. Records are
        written in batches inside the store's transaction (see `commit`).
        """
        counts = WriteCounts()
        iterator = iter(items)
        while chunk := list(islice(iterator, _CHUNK)):
            self._write_chunk(chunk, counts)
        return counts

    def _write_chunk(
        self, chunk: list[tuple[str, Advisory | Withdrawn]], counts: WriteCounts
    ) -> None:
        chosen: dict[tuple[str, str], Advisory | Withdrawn] = {}
        for source, record in chunk:
            key = modified_key(record.modified)
            stored = self._stored_for(source)
            previous = stored.get(record.id)
            if isinstance(record, Withdrawn):
                counts.withdrawn += 1
                if previous is not None and key < previous:
                    continue
                stored.pop(record.id, None)
            else:
                if previous is not None and key < previous:
                    counts.skipped += 1
                    continue
                stored[record.id] = key
            chosen[(source, record.id)] = record
        if not chosen:
            return
        self._begin()
        self._remember([record_id for _, record_id in chosen])
        self._remember_refused()
        db = self._db
        db.executemany(
            "DELETE FROM affected WHERE advisory_id = ? AND source = ?",
            [(record_id, source) for source, record_id in chosen],
        )
        # A readable copy of a record refused earlier supersedes the refusal.
        db.executemany(
            "DELETE FROM refused WHERE advisory_id = ? AND source = ?",
            [(record_id, source) for source, record_id in chosen],
        )
        gone = [(source, rid) for (source, rid), r in chosen.items() if isinstance(r, Withdrawn)]
        if gone:
            db.executemany("DELETE FROM memberships WHERE source = ? AND advisory_id = ?", gone)
        kept = [(s, r) for (s, _), r in chosen.items() if isinstance(r, Advisory)]
        db.executemany(
            "INSERT OR REPLACE INTO memberships (source, advisory_id, modified) VALUES (?, ?, ?)",
            [(s, r.id, modified_key(r.modified)) for s, r in kept],
        )
        db.executemany(
            "INSERT INTO affected (advisory_id, source, ecosystem, name, entry) "
            "VALUES (?, ?, ?, ?, ?)",
            [
                (r.id, s, a.ecosystem, normalize_name(a.ecosystem, a.name), affected_to_json(a))
                for s, r in kept
                for a in r.affected
            ],
        )
        counts.stored.update((s, r.id) for s, r in kept)
        counts.stored.difference_update(gone)
        self._write_advisory_rows([r for _, r in kept])
        if gone:
            self._drop_orphans([rid for _, rid in gone])

    def _write_advisory_rows(self, records: list[Advisory]) -> None:
        newest: dict[str, tuple[str, Advisory]] = {}
        for record in records:
            key = modified_key(record.modified)
            if record.id not in newest or key >= newest[record.id][0]:
                newest[record.id] = (key, record)
        current: dict[str, str] = {}
        for record_id in newest:
            row = self._db.execute(
                "SELECT modified FROM advisories WHERE id = ?", (record_id,)
            ).fetchone()
            if row is not None:
                current[record_id] = row[0]
        fresh = [
            (key, record)
            for record_id, (key, record) in newest.items()
            if record_id not in current or key >= current[record_id]
        ]
        if not fresh:
            return
        self._db.executemany(
            "INSERT OR REPLACE INTO advisories (id, modified, record) VALUES (?, ?, ?)",
            [(record.id, key, advisory_to_json(record)) for key, record in fresh],
        )
        self._db.executemany(
            "DELETE FROM ids WHERE advisory_id = ?", [(record.id,) for _, record in fresh]
        )
        self._db.executemany(
            "INSERT OR IGNORE INTO ids (alias, advisory_id) VALUES (?, ?)",
            [(alias, record.id) for _, record in fresh for alias in record.all_ids()],
        )

    def _drop_orphans(self, record_ids: list[str]) -> None:
        rows = [(rid, rid) for rid in record_ids]
        self._db.executemany(
            "DELETE FROM advisories WHERE id = ? AND NOT EXISTS "
            "(SELECT 1 FROM memberships WHERE advisory_id = ?)",
            rows,
        )
        self._db.executemany(
            "DELETE FROM ids WHERE advisory_id = ? AND NOT EXISTS "
            "(SELECT 1 FROM advisories WHERE id = ?)",
            rows,
        )

    def clear_source(self, source: str) -> None:
        """Forget every record of `source` (records no other source holds are dropped)."""
        self._begin()
        record_ids = [
            row[0]
            for row in self._db.execute(
                "SELECT advisory_id FROM memberships WHERE source = ?", (source,)
            )
        ]
        self._remember(record_ids)
        self._remember_refused()
        self._db.executemany(
            "DELETE FROM affected WHERE advisory_id = ? AND source = ?",
            [(rid, source) for rid in record_ids],
        )
        self._db.execute("DELETE FROM memberships WHERE source = ?", (source,))
        self._db.execute("DELETE FROM refused WHERE source = ?", (source,))
        self._stored.pop(source, None)
        self._drop_orphans(record_ids)

    def set_source(self, status: SourceStatus) -> None:
        self._begin()
        self._db.execute(
            "INSERT OR REPLACE INTO sources "
            "(name, records, updated_at, origin, etag, last_modified, malformed, data_date) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                status.name,
                status.records,
                status.updated_at,
                status.origin,
                status.etag,
                status.last_modified,
                status.malformed,
                status.data_date,
            ),
        )

    def set_refused(self, source: str, refusals: Iterable[tuple[str, str, str, str]]) -> None:
        """Record the (ecosystem, name, record id, reason) of records refused for `source`,
        in place of what earlier imports recorded for the same ids."""
        refusals = list(refusals)
        self._begin()
        self._remember_refused()
        self._db.executemany(
            "DELETE FROM refused WHERE source = ? AND advisory_id = ?",
            sorted({(source, record_id) for _, _, record_id, _ in refusals}),
        )
        self._db.executemany(
            "INSERT INTO refused (source, ecosystem, name, advisory_id, reason) "
            "VALUES (?, ?, ?, ?, ?)",
            [
                (source, ecosystem, normalize_name(ecosystem, name), record_id, reason)
                for ecosystem, name, record_id, reason in refusals
            ],
        )

    def replace_kev(self, entries: Iterable[KevEntry]) -> int:
        """Replace the KEV table; returns the number of CVEs stored. The CVEs that joined or
        left the catalog go to the change log as (`KEV_CHANGE`, CVE)."""
        self._begin()
        before = {str(row[0]) for row in self._db.execute("SELECT cve FROM kev")}
        self._db.execute("DELETE FROM kev")
        self._db.executemany(
            "INSERT OR REPLACE INTO kev (cve, date_added, due_date, ransomware) "
            "VALUES (?, ?, ?, ?)",
            ((e.cve, e.date_added, e.due_date, e.ransomware) for e in entries),
        )
        after = {str(row[0]) for row in self._db.execute("SELECT cve FROM kev")}
        moved = sorted(before ^ after)
        if moved and self._has_table("changes"):
            self._log_changes((KEV_CHANGE, cve) for cve in moved)
        return len(after)

    def replace_epss(self, scores: Iterable[EpssScore]) -> int:
        """Replace the EPSS table; returns the number of CVEs stored."""
        self._begin()
        self._db.execute("DELETE FROM epss")
        self._db.executemany(
            "INSERT OR REPLACE INTO epss (cve, score, percentile) VALUES (?, ?, ?)",
            ((s.cve, s.score, s.percentile) for s in scores),
        )
        return int(self._db.execute("SELECT count(*) FROM epss").fetchone()[0])

    def take_changed(self) -> frozenset[PackageKey]:
        changed: set[PackageKey] = set()
        after = self._states(list(self._before))
        for record_id, old in self._before.items():
            new = after.get(record_id, _ABSENT)
            # A changed advisory row (summary, severity, aliases) changes every package it
            # names; otherwise only the packages whose entries came or went.
            rows = old.rows | new.rows if old.record != new.record else old.rows ^ new.rows
            changed.update((ecosystem, name) for ecosystem, name, _ in rows)
        if self._refused_before is not None:
            refusals = self._refused_before ^ self._refused_rows()
            changed.update((ecosystem, name) for ecosystem, name, _ in refusals)
        self._before = {}
        self._refused_before = None
        if changed:
            self._begin()
            self._log_changes(sorted(changed))
        return frozenset(changed)

    def _log_changes(self, keys: Iterable[PackageKey]) -> None:
        """Append `keys` to the change log, and drop the entries older than `CHANGE_LOG_DAYS`
        (remembering the newest dropped, so a reader that had not seen them knows)."""
        now = self._clock.now()
        self._db.executemany(
            "INSERT INTO changes (ecosystem, name, at) VALUES (?, ?, ?)",
            ((ecosystem, name, now.strftime(_LOG_TIME)) for ecosystem, name in keys),
        )
        cutoff = (now - timedelta(days=CHANGE_LOG_DAYS)).strftime(_LOG_TIME)
        (dropped,) = self._db.execute(
            "SELECT max(seq) FROM changes WHERE at < ?", (cutoff,)
        ).fetchone()
        if dropped is not None:
            self._db.execute("DELETE FROM changes WHERE seq <= ?", (dropped,))
            self._db.execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES ('changes_dropped', ?)",
                (str(dropped),),
            )

    def change_log(self) -> str:
        """The change log's identity ("" for a database written before logs had one)."""
        self._follow_swaps()
        rows = self._read("SELECT value FROM meta WHERE key = 'change_log'")
        return str(rows[0][0]) if rows else ""

    def changes_since(self, seq: int) -> tuple[int, frozenset[PackageKey]]:
        """The newest change's sequence number, and the packages changed after `seq` (0: the
        whole log). A database without the log answers (0, nothing)."""
        self._follow_swaps()
        if not self._has_table("changes"):
            return 0, frozenset()
        newest = int(self._read("SELECT coalesce(max(seq), 0) FROM changes")[0][0])
        dropped = self._read("SELECT value FROM meta WHERE key = 'changes_dropped'")
        if dropped and seq < int(dropped[0][0]):
            # entries this reader never saw are gone: it cannot know what they named
            return max(newest, int(dropped[0][0])), frozenset({EVERYTHING})
        rows = self._read("SELECT DISTINCT ecosystem, name FROM changes WHERE seq > ?", (seq,))
        return newest, frozenset((str(e), str(n)) for e, n in rows)

    def _remember(self, record_ids: Sequence[str]) -> None:
        """Keep the state of those records not remembered yet, before they are rewritten."""
        new = [
            record_id for record_id in dict.fromkeys(record_ids) if record_id not in self._before
        ]
        states = self._states(new)
        for record_id in new:
            self._before[record_id] = states.get(record_id, _ABSENT)

    def _states(self, record_ids: Sequence[str]) -> dict[str, _RecordState]:
        """What each of `record_ids` shows the packages it names, as the database holds it now."""
        records: dict[str, int] = {}
        rows: dict[str, set[tuple[str, str, int]]] = {}
        for start in range(0, len(record_ids), _STATE_BATCH):
            batch = record_ids[start : start + _STATE_BATCH]
            marks = ", ".join("?" * len(batch))
            for record_id, record in self._db.execute(
                f"SELECT id, record FROM advisories WHERE id IN ({marks})",  # noqa: S608
                batch,
            ):
                records[record_id] = hash(record)
            for record_id, ecosystem, name, entry in self._db.execute(
                "SELECT advisory_id, ecosystem, name, entry FROM affected "  # noqa: S608
                f"WHERE advisory_id IN ({marks})",
                batch,
            ):
                rows.setdefault(record_id, set()).add((ecosystem, name, hash(entry)))
        return {
            record_id: _RecordState(records.get(record_id), frozenset(rows.get(record_id, ())))
            for record_id in records.keys() | rows.keys()
        }

    def _remember_refused(self) -> None:
        if self._refused_before is None:
            self._refused_before = self._refused_rows()

    def _refused_rows(self) -> frozenset[tuple[str, str, str]]:
        rows = self._db.execute("SELECT DISTINCT ecosystem, name, advisory_id FROM refused")
        return frozenset((str(e), str(n), str(i)) for e, n, i in rows)

    def commit(self) -> None:
        if self._in_transaction:
            self._db.execute("COMMIT")
            self._in_transaction = False

    def _begin(self) -> None:
        if self.readonly:
            raise DatabaseError(f"{self.path} was opened read-only")
        if not self._in_transaction:
            self._db.execute("BEGIN")
            self._in_transaction = True

    def _stored_for(self, source: str) -> dict[str, str]:
        stored = self._stored.get(source)
        if stored is None:
            stored = self._stored[source] = dict(
                self._db.execute(
                    "SELECT advisory_id, modified FROM memberships WHERE source = ?", (source,)
                ).fetchall()
            )
        return stored

    def _bulk_mode(self) -> None:
        # Only for a private copy that is thrown away on failure: no journal, no fsync.
        self._db.execute("PRAGMA journal_mode = OFF")
        self._db.execute("PRAGMA synchronous = OFF")
        self._db.execute("PRAGMA temp_store = MEMORY")
        self._db.execute("PRAGMA cache_size = -65536")


def _by_index_key(pairs: Iterable[PackageKey]) -> dict[PackageKey, PackageKey]:
    """Each distinct (ecosystem, name) asked for -> the key the store indexes it under."""
    return {pair: (pair[0], normalize_name(*pair)) for pair in dict.fromkeys(pairs)}


def _batches(items: list[PackageKey], size: int) -> Iterator[list[PackageKey]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _pairs_sql(count: int) -> str:
    return ", ".join(["(?, ?)"] * count)


def _identity_of(path: Path) -> _Identity | None:
    try:
        info = path.stat()
    except OSError:
        return None
    if not stat.S_ISREG(info.st_mode):
        return None
    return (info.st_dev, info.st_ino, info.st_mtime_ns, info.st_size)


def _connect_readonly(path: Path) -> tuple[sqlite3.Connection, _Identity]:
    """A read-only connection to the file at `path`, and that file's identity.

    The path is looked at before and after connecting: a file swapped in between would be
    remembered as the one open, so the connection is made again."""
    for _ in range(3):
        before = _identity_of(path)
        if before is None:
            raise DatabaseError(
                f"no vulnerability database at {path}",
                remedy=Remedy.CREATE_DATABASE,
                path=str(path),
            )
        try:
            connection = sqlite3.connect(
                f"{path.resolve().as_uri()}?mode=ro", uri=True, isolation_level=None
            )
        except sqlite3.Error as exc:
            raise DatabaseError(f"cannot open the vulnerability database {path}: {exc}") from exc
        if _identity_of(path) == before:
            return connection, before
        connection.close()
    raise DatabaseError(f"{path} keeps being replaced: try again once its update has finished")


def lock_path(path: Path) -> Path:
    """The file whose `flock` serialises the writers of the database at `path`."""
    return path.with_name(path.name + ".lock")


@contextlib.contextmanager
def writer_lock(path: Path | str, timeout: float = LOCK_TIMEOUT) -> Iterator[None]:
    """Hold the database's writer lock for the block; wait up to `timeout` seconds for it.

    Raises `DatabaseError` when another writer keeps it longer. While held, the temporary
    files earlier writers left beside the database (killed mid-way) are removed. The lock file
    itself stays: deleting it would let two writers lock two different files.
    """
    path = Path(path)
    target = lock_path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(target, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    except OSError as exc:
        raise DatabaseError(
            f"cannot lock the vulnerability database {path} ({target}: {exc.strerror or exc}): "
            "check that its directory is writable"
        ) from exc
    try:
        _acquire(fd, path, timeout)
        _sweep(path)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def _acquire(fd: int, path: Path, timeout: float) -> None:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return
    except BlockingIOError:
        pass
    log.warning(
        "another basewatch is writing %s: waiting for it to finish (up to %gs)", path, timeout
    )
    deadline = time.monotonic() + timeout
    while True:
        time.sleep(min(0.1, max(deadline - time.monotonic(), 0.0)))
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() >= deadline:
                raise DatabaseError(
                    f"another basewatch process has been writing {path} for over {timeout:g}s: "
                    "try again once it has finished (the database is unchanged)"
                ) from None


def _sweep(path: Path) -> None:
    """Remove what killed writers left beside `path` (only called with the lock held)."""
    pattern = re.compile(_TEMPORARY.format(name=re.escape(path.name)))
    try:
        names = os.listdir(path.parent)
    except OSError:
        return
    for name in names:
        if pattern.fullmatch(name):
            log.info("removing %s, left by an interrupted import or update", name)
            with contextlib.suppress(OSError):
                (path.parent / name).unlink()


@contextlib.contextmanager
def rebuilding(
    path: Path | str, *, locked: bool = False, lock_timeout: float = LOCK_TIMEOUT
) -> Iterator[SqliteStore]:
    """A writable copy of the database at `path` (or a new one), swapped in atomically.

    The copy lives beside `path`; when the block ends without an exception it is committed and
    renamed over `path`. Otherwise it is deleted and `path` is left exactly as it was. The
    writer lock is taken first (see `writer_lock`), unless the caller holds it (`locked`).
    """
    path = Path(path)
    with contextlib.ExitStack() as stack:
        if not locked:
            stack.enter_context(writer_lock(path, lock_timeout))
        yield stack.enter_context(_rebuilding(path))


@contextlib.contextmanager
def _rebuilding(path: Path) -> Iterator[SqliteStore]:
    unchanged = "the previous database was left unchanged"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".new")
        os.close(fd)
    except OSError as exc:
        raise DatabaseError(f"cannot write beside {path}: {exc.strerror or exc}") from exc
    temporary = Path(name)
    store: SqliteStore | None = None
    try:
        try:
            connection = sqlite3.connect(temporary, isolation_level=None)
            if path.exists():
                with SqliteStore.open(path, readonly=True) as previous:
                    previous._db.backup(connection)
                os.chmod(temporary, stat.S_IMODE(path.stat().st_mode))
            else:
                os.chmod(temporary, 0o644)
            store = SqliteStore(connection, temporary, readonly=False)
            store._bulk_mode()
            store._initialise()
        except (OSError, sqlite3.Error) as exc:
            raise DatabaseError(f"cannot copy the vulnerability database {path}: {exc}") from exc
        try:
            yield store
        except sqlite3.Error as exc:
            raise DatabaseError(
                f"cannot write the vulnerability database: {exc}; {unchanged}"
            ) from exc
        try:
            store.commit()
            store.close()
            store = None
            _fsync(temporary)
            os.replace(temporary, path)
        except (OSError, sqlite3.Error) as exc:
            raise DatabaseError(
                f"cannot write the vulnerability database {path}: {exc}; {unchanged}"
            ) from exc
        _fsync(path.parent)
    finally:
        if store is not None:
            with contextlib.suppress(sqlite3.Error):
                store.close()
        temporary.unlink(missing_ok=True)


def _fsync(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some filesystems refuse fsync on directories; the rename is still atomic
    finally:
        os.close(fd)


# -- JSON forms of the model (what the `record` and `entry` columns hold) -------------------


def advisory_to_json(advisory: Advisory) -> str:
    data: dict[str, Any] = {"id": advisory.id}
    # Empty lists are left out, so a key added later ("cwe_ids") needs no schema version: a
    # record written before it reads back as empty.
    for key in ("aliases", "upstream", "related", "references", "cwe_ids"):
        if value := getattr(advisory, key):
            data[key] = list(value)
    for key in ("summary", "details", "database_severity", "published", "modified"):
        if value := getattr(advisory, key):
            data[key] = value
    if advisory.severity:
        data["severity"] = [list(pair) for pair in advisory.severity]
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False)


def advisory_from_json(text: str) -> Advisory:
    data = json.loads(text)
    return Advisory(
        id=data["id"],
        aliases=tuple(data.get("aliases", ())),
        upstream=tuple(data.get("upstream", ())),
        related=tuple(data.get("related", ())),
        summary=data.get("summary", ""),
        details=data.get("details", ""),
        severity=tuple((t, s) for t, s in data.get("severity", ())),
        database_severity=data.get("database_severity", ""),
        published=data.get("published", ""),
        modified=data.get("modified", ""),
        references=tuple(data.get("references", ())),
        cwe_ids=tuple(data.get("cwe_ids", ())),
    )


def affected_to_json(affected: Affected) -> str:
    data: dict[str, Any] = {"ecosystem": affected.ecosystem, "name": affected.name}
    if affected.ranges:
        data["ranges"] = [
            {"type": r.type, "events": [[e.kind.value, e.version] for e in r.events]}
            for r in affected.ranges
        ]
    if affected.versions:
        data["versions"] = list(affected.versions)
    if affected.severity:
        data["severity"] = [list(pair) for pair in affected.severity]
    if affected.status:
        data["status"] = affected.status
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False)


# A dict lookup rather than `EventKind(kind)`: a scan decodes thousands of entries.
_EVENT_KINDS = {kind.value: kind for kind in EventKind}


def affected_from_json(text: str) -> Affected:
    data = json.loads(text)
    return Affected(
        ecosystem=data["ecosystem"],
        name=data["name"],
        ranges=tuple(
            AffectedRange(
                r["type"],
                tuple(RangeEvent(_EVENT_KINDS[kind], version) for kind, version in r["events"]),
            )
            for r in data.get("ranges", ())
        ),
        versions=tuple(data.get("versions", ())),
        severity=tuple((t, s) for t, s in data.get("severity", ())),
        status=data.get("status", ""),
    )
