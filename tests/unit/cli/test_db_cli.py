from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

from basewatch.cli.exit_codes import ExitCode
from basewatch.cli.main import main
from basewatch.defaults import ENV_OSV_URL as OSV_URL_ENV
from basewatch.defaults import OSV_BASE_URL
from basewatch.errors import UsageError
from basewatch.settings import Settings
from basewatch.vulndb import COMMON_ECOSYSTEMS
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
    assert lines[1].split() == ["SOURCE", "RECORDS", "DATA", "DATA-AGE", "IMPORTED", "MALFORMED"]
    assert lines[2].split()[:2] == ["osv:crates.io", "1193"]
    assert lines[3].split()[:2] == ["secdb:Alpine:v3.10/community", "691"]
    assert "2 malformed records were refused" in err


def test_status_shows_the_age_of_the_data_not_of_the_import(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Imported a second ago, the 2020 secdb and a dump whose newest record is from 2025 are
    not fresh: the status says how old the data is, and warns by that age."""
    db = tmp_path / "vuln.db"
    crates = shared_fixture("osv/crates.io.zip")
    secdb = shared_fixture("alpine-secdb-2020/main.json")
    kev = shared_fixture("kev/known_exploited_vulnerabilities.json")
    code, _, _ = run(
        ["db", "import", str(crates), str(secdb), str(kev), "--db", str(db), "-q"], capsys
    )
    assert code == ExitCode.OK
    with SqliteStore.open(db) as store:
        newest = store.newest_modified("osv:crates.io")
    code, out, err = run(["db", "status", "--db", str(db)], capsys)
    assert code == ExitCode.OK
    rows = {line.split()[0]: line.split() for line in out.splitlines()[2:]}
    assert rows["osv:crates.io"][2] == newest.replace(".000000Z", "Z")
    assert rows["osv:crates.io"][-1] == "stale"  # its newest record is months old
    assert rows["kev"][2] == "2025-08-25T17:04:19.9796Z"  # the catalog's dateReleased
    assert rows["secdb:Alpine:v3.10/main"][2:4] == ["?", "?"]  # a secdb carries no date
    assert "osv:crates.io: its newest data is from 20" in err
    assert "secdb:Alpine:v3.10/main: the data carries no date" in err
    assert "basewatch db update --ecosystem Alpine" in err


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
    assert "create it with `basewatch db update` (it picks the ecosystems to download)" in err
    assert "`basewatch db import PATH`" in err


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


@pytest.fixture
def own_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A cache directory (catalog, analysis cache) of the test's own; no OSV URL settings."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv(OSV_URL_ENV, raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path / "xdg" / "basewatch"


def test_update_without_ecosystems_takes_a_default_set(
    tmp_path: Path, own_cache: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """No database and no --ecosystem: the common ecosystems (saying so), not a usage error;
    those the server lacks are named, the others downloaded."""
    db = tmp_path / "vuln.db"
    feed = fixture_feed("Go", "crates.io", "PyPI")
    with serve(feed) as base:
        code, out, err = run(
            ["db", "update", "--no-eol", "--osv-url", base, "--db", str(db), "-q"], capsys
        )
    assert code == ExitCode.OK, err
    asked = [path for path, _ in feed.requests]
    assert asked == [f"/{e}/all.zip" for e in COMMON_ECOSYSTEMS]
    assert "downloading Debian, Ubuntu, Alpine, PyPI, npm, Go, Maven, crates.io" in err
    assert "basewatch has read no image yet" in err
    assert [line.split(":")[0] for line in out.splitlines()] == ["PyPI", "Go", "crates.io"]
    assert f"{base} has no dump for Debian" in err


def test_update_without_ecosystems_takes_those_of_the_images_read(
    tmp_path: Path, own_cache: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.imagebuild import build_image, file, write_oci_layout

    metadata = "Metadata-Version: 2.1\nName: Django\nVersion: 2.2\n"
    image = build_image(
        [[file("usr/lib/python3/dist-packages/Django-2.2.dist-info/METADATA", metadata)]]
    )
    layout = write_oci_layout(tmp_path / "layout", [(image, "")])
    assert main(["sbom", f"oci:{layout}", "-q", "-o", str(tmp_path / "sbom.json")]) == ExitCode.OK
    db = tmp_path / "vuln.db"
    feed = fixture_feed("PyPI")
    with serve(feed) as base:
        code, _, err = run(
            ["db", "update", "--no-eol", "--osv-url", base, "--db", str(db), "-q"], capsys
        )
    assert code == ExitCode.OK, err
    assert [path for path, _ in feed.requests] == ["/PyPI/all.zip"]
    assert "downloading PyPI (the ecosystems of the images basewatch has read" in err


def osv_url_of(flag: str | None) -> str:
    return Settings.load(environ=os.environ, directory=Path.cwd(), osv_url=flag).osv_url


def test_the_osv_url_from_flag_environment_config_or_default(
    tmp_path: Path, own_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert osv_url_of(None) == OSV_BASE_URL
    (tmp_path / "pyproject.toml").write_text('[tool.basewatch.db]\nosv_url = "http://py.test"\n')
    assert osv_url_of(None) == "http://py.test"
    (tmp_path / ".basewatch.toml").write_text('[db]\nosv_url = "http://config.test/osv"\n')
    assert osv_url_of(None) == "http://config.test/osv"  # .basewatch.toml wins
    monkeypatch.setenv(OSV_URL_ENV, "https://env.test")
    assert osv_url_of(None) == "https://env.test"
    assert osv_url_of("http://flag.test") == "http://flag.test"
    monkeypatch.setenv(OSV_URL_ENV, "file:///etc")
    with pytest.raises(UsageError, match=f"{OSV_URL_ENV}: 'file:///etc' is not an http"):
        osv_url_of(None)
    monkeypatch.delenv(OSV_URL_ENV)
    (tmp_path / ".basewatch.toml").write_text('[db]\nosv-url = "http://x.test"\n')
    with pytest.raises(UsageError, match=r"\.basewatch\.toml \[db\]: unknown setting\(s\) osv-url"):
        osv_url_of(None)
    (tmp_path / ".basewatch.toml").write_text("[db\n")
    with pytest.raises(UsageError, match="not valid TOML"):
        osv_url_of(None)


def test_db_update_and_scan_read_the_osv_url_from_the_environment_and_config(
    tmp_path: Path,
    own_cache: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    db = tmp_path / "vuln.db"
    feed = fixture_feed("Go", "PyPI")
    with serve(feed) as base:
        monkeypatch.setenv(OSV_URL_ENV, base)
        code, _, err = run(
            ["db", "update", "--no-eol", "--ecosystem", "Go", "--db", str(db), "-q"], capsys
        )
        assert code == ExitCode.OK, err
        monkeypatch.delenv(OSV_URL_ENV)
        (tmp_path / ".basewatch.toml").write_text(f'[db]\nosv_url = "{base}"\n')
        sbom = tmp_path / "bom.json"
        component = {"type": "library", "purl": "pkg:pypi/django@2.2"}
        sbom.write_text(
            json.dumps({"bomFormat": "CycloneDX", "specVersion": "1.6", "components": [component]})
        )
        code, _, err = run(["scan", "--sbom", str(sbom), "--db", str(db), "-q"], capsys)
        assert code == ExitCode.OK, err
    assert [path for path, _ in feed.requests] == ["/Go/all.zip", "/PyPI/all.zip"]


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
