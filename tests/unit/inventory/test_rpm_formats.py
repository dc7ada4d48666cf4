"""The three rpmdb formats on the real fixtures, the detector, and damaged or hostile files."""

from __future__ import annotations

import io
import random
import shutil
import sqlite3
import struct
from pathlib import Path

import pytest

from basewatch.errors import PackageDatabaseError
from basewatch.inventory.detector import AnalysisContext, FileResult
from basewatch.inventory.layers import LayerAnalysis, decode_analysis, encode_analysis
from basewatch.inventory.rpm import DATABASE_PATHS, RpmDetector
from basewatch.inventory.rpm.bdb import read_bdb
from basewatch.inventory.rpm.database import (
    MAX_WARNINGS,
    DatabaseContents,
    DatabaseFormat,
    read_database,
    sniff_format,
)
from basewatch.inventory.rpm.ndb import read_ndb
from basewatch.inventory.rpm.records import BadRecord, RawHeader
from basewatch.inventory.rpm.sqlite import read_sqlite
from basewatch.models import Package, PackageType

FIXTURES = Path(__file__).parents[3] / ".." / "shared" / "fixtures" / "pkgdb" / "rpm"
BDB = FIXTURES / "libuuid-el8-bdb-Packages"
NDB = FIXTURES / "sle15-bci-ndb-Packages.db"
SQLITE = FIXTURES / "cbl-mariner-2.0-rpmdb.sqlite"

PAGE = 4096  # the page size of the BDB fixture
LIBUUID_FIRST_OVERFLOW_PAGE = 3  # its header fills overflow pages 3 to 22


def fixture(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"real rpmdb fixture missing: {path} (../shared is not beside the repo)")
    return path


def copy(path: Path, tmp_path: Path, name: str) -> Path:
    target = tmp_path / name
    shutil.copyfile(fixture(path), target)
    target.chmod(0o644)
    return target


def read(path: Path) -> DatabaseContents:
    return read_database(path, evidence="/var/lib/rpm/Packages")


def by_name(packages: tuple[Package, ...]) -> dict[str, Package]:
    return {p.name: p for p in packages}


def mutate(path: Path, offset: int, data: bytes) -> None:
    content = bytearray(path.read_bytes())
    content[offset : offset + len(data)] = data
    path.write_bytes(bytes(content))


# --- the real fixtures --------------------------------------------------------------------


def test_sniff_format() -> None:
    assert sniff_format(fixture(BDB)) is DatabaseFormat.BDB
    assert sniff_format(fixture(NDB)) is DatabaseFormat.NDB
    assert sniff_format(fixture(SQLITE)) is DatabaseFormat.SQLITE


def test_bdb_fixture() -> None:
    contents = read(fixture(BDB))
    assert contents.format is DatabaseFormat.BDB
    assert contents.warnings == ()
    assert contents.packages == (
        Package(
            name="libuuid",
            version="2.32.1-42.el8_8",
            type=PackageType.RPM,
            arch="x86_64",
            source_name="util-linux",
            source_version="2.32.1-42.el8_8",
            licenses=("BSD",),
            evidence=("/var/lib/rpm/Packages",),
            metadata=(
                ("release", "42.el8_8"),
                ("sourcerpm", "util-linux-2.32.1-42.el8_8.src.rpm"),
                ("vendor", "Red Hat, Inc."),
            ),
        ),
    )


def test_bdb_reader_skips_rpms_counter_record() -> None:
    records = list(read_bdb(fixture(BDB)))
    assert [type(r) for r in records] == [RawHeader]
    assert isinstance(records[0], RawHeader)
    assert records[0].where == "record 1"


def test_ndb_fixture() -> None:
    contents = read(fixture(NDB))
    assert contents.format is DatabaseFormat.NDB
    assert contents.warnings == ()
    assert len(contents.packages) == 35
    assert contents.packages[0].name == "system-user-root"
    assert contents.packages[-1].name == "rpm-ndb"
    packages = by_name(contents.packages)
    assert len(packages) == 35
    glibc = packages["glibc"]
    assert (glibc.version, glibc.arch) == ("2.31-9.3.2", "x86_64")
    assert glibc.licenses == (
        "LGPL-2.1-or-later AND LGPL-2.1-or-later WITH GCC-exception-2.0 AND GPL-2.0-or-later",
    )
    assert glibc.meta("vendor") == "SUSE LLC <https://www.suse.com/>"
    libgcc = packages["libgcc_s1"]
    assert (libgcc.source_name, libgcc.source_version) == ("gcc11", "11.2.1+git610-1.3.9")
    assert packages["ca-certificates-mozilla-prebuilt"].arch == "noarch"
    assert packages["libreadline7"].source_name == "bash"
    assert packages["rpm-ndb"].version == "4.14.3-40.1"


