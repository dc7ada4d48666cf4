from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from basewatch.errors import DatabaseError
from basewatch.vulndb.importer import import_paths
from basewatch.vulndb.model import Advisory, Affected, AffectedRange, EventKind, RangeEvent
from basewatch.vulndb.secdb import convert_secdb
from basewatch.vulndb.sqlite import SqliteStore, rebuilding
from tests.fixtures import shared_fixture

NOW = datetime(2025, 9, 1, tzinfo=UTC)


def fixed(version: str) -> AffectedRange:
    return AffectedRange(
        "ECOSYSTEM", (RangeEvent(EventKind.INTRODUCED, "0"), RangeEvent(EventKind.FIXED, version))
    )


def load(name: str) -> Any:
    return json.loads(shared_fixture(f"alpine-secdb-2020/{name}.json").read_text())


def by_id(advisories: tuple[Advisory, ...]) -> dict[str, Advisory]:
    return {a.id: a for a in advisories}


def secdb(packages: dict[str, Any], **fields: Any) -> dict[str, Any]:
    document: dict[str, Any] = {"distroversion": "v3.20", "reponame": "main"}
    document.update(fields)
    document["packages"] = [
        {"pkg": {"name": name, "secfixes": fixes}} for name, fixes in packages.items()
    ]
    return document


def test_real_main_v310() -> None:
    conversion = convert_secdb(load("main"), "main.json")
    assert conversion.ecosystem == "Alpine:v3.10"
    assert conversion.source == "secdb:Alpine:v3.10/main"
    assert (len(conversion.advisories), conversion.malformed, conversion.not_affected) == (
        1110,
        0,
        0,
    )
    records = by_id(conversion.advisories)
    assert records["ALPINE-CVE-2019-10206"] == Advisory(
        id="ALPINE-CVE-2019-10206",
        upstream=("CVE-2019-10206",),
        affected=(Affected("Alpine:v3.10", "ansible", (fixed("2.8.4-r0"),)),),
    )
    # Listed under two versions: one range per version, so the later fix decides.
    busybox = records["ALPINE-CVE-2019-5747"].affected
    assert busybox == (
        Affected("Alpine:v3.10", "busybox", (fixed("1.30.1-r2"), fixed("1.29.3-r10"))),
    )
    # "CVE-2019-5060 TALOS-2019-0844": both are upstream ids of one record
    assert records["ALPINE-CVE-2019-5060"].upstream == ("CVE-2019-5060", "TALOS-2019-0844")
    # "CVE-2018-14468 (FrameRelay)": the note is dropped
    assert records["ALPINE-CVE-2018-14468"].affected[0].ranges == (fixed("4.9.3-r0"),)
    # Xen advisories without a CVE keep their own id
    assert records["ALPINE-XSA-207"].affected == (
        Affected("Alpine:v3.10", "xen", (fixed("4.7.1-r5"),)),
    )
    # "CVE-????-?????  XSA-295": an unknown CVE, the XSA id stands
    assert records["ALPINE-XSA-295"].upstream == ("XSA-295",)
    # "CVE-2017-17434-1" and "-2": two patches for one CVE
    assert records["ALPINE-CVE-2017-17434"].affected == (
        Affected("Alpine:v3.10", "rsync", (fixed("3.1.2-r7"),)),
    )
    assert "ALPINE-CVE-2017-17434-1" not in records


def test_real_community_v310_refuses_two_entries() -> None:
    conversion = convert_secdb(load("community"), "community.json")
    assert conversion.source == "secdb:Alpine:v3.10/community"
    assert (len(conversion.advisories), conversion.malformed) == (691, 2)
    assert conversion.problems == (
        "openjdk7 7.211.2.6.17-r0: no vulnerability id in 'CVE_2019-2426'",
        "phpmyadmin '4.8.0.-r1': not an apk version ('CVE-2018-10188')",
    )


def test_real_secdb_import(tmp_path: Path) -> None:
    db = tmp_path / "vuln.db"
    paths = [
        shared_fixture("alpine-secdb-2020/main.json"),
        shared_fixture("alpine-secdb-2020/community.json"),
    ]
    with rebuilding(db) as store:
        main, community = import_paths(store, paths, now=NOW)
    assert (main.kind, main.records, main.malformed) == ("secdb", 1110, 0)
    assert (community.records, community.malformed) == (691, 2)
    with SqliteStore.open(db) as store:
        assert {s.name: (s.records, s.malformed) for s in store.sources()} == {
            "secdb:Alpine:v3.10/main": (1110, 0),
            "secdb:Alpine:v3.10/community": (691, 2),
        }
        assert store.ecosystems() == ["Alpine:v3.10"]
        ((_, entry),) = [
            hit for hit in store.affected("Alpine:v3.10", "ansible") if hit[0].id.endswith("10206")
        ]
        assert entry.ranges == (fixed("2.8.4-r0"),)
        assert store.ids_for("CVE-2019-10206") == ("ALPINE-CVE-2019-10206",)
        assert store.ids_for("TALOS-2019-0844") == ("ALPINE-CVE-2019-5060",)
        assert store.affected("Alpine:v3.11", "ansible") == []


