"""One rpm package database file, in any of its three formats, to packages and warnings."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import assert_never

from basewatch.errors import PackageDatabaseError
from basewatch.inventory.ownership import ownership_facts
from basewatch.inventory.rpm import bdb, ndb, sqlite
from basewatch.inventory.rpm.header import parse_header
from basewatch.inventory.rpm.package import file_paths, package_from_header
from basewatch.inventory.rpm.records import BadRecord, Record
from basewatch.models import Package

# A hostile file can damage every record; past this many, warnings are only counted.
MAX_WARNINGS = 20


class DatabaseFormat(StrEnum):
    """The storage formats rpm has used for its package database."""

    BDB = "bdb"  # Berkeley DB hash, `Packages` (rpm < 4.16; RHEL <= 8, CentOS, Amazon Linux 2)
    NDB = "ndb"  # rpm's own format, `Packages.db` (SUSE)
    SQLITE = "sqlite"  # `rpmdb.sqlite` (rpm >= 4.16; Fedora 33+, RHEL 9, CBL-Mariner, Azure Linux)


@dataclass(frozen=True, slots=True)
class DatabaseContents:
    """What could be read from one database file."""

    format: DatabaseFormat | None
    packages: tuple[Package, ...]
    warnings: tuple[str, ...]
    # ("owns:<name>", path) for the language-package paths each package lists (`ownership`).
    ownership: tuple[tuple[str, str], ...] = ()


def sniff_format(path: Path) -> DatabaseFormat | None:
    """The format the file's magic bytes announce, or None when it is none of them."""
    with path.open("rb") as f:
        head = f.read(16)
    if head.startswith(sqlite.FILE_MAGIC):
        return DatabaseFormat.SQLITE
    if head.startswith(ndb.FILE_MAGIC):
        return DatabaseFormat.NDB
    if len(head) == 16:
        magic = head[12:16]
        if bdb.HASH_MAGIC in (int.from_bytes(magic, "little"), int.from_bytes(magic, "big")):
            return DatabaseFormat.BDB
    return None


def read_database(path: Path, evidence: str) -> DatabaseContents:
    """Read every package from the rpmdb file at `path`; never raises for malformed content.

    The format is taken from the file's content, not its name. `evidence` is the path inside
    the image, recorded on each package.
    """
    if path.stat().st_size == 0:
        return DatabaseContents(None, (), ("the database file is empty",))
    fmt = sniff_format(path)
    if fmt is None:
        return DatabaseContents(
            None, (), ("not an rpm database (neither Berkeley DB, ndb nor SQLite)",)
        )
    packages: list[Package] = []
    ownership: list[tuple[str, str]] = []
    problems: list[str] = []
    try:
        for record in _records(path, fmt):
            if isinstance(record, BadRecord):
                problems.append(str(record))
                continue
            try:
                header = parse_header(record.blob)
                package = package_from_header(header, evidence)
            except PackageDatabaseError as exc:
                problems.append(f"{record.where}: {exc}")
                continue
            packages.append(package)
            try:
                ownership.extend(ownership_facts(package.name, file_paths(header)))
            except PackageDatabaseError as exc:
                problems.append(f"{record.where}: {package.name}: {exc}")
    except PackageDatabaseError as exc:
        problems.append(f"{fmt.value} database unreadable: {exc}")
    return DatabaseContents(fmt, tuple(packages), _summarise(problems), tuple(ownership))


def _records(path: Path, fmt: DatabaseFormat) -> Iterator[Record]:
    match fmt:
        case DatabaseFormat.BDB:
            return bdb.read_bdb(path)
        case DatabaseFormat.NDB:
            return ndb.read_ndb(path)
        case DatabaseFormat.SQLITE:
            return sqlite.read_sqlite(path)
        case _:
            assert_never(fmt)


def _summarise(problems: list[str]) -> tuple[str, ...]:
    if len(problems) <= MAX_WARNINGS:
        return tuple(problems)
    kept = problems[: MAX_WARNINGS - 1]
    return (*kept, f"... and {len(problems) - len(kept)} more damaged records")