def test_ndb_reader_follows_rpms_blob_order() -> None:
    records = list(read_ndb(fixture(NDB)))
    assert all(isinstance(r, RawHeader) for r in records)
    assert [r.where for r in records[:3]] == ["package 1", "package 2", "package 3"]


def test_sqlite_fixture() -> None:
    contents = read(fixture(SQLITE))
    assert contents.format is DatabaseFormat.SQLITE
    assert contents.warnings == ()
    assert len(contents.packages) == 129
    assert contents.packages[0].name == "mariner-release"
    assert contents.packages[-1].name == "sqlite"
    packages = by_name(contents.packages)
    assert len(packages) == 129
    openssl = packages["openssl-libs"]
    assert (openssl.version, openssl.source_name, openssl.source_version) == (
        "1.1.1k-7.cm2",
        "openssl",
        "1.1.1k-7.cm2",
    )
    assert openssl.licenses == ("OpenSSL",)
    ca = packages["ca-certificates-base"]
    assert ca.version == "1:2.0.0-1.cm2"
    assert (ca.meta("epoch"), ca.meta("release")) == ("1", "1.cm2")
    assert ca.source_version == "2.0.0-1.cm2"  # SOURCERPM has no epoch
    assert packages["glibc"].version == "2.34-2.cm2"
    assert packages["curl"].meta("vendor") == "Microsoft Corporation"
    assert sum(1 for p in contents.packages if p.meta("epoch")) == 3
    assert not any(p.meta("pseudo") for p in contents.packages)


def test_sqlite_reader_leaves_no_files_beside_the_database(tmp_path: Path) -> None:
    db = copy(SQLITE, tmp_path, "rpmdb.sqlite")
    assert len(list(read_sqlite(db))) == 129
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rpmdb.sqlite"]


# --- the detector -------------------------------------------------------------------------


@pytest.mark.parametrize("path", sorted(DATABASE_PATHS))
def test_wants_the_standard_locations(path: str) -> None:
    assert RpmDetector().wants(path, 1024, 0o100644)


@pytest.mark.parametrize(
    "path",
    [
        "/var/lib/rpm/Name",
        "/var/lib/rpm/Packages.bak",
        "/var/lib/rpm/rpmdb.sqlite-wal",
        "var/lib/rpm/Packages",
        "/opt/var/lib/rpm/Packages",
        "/var/lib/dpkg/status",
    ],
)
def test_does_not_want_other_files(path: str) -> None:
    assert not RpmDetector().wants(path, 1024, 0o100644)


def test_detector_protocol_attributes() -> None:
    assert (RpmDetector.name, RpmDetector.version) == ("rpm", 3)
    assert len(DATABASE_PATHS) == 9


@pytest.mark.parametrize(
    ("source", "path", "count"),
    [
        (BDB, "/var/lib/rpm/Packages", 1),
        (NDB, "/usr/lib/sysimage/rpm/Packages.db", 35),
        (SQLITE, "/var/lib/rpm/rpmdb.sqlite", 129),
    ],
)
def test_analyze(tmp_path: Path, source: Path, path: str, count: int) -> None:
    ctx = AnalysisContext(tmp_path / "scratch")
    data = fixture(source).read_bytes()
    result = RpmDetector().analyze(path, io.BytesIO(data), len(data), ctx)
    assert result is not None
    assert (result.path, result.detector, result.database) == (path, "rpm", True)
    assert result.warnings == ()
    assert len(result.packages) == count
    assert {p.evidence for p in result.packages} == {(path,)}
    analysis = LayerAnalysis("sha256:" + "0" * 64, (), (result,))
    assert decode_analysis(encode_analysis(analysis)) == analysis
    assert list((tmp_path / "scratch").iterdir()) == []  # the spooled copy is gone


