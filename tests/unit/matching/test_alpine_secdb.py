"""The real Alpine 3.10 apk database against the real Alpine v3.10 secdb.

Expected findings are derived here straight from the secdb JSON with apk-tools' own ordering
(the comparator is itself checked against apk-tools' test vectors): every fix listed above the
installed version must be reported, nothing at or below it.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from basewatch.jobs.inventory import Scanner
from basewatch.matching.evaluate import scan_inventory
from basewatch.versions.registry import comparator_for
from basewatch.vulndb.importer import import_paths
from basewatch.vulndb.sqlite import SqliteStore, rebuilding
from tests.fixtures import shared_fixture


@pytest.fixture(scope="module")
def alpine_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("alpine310")
    (root / "lib" / "apk" / "db").mkdir(parents=True)
    (root / "etc").mkdir()
    installed = shared_fixture("pkgdb/apk/installed-alpine-3.10").read_bytes()
    (root / "lib" / "apk" / "db" / "installed").write_bytes(installed)
    (root / "etc" / "os-release").write_text('ID=alpine\nVERSION_ID=3.10.9\nPRETTY_NAME="Alpine"\n')
    return root


@pytest.fixture(scope="module")
def secdb_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("db") / "vuln.db"
    feeds = [shared_fixture(f"alpine-secdb-2020/{n}.json") for n in ("main", "community")]
    with rebuilding(path) as store:
        import_paths(store, feeds)
    return path


def expected_findings(inventory_packages: list[tuple[str, str, str]]) -> set[tuple[str, str]]:
    apk = comparator_for("Alpine:v3.10")
    assert apk is not None
    fixes: dict[str, list[tuple[str, list[str]]]] = {}
    for name in ("main", "community"):
        data = json.loads(shared_fixture(f"alpine-secdb-2020/{name}.json").read_text())
        for item in data["packages"]:
            pkg = item["pkg"]
            for version, ids in (pkg.get("secfixes") or {}).items():
                fixes.setdefault(pkg["name"], []).append((version, ids or []))
    expected = set()
    for name, origin, installed in inventory_packages:
        for fixed, ids in fixes.get(origin, []):
            if fixed == "0":
                continue  # Alpine's way of saying "never affected"
            try:
                above = apk.compare(fixed, installed) > 0
            except Exception:
                continue  # the secdb's few malformed versions are refused at import
            if above:
                for entry in ids:
                    cve = entry.split()[0]
                    if cve.startswith("CVE-") and cve.count("-") == 2:
                        expected.add((name, cve))
    return expected


def test_every_listed_fix_above_the_installed_version_and_nothing_else(
    alpine_root: Path, secdb_store: Path, tmp_path: Path
) -> None:
    inventory = Scanner.default(use_cache=False, cache_dir=tmp_path).inventory(f"dir:{alpine_root}")
    assert inventory.os is not None
    assert {p.ecosystem for p in inventory.packages} == {"Alpine:v3.10"}
    with SqliteStore.open(secdb_store) as store:
        result = scan_inventory(inventory, store)
    got = {(f.package.name, i) for f in result.findings for i in f.ids if i.startswith("CVE-")}
    expected = expected_findings([(p.name, p.source_name, p.version) for p in inventory.packages])
    assert expected, "the fixture should have fixes above the installed versions"
    assert got == expected
    for finding in result.findings:
        assert finding.fixed_version
        apk = comparator_for("Alpine:v3.10")
        assert apk is not None
        assert apk.compare(finding.fixed_version, finding.installed_version) > 0
        assert finding.status.value == "fixed"


def test_debian_data_never_reaches_alpine_packages(alpine_root: Path, tmp_path: Path) -> None:
    path = tmp_path / "vuln.db"
    record = {
        "id": "DEBIAN-CVE-2019-1543",
        "modified": "2024-01-01T00:00:00Z",
        "affected": [
            {
                "package": {"ecosystem": "Debian:10", "name": "openssl"},
                "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}]}],
            }
        ],
    }
    (tmp_path / "rec.json").write_text(json.dumps(record))
    with rebuilding(path) as store:
        import_paths(store, [tmp_path / "rec.json"])
    inventory = Scanner.default(use_cache=False, cache_dir=tmp_path).inventory(f"dir:{alpine_root}")
    with SqliteStore.open(path) as store:
        result = scan_inventory(inventory, store)
    assert result.findings == ()