def test_zero_means_not_affected() -> None:
    conversion = convert_secdb(
        secdb(
            {
                "musl": {"0": ["CVE-2020-0001", "CVE-2020-0002"], "1.2.3-r1": ["CVE-2020-0003"]},
                "curl": {"8.0.1-r0": ["CVE-2020-0001"]},
            }
        )
    )
    assert conversion.not_affected == 2
    records = by_id(conversion.advisories)
    assert sorted(records) == ["ALPINE-CVE-2020-0001", "ALPINE-CVE-2020-0003"]
    # CVE-2020-0001 affects curl; musl listed it under "0", so musl is not named at all
    assert [a.name for a in records["ALPINE-CVE-2020-0001"].affected] == ["curl"]


def test_one_cve_across_releases_and_repos(tmp_path: Path) -> None:
    v320 = tmp_path / "v3.20-main.json"
    v320.write_text(json.dumps(secdb({"openssl": {"3.1.4-r0": ["CVE-2023-5678"]}})))
    v321 = tmp_path / "v3.21-main.json"
    v321.write_text(
        json.dumps(secdb({"openssl": {"3.1.5-r0": ["CVE-2023-5678"]}}, distroversion="v3.21"))
    )
    community = tmp_path / "v3.20-community.json"
    community.write_text(
        json.dumps(secdb({"openssl1.1": {"1.1.1w-r1": ["CVE-2023-5678"]}}, reponame="community"))
    )
    db = tmp_path / "vuln.db"
    with rebuilding(db) as store:
        import_paths(store, [v320, v321, community], now=NOW)
    with SqliteStore.open(db) as store:
        record = store.advisory("ALPINE-CVE-2023-5678")
        assert record is not None
        assert [(a.ecosystem, a.name, a.ranges) for a in record.affected] == [
            ("Alpine:v3.20", "openssl", (fixed("3.1.4-r0"),)),
            ("Alpine:v3.21", "openssl", (fixed("3.1.5-r0"),)),
            ("Alpine:v3.20", "openssl1.1", (fixed("1.1.1w-r1"),)),
        ]


def test_reimport_replaces_the_whole_file(tmp_path: Path) -> None:
    path = tmp_path / "main.json"
    path.write_text(
        json.dumps(secdb({"zlib": {"1.3-r0": ["CVE-2022-0001"], "1.2.13-r0": ["CVE-2022-0002"]}}))
    )
    db = tmp_path / "vuln.db"
    with rebuilding(db) as store:
        import_paths(store, [path], now=NOW)
    path.write_text(json.dumps(secdb({"zlib": {"1.3-r0": ["CVE-2022-0001"]}})))
    with rebuilding(db) as store:
        (result,) = import_paths(store, [path], now=NOW)
        assert result.records == 1
        assert store.advisory("ALPINE-CVE-2022-0002") is None
        assert store.advisory("ALPINE-CVE-2022-0001") is not None


@pytest.mark.parametrize(
    ("fields", "filename", "ecosystem", "record_id"),
    [
        ({"distroversion": "3.18"}, "main.json", "Alpine:v3.18", "ALPINE-CVE-2024-0001"),
        (
            {
                "distroversion": None,
                "reponame": "os",
                "urlprefix": "https://packages.wolfi.example",
            },
            "security.json",
            "Wolfi",
            "WOLFI-CVE-2024-0001",
        ),
        (
            {"distroversion": None, "reponame": "chainguard", "urlprefix": "https://x.example"},
            "security.json",
            "Chainguard",
            "CHAINGUARD-CVE-2024-0001",
        ),
        (
            {"distroversion": None, "reponame": "os", "urlprefix": "https://x.example"},
            "wolfi-security.json",
            "Wolfi",
            "WOLFI-CVE-2024-0001",
        ),
    ],
)
def test_distribution_detection(
    fields: dict[str, Any], filename: str, ecosystem: str, record_id: str
) -> None:
    document = secdb({"bash": {"5.2-r1": ["CVE-2024-0001"]}}, **fields)
    if document.get("distroversion") is None:
        del document["distroversion"]
    conversion = convert_secdb(document, filename)
    assert conversion.ecosystem == ecosystem
    assert [a.id for a in conversion.advisories] == [record_id]
    assert conversion.advisories[0].affected[0].ecosystem == ecosystem


def test_unknown_distribution() -> None:
    document = secdb({"bash": {"5.2-r1": ["CVE-2024-0001"]}}, reponame="os")
    del document["distroversion"]
    with pytest.raises(DatabaseError, match="cannot tell which distribution"):
        convert_secdb(document, "security.json")


def test_malformed_entries_are_counted() -> None:
    conversion = convert_secdb(
        secdb(
            {
                "a": {
                    "1.0-r0": ["(no id here)", 7, "CVE-2024-0002"],
                    "not a version": ["CVE-2024-0003"],
                },
                "b": "nope",
            }
        )
    )
    assert [a.id for a in conversion.advisories] == ["ALPINE-CVE-2024-0002"]
    assert conversion.malformed == 4
