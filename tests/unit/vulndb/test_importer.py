from __future__ import annotations

import json
import zipfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from basewatch.errors import DatabaseError, UsageError
from basewatch.progress import Unit
from basewatch.vulndb.importer import ImportKind, ImportResult, import_paths
from basewatch.vulndb.model import EventKind
from basewatch.vulndb.sqlite import SqliteStore, rebuilding
from tests.fixtures import shared_fixture

NOW = datetime(2025, 9, 1, 12, 0, tzinfo=UTC)

# Records in each real dump, minus the withdrawn ones (AlmaLinux.zip holds 43 duplicate files:
# the same record under almalinux8/ and almalinux9/).
EXPECTED = {
    "Go": (4274, 17, "osv:Go"),
    "crates.io": (1193, 13, "osv:crates.io"),
    "PyPI": (2651, 10, "osv:PyPI"),
    "AlmaLinux": (5637, 0, "osv:AlmaLinux"),
}


def osv(record_id: str, modified: str = "2024-01-01T00:00:00Z", **fields: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": record_id,
        "modified": modified,
        "aliases": [f"CVE-{record_id}"],
        "affected": [
            {
                "package": {"ecosystem": "PyPI", "name": "Demo"},
                "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "2"}]}],
            }
        ],
    }
    data.update(fields)
    return data


def write_zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, body in members.items():
            archive.writestr(name, body)
    return path


@pytest.fixture(scope="module")
def real_db(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, ImportResult]]:
    zips = [shared_fixture(f"osv/{name}.zip") for name in EXPECTED]
    path = tmp_path_factory.mktemp("db") / "vuln.db"
    with rebuilding(path) as store:
        results = import_paths(store, zips, now=NOW)
    return path, {Path(r.path).stem: r for r in results}


def test_real_zips_exact_counts(real_db: tuple[Path, dict[str, ImportResult]]) -> None:
    path, results = real_db
    for name, (records, withdrawn, source) in EXPECTED.items():
        result = results[name]
        assert (result.kind, result.records, result.withdrawn) == ("osv", records, withdrawn)
        assert (result.malformed, result.skipped, result.problems) == (0, 0, ())
        assert result.sources == (source,)
    with SqliteStore.open(path) as store:
        sources = {s.name: s for s in store.sources()}
        assert {n: s.records for n, s in sources.items()} == {
            source: records for records, _, source in EXPECTED.values()
        }
        assert sources["osv:Go"].updated_at == "2025-09-01T12:00:00Z"
        assert sources["osv:Go"].origin.endswith("Go.zip")
        assert store.count_advisories() == sum(r for r, _, _ in EXPECTED.values())
        assert store.ecosystems() == [
            "AlmaLinux:10",
            "AlmaLinux:8",
            "AlmaLinux:9",
            "Go",
            "PyPI",
            "crates.io",
        ]


def test_pep503_lookup(real_db: tuple[Path, dict[str, ImportResult]]) -> None:
    with SqliteStore.open(real_db[0]) as store:
        django = store.affected("PyPI", "django")
        assert len(django) == 116
        assert store.affected("PyPI", "Django") == django
        assert {a.name for _, a in django} == {"django"}
        # published as "jw.util"
        (hit,) = store.affected("PyPI", "JW_Util")
        assert hit[1].name == "jw.util"
        assert store.affected("PyPI", "jw-util") == [hit]


def test_alias_linking(real_db: tuple[Path, dict[str, ImportResult]]) -> None:
    with SqliteStore.open(real_db[0]) as store:
        assert store.ids_for("CVE-2006-0847") == ("PYSEC-2006-1",)
        assert store.ids_for("GHSA-5844-q3fc-56rh") == ("GO-2023-2385",)
        assert store.ids_for("CVE-2023-26154") == ("GO-2023-2385",)
        go = store.advisory("GO-2023-2385")
        assert go is not None
        assert go.aliases == ("CVE-2023-26154", "GHSA-5844-q3fc-56rh")
        assert [a.name for a in go.affected][:3] == [
            "github.com/pubnub/go",
            "github.com/pubnub/go/v5",
            "github.com/pubnub/go/v6",
        ]


def test_real_withdrawn_record_is_not_stored(
    real_db: tuple[Path, dict[str, ImportResult]],
) -> None:
    with SqliteStore.open(real_db[0]) as store:
        assert store.advisory("PYSEC-2022-15") is None
        assert store.ids_for("CVE-2022-0329") == ()
        assert all(a.id != "PYSEC-2022-15" for a, _ in store.affected("PyPI", "loguru"))