def test_analyze_trusts_content_over_name(tmp_path: Path) -> None:
    data = fixture(NDB).read_bytes()
    ctx = AnalysisContext(tmp_path)
    result = RpmDetector().analyze("/var/lib/rpm/Packages", io.BytesIO(data), len(data), ctx)
    assert result is not None
    assert len(result.packages) == 35


# --- damaged and hostile input ------------------------------------------------------------


def analyze_bytes(tmp_path: Path, data: bytes, path: str = "/var/lib/rpm/Packages") -> FileResult:
    result = RpmDetector().analyze(path, io.BytesIO(data), len(data), AnalysisContext(tmp_path))
    assert result is not None
    assert result.database
    return result


def test_empty_file(tmp_path: Path) -> None:
    result = analyze_bytes(tmp_path, b"")
    assert result.packages == ()
    assert result.warnings == ("the database file is empty",)


@pytest.mark.parametrize("size", [1, 15, 600, 8192, 70000])
def test_garbage(tmp_path: Path, size: int) -> None:
    data = random.Random(size).randbytes(size)
    result = analyze_bytes(tmp_path, data)
    assert result.packages == ()
    assert result.warnings == ("not an rpm database (neither Berkeley DB, ndb nor SQLite)",)


@pytest.mark.parametrize(
    ("magic", "expected"),
    [
        (b"SQLite format 3\0", "sqlite database unreadable"),
        (b"RpmP", "ndb database unreadable"),
        (b"\0" * 12 + struct.pack("<I", 0x061561), "bdb database unreadable"),
    ],
)
def test_right_magic_then_garbage(tmp_path: Path, magic: bytes, expected: str) -> None:
    data = magic + random.Random(1).randbytes(5000)
    result = analyze_bytes(tmp_path, data)
    assert result.packages == ()
    assert len(result.warnings) == 1
    assert result.warnings[0].startswith(expected)


@pytest.mark.parametrize(
    ("size", "expected"),
    [
        (300, "too short for a Berkeley DB file"),
        (3 * PAGE, "overflow item of 80880 bytes is larger than the file"),
        (50_000, "overflow item of 80880 bytes is larger than the file"),
        (94208 - 100, "past the end of the file"),
    ],
)
def test_truncated_bdb(tmp_path: Path, size: int, expected: str) -> None:
    data = fixture(BDB).read_bytes()[:size]
    result = analyze_bytes(tmp_path, data)
    assert result.packages == ()
    assert len(result.warnings) == 1
    assert expected in result.warnings[0]


def test_bdb_overflow_page_loop(tmp_path: Path) -> None:
    db = copy(BDB, tmp_path, "Packages")
    mutate(db, 10 * PAGE + 16, struct.pack("<I", 5))  # page 10's next page: back to page 5
    contents = read(db)
    assert contents.packages == ()
    assert contents.warnings == ("record 1: overflow page 5 is reached twice (a page loop)",)


def test_bdb_overflow_page_points_at_itself(tmp_path: Path) -> None:
    db = copy(BDB, tmp_path, "Packages")
    mutate(db, 22 * PAGE + 16, struct.pack("<I", 22))
    assert read(db).warnings == ("record 1: overflow page 22 is reached twice (a page loop)",)


def test_bdb_bucket_page_loop(tmp_path: Path) -> None:
    db = copy(BDB, tmp_path, "Packages")
    mutate(db, 2 * PAGE + 16, struct.pack("<I", 1))  # bucket 1's page chains back to bucket 0's
    contents = read(db)
    assert [p.name for p in contents.packages] == ["libuuid"]
    assert contents.warnings == ("bucket 1: bucket page 1 is reached twice (a page loop)",)


def test_bdb_overflow_to_a_page_past_the_end(tmp_path: Path) -> None:
    db = copy(BDB, tmp_path, "Packages")
    mutate(db, 7 * PAGE + 16, struct.pack("<I", 10_000))
    assert read(db).warnings == (
        "record 1: overflow page 10000 is past the end of the file (23 pages)",
    )


def test_bdb_meta_claiming_huge_bucket_count(tmp_path: Path) -> None:
    db = copy(BDB, tmp_path, "Packages")
    mutate(db, 72, struct.pack("<I", 0xFFFFFFFE))
    contents = read(db)
    assert [p.name for p in contents.packages] == ["libuuid"]
    assert contents.warnings[0] == (
        "buckets 23 to 4294967294: the metadata names 4294967295 buckets but the file has 23 pages"
    )


