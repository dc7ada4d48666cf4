from __future__ import annotations

import gzip
import io
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from basewatch.errors import DatabaseError
from basewatch.vulndb.epss import EpssScore, parse_epss, read_epss
from basewatch.vulndb.importer import import_paths
from basewatch.vulndb.kev import parse_kev
from basewatch.vulndb.model import Enrichment
from basewatch.vulndb.sqlite import SqliteStore, rebuilding
from tests.fixtures import shared_fixture

NOW = datetime(2025, 9, 1, tzinfo=UTC)

EPSS_CSV = (
    "#model_version:v2025.03.14,score_date:2025-08-31T12:55:00Z\n"
    "cve,epss,percentile\n"
    "CVE-2025-48384,0.08712,0.91834\n"
    "CVE-1999-0001,0.01141,0.77683\n"
    "not-a-cve,0.5,0.5\n"
    "CVE-2020-0001,1.7,0.5\n"
    "CVE-2020-0002,abc,0.5\n"
)


def write_epss(path: Path, text: str = EPSS_CSV) -> Path:
    with gzip.open(path, "wt", encoding="utf-8") as handle:
        handle.write(text)
    return path


def test_real_kev_catalog() -> None:
    catalog = parse_kev(shared_fixture("kev/known_exploited_vulnerabilities.json").read_bytes())
    assert (catalog.version, catalog.released) == ("2025.08.25", "2025-08-25T17:04:19.9796Z")
    assert (len(catalog.entries), catalog.malformed) == (1404, 0)
    first = catalog.entries[0]
    assert (first.cve, first.date_added, first.due_date, first.ransomware) == (
        "CVE-2025-48384",
        "2025-08-25",
        "2025-09-15",
        "Unknown",
    )


def test_kev_entries_without_cve_are_counted() -> None:
    document = {
        "catalogVersion": "1",
        "vulnerabilities": [{"cveID": "CVE-2024-0001"}, {"cveID": "nope"}, "x"],
    }
    catalog = parse_kev(json.dumps(document))
    assert [e.cve for e in catalog.entries] == ["CVE-2024-0001"]
    assert catalog.malformed == 2
    with pytest.raises(DatabaseError, match="not a KEV catalog"):
        parse_kev("{}")


def test_epss_gzip_with_model_line(tmp_path: Path) -> None:
    feed = read_epss(write_epss(tmp_path / "epss_scores-2025-08-31.csv.gz"))
    assert (feed.model_version, feed.score_date) == ("v2025.03.14", "2025-08-31T12:55:00Z")
    assert feed.scores == (
        EpssScore("CVE-2025-48384", 0.08712, 0.91834),
        EpssScore("CVE-1999-0001", 0.01141, 0.77683),
    )
    assert feed.malformed == 3
    assert feed.problems[0].startswith("line 5: ")


def test_epss_plain_without_model_line(tmp_path: Path) -> None:
    path = tmp_path / "scores.csv"
    path.write_text("cve,epss,percentile\nCVE-2024-0001,0.1,0.2\n")
    feed = read_epss(path)
    assert (feed.model_version, feed.scores) == ("", (EpssScore("CVE-2024-0001", 0.1, 0.2),))


def test_epss_needs_its_header() -> None:
    with pytest.raises(DatabaseError, match="not an EPSS CSV"):
        parse_epss(io.StringIO("a,b,c\n1,2,3\n"))


def test_enrichment_from_real_kev_and_epss(tmp_path: Path) -> None:
    db = tmp_path / "vuln.db"
    epss = write_epss(tmp_path / "epss.csv.gz")
    kev = shared_fixture("kev/known_exploited_vulnerabilities.json")
    with rebuilding(db) as store:
        kev_result, epss_result = import_paths(store, [kev, epss], now=NOW)
    assert (kev_result.kind, kev_result.records, kev_result.sources) == ("kev", 1404, ("kev",))
    assert (epss_result.kind, epss_result.records, epss_result.malformed) == ("epss", 2, 3)
    with SqliteStore.open(db) as store:
        facts = store.enrichment(
            ["CVE-2025-48384", "CVE-1999-0001", "CVE-2000-9999", "cve-2021-44228"]
        )
        assert facts["CVE-2025-48384"] == Enrichment(
            cve="CVE-2025-48384",
            kev=True,
            kev_date_added="2025-08-25",
            kev_due_date="2025-09-15",
            kev_ransomware="Unknown",
            epss=0.08712,
            epss_percentile=0.91834,
        )
        assert facts["CVE-1999-0001"] == Enrichment(
            cve="CVE-1999-0001", epss=0.01141, epss_percentile=0.77683
        )
        assert facts["CVE-2021-44228"].kev  # Log4Shell, looked up case-insensitively
        assert facts["CVE-2021-44228"].kev_ransomware == "Known"
        assert "CVE-2000-9999" not in facts
        assert {s.name: s.records for s in store.sources()} == {"kev": 1404, "epss": 2}


def test_reimport_replaces_the_feed(tmp_path: Path) -> None:
    db = tmp_path / "vuln.db"
    with rebuilding(db) as store:
        import_paths(store, [write_epss(tmp_path / "a.csv.gz")], now=NOW)
    smaller = write_epss(tmp_path / "b.csv.gz", "cve,epss,percentile\nCVE-2024-0001,0.5,0.9\n")
    with rebuilding(db) as store:
        import_paths(store, [smaller], now=NOW)
    with SqliteStore.open(db) as store:
        assert sorted(store.enrichment(["CVE-2025-48384", "CVE-2024-0001"])) == ["CVE-2024-0001"]
