"""rpm's SQLite package database, `rpmdb.sqlite` (rpm 4.16 and later): `Packages(hnum, blob)`.

The file comes from the image, so SQLite is handed an attacker's schema: a view or a generated
column named like rpm's can make one innocent SELECT run forever, sort gigabytes into the host's
temporary directory or allocate without end. So the connection is opened read-only and
immutable, temporary storage stays in memory, lengths and the page cache are capped, a progress
handler bounds the work, and the schema must be rpm's own (a real `Packages` table with rpm's
two columns, no views, no triggers) before the one query runs. Validated, that query is a plain
rowid-order scan of one table: it needs no temporary storage and its work grows with the file.
"""

from __future__ import annotations

import contextlib
import sqlite3
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from basewatch.errors import PackageDatabaseError
from basewatch.inventory.rpm.header import MAX_DATA, MAX_ENTRIES
from basewatch.inventory.rpm.records import BadRecord, RawHeader, Record

FILE_MAGIC = b"SQLite format 3\0"
# The largest header rpm itself accepts (intro, index, data store): no real row is refused.
MAX_BLOB_BYTES = 8 + 16 * MAX_ENTRIES + MAX_DATA
MAX_SECONDS = 60.0  # a real rpmdb of thousands of packages reads in well under a second
MAX_STEPS = 500_000_000  # SQLite virtual machine instructions, counted in _STEP_INTERVAL steps
_STEP_INTERVAL = 10_000
_CACHE_KIB = 8 << 10  # page cache of this connection
# Per-connection limits (sqlite3.Connection.setlimit): nothing rpm writes comes near them.
_LIMITS = (
    (sqlite3.SQLITE_LIMIT_LENGTH, MAX_BLOB_BYTES),
    (sqlite3.SQLITE_LIMIT_SQL_LENGTH, 1 << 20),
    (sqlite3.SQLITE_LIMIT_EXPR_DEPTH, 100),
    (sqlite3.SQLITE_LIMIT_COMPOUND_SELECT, 10),
    (sqlite3.SQLITE_LIMIT_ATTACHED, 0),
    (sqlite3.SQLITE_LIMIT_WORKER_THREADS, 0),
)
# hard_heap_limit and soft_heap_limit are not used: they are process-wide, and would also cap
# (or be reset under) every other SQLite connection of the process, the vulnerability database
# included. The per-connection bounds above and the rowid-only query bound memory instead.
_PRAGMAS = (
    "PRAGMA temp_store = MEMORY",
    "PRAGMA trusted_schema = OFF",
    "PRAGMA query_only = ON",
    "PRAGMA mmap_size = 0",
    "PRAGMA cell_size_check = ON",
    f"PRAGMA cache_size = -{_CACHE_KIB}",
)
_PACKAGES = "Packages"
_QUERY = "SELECT hnum, blob FROM Packages ORDER BY hnum"


def read_sqlite(
    path: Path, *, max_seconds: float = MAX_SECONDS, max_steps: int = MAX_STEPS
) -> Iterator[Record]:
    """Yield every header blob of an rpm `rpmdb.sqlite`, in `hnum` order as rpm lists them.

    Raise `PackageDatabaseError` when the file is not a readable SQLite database with rpm's
    schema, or when reading it exceeds `max_seconds` or `max_steps`; a row whose blob is not
    bytes is yielded as a `BadRecord`.
    """
    # immutable=1: open strictly read-only, and never create or replay -wal/-shm files beside
    # the copy (they would not be the image's anyway).
    uri = path.resolve().as_uri() + "?mode=ro&immutable=1"
    try:
        connection = sqlite3.connect(uri, uri=True, isolation_level=None)
    except sqlite3.Error as exc:
        raise PackageDatabaseError(f"cannot open the SQLite database: {exc}") from exc
    with contextlib.closing(connection):
        for category, limit in _LIMITS:
            connection.setlimit(category, limit)
        budget = _Budget(max_seconds, max_steps)
        connection.set_progress_handler(budget, _STEP_INTERVAL)
        try:
            for pragma in _PRAGMAS:
                connection.execute(pragma)
            _check_schema(connection)
            cursor = connection.execute(_QUERY)
        except sqlite3.Error as exc:
            raise budget.error(exc, "the SQLite database is unreadable") from exc
        while True:
            try:
                row = cursor.fetchone()
            except sqlite3.Error as exc:
                raise budget.error(exc, "the SQLite database is damaged") from exc
            if row is None:
                return
            hnum, blob = row
            if isinstance(blob, bytes):
                yield RawHeader(f"record {hnum}", blob)
            else:
                yield BadRecord(
                    f"record {hnum}", PackageDatabaseError("the blob column does not hold bytes")
                )


class _Budget:
    """The progress handler: stops SQLite once the work exceeds the time or step bound."""

    def __init__(
        self, max_seconds: float, max_steps: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._clock = clock
        self._deadline = clock() + max_seconds
        self._max_seconds = max_seconds
        self._calls_left = max(max_steps // _STEP_INTERVAL, 1)
        self._max_steps = max_steps
        self.exceeded = ""

    def __call__(self) -> int:
        self._calls_left -= 1
        if self._calls_left < 0:
            self.exceeded = f"more than {self._max_steps:,} SQLite steps"
        elif self._clock() > self._deadline:
            self.exceeded = f"more than {self._max_seconds:g} seconds"
        return 1 if self.exceeded else 0  # non-zero interrupts the statement

    def error(self, exc: sqlite3.Error, what: str) -> PackageDatabaseError:
        if self.exceeded:
            return PackageDatabaseError(
                f"reading the SQLite database took {self.exceeded} and was stopped; a real"
                " rpmdb reads quickly, so the file is damaged or hostile"
            )
        return PackageDatabaseError(f"{what}: {exc}")


def _check_schema(connection: sqlite3.Connection) -> None:
    """Refuse any schema that is not rpm's before querying it (see the module docstring)."""
    objects = connection.execute("SELECT type, name, sql FROM sqlite_master").fetchall()
    # Views and triggers are code an attacker gets SQLite to run; rpm creates neither.
    code = sorted(f"{kind} {name!r}" for kind, name, _ in objects if kind in ("view", "trigger"))
    if code:
        raise _schema_error(f"it defines {', '.join(code)}, which rpm never creates")
    packages = [
        (kind, sql) for kind, name, sql in objects if str(name).lower() == _PACKAGES.lower()
    ]
    if not packages:
        raise _schema_error(f"it has no {_PACKAGES} table")
    kind, sql = packages[0]
    if kind != "table" or not str(sql or "").upper().lstrip().startswith("CREATE TABLE"):
        raise _schema_error(f"{_PACKAGES} is a {kind} ({str(sql)[:60]!r}), not a plain table")
    # table_xinfo also lists generated columns (hidden 2 or 3), which are computed on read.
    columns = {
        str(name).lower(): (str(declared).upper(), pk, hidden)
        for _, name, declared, _, _, pk, hidden in connection.execute(
            f"PRAGMA table_xinfo({_PACKAGES})"
        )
    }
    expected = {"hnum": ("INTEGER", 1, 0), "blob": ("BLOB", 0, 0)}
    if columns != expected:
        raise _schema_error(
            f"{_PACKAGES} has columns {columns}, not rpm's hnum INTEGER PRIMARY KEY, blob BLOB"
        )


def _schema_error(reason: str) -> PackageDatabaseError:
    return PackageDatabaseError(
        f"not an rpm database: {reason}; refusing to query it (the file may be hostile)"
    )