def test_almalinux_duplicates_and_ranges(real_db: tuple[Path, dict[str, ImportResult]]) -> None:
    with SqliteStore.open(real_db[0]) as store:
        hits = [(a, e) for a, e in store.affected("AlmaLinux:8", "java-21-openjdk")]
        ids = [a.id for a, _ in hits]
        assert ids.count("ALSA-2024:8127") == 1  # two identical files, one entry
        entry = next(e for a, e in hits if a.id == "ALSA-2024:8127")
        assert [(e.kind, e.version) for e in entry.ranges[0].events] == [
            (EventKind.INTRODUCED, "0"),
            (EventKind.FIXED, "1:21.0.5.0.10-3.el8.alma.1"),
        ]


def test_malformed_records_are_counted_with_reasons(tmp_path: Path) -> None:
    dump = write_zip(
        tmp_path / "all.zip",
        {
            "PYSEC-1.json": json.dumps(osv("PYSEC-1")).encode(),
            "nested/PYSEC-2.json": json.dumps(osv("PYSEC-2")).encode(),
            "PYSEC-3.json": json.dumps(osv("PYSEC-3")).encode(),
            "broken.json": b"{not json",
            "noid.json": json.dumps({"modified": "2024-01-01T00:00:00Z"}).encode(),
            "badrange.json": json.dumps(
                osv(
                    "PYSEC-4",
                    affected=[
                        {
                            "package": {"ecosystem": "PyPI", "name": "x"},
                            "ranges": [{"type": "WEIRD", "events": []}],
                        }
                    ],
                )
            ).encode(),
            "gone.json": json.dumps(osv("PYSEC-5", withdrawn="2024-02-01T00:00:00Z")).encode(),
            "README.txt": b"not a record",
            "__MACOSX/._PYSEC-1.json": b"\x00\x05\x16\x07",
        },
    )
    with rebuilding(tmp_path / "vuln.db") as store:
        (result,) = import_paths(store, [dump], now=NOW)
        assert (result.records, result.malformed, result.withdrawn) == (3, 3, 1)
        assert result.sources == ("osv:PyPI",)
        assert sorted(p.split(":", 1)[0] for p in result.problems) == [
            "all.zip",
            "all.zip",
            "all.zip",
        ]
        reasons = "\n".join(result.problems)
        assert "broken.json: not valid JSON" in reasons
        assert "noid.json: the record has no 'id'" in reasons
        assert (
            "badrange.json: PYSEC-4: affected[0].ranges[0]: unknown range type 'WEIRD'" in reasons
        )
        source = store.source("osv:PyPI")
        assert source is not None
        assert (source.records, source.malformed) == (3, 3)


def test_withdrawal_in_a_later_import_removes_the_record(tmp_path: Path) -> None:
    db = tmp_path / "vuln.db"
    first = write_zip(tmp_path / "one.zip", {"a.json": json.dumps(osv("PYSEC-9")).encode()})
    later = write_zip(
        tmp_path / "two.zip",
        {
            "a.json": json.dumps(
                osv("PYSEC-9", "2024-05-01T00:00:00Z", withdrawn="2024-05-01T00:00:00Z")
            ).encode()
        },
    )
    with rebuilding(db) as store:
        import_paths(store, [first], now=NOW)
    with rebuilding(db) as store:
        (result,) = import_paths(store, [later], now=NOW)
        assert (result.records, result.withdrawn) == (0, 1)
        assert store.advisory("PYSEC-9") is None
        assert store.affected("PyPI", "demo") == []


def test_reimport_newer_replaces_older_is_skipped(tmp_path: Path) -> None:
    db = tmp_path / "vuln.db"
    newer = tmp_path / "newer.json"
    newer.write_text(json.dumps(osv("PYSEC-7", "2024-03-01T00:00:00Z", summary="newer")))
    older = tmp_path / "older.json"
    older.write_text(json.dumps(osv("PYSEC-7", "2024-01-01T00:00:00Z", summary="older")))
    with rebuilding(db) as store:
        (first,) = import_paths(store, [older], now=NOW)
        assert first.sources == ("local:PyPI",)
        (second,) = import_paths(store, [newer], now=NOW)
        assert (second.records, second.skipped) == (1, 0)
        (third,) = import_paths(store, [older], now=NOW)
        assert (third.records, third.skipped) == (0, 1)
        assert store.advisory("PYSEC-7").summary == "newer"  # type: ignore[union-attr]


