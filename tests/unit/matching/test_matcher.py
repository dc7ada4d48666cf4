"""The matcher on a real database file built from hand-written OSV records."""

from __future__ import annotations

import dataclasses
import gzip
import json
import pathlib
from typing import Any

import pytest

from basewatch.matching.matcher import match_inventory
from basewatch.models import (
    FixStatus,
    ImageInfo,
    Inventory,
    OSInfo,
    Package,
    PackageType,
    Severity,
    SourceType,
)
from basewatch.vulndb.importer import import_paths
from basewatch.vulndb.sqlite import SqliteStore, rebuilding

CRITICAL = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"
MEDIUM = "CVSS:3.1/AV:N/AC:L/PR:L/UI:R/S:U/C:L/I:L/A:N"


def record(
    id_: str, ecosystem: str, name: str, events: list[dict[str, str]], **extra: Any
) -> dict[str, Any]:
    affected: dict[str, Any] = {
        "package": {"ecosystem": ecosystem, "name": name},
        "ranges": [{"type": "ECOSYSTEM", "events": events}],
    }
    affected.update(extra.pop("affected_extra", {}))
    return {"id": id_, "modified": "2024-01-01T00:00:00Z", "affected": [affected], **extra}


RECORDS = [
    # one problem published three times (PyPA, GitHub, and a later re-publication)
    record(
        "PYSEC-2023-1",
        "PyPI",
        "Requests",
        [{"introduced": "0"}, {"fixed": "2.31.0"}],
        aliases=["CVE-2023-32681"],
        severity=[{"type": "CVSS_V3", "score": MEDIUM}],
    ),
    record(
        "GHSA-j8r2-6x86-q33q",
        "PyPI",
        "requests",
        [{"introduced": "2.3.0"}, {"fixed": "2.31.0"}],
        aliases=["CVE-2023-32681"],
        database_specific={"severity": "MODERATE"},
    ),
    record(
        "PYSEC-2018-1",
        "PyPI",
        "requests",
        [{"introduced": "0"}, {"fixed": "2.20.0"}],
        aliases=["CVE-2018-18074"],
        database_specific={"severity": "HIGH"},
    ),
    # Debian: urgency wins over the CVSS score for the distribution's own package
    record(
        "DEBIAN-CVE-2024-0001",
        "Debian:12",
        "openssl",
        [{"introduced": "0"}],
        upstream=["CVE-2024-0001"],
        severity=[{"type": "CVSS_V3", "score": CRITICAL}],
        affected_extra={"ecosystem_specific": {"urgency": "low"}},
    ),
    record(
        "DEBIAN-CVE-2024-0002",
        "Debian:12",
        "openssl",
        [{"introduced": "0"}],
        upstream=["CVE-2024-0002"],
        affected_extra={"database_specific": {"status": "will not fix"}},
    ),
    record(
        "UBUNTU-CVE-2024-0003",
        "Ubuntu:22.04:LTS",
        "openssl",
        [{"introduced": "0"}, {"fixed": "3.0.2-0ubuntu1.15"}],
        upstream=["CVE-2024-0003"],
        severity=[{"type": "Ubuntu", "score": "medium"}],
    ),
]


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> SqliteStore:
    root = tmp_path_factory.mktemp("records")
    for item in RECORDS:
        (root / f"{item['id']}.json").write_text(json.dumps(item))
    kev = {
        "catalogVersion": "2024.02.01",
        "vulnerabilities": [
            {
                "cveID": "CVE-2018-18074",
                "dateAdded": "2024-02-01",
                "dueDate": "2024-02-22",
                "knownRansomwareCampaignUse": "Unknown",
                "vendorProject": "x",
                "product": "y",
                "vulnerabilityName": "z",
                "shortDescription": "",
                "requiredAction": "",
                "notes": "",
            }
        ],
    }
    (root / "known_exploited_vulnerabilities.json").write_text(json.dumps(kev))
    epss = root / "epss_scores.csv.gz"
    epss.write_bytes(
        gzip.compress(
            b"#model_version:v2023.03.01,score_date:2024-05-01T00:00:00+0000\n"
            b"cve,epss,percentile\nCVE-2023-32681,0.01234,0.85\n"
        )
    )
    feeds = sorted(root.iterdir())
    path = tmp_path_factory.mktemp("db") / "vuln.db"
    with rebuilding(path) as writable:
        import_paths(writable, feeds)
    return SqliteStore.open(path)


