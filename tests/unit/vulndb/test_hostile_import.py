"""`db import` of hostile files, built on the fly: bounded in time and memory, never fatal for
a bad record, never an internal error."""

from __future__ import annotations

import gzip
import json
import zipfile
from pathlib import Path
from typing import Any

import pytest

from basewatch.errors import DatabaseError
from basewatch.vulndb import importer
from basewatch.vulndb.importer import import_paths
from basewatch.vulndb.sqlite import SqliteStore, rebuilding
from tests.bounded import run_bounded

DEEP = 200_000  # far past the interpreter's recursion limit


def record(record_id: str, name: str = "demo", fixed: str = "1.0", **extra: Any) -> dict[str, Any]:
    return {
        "id": record_id,
        "modified": "2024-01-01T00:00:00Z",
        "affected": [
            {
                "package": {"ecosystem": "PyPI", "name": name},
                "ranges": [
                    {"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": fixed}]}
                ],
            }
        ],
        **extra,
    }


def deep_json(depth: int = DEEP) -> str:
    return "[" * depth + "]" * depth


def alias_bomb() -> str:
    """About 1 KB of YAML that expands to 10**9 strings for whoever walks it."""
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for level in range(1, 9):
        refs = ", ".join([f"*a{level - 1}"] * 10)
        lines.append(f"a{level}: &a{level} [{refs}]")
    lines.append("id: BOMB-1\nmodified: 2024-01-01T00:00:00Z\naffected: *a8")
    return "\n".join(lines) + "\n"


def zip_bomb(path: Path, inflated: int = 1 << 30) -> None:
    """One member that inflates to `inflated` bytes of spaces (about 1 MB compressed), beside
    good and bad records."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        archive.writestr("good.json", json.dumps(record("GOOD-1")))
        archive.writestr(
            "deep.json",
            f'{{"id": "DEEP-1", "modified": "2024-01-01T00:00:00Z", "affected": {deep_json()}}}',
        )
        archive.writestr("huge-version.json", json.dumps(record("HUGE-1", fixed="9" * 5000)))
        with archive.open("bomb.json", "w", force_zip64=True) as member:
            chunk = b" " * (1 << 22)
            for _ in range(inflated // len(chunk)):
                member.write(chunk)
        archive.writestr("later.json", json.dumps(record("LATER-1", name="later")))


def test_hostile_records_are_counted_and_the_import_goes_on(tmp_path: Path) -> None:
    """The alias bomb, a zip bomb member, a record nested deeper than the parser allows, a
    5,000-digit version, a YAML nested too deep, an EPSS row over csv's field limit and a
    gzip EPSS line of megabytes: each is one malformed record; the good records are stored."""
    (tmp_path / "bomb.yaml").write_text(alias_bomb())
    (tmp_path / "deep.yaml").write_text("id: [" * 50_000 + "]" * 50_000)
    zip_bomb(tmp_path / "all.zip")
    (tmp_path / "epss.csv").write_text(
        "cve,epss,percentile\nCVE-2024-0001,0.5,0.9\n" + "x" * 200_000 + ",1,1\n"
        "CVE-2024-0002,0.1,0.2\n"
    )
    with gzip.open(tmp_path / "long.csv.gz", "wt") as handle:
        handle.write("cve,epss,percentile\n" + "9" * (64 << 20) + "\nCVE-2024-0003,0.1,0.2\n")
    db = tmp_path / "vuln.db"
    paths = ["bomb.yaml", "deep.yaml", "all.zip", "epss.csv", "long.csv.gz"]
    result = run_bounded(
        ["db", "import", *[str(tmp_path / p) for p in paths], "--db", str(db), "-q"],
        timeout=60,
        memory_mb=768,
    )
    result.check_refused(0)
    lines = result.stdout.splitlines()
    assert lines[0].endswith("bomb.yaml: 0 records, 1 malformed -> nothing")
    assert lines[1].endswith("deep.yaml: 0 records, 1 malformed -> nothing")
    assert lines[2].endswith("all.zip: 2 records, 3 malformed -> osv:PyPI")
    assert lines[3].endswith("epss.csv: 2 CVEs, 1 malformed -> epss")
    assert lines[4].endswith("long.csv.gz: 1 CVEs, 1 malformed -> epss")
    assert "aliases (*name) are not allowed" in result.stderr
    assert "nests too deeply" in result.stderr
    assert "a version of 5,000 characters" in result.stderr
    assert "bytes: no OSV record is" in result.stderr
    with SqliteStore.open(db) as store:
        assert store.advisory("GOOD-1") is not None
        assert store.advisory("LATER-1") is not None
        assert store.advisory("HUGE-1") is None
        assert store.refused("PyPI", "demo") == ["HUGE-1"]


def test_a_feed_nested_too_deeply_is_a_database_error(tmp_path: Path) -> None:
    """A whole file (KEV, secdb, an OSV record) that no parser can read: exit 6, not 70."""
    (tmp_path / "kev.json").write_text(deep_json())
    result = run_bounded(
        ["db", "import", str(tmp_path / "kev.json"), "--db", str(tmp_path / "vuln.db")],
        timeout=30,
        memory_mb=512,
    )
    result.check_refused(6)
    assert "nests too deeply" in result.stderr


def test_yaml_aliases_and_huge_graphs_in_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "alias.yaml").write_text(
        "id: &x A-1\nmodified: 2024-01-01T00:00:00Z\naliases: [*x]\n"
    )
    monkeypatch.setattr(importer, "MAX_YAML_NODES", 1000)  # the real bound takes seconds
    (tmp_path / "big.yaml").write_text("- x\n" * 1001)
    with rebuilding(tmp_path / "vuln.db") as store:
        first, second = import_paths(store, [tmp_path / "alias.yaml", tmp_path / "big.yaml"])
    assert (first.records, first.malformed) == (0, 1)
    assert "aliases (*name) are not allowed" in first.problems[0]
    assert (second.records, second.malformed) == (0, 1)
    assert "more than 1,000 values" in second.problems[0]


def test_secdb_versions_past_the_limit_are_refused(tmp_path: Path) -> None:
    secdb = {
        "distroversion": "v3.20",
        "reponame": "main",
        "packages": [
            {"pkg": {"name": "busybox", "secfixes": {"1" * 5000 + "-r0": ["CVE-2024-0001"]}}},
            {"pkg": {"name": "zlib", "secfixes": {"1.3-r0": ["CVE-2024-0002"]}}},
        ],
    }
    (tmp_path / "main.json").write_text(json.dumps(secdb))
    with rebuilding(tmp_path / "vuln.db") as store:
        (result,) = import_paths(store, [tmp_path / "main.json"])
        assert store.refused("Alpine:v3.20", "busybox") != []
    assert (result.records, result.malformed) == (1, 1)
    assert "(5,003 characters)" in result.problems[0]


def test_a_fifo_is_not_read(tmp_path: Path) -> None:
    import os

    os.mkfifo(tmp_path / "record.json")
    with pytest.raises(DatabaseError, match="FIFO"), rebuilding(tmp_path / "vuln.db") as store:
        import_paths(store, [tmp_path / "record.json"])
