"""Hostile `rpmdb.sqlite` files: schemas that make SQLite loop, sort to disk or allocate."""

from __future__ import annotations

import os
import resource
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from basewatch.errors import PackageDatabaseError
from basewatch.inventory.rpm.database import read_database
from basewatch.inventory.rpm.sqlite import read_sqlite
from tests.bounded import SRC, run_bounded
from tests.imagebuild import DEBIAN_OS_RELEASE, build_image, file, write_docker_archive

# An endless recursive CTE of 100 MB blobs, sorted: SQLite spills the sort to temporary files.
ENDLESS_VIEW = """CREATE VIEW Packages AS
  WITH RECURSIVE r(hnum, blob) AS (
    SELECT 1, zeroblob(100000000) UNION ALL SELECT hnum + 1, zeroblob(100000000) FROM r
  )
  SELECT hnum, blob FROM r ORDER BY blob"""

RPM_PACKAGES = "CREATE TABLE Packages (hnum INTEGER PRIMARY KEY AUTOINCREMENT, blob BLOB NOT NULL)"


def database(path: Path, *statements: str) -> Path:
    connection = sqlite3.connect(path)
    for statement in statements:
        connection.execute(statement)
    connection.commit()
    connection.close()
    return path


def refusal(path: Path) -> str:
    (warning,) = read_database(path, evidence="/var/lib/rpm/rpmdb.sqlite").warnings
    assert warning.startswith("sqlite database unreadable: not an rpm database: "), warning
    return warning


def test_endless_view_is_refused_without_writing_any_file(tmp_path: Path) -> None:
    """Run in a child that may not write more than 64 KiB to any file, nor run long."""
    db = database(tmp_path / "rpmdb.sqlite", ENDLESS_VIEW)
    code = (
        "import sys\nfrom pathlib import Path\n"
        "from basewatch.inventory.rpm.database import read_database\n"
        "print(read_database(Path(sys.argv[1]), 'x').warnings)\n"
    )
    temp = tmp_path / "temp"
    temp.mkdir()

    def bound() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (64 << 10, 64 << 10))
        resource.setrlimit(resource.RLIMIT_AS, (512 << 20, 512 << 20))

    env = {**os.environ, "PYTHONPATH": str(SRC), "TMPDIR": str(temp), "SQLITE_TMPDIR": str(temp)}
    proc = subprocess.run(
        [sys.executable, "-c", code, str(db)],
        preexec_fn=bound,  # setrlimit only, in the child
        capture_output=True,
        text=True,
        timeout=30,
        env=env,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    # Before: "disk I/O error" (the sort hit the file-size limit) or a hang.
    assert "not an rpm database: it defines view 'Packages'" in proc.stdout, proc.stdout
    assert list(temp.iterdir()) == []


def test_endless_view_in_an_image_is_a_partial_result_quickly(tmp_path: Path) -> None:
    db = database(tmp_path / "rpmdb.sqlite", ENDLESS_VIEW)
    built = build_image(
        [
            [
                file("etc/os-release", DEBIAN_OS_RELEASE),
                file("var/lib/rpm/rpmdb.sqlite", db.read_bytes()),
            ]
        ]
    )
    archive = write_docker_archive(tmp_path / "img.tar", [(built, ["test/rpm:1"])])
    temp = tmp_path / "temp"
    temp.mkdir()
    result = run_bounded(
        ["sbom", f"docker-archive:{archive}", "-f", "json", "--cache-dir", str(tmp_path / "c")],
        env={**os.environ, "TMPDIR": str(temp), "SQLITE_TMPDIR": str(temp)},
        timeout=30,
        memory_mb=1024,
    )
    result.check_refused(4)
    assert "not an rpm database" in result.stderr + result.stdout
    assert [p for p in temp.rglob("*") if p.is_file()] == []


@pytest.mark.parametrize(
    ("statements", "reason"),
    [
        (
            [
                "CREATE TABLE Packages (hnum INTEGER PRIMARY KEY, "
                "blob BLOB GENERATED ALWAYS AS (zeroblob(100000000)) VIRTUAL)"
            ],
            "Packages has columns",
        ),
        (
            [
                RPM_PACKAGES,
                "CREATE TABLE Log (x)",
                "CREATE TRIGGER t AFTER INSERT ON Packages BEGIN INSERT INTO Log VALUES (1); END",
            ],
            "it defines trigger 't'",
        ),
        (
            ["CREATE TABLE Packages (hnum TEXT, blob BLOB)"],
            "Packages has columns",
        ),
        (
            ["CREATE TABLE Packages (hnum INTEGER PRIMARY KEY, blob BLOB, extra)"],
            "Packages has columns",
        ),
        (["CREATE TABLE Other (x)"], "it has no Packages table"),
    ],
)
def test_schemas_that_are_not_rpms_are_refused(
    tmp_path: Path, statements: list[str], reason: str
) -> None:
    db = database(tmp_path / "rpmdb.sqlite", *statements)
    assert reason in refusal(db)


def test_work_is_bounded_even_on_rpms_schema(tmp_path: Path) -> None:
    db = database(
        tmp_path / "rpmdb.sqlite",
        RPM_PACKAGES,
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 20000) "
        "INSERT INTO Packages (blob) SELECT x'00' FROM n",
    )
    with pytest.raises(PackageDatabaseError, match="more than 10,000 SQLite steps"):
        list(read_sqlite(db, max_steps=10_000))
    with pytest.raises(PackageDatabaseError, match="more than 0 seconds"):
        list(read_sqlite(db, max_seconds=0))
    assert len(list(read_sqlite(db))) == 20000