def inventory(*packages: Package, os: OSInfo | None = None) -> Inventory:
    return Inventory(ImageInfo("test", SourceType.DIR), os, packages)


REQUESTS = Package("requests", "2.19.0", PackageType.PYPI, ecosystem="PyPI")
LIBSSL = Package(
    "libssl3",
    "3.0.11-1~deb12u2",
    PackageType.DEB,
    source_name="openssl",
    source_version="3.0.11-1~deb12u2",
    ecosystem="Debian:12",
)


def test_linked_advisories_become_one_finding_with_every_id(store: SqliteStore) -> None:
    findings = match_inventory(inventory(REQUESTS), store).findings
    by_id = {f.id: f for f in findings}
    assert set(by_id) == {"CVE-2023-32681", "CVE-2018-18074"}
    merged = by_id["CVE-2023-32681"]
    assert merged.aliases == ("GHSA-j8r2-6x86-q33q", "PYSEC-2023-1")
    assert merged.advisories == ("GHSA-j8r2-6x86-q33q", "PYSEC-2023-1")
    assert (merged.fixed_version, merged.status) == ("2.31.0", FixStatus.FIXED)
    # the CVSS vector is scored; the database's word is only a fallback
    assert (merged.severity, merged.cvss_score, merged.severity_source) == (
        Severity.MEDIUM,
        4.6,
        "CVSS:3.1",
    )
    assert (merged.epss, merged.epss_percentile, merged.kev) == (0.01234, 0.85, False)
    old = by_id["CVE-2018-18074"]
    assert (old.severity, old.kev) == (Severity.HIGH, True)
    # ordered by severity, highest first
    assert [f.id for f in findings] == ["CVE-2018-18074", "CVE-2023-32681"]


def test_a_copy_an_os_package_installed_is_left_to_that_package(store: SqliteStore) -> None:
    # Debian's python3-requests ships requests' dist-info: Debian's advisories cover it.
    owned = dataclasses.replace(REQUESTS, metadata=(("os_package", "deb:python3-requests"),))
    assert match_inventory(inventory(owned), store).findings == []
    assert match_inventory(inventory(REQUESTS), store).findings != []


def test_pep503_names_and_fixed_versions(store: SqliteStore) -> None:
    fixed = Package("Requests", "2.31.0", PackageType.PYPI, ecosystem="PyPI")
    assert match_inventory(inventory(fixed), store).findings == []


def test_distribution_rating_and_status(store: SqliteStore) -> None:
    findings = {f.id: f for f in match_inventory(inventory(LIBSSL), store).findings}
    assert findings["CVE-2024-0001"].severity is Severity.LOW
    assert findings["CVE-2024-0001"].status is FixStatus.NOT_FIXED
    assert findings["CVE-2024-0002"].status is FixStatus.WONT_FIX
    assert findings["CVE-2024-0001"].installed_version == "3.0.11-1~deb12u2"


def test_ubuntu_priority_and_release_exact_matching(store: SqliteStore) -> None:
    ubuntu = Package(
        "libssl3",
        "3.0.2-0ubuntu1.10",
        PackageType.DEB,
        source_name="openssl",
        source_version="3.0.2-0ubuntu1.10",
        ecosystem="Ubuntu:22.04:LTS",
    )
    (finding,) = match_inventory(inventory(ubuntu), store).findings
    assert (finding.id, finding.severity, finding.fixed_version) == (
        "CVE-2024-0003",
        Severity.MEDIUM,
        "3.0.2-0ubuntu1.15",
    )
    other_release = Package(
        "libssl3",
        "3.0.2-0ubuntu1.10",
        PackageType.DEB,
        source_name="openssl",
        source_version="3.0.2-0ubuntu1.10",
        ecosystem="Ubuntu:24.04:LTS",
    )
    outcome = match_inventory(inventory(other_release), store)
    assert outcome.findings == []
    assert outcome.unmatched_ecosystems == {"Ubuntu:24.04:LTS"}


