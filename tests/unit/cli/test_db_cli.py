from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from basewatch.cli.exit_codes import ExitCode
from basewatch.cli.main import main
from basewatch.vulndb.model import SourceStatus
from basewatch.vulndb.sqlite import SqliteStore
from tests.fixtures import shared_fixture
from tests.unit.vulndb.test_update import Served, fixture_feed, serve


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_database_error_code() -> None:
    assert int(ExitCode.DATABASE_ERROR) == 6


def test_import_then_status(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "vuln.db"
    crates = shared_fixture("osv/crates.io.zip")
    community = shared_fixture("alpine-secdb-2020/community.json")
    code, out, err = run(
        ["db", "import", str(crates), str(community), "--db", str(db), "-q"], capsys
    )
    assert code == ExitCode.OK
    assert out.splitlines() == [
        f"{crates}: 1193 records, 13 withdrawn -> osv:crates.io",
        f"{community}: 691 records, 2 malformed -> secdb:Alpine:v3.10/community",
    ]
    assert f"basewatch: warning: {community}: 2 malformed records skipped" in err
    assert "no vulnerability id in 'CVE_2019-2426'" in err

    code, out, err = run(["db", "status", "--db", str(db)], capsys)
    assert code == ExitCode.OK
    lines = out.splitlines()
    assert lines[0] == f"database: {db} (1884 advisories)"
    assert lines[1].split() == ["SOURCE", "RECORDS", "UPDATED", "AGE", "MALFORMED"]
    assert lines[2].split()[:2] == ["osv:crates.io", "1193"]
    assert lines[3].split()[:2] == ["secdb:Alpine:v3.10/community", "691"]
    assert "stale" not in out
    assert "2 malformed records were refused" in err


def test_status_warns_about_stale_sources(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "vuln.db"
    with SqliteStore.open(db, readonly=False) as store:
        store.set_source(SourceStatus("osv:Go", 10, "2020-01-01T00:00:00Z"))
        store.commit()
    code, out, err = run(["db", "status", "--db", str(db), "--max-age-days", "3"], capsys)
    assert code == ExitCode.OK
    assert out.splitlines()[2].split()[-1] == "stale"
    assert "basewatch: warning: osv:Go is " in err
    assert "(more than 3 days): run `basewatch db update`" in err


def test_status_without_a_database(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(["db", "status", "--db", str(tmp_path / "vuln.db")], capsys)
    assert code == ExitCode.DATABASE_ERROR
    assert out == ""
    assert err.startswith("basewatch: error: no vulnerability database at")
    assert "run `basewatch db update` or `basewatch db import`" in err


def test_import_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "vuln.db"
    code, _, err = run(["db", "import", str(tmp_path / "absent.zip"), "--db", str(db)], capsys)
    assert code == ExitCode.USAGE
    assert "no such file or directory" in err
    broken = tmp_path / "broken.zip"
    broken.write_bytes(b"not a zip")
    code, _, err = run(["db", "import", str(broken), "--db", str(db)], capsys)
    assert code == ExitCode.DATABASE_ERROR
    assert "is not a readable zip archive" in err
    assert not db.exists()


def test_failed_import_leaves_the_database(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "vuln.db"
    good = tmp_path / "r.json"
    good.write_text(
        json.dumps(
            {
                "id": "X-1",
                "modified": "2024-01-01T00:00:00Z",
                "affected": [{"package": {"ecosystem": "npm", "name": "Left-Pad"}}],
            }
        )
    )
    assert run(["db", "import", str(good), "--db", str(db)], capsys)[0] == ExitCode.OK
    before = digest(db)
    broken = tmp_path / "broken.zip"
    broken.write_bytes(b"PK\x03\x04 not really")
    code, _, _ = run(["db", "import", str(good), str(broken), "--db", str(db)], capsys)
    assert code == ExitCode.DATABASE_ERROR
    assert digest(db) == before
    with SqliteStore.open(db) as store:
        assert [a.id for a, _ in store.affected("npm", "left-pad")] == ["X-1"]


def test_update_needs_an_ecosystem(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(["db", "update", "--no-eol", "--db", str(tmp_path / "vuln.db")], capsys)
    assert code == ExitCode.USAGE
    assert "--ecosystem" in err


def test_update_against_a_local_server(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "vuln.db"
    feed = fixture_feed("Go", "crates.io")
    with serve(feed) as base:
        args = ["db", "update", "--no-eol", "--base-url", base, "--db", str(db), "-q"]
        code, out, _ = run([*args, "--ecosystem", "Go,crates.io"], capsys)
        assert code == ExitCode.OK
        assert out.splitlines() == [
            "Go: 4274 records (updated)",
            "crates.io: 1193 records (updated)",
        ]
        # no --ecosystem: refresh what the database holds
        code, out, _ = run(args, capsys)
        assert code == ExitCode.OK
        assert out.splitlines() == [
            "Go: not modified (4274 records)",
            "crates.io: not modified (1193 records)",
        ]
        before = digest(db)
        feed.files["/Go/all.zip"] = Served(b"a new dump", "drop")
        code, out, err = run([*args, "--ecosystem", "Go", "crates.io"], capsys)
    assert code == ExitCode.DATABASE_ERROR
    assert out == ""
    assert "downloading" in err
    assert f"the database at {db} was left unchanged" in err
    assert digest(db) == before


def test_update_fetches_only_what_changed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "vuln.db"
    record = {
        "id": "PYSEC-2099-1",
        "modified": "2099-01-01T00:00:00Z",
        "affected": [{"package": {"ecosystem": "PyPI", "name": "example"}, "versions": ["1.0"]}],
    }
    feed = fixture_feed("PyPI")
    with serve(feed) as base:
        args = ["db", "update", "--no-eol", "--base-url", base, "--db", str(db), "-q"]
        code, first, _ = run([*args, "--ecosystem", "PyPI"], capsys)
        assert code == ExitCode.OK
        held = int(first.split()[1])
        # Upstream publishes one new record, listed first in its modified index.
        feed.files["/PyPI/modified_id.csv"] = Served(
            f"{record['modified']},{record['id']}\n".encode()
        )
        feed.files["/PyPI/PYSEC-2099-1.json"] = Served(json.dumps(record).encode())
        code, out, _ = run(args, capsys)
        assert code == ExitCode.OK
        assert out == f"PyPI: {held + 1} records (updated: 1 changed records fetched)\n"
        feed.requests.clear()
        code, out, _ = run([*args, "--full"], capsys)
    assert code == ExitCode.OK
    assert [path for path, _ in feed.requests] == ["/PyPI/all.zip"]
    assert out == f"PyPI: not modified ({held + 1} records)\n"  # the same dump: ETag