def test_bdb_header_index_out_of_bounds(tmp_path: Path) -> None:
    db = copy(BDB, tmp_path, "Packages")
    blob_start = LIBUUID_FIRST_OVERFLOW_PAGE * PAGE + 26
    first_entry_offset_field = blob_start + 8 + 16 + 8  # entry 1 (0 is the region tag)
    mutate(db, first_entry_offset_field, struct.pack(">i", 0x7FFFFFFF))
    contents = read(db)
    assert contents.packages == ()
    assert contents.warnings == (
        "record 1: header entry 1 (tag 100): offset 2147483647 points outside the data store",
    )


def test_bdb_encrypted_or_not_hash(tmp_path: Path) -> None:
    db = copy(BDB, tmp_path, "Packages")
    mutate(db, 24, b"\x01")
    assert read(db).warnings == ("bdb database unreadable: the Berkeley DB file is encrypted",)
    mutate(db, 24, b"\x00\x09")
    assert read(db).warnings == ("bdb database unreadable: page 0 has type 9, not hash metadata",)


@pytest.mark.parametrize("size", [20, 100, 4096 + 16, 700_000, 1_374_144 - 1])
def test_truncated_ndb(tmp_path: Path, size: int) -> None:
    data = fixture(NDB).read_bytes()[:size]
    result = analyze_bytes(tmp_path, data, "/usr/lib/sysimage/rpm/Packages.db")
    assert result.warnings
    assert len(result.packages) < 35
    if size == 700_000:
        assert 0 < len(result.packages) < 35
        assert any("blob lies past the end of the file" in w for w in result.warnings)


def test_ndb_blob_checksum_mismatch(tmp_path: Path) -> None:
    db = copy(NDB, tmp_path, "Packages.db")
    mutate(db, 516 * 16 + 200, b"\xff")  # inside package 2's blob
    contents = read(db)
    assert len(contents.packages) == 34
    assert "filesystem" not in by_name(contents.packages)
    assert contents.warnings == ("package 2 (slot 3): blob checksum mismatch",)


def test_ndb_bad_slot(tmp_path: Path) -> None:
    db = copy(NDB, tmp_path, "Packages.db")
    mutate(db, 48, b"XXXX")  # slot 3's magic
    mutate(db, 64 + 8, struct.pack("<I", 1))  # slot 4's blob inside the slot pages
    contents = read(db)
    assert len(contents.packages) == 33
    assert contents.warnings == (
        "slot 4: blob overlaps the slot pages",
        "slot 3: bad slot magic",
    )


def test_ndb_blob_of_another_package(tmp_path: Path) -> None:
    db = copy(NDB, tmp_path, "Packages.db")
    mutate(db, 256 * 16 + 4, struct.pack("<I", 99))
    contents = read(db)
    assert len(contents.packages) == 34
    assert contents.warnings == ("package 1 (slot 2): blob belongs to package 99",)


def test_ndb_slots_sharing_a_blob(tmp_path: Path) -> None:
    db = copy(NDB, tmp_path, "Packages.db")
    slot_2 = fixture(NDB).read_bytes()[32:48]
    for slot in (3, 4, 5):
        mutate(db, slot * 16, slot_2)  # three more slots for package 1's blob
    contents = read(db)
    assert len(contents.packages) == 32
    assert contents.warnings == (
        "package 1 (slot 3): blob overlaps the previous blob",
        "package 1 (slot 4): blob overlaps the previous blob",
        "package 1 (slot 5): blob overlaps the previous blob",
    )


def test_ndb_too_many_slot_pages(tmp_path: Path) -> None:
    db = copy(NDB, tmp_path, "Packages.db")
    mutate(db, 12, struct.pack("<I", 100_000))
    contents = read(db)
    # Every blob now lies inside the announced slot pages, and is read as slots.
    assert contents.packages == ()
    assert contents.warnings[0] == "slot pages 335 to 99999: missing: the file is truncated"
    assert contents.warnings[1] == "slot 2: blob overlaps the slot pages"
    assert len(contents.warnings) == MAX_WARNINGS


