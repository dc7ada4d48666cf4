"""The rpm detector against rpm itself: the same packages as `rpm --dbpath DIR -qa`.

Debian's rpm 4.18 reads SQLite (its default backend) and Berkeley DB (`bdb_ro`, read-only) but
is built without the ndb backend; for ndb the blobs our reader extracts are re-hosted in an
SQLite rpmdb so rpm can still judge them. Berkeley DB files beyond the small EL8 fixture
(other page sizes, big-endian, many buckets, chained bucket pages, inline items) are made with
Berkeley DB's own `db5.3_load` from the headers of the SQLite fixture.

Needs the apt packages `rpm` and, for the generated Berkeley DB files, `db5.3-util`.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import struct
import subprocess
from collections import Counter
from pathlib import Path

import pytest

from basewatch.inventory.rpm.bdb import read_bdb
from basewatch.inventory.rpm.database import DatabaseFormat, read_database
from basewatch.inventory.rpm.header import Tag, parse_header
from basewatch.inventory.rpm.ndb import read_ndb
from basewatch.inventory.rpm.package import file_paths
from basewatch.inventory.rpm.records import RawHeader
from basewatch.inventory.rpm.sqlite import read_sqlite
from basewatch.models import Package

pytestmark = pytest.mark.integration

FIXTURES = Path(__file__).parents[2] / ".." / "shared" / "fixtures" / "pkgdb" / "rpm"
BDB = FIXTURES / "libuuid-el8-bdb-Packages"
NDB = FIXTURES / "sle15-bci-ndb-Packages.db"
SQLITE = FIXTURES / "cbl-mariner-2.0-rpmdb.sqlite"
KEYS = Path("/etc/apt/trusted.gpg.d")

RPM = shutil.which("rpm")
DB_LOAD = shutil.which("db5.3_load") or shutil.which("db_load")

# name, epoch, version, release, arch, sourcerpm, license, vendor, modularitylabel
Row = tuple[str, ...]
_OPTIONAL = (
    "EPOCH",
    "VERSION",
    "RELEASE",
    "ARCH",
    "SOURCERPM",
    "LICENSE",
    "VENDOR",
    "MODULARITYLABEL",
)
# %|TAG?{present}:{absent}| prints "" for a missing tag instead of "(none)".
QUERY_FORMAT = (
    "\t".join(["%{NAME}", *(f"%|{tag}?{{%{{{tag}}}}}:{{}}|" for tag in _OPTIONAL)]) + "\n"
)


def fixture(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"real rpmdb fixture missing: {path} (../shared is not beside the repo)")
    return path


def need_rpm() -> str:
    if RPM is None:
        pytest.skip("rpm is not installed (apt-get install rpm)")
    return RPM


def rpm(dbpath: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    env = {**os.environ, "LC_ALL": "C", "HOME": str(dbpath)}
    return subprocess.run(
        [need_rpm(), "--dbpath", str(dbpath), *args], capture_output=True, env=env, check=False
    )


def rpm_rows(dbpath: Path, *defines: str) -> Counter[Row]:
    """What rpm itself lists from the database in `dbpath`."""
    result = rpm(dbpath, *defines, "-qa", "--qf", QUERY_FORMAT)
    assert result.returncode == 0, result.stderr.decode(errors="replace")
    rows: Counter[Row] = Counter()
    for line in result.stdout.decode("utf-8", errors="replace").splitlines():
        row = tuple(line.split("\t"))
        assert len(row) == 9, line
        # rpm writes "(none)" as the SOURCERPM of gpg-pubkey headers; we record no source.
        rows[tuple("" if (i == 5 and v == "(none)") else v for i, v in enumerate(row))] += 1
    return rows


def our_rows(path: Path, expected_format: DatabaseFormat) -> Counter[Row]:
    contents = read_database(path, evidence="/var/lib/rpm/x")
    assert contents.format is expected_format
    assert contents.warnings == ()
    return Counter(_row(p) for p in contents.packages)


def _row(package: Package) -> Row:
    epoch, release = package.meta("epoch"), package.meta("release")
    version = package.version.removeprefix(f"{epoch}:" if epoch else "")
    assert version.endswith(f"-{release}")
    version = version.removesuffix(f"-{release}")
    return (
        package.name,
        epoch,
        version,
        release,
        package.arch,
        package.meta("sourcerpm"),
        package.licenses[0] if package.licenses else "",
        package.meta("vendor"),
        package.meta("modularitylabel"),
    )


def place(source: Path, directory: Path, name: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / name
    shutil.copyfile(source, target)
    target.chmod(0o644)
    return target


def sqlite_blobs() -> list[tuple[int, bytes]]:
    uri = fixture(SQLITE).resolve().as_uri() + "?mode=ro&immutable=1"
    with sqlite3.connect(uri, uri=True) as connection:
        rows = connection.execute("SELECT hnum, blob FROM Packages ORDER BY hnum").fetchall()
    connection.close()
    return [(int(hnum), bytes(blob)) for hnum, blob in rows]


def rehost_in_sqlite(blobs: list[bytes], directory: Path) -> Path:
    """A real (emptied) rpmdb.sqlite holding `blobs`: rpm can then list them."""
    target = place(fixture(SQLITE), directory, "rpmdb.sqlite")
    with sqlite3.connect(target) as connection:
        tables = connection.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        ).fetchall()
        for (table,) in tables:
            connection.execute(f'DELETE FROM "{table}"')
        connection.executemany("INSERT INTO Packages (blob) VALUES (?)", [(b,) for b in blobs])
    connection.close()
    return target


# --- the fixtures as rpm reads them -------------------------------------------------------


def test_sqlite_fixture_matches_rpm(tmp_path: Path) -> None:
    db = place(fixture(SQLITE), tmp_path, "rpmdb.sqlite")
    expected = rpm_rows(tmp_path)
    assert sum(expected.values()) == 129
    assert our_rows(db, DatabaseFormat.SQLITE) == expected


def test_bdb_fixture_matches_rpm(tmp_path: Path) -> None:
    db = place(fixture(BDB), tmp_path, "Packages")
    expected = rpm_rows(tmp_path, "--define", "_db_backend bdb_ro")
    assert sum(expected.values()) == 1
    assert our_rows(db, DatabaseFormat.BDB) == expected


def test_ndb_fixture_read_by_rpm_directly(tmp_path: Path) -> None:
    db = place(fixture(NDB), tmp_path, "Packages.db")
    result = rpm(tmp_path, "--define", "_db_backend ndb", "-qa", "--qf", QUERY_FORMAT)
    if result.returncode != 0 or not result.stdout:
        version = rpm(tmp_path, "--version").stdout.decode().strip()
        pytest.skip(f"{version} cannot read ndb databases (built without the ndb backend)")
    assert our_rows(db, DatabaseFormat.NDB) == rpm_rows(tmp_path, "--define", "_db_backend ndb")


def test_ndb_headers_rehosted_match_rpm(tmp_path: Path) -> None:
    records = list(read_ndb(fixture(NDB)))
    blobs = [r.blob for r in records if isinstance(r, RawHeader)]
    assert len(blobs) == len(records) == 35
    rehost_in_sqlite(blobs, tmp_path / "rehosted")
    expected = rpm_rows(tmp_path / "rehosted")
    assert sum(expected.values()) == 35
    assert our_rows(fixture(NDB), DatabaseFormat.NDB) == expected


# --- Berkeley DB files made by Berkeley DB ------------------------------------------------


@pytest.mark.parametrize(
    ("options", "rpm_reads_it"),
    [
        pytest.param({"db_pagesize": "4096"}, True, id="4k-little-endian"),
        pytest.param({"db_pagesize": "512", "db_lorder": "4321"}, True, id="512-big-endian"),
        pytest.param({"db_pagesize": "4096", "h_ffactor": "1"}, True, id="many-buckets"),
        pytest.param({"db_pagesize": "512", "h_ffactor": "5000"}, True, id="chained-buckets"),
        pytest.param(
            {"db_pagesize": "65536", "db_lorder": "4321", "h_ffactor": "3"}, True, id="inline"
        ),
        # rpm's bdb_ro refuses checksummed files; check against the headers' source instead.
        pytest.param({"db_pagesize": "1024", "chksum": "1"}, False, id="checksums"),
    ],
)
def test_generated_bdb_matches_rpm(
    tmp_path: Path, options: dict[str, str], rpm_reads_it: bool
) -> None:
    if DB_LOAD is None:
        pytest.skip("db5.3_load is not installed (apt-get install db5.3-util)")
    blobs = sqlite_blobs()
    order = ">" if options.get("db_lorder") == "4321" else "<"
    key = struct.Struct(order + "I")
    lines = ["VERSION=3", "format=bytevalue", "type=hash"]
    lines += [f"{name}={value}" for name, value in options.items()]
    lines.append("HEADER=END")
    # Key 0 is rpm's "next instance" counter, stored beside the headers.
    lines += [" " + key.pack(0).hex(), " " + key.pack(len(blobs) + 1).hex()]
    for hnum, blob in blobs:
        lines += [" " + key.pack(hnum).hex(), " " + blob.hex()]
    lines.append("DATA=END")
    bdb_dir = tmp_path / "bdb"
    bdb_dir.mkdir()
    subprocess.run(
        [DB_LOAD, str(bdb_dir / "Packages")],
        input="\n".join(lines) + "\n",
        text=True,
        check=True,
        capture_output=True,
    )

    ours = our_rows(bdb_dir / "Packages", DatabaseFormat.BDB)
    source = rpm_rows(place(fixture(SQLITE), tmp_path / "source", "rpmdb.sqlite").parent)
    assert sum(source.values()) == 129
    assert ours == source
    if rpm_reads_it:
        assert rpm_rows(bdb_dir, "--define", "_db_backend bdb_ro") == ours


# --- gpg-pubkey pseudo packages, written by rpm ---------------------------------------------


def test_imported_keys_are_listed_like_rpm_does(tmp_path: Path) -> None:
    keys = sorted(KEYS.glob("*.asc")) if KEYS.is_dir() else []
    if not keys:
        pytest.skip(f"no ASCII-armoured keys in {KEYS} to import")
    db_dir = tmp_path / "keys"
    db_dir.mkdir()
    result = rpm(db_dir, "--import", *map(str, keys))
    assert result.returncode == 0, result.stderr.decode(errors="replace")
    expected = rpm_rows(db_dir)
    assert expected
    assert our_rows(db_dir / "rpmdb.sqlite", DatabaseFormat.SQLITE) == expected
    contents = read_database(db_dir / "rpmdb.sqlite", evidence="/var/lib/rpm/rpmdb.sqlite")
    assert {p.name for p in contents.packages} == {"gpg-pubkey"}
    assert {p.meta("pseudo") for p in contents.packages} == {"gpg-pubkey"}
    assert all(p.arch == "" and p.source_name == "" for p in contents.packages)


# --- file lists (for the language packages an rpm installed) ------------------------------------


@pytest.mark.parametrize(
    ("source", "name", "defines"),
    [
        (SQLITE, "rpmdb.sqlite", ()),
        (BDB, "Packages", ("--define", "_db_backend bdb_ro")),
    ],
)
def test_file_lists_match_rpm(
    tmp_path: Path, source: Path, name: str, defines: tuple[str, ...]
) -> None:
    db = place(fixture(source), tmp_path, name)
    listed = rpm(tmp_path, *defines, "-qa", "--qf", "[%{=NAME}\\t%{FILENAMES}\\n]")
    assert listed.returncode == 0, listed.stderr.decode(errors="replace")
    expected = Counter(
        tuple(line.split("\t", 1)) for line in listed.stdout.decode().splitlines() if line
    )
    read = read_sqlite if source == SQLITE else read_bdb
    ours: Counter[tuple[str, ...]] = Counter()
    for record in read(db):
        assert isinstance(record, RawHeader)
        header = parse_header(record.blob)
        package = header.string(Tag.NAME) or ""
        ours.update((package, path) for path in file_paths(header))
    assert sum(expected.values()) > 1000 if source == SQLITE else sum(expected.values()) > 5
    assert ours == expected
