"""Writers of one database: serialised by the lock beside it, none lost, none leaving files."""

from __future__ import annotations

import fcntl
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from basewatch.errors import DatabaseError
from basewatch.vulndb.importer import import_paths
from basewatch.vulndb.sqlite import SqliteStore, lock_path, rebuilding
from tests.bounded import SRC
from tests.fixtures import shared_fixture


def record_dir(root: Path, ecosystem: str, count: int) -> Path:
    root.mkdir(parents=True)
    for index in range(count):
        data = {
            "id": f"{ecosystem.upper()}-{index}",
            "modified": "2024-01-01T00:00:00Z",
            "affected": [
                {"package": {"ecosystem": ecosystem, "name": f"pkg{index}"}, "versions": ["1"]}
            ],
        }
        (root / f"{index}.json").write_text(json.dumps(data))
    return root


def basewatch(*args: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    return subprocess.Popen(
        [sys.executable, "-m", "basewatch", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )


def test_concurrent_imports_lose_nothing(tmp_path: Path) -> None:
    """Three imports at once, three rounds: every one exits 0 and every one's records stay
    (without the lock, each copied the database before the others swapped theirs in)."""
    db = tmp_path / "vuln.db"
    crates = shared_fixture("osv/crates.io.zip")  # slow enough to overlap the others
    for round_number in range(3):
        sources = [
            str(crates),
            str(record_dir(tmp_path / f"go{round_number}", "Go", 200)),
            str(record_dir(tmp_path / f"npm{round_number}", "npm", 200)),
        ]
        children = [basewatch("db", "import", path, "--db", str(db), "-q") for path in sources]
        for child in children:
            _, err = child.communicate(timeout=120)
            assert child.returncode == 0, err.decode()
        with SqliteStore.open(db) as store:
            held = {s.name for s in store.sources()}
        assert {"osv:crates.io", "local:Go", "local:npm"} <= held, (round_number, held)


def test_a_second_writer_waits_then_gives_up_clearly(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    db = tmp_path / "vuln.db"
    with rebuilding(db):
        pass
    fd = os.open(lock_path(db), os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # another writer holds it
        started = time.monotonic()
        with (
            pytest.raises(DatabaseError, match="another basewatch process has been writing"),
            rebuilding(db, lock_timeout=0.3),
        ):
            pass
        assert 0.3 <= time.monotonic() - started < 5
        assert "another basewatch is writing" in caplog.text  # said on stderr by the CLI
    finally:
        os.close(fd)
    with rebuilding(db, lock_timeout=0.3):  # released: the next writer goes ahead
        pass


def test_copies_left_by_a_killed_writer_are_removed_by_the_next(tmp_path: Path) -> None:
    db = tmp_path / "vuln.db"
    with rebuilding(db) as store:
        import_paths(store, [record_dir(tmp_path / "go", "Go", 3)])
    # What a writer killed with SIGKILL leaves: its copy of the database and a download.
    left = [tmp_path / ".vuln.db.k1ll3d_x.new", tmp_path / ".vuln.db.download.ab_c1234.zip"]
    for path in left:
        path.write_bytes(db.read_bytes())
    unrelated = tmp_path / ".vuln.db.other.abcdefgh.new"  # another database's ("vuln.db.other")
    unrelated.write_bytes(b"x")
    with rebuilding(db) as store:
        import_paths(store, [record_dir(tmp_path / "npm", "npm", 3)])
    assert not any(path.exists() for path in left)
    assert unrelated.exists()


def test_sigterm_removes_the_copy(tmp_path: Path) -> None:
    db = tmp_path / "vuln.db"
    child = basewatch("db", "import", str(shared_fixture("osv/AlmaLinux.zip")), "--db", str(db))
    deadline = time.monotonic() + 60
    while not list(tmp_path.glob(".vuln.db.*.new")):
        assert time.monotonic() < deadline and child.poll() is None, "no copy was made"
        time.sleep(0.02)
    child.send_signal(signal.SIGTERM)
    _, err = child.communicate(timeout=60)
    assert child.returncode == 143, err.decode()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["vuln.db.lock"]
