from __future__ import annotations

import json
import zipfile
from typing import Any

import pytest

from basewatch.vulndb.model import Advisory, AffectedRange, EventKind, RangeEvent
from basewatch.vulndb.osv import MalformedRecord, Withdrawn, modified_key, parse_json, parse_record
from tests.fixtures import shared_fixture


def record(**fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "id": "TEST-2024-1",
        "modified": "2024-01-02T03:04:05Z",
        "affected": [
            {
                "package": {"ecosystem": "PyPI", "name": "demo"},
                "ranges": [
                    {"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "1.2"}]}
                ],
            }
        ],
    }
    base.update(fields)
    return base


def test_real_pypi_record() -> None:
    with zipfile.ZipFile(shared_fixture("osv/PyPI.zip")) as archive:
        parsed = parse_json(archive.read("PYSEC-2006-1.json"))
    assert isinstance(parsed, Advisory)
    assert parsed.id == "PYSEC-2006-1"
    assert parsed.aliases == ("CVE-2006-0847",)
    assert parsed.modified == "2021-07-05T00:01:17.388273Z"
    assert parsed.published == "2006-02-22T02:02:00Z"
    assert parsed.details.startswith("Directory traversal vulnerability in the staticfilter")
    assert len(parsed.references) == 9
    (affected,) = parsed.affected
    assert (affected.ecosystem, affected.name) == ("PyPI", "cherrypy")
    assert affected.ranges == (
        AffectedRange(
            "ECOSYSTEM",
            (RangeEvent(EventKind.INTRODUCED, "0"), RangeEvent(EventKind.FIXED, "2.1.1")),
        ),
    )
    assert affected.versions == ("0.10", "2.0.0-final", "2.0.0b", "2.1.0", "2.1.0-beta")


def test_real_withdrawn_record() -> None:
    with zipfile.ZipFile(shared_fixture("osv/PyPI.zip")) as archive:
        parsed = parse_json(archive.read("PYSEC-2022-15.json"))
    assert parsed == Withdrawn("PYSEC-2022-15", "2022-01-29T16:47:14.527876Z", ("PyPI",))


def test_real_crates_record_keeps_cvss() -> None:
    with zipfile.ZipFile(shared_fixture("osv/crates.io.zip")) as archive:
        for name in archive.namelist():
            data = json.loads(archive.read(name))
            if data.get("severity") and not data.get("withdrawn"):
                break
    parsed = parse_record(data)
    assert isinstance(parsed, Advisory)
    assert parsed.severity == tuple((s["type"], s["score"]) for s in data["severity"])
    assert parsed.severity[0][1].startswith("CVSS:")


def test_git_ranges_are_dropped_and_packageless_entries_skipped() -> None:
    parsed = parse_record(
        record(
            affected=[
                {"ranges": [{"type": "GIT", "repo": "r", "events": [{"introduced": "abc"}]}]},
                {
                    "package": {"ecosystem": "PyPI", "name": "demo"},
                    "ranges": [
                        {"type": "GIT", "repo": "r", "events": [{"introduced": "abc"}]},
                        {"type": "ECOSYSTEM", "events": [{"introduced": "1.0"}]},
                    ],
                },
            ]
        )
    )
    assert isinstance(parsed, Advisory)
    (affected,) = parsed.affected
    assert affected.ranges == (
        AffectedRange("ECOSYSTEM", (RangeEvent(EventKind.INTRODUCED, "1.0"),)),
    )


def test_database_severity_and_debian_urgency() -> None:
    parsed = parse_record(
        record(
            database_specific={"severity": "HIGH"},
            affected=[
                {
                    "package": {"ecosystem": "Debian:12", "name": "openssl"},
                    "ecosystem_specific": {"urgency": "medium"},
                    "severity": [{"type": "Ubuntu", "score": "low"}],
                }
            ],
        )
    )
    assert isinstance(parsed, Advisory)
    assert parsed.database_severity == "HIGH"
    assert parsed.affected[0].severity == (("Ubuntu", "low"), ("Debian", "medium"))


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        ([], "JSON object"),
        ({"modified": "2024-01-01T00:00:00Z"}, "has no 'id'"),
        (record(id="A B"), "white space"),
        (record(modified=None), "has no 'modified'"),
        (record(modified="yesterday"), "not an RFC 3339 time"),
        (record(affected={"package": {}}), "'affected' is not a list"),
        (record(affected=[{"package": {"ecosystem": "PyPI"}}]), "has no 'name'"),
        (record(affected=[{"package": {"ecosystem": "PyPI", "name": 3}}]), "'name' is not"),
        (
            record(
                affected=[{"package": {"ecosystem": "Go", "name": "x"}, "ranges": [{"type": "X"}]}]
            ),
            "unknown range type 'X'",
        ),
        (
            record(
                affected=[
                    {
                        "package": {"ecosystem": "Go", "name": "x"},
                        "ranges": [
                            {"type": "SEMVER", "events": [{"introduced": "0", "fixed": "1"}]}
                        ],
                    }
                ]
            ),
            "exactly one event",
        ),
        (
            record(
                affected=[
                    {
                        "package": {"ecosystem": "Go", "name": "x"},
                        "ranges": [{"type": "SEMVER", "events": [{"broken": "1"}]}],
                    }
                ]
            ),
            "unknown event 'broken'",
        ),
        (
            record(
                affected=[
                    {
                        "package": {"ecosystem": "Go", "name": "x"},
                        "ranges": [{"type": "SEMVER", "events": []}],
                    }
                ]
            ),
            "has no events",
        ),
        (record(aliases=["CVE-1", 2]), "'aliases' holds something other than strings"),
        (record(severity=[{"type": "CVSS_V3"}]), "has no 'score'"),
        (record(references=[{"type": "WEB"}]), "has no 'url'"),
        (record(summary=["x"]), "'summary' is not a string"),
    ],
)
def test_malformed_records_say_why(data: object, reason: str) -> None:
    with pytest.raises(MalformedRecord, match=reason):
        parse_record(data)


def test_invalid_json() -> None:
    with pytest.raises(MalformedRecord, match="not valid JSON"):
        parse_json(b"{nope")


def test_withdrawn_needs_only_id_and_modified() -> None:
    parsed = parse_record(
        {"id": "X-1", "modified": "2024-01-01T00:00:00Z", "withdrawn": "2024-02-01T00:00:00Z"}
    )
    assert parsed == Withdrawn("X-1", "2024-01-01T00:00:00Z", ())


def test_modified_key_orders_times() -> None:
    ordered = [
        "",
        "0001-01-01T00:00:00Z",
        "2021-07-05T00:01:17Z",
        "2021-07-05T00:01:17.388273Z",
        "2021-07-05T02:01:17.5+01:00",  # 01:01:17.5 UTC
        "2021-07-05T01:01:17.500000001Z",  # nanoseconds are truncated to microseconds
        "2021-07-05T01:01:18",
    ]
    keys = [modified_key(v) for v in ordered]
    assert keys == sorted(keys)
    assert keys[4] == keys[5] == "2021-07-05T01:01:17.500000Z"
    assert modified_key("0001-01-01T00:00:00Z") == "0001-01-01T00:00:00.000000Z"