def test_directory_of_json_and_yaml(tmp_path: Path) -> None:
    tree = tmp_path / "advisories"
    (tree / "pypi" / "demo").mkdir(parents=True)
    (tree / ".git").mkdir()
    (tree / ".git" / "ignored.json").write_text("{broken")
    (tree / "pypi" / "demo" / "PYSEC-1.json").write_text(json.dumps(osv("PYSEC-1")))
    # Unquoted YAML scalars stay strings: the version 1.10 is not the float 1.1, and the
    # time is not a datetime.
    (tree / "pypi" / "demo" / "PYSEC-2.yaml").write_text(
        "id: PYSEC-2\n"
        "modified: 2024-01-01T00:00:00Z\n"
        "affected:\n"
        "- package:\n"
        "    ecosystem: PyPI\n"
        "    name: Demo\n"
        "  versions:\n"
        "  - 1.10\n"
        "  - 2.0\n"
    )
    (tree / "bad.yml").write_text("id: [unclosed\n")
    (tree / "notes.txt").write_text("ignored")
    with rebuilding(tmp_path / "vuln.db") as store:
        (result,) = import_paths(store, [tree], now=NOW)
        assert (result.records, result.malformed) == (2, 1)
        assert result.sources == ("local:PyPI",)
        assert "bad.yml" in result.problems[0]
        yaml_record = store.advisory("PYSEC-2")
        assert yaml_record is not None
        assert yaml_record.modified == "2024-01-01T00:00:00Z"
        assert yaml_record.affected[0].versions == ("1.10", "2.0")
        assert len(store.affected("PyPI", "demo")) == 2


def test_json_list_and_api_answer(tmp_path: Path) -> None:
    many = tmp_path / "many.json"
    many.write_text(json.dumps([osv("A-1"), osv("A-2"), {"id": "A-3"}]))
    answer = tmp_path / "answer.json"
    answer.write_text(json.dumps({"vulns": [osv("B-1")]}))
    with rebuilding(tmp_path / "vuln.db") as store:
        first, second = import_paths(store, [many, answer], now=NOW)
        assert (first.records, first.malformed) == (2, 1)
        assert "many.json[2]: A-3 has no 'modified'" in first.problems[0]
        assert second.records == 1


def test_records_without_packages_are_skipped(tmp_path: Path) -> None:
    loose = tmp_path / "git-only.json"
    loose.write_text(
        json.dumps(
            osv(
                "OSV-1",
                affected=[
                    {"ranges": [{"type": "GIT", "repo": "r", "events": [{"introduced": "a"}]}]}
                ],
            )
        )
    )
    with rebuilding(tmp_path / "vuln.db") as store:
        (result,) = import_paths(store, [loose], now=NOW)
        assert (result.records, result.skipped, result.sources) == (0, 1, ())


def test_unusable_paths(tmp_path: Path) -> None:
    db = tmp_path / "vuln.db"
    (tmp_path / "notes.txt").write_text("x")
    (tmp_path / "other.json").write_text(json.dumps({"hello": "world"}))
    (tmp_path / "broken.zip").write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(UsageError, match="no such file"), rebuilding(db) as store:
        import_paths(store, [tmp_path / "absent.zip"])
    with pytest.raises(UsageError, match="expected an OSV zip"), rebuilding(db) as store:
        import_paths(store, [tmp_path / "notes.txt"])
    with pytest.raises(UsageError, match="neither an OSV record"), rebuilding(db) as store:
        import_paths(store, [tmp_path / "other.json"])
    with pytest.raises(DatabaseError, match="not a readable zip"), rebuilding(db) as store:
        import_paths(store, [tmp_path / "broken.zip"])
    assert not db.exists()


def test_progress_is_reported(tmp_path: Path) -> None:
    events: list[tuple[str, str, int]] = []

    class Recorder:
        def begin(self, description: str, total: int, unit: Unit = Unit.ITEMS) -> None:
            events.append(("begin", description, total))

        def advance(self, description: str, amount: int = 1) -> None:
            events.append(("advance", description, amount))

        def end(self) -> None:
            events.append(("end", "", 0))

    dump = write_zip(
        tmp_path / "all.zip", {f"{i}.json": json.dumps(osv(f"X-{i}")).encode() for i in range(300)}
    )
    with rebuilding(tmp_path / "vuln.db") as store:
        import_paths(store, [dump], Recorder(), now=NOW)
    assert events[0] == ("begin", "importing all.zip", 300)
    assert sum(amount for kind, _, amount in events if kind == "advance") == 300
    assert events[-1] == ("end", "", 0)


def test_import_kinds_say_whether_they_count_cves() -> None:
    assert [kind.value for kind in ImportKind if kind.per_cve] == ["kev", "epss"]
    assert [kind.value for kind in ImportKind if not kind.per_cve] == ["osv", "secdb"]
