"""rpm's SQLite package database, `rpmdb.sqlite` (rpm 4.16 and later): `Packages(hnum, blob)`."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from pathlib import Path

from basewatch.errors import PackageDatabaseError
from basewatch.inventory.rpm.records import BadRecord, RawHeader, Record

FILE_MAGIC = b"SQLite format 3\0"


def read_sqlite(path: Path) -> Iterator[Record]:
    """Yield every header blob of an rpm `rpmdb.sqlite`, in `hnum` order as rpm lists them.

    Raise `PackageDatabaseError` when the file is not a readable SQLite database with rpm's
    table; a row whose blob is not bytes is yielded as a `BadRecord`.
    """
    # immutable=1: open strictly read-only, and never create or replay -wal/-shm files beside
    # the copy (they would not be the image's anyway).
    uri = path.resolve().as_uri() + "?mode=ro&immutable=1"
    try:
        connection = sqlite3.connect(uri, uri=True)
    except sqlite3.Error as exc:
        raise PackageDatabaseError(f"cannot open the SQLite database: {exc}") from exc
    with contextlib.closing(connection):
        try:
            cursor = connection.execute("SELECT hnum, blob FROM Packages ORDER BY hnum")
        except sqlite3.Error as exc:
            raise PackageDatabaseError(f"no readable rpm Packages table: {exc}") from exc
        while True:
            try:
                row = cursor.fetchone()
            except sqlite3.Error as exc:
                raise PackageDatabaseError(f"the SQLite database is damaged: {exc}") from exc
            if row is None:
                return
            hnum, blob = row
            if isinstance(blob, bytes):
                yield RawHeader(f"record {hnum}", blob)
            else:
                yield BadRecord(
                    f"record {hnum}", PackageDatabaseError("the blob column does not hold bytes")
                )
