from __future__ import annotations

import json
import zipfile
from typing import Any

import pytest

from basewatch.vulndb.model import Advisory, AffectedRange, EventKind, RangeEvent
from basewatch.vulndb.osv import (
    MAX_CWE_IDS,
    MalformedRecord,
    Withdrawn,
    modified_key,
    parse_json,
    parse_record,
)
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


def ghsa_record(cwe_ids: object) -> dict[str, Any]:
    """A GitHub advisory as OSV publishes it, with `cwe_ids` where GHSA keeps them."""
    return {
        "schema_version": "1.4.0",
        "id": "GHSA-9wx4-h78v-vm56",
        "modified": "2024-06-10T18:37:35Z",
        "published": "2024-05-20T20:15:00Z",
        "aliases": ["CVE-2024-35195"],
        "summary": "Requests `Session` object does not verify requests after making first "
        "request with verify=False",
        "affected": [
            {
                "package": {"ecosystem": "PyPI", "name": "requests", "purl": "pkg:pypi/requests"},
                "ranges": [
                    {"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "2.32.0"}]}
                ],
            }
        ],
        "references": [
            {"type": "ADVISORY", "url": "https://nvd.nist.gov/vuln/detail/CVE-2024-35195"}
        ],
        "database_specific": {
            "cwe_ids": cwe_ids,
            "github_reviewed": True,
            "github_reviewed_at": "2024-05-20T20:15:00Z",
            "nvd_published_at": "2024-05-20T21:15:09Z",
            "severity": "MODERATE",
        },
    }


def test_cwe_ids_are_kept_canonical_and_sorted_by_number() -> None:
    parsed = parse_record(
        ghsa_record(
            [
                "CWE-670",
                " cwe-20 ",  # case and white space are normalised
                "CWE-0670",  # zero-padded (CodeQL's spelling): the same weakness
                "CWE-116",
                "CWE-20",  # a duplicate
                "NVD-CWE-noinfo",  # NVD's placeholders are not weaknesses
                "NVD-CWE-Other",
                "CWE-",
                "CWE-0",
                "CWE-79a",
                "CWE-\u0661\u0662",  # Arabic-Indic digits: str.isdigit() says yes, CWE no
                "CWE-" + "9" * 40,
                79,
                None,
                ["CWE-1"],
                {"id": "CWE-2"},
            ]
        )
    )
    assert isinstance(parsed, Advisory)
    assert parsed.cwe_ids == ("CWE-20", "CWE-116", "CWE-670")
    # the rest of the record is untouched by what was dropped
    assert parsed.database_severity == "MODERATE"
    assert parsed.aliases == ("CVE-2024-35195",)


@pytest.mark.parametrize("cwe_ids", ["CWE-79", {"CWE-79": True}, 79, None, []])
def test_cwe_ids_of_the_wrong_shape_cost_nothing(cwe_ids: object) -> None:
    parsed = parse_record(ghsa_record(cwe_ids))
    assert isinstance(parsed, Advisory)
    assert parsed.cwe_ids == ()
    assert parsed.affected[0].ranges[0].events[-1] == RangeEvent(EventKind.FIXED, "2.32.0")


def test_records_without_cwe_ids() -> None:
    plain = parse_record(record())
    non_object = parse_record(record(database_specific=["CWE-79"]))
    assert isinstance(plain, Advisory) and isinstance(non_object, Advisory)
    assert plain.cwe_ids == non_object.cwe_ids == ()


def test_cwe_ids_are_capped() -> None:
    parsed = parse_json(json.dumps(ghsa_record([f"CWE-{n}" for n in range(1000, 0, -1)])))
    assert isinstance(parsed, Advisory)
    assert len(parsed.cwe_ids) == MAX_CWE_IDS
    # the first ones the record lists, then ordered by number
    assert parsed.cwe_ids[0] == f"CWE-{1000 - MAX_CWE_IDS + 1}"
    assert parsed.cwe_ids[-1] == "CWE-1000"