def test_unknown_release_and_bad_versions_are_reported(store: SqliteStore) -> None:
    no_release = Package(
        "libssl3", "1.0", PackageType.DEB, source_name="openssl", ecosystem="Debian"
    )
    bad = Package("requests", "not a version", PackageType.PYPI, ecosystem="PyPI")
    outcome = match_inventory(inventory(no_release, bad), store)
    assert outcome.findings == []
    assert any("release is unknown" in w for w in outcome.warnings)
    assert any("requests not a version: not matched" in w for w in outcome.warnings)


def test_one_lookup_query_for_the_whole_image(store: SqliteStore) -> None:
    """Every package is looked up in one batch, with the findings one lookup each would give."""
    others = tuple(
        Package(f"pkg{i}", "1.0", PackageType.PYPI, ecosystem="PyPI") for i in range(300)
    )
    packages = (REQUESTS, LIBSSL, *others)
    alone = {
        (f.package.name, f.id)
        for package in packages[:2]
        for f in match_inventory(inventory(package), store).findings
    }
    seen: list[str] = []
    store._db.set_trace_callback(seen.append)
    try:
        outcome = match_inventory(inventory(*packages), store)
    finally:
        store._db.set_trace_callback(None)
    assert len([sql for sql in seen if "JOIN affected" in sql]) == 1
    assert {(f.package.name, f.id) for f in outcome.findings} == alone
    assert len(alone) == 4


def test_a_finding_carries_the_weaknesses_of_every_advisory_merged_into_it(
    tmp_path: pathlib.Path,
) -> None:
    records = [
        record(
            "GHSA-v845-jxx5-vc9f",
            "PyPI",
            "urllib3",
            [{"introduced": "0"}, {"fixed": "1.26.17"}],
            aliases=["CVE-2023-43804"],
            database_specific={"cwe_ids": ["CWE-200", "CWE-116"], "severity": "HIGH"},
        ),
        # the same problem from another database, which names a weakness GitHub does not
        record(
            "PYSEC-2023-192",
            "PyPI",
            "urllib3",
            [{"introduced": "0"}, {"fixed": "1.26.17"}],
            aliases=["CVE-2023-43804"],
            database_specific={"cwe_ids": ["cwe-20", "CWE-200", "bogus"]},
        ),
        record(
            "PYSEC-2021-108",
            "PyPI",
            "urllib3",
            [{"introduced": "0"}, {"fixed": "1.26.5"}],
            aliases=["CVE-2021-33503"],
        ),
    ]
    for item in records:
        (tmp_path / f"{item['id']}.json").write_text(json.dumps(item))
    path = tmp_path / "vuln.db"
    with rebuilding(path) as writable:
        import_paths(writable, sorted(tmp_path.glob("*.json")))
    urllib3 = Package("urllib3", "1.26.4", PackageType.PYPI, ecosystem="PyPI")
    with SqliteStore.open(path) as store:
        findings = match_inventory(inventory(urllib3), store).findings
    by_id = {f.id: f for f in findings}
    merged = by_id["CVE-2023-43804"]
    assert merged.advisories == ("GHSA-v845-jxx5-vc9f", "PYSEC-2023-192")
    # the union, by number: 20 < 116 < 200 (as text "CWE-116" would come first)
    assert merged.cwe_ids == ("CWE-20", "CWE-116", "CWE-200")
    assert by_id["CVE-2021-33503"].cwe_ids == ()