def test_warnings_are_capped(tmp_path: Path) -> None:
    data = bytearray(fixture(NDB).read_bytes())
    for slot in range(2, PAGE // 16):
        struct.pack_into("<I", data, slot * 16 + 4, 1000 + slot)  # no blob matches its slot
    db = tmp_path / "Packages.db"
    db.write_bytes(bytes(data))
    contents = read(db)
    assert contents.packages == ()
    assert len(contents.warnings) == MAX_WARNINGS
    assert contents.warnings[-1] == "... and 16 more damaged records"


def test_ndb_header_index_out_of_bounds_is_caught_by_checksum(tmp_path: Path) -> None:
    db = copy(NDB, tmp_path, "Packages.db")
    mutate(db, 256 * 16 + 16 + 8 + 16 + 8, struct.pack(">i", 0x7FFFFFFF))
    assert read(db).warnings == ("package 1 (slot 2): blob checksum mismatch",)


@pytest.mark.parametrize("size", [100, 4096, 1_000_000, 3_000_000])
def test_truncated_sqlite(tmp_path: Path, size: int) -> None:
    data = fixture(SQLITE).read_bytes()[:size]
    result = analyze_bytes(tmp_path, data, "/var/lib/rpm/rpmdb.sqlite")
    assert len(result.warnings) == 1
    assert result.warnings[0].startswith("sqlite database unreadable")
    assert len(result.packages) < 129


def test_sqlite_header_index_out_of_bounds(tmp_path: Path) -> None:
    db = copy(SQLITE, tmp_path, "rpmdb.sqlite")
    with sqlite3.connect(db) as connection:
        (blob,) = connection.execute("SELECT blob FROM Packages WHERE hnum = 7").fetchone()
        bad = bytearray(blob)
        struct.pack_into(">i", bad, 8 + 16 + 8, 1 << 24)
        connection.execute("UPDATE Packages SET blob = ? WHERE hnum = 7", (bytes(bad),))
    connection.close()
    contents = read(db)
    assert len(contents.packages) == 128
    assert contents.warnings == (
        "record 7: header entry 1 (tag 100): offset 16777216 points outside the data store",
    )


def test_sqlite_row_without_bytes(tmp_path: Path) -> None:
    db = copy(SQLITE, tmp_path, "rpmdb.sqlite")
    with sqlite3.connect(db) as connection:
        connection.execute("UPDATE Packages SET blob = 'text' WHERE hnum = 3")
    connection.close()
    contents = read(db)
    assert len(contents.packages) == 128
    assert contents.warnings == ("record 3: the blob column does not hold bytes",)


def test_sqlite_without_packages_table(tmp_path: Path) -> None:
    db = tmp_path / "rpmdb.sqlite"
    with sqlite3.connect(db) as connection:
        connection.execute("CREATE TABLE Other (x)")
    connection.close()
    contents = read(db)
    assert contents.packages == ()
    assert contents.warnings == (
        "sqlite database unreadable: not an rpm database: it has no Packages table; refusing"
        " to query it (the file may be hostile)",
    )


def test_low_level_readers_raise_package_database_error(tmp_path: Path) -> None:
    junk = tmp_path / "junk"
    junk.write_bytes(b"\x01" * 4096)
    for reader in (read_bdb, read_ndb, read_sqlite):
        with pytest.raises(PackageDatabaseError):
            list(reader(junk))


@pytest.mark.parametrize(
    ("source", "name", "rounds"),
    [(BDB, "Packages", 300), (NDB, "Packages.db", 60), (SQLITE, "rpmdb.sqlite", 30)],
)
def test_random_damage_never_raises(tmp_path: Path, source: Path, name: str, rounds: int) -> None:
    original = fixture(source).read_bytes()
    rng = random.Random(name)
    target = tmp_path / name
    for _ in range(rounds):
        data = bytearray(original)
        for _ in range(rng.randint(1, 12)):
            # Mostly the structures at the start (metadata, bucket and slot pages, the first
            # header), sometimes anywhere.
            limit = len(data) if rng.random() < 0.3 else min(len(data), 3 * PAGE + 2000)
            at = rng.randrange(limit)
            data[at : at + 4] = rng.randbytes(4)
        if rng.random() < 0.2:
            del data[rng.randrange(len(data)) :]
        target.write_bytes(bytes(data))
        contents = read(target)
        assert isinstance(contents.packages, tuple)
        for warning in contents.warnings:
            assert "\n" not in warning


def test_bad_records_render_as_one_line() -> None:
    record = BadRecord("record 3", PackageDatabaseError("blob checksum mismatch"))
    assert str(record) == "record 3: blob checksum mismatch"
