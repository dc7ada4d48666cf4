"""OSV records (https://ossf.github.io/osv-schema/) -> `Advisory`, validated where they enter.

A record that breaks the schema raises `MalformedRecord` with the reason; importers count it and
carry on. Withdrawn records come back as `Withdrawn` so the store can drop an older copy.
GIT ranges are dropped (nothing in an image has a commit to compare); entries without a
`package` (allowed for GIT-only entries) are skipped.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from basewatch.models import cwe_key
from basewatch.vulndb.model import Advisory, Affected, AffectedRange, EventKind, RangeEvent
from basewatch.vulndb.names import base_ecosystem

log = logging.getLogger(__name__)

RANGE_TYPES = frozenset({"ECOSYSTEM", "SEMVER", "GIT"})
# No real version comes near this (Debian's longest are under 100 characters); a longer one is
# an attack on the comparators (a 5,000-digit number is slow or refused to parse as an int).
MAX_VERSION_LENGTH = 256
_EVENT_KINDS = {kind.value: kind for kind in EventKind}
_LONG_FRACTION = re.compile(r"(\.\d{6})\d+")
MAX_PROBLEMS = 100  # refusal reasons kept per import (all are counted)
# Real records name a handful; the cap keeps a hostile record from bloating every finding.
MAX_CWE_IDS = 50
# [0-9], not \d: \d also matches other scripts' digits. CWE numbers have four digits today.
_CWE_ID = re.compile(r"CWE-([0-9]{1,7})")


class MalformedRecord(ValueError):
    """A record that does not follow the OSV schema; the message says what is wrong.

    `record_id` and `packages` ((ecosystem, name) pairs) say what the record was about, as far
    as it could be read, so a refusal can be told to the scans of those packages.
    """

    def __init__(
        self, message: str, record_id: str = "", packages: tuple[tuple[str, str], ...] = ()
    ) -> None:
        super().__init__(message)
        self.record_id = record_id
        self.packages = packages


@dataclass(frozen=True, slots=True)
class Withdrawn:
    """A record its database has withdrawn: never stored, but it removes an older copy."""

    id: str
    modified: str
    ecosystems: tuple[str, ...] = ()


@dataclass(slots=True)
class Tally:
    """Refusals counted while reading records in bulk (a dump, a secdb file), with the first
    `MAX_PROBLEMS` reasons: bad records are counted and reported, never fatal."""

    malformed: int = 0
    skipped: int = 0
    problems: list[str] = field(default_factory=list)
    # (ecosystem, name, record id, reason) for every package a refused record named.
    refusals: list[tuple[str, str, str, str]] = field(default_factory=list)

    def refuse(self, where: str, reason: str, package: tuple[str, str] | None = None) -> None:
        """Count one refusal; `package` (ecosystem, name) when the refusal names one."""
        if package is not None:
            self.refusals.append((*package, where, reason[:500]))
        self.malformed += 1
        log.debug("refused %s: %s", where, reason)
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(f"{where}: {reason}")

    def refuse_record(self, where: str, exc: MalformedRecord) -> None:
        self.refuse(where, str(exc))
        record_id = exc.record_id or where
        self.refusals.extend(
            (ecosystem, name, record_id, str(exc)[:500]) for ecosystem, name in exc.packages
        )

    def refusals_by_source(self, prefix: str) -> dict[str, list[tuple[str, str, str, str]]]:
        """The refusals grouped by the source their ecosystem's records go to."""
        grouped: dict[str, list[tuple[str, str, str, str]]] = {}
        for refusal in self.refusals:
            grouped.setdefault(f"{prefix}:{base_ecosystem(refusal[0])}", []).append(refusal)
        return grouped


def parse_json(raw: bytes | str) -> Advisory | Withdrawn:
    """Parse one record from JSON text."""
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise MalformedRecord(f"not valid JSON: {exc}") from None
    except RecursionError:
        raise MalformedRecord("the JSON nests too deeply to be an OSV record") from None
    return parse_record(data)


def parse_record(data: object) -> Advisory | Withdrawn:
    """Validate a decoded OSV record and turn it into an `Advisory` (or `Withdrawn`)."""
    try:
        return _parse_record(data)
    except MalformedRecord as exc:
        exc.record_id, exc.packages = _identify(data)
        raise
    except RecursionError:
        # A structure nested deeper than the interpreter allows (built in memory, or YAML).
        raise MalformedRecord(
            "the record nests too deeply to be an OSV record", *_identify(data)
        ) from None


def _identify(data: object) -> tuple[str, tuple[tuple[str, str], ...]]:
    """The id and the (ecosystem, name) pairs of a record, as far as they are readable."""
    if not isinstance(data, dict):
        return "", ()
    record_id = data.get("id")
    packages: dict[tuple[str, str], None] = {}
    affected = data.get("affected")
    for entry in affected if isinstance(affected, list) else ():
        package = entry.get("package") if isinstance(entry, dict) else None
        if not isinstance(package, dict):
            continue
        ecosystem, name = package.get("ecosystem"), package.get("name")
        if not isinstance(ecosystem, str) or not isinstance(name, str):
            continue
        if ecosystem.strip() and name.strip() and len(ecosystem) + len(name) <= 1024:
            packages[(ecosystem.strip(), name.strip())] = None
    identified = record_id.strip() if isinstance(record_id, str) else ""
    return identified[:256], tuple(packages)


def _parse_record(data: object) -> Advisory | Withdrawn:
    if not isinstance(data, dict):
        raise MalformedRecord(f"a record is a JSON object, not {type(data).__name__}")
    record_id = _required_str(data, "id", "the record")
    if any(c.isspace() for c in record_id):
        raise MalformedRecord(f"id {record_id!r} contains white space")
    where = record_id
    modified = _required_str(data, "modified", where)
    modified_key(modified, where)
    raw_affected = _list(data, "affected", where)
    if data.get("withdrawn"):
        ecosystems = tuple(
            dict.fromkeys(
                str(entry["package"]["ecosystem"])
                for entry in raw_affected
                if isinstance(entry, dict)
                and isinstance(entry.get("package"), dict)
                and isinstance(entry["package"].get("ecosystem"), str)
            )
        )
        return Withdrawn(record_id, modified, ecosystems)
    affected = []
    for index, entry in enumerate(raw_affected):
        parsed = _affected(entry, f"{where}: affected[{index}]")
        if parsed is not None:
            affected.append(parsed)
    database_specific = data.get("database_specific")
    database_severity = ""
    cwe_ids: tuple[str, ...] = ()
    if isinstance(database_specific, dict):
        if isinstance(database_specific.get("severity"), str):
            database_severity = database_specific["severity"]
        cwe_ids = _cwe_ids(database_specific.get("cwe_ids"))
    return Advisory(
        id=record_id,
        aliases=_str_list(data, "aliases", where),
        upstream=_str_list(data, "upstream", where),
        related=_str_list(data, "related", where),
        summary=_optional_str(data, "summary", where),
        details=_optional_str(data, "details", where),
        severity=_severities(data, where),
        database_severity=database_severity,
        published=_optional_str(data, "published", where),
        modified=modified,
        references=_references(data, where),
        affected=tuple(affected),
        cwe_ids=cwe_ids,
    )


def _cwe_ids(value: object) -> tuple[str, ...]:
    """The well-formed CWE ids of `database_specific.cwe_ids`, canonical and sorted by number.

    database_specific is free-form in the OSV schema, so anything else there is dropped
    silently: it never costs the record (its ranges matter far more than its weakness tags).
    """
    if not isinstance(value, list):
        return ()
    found: dict[str, None] = {}
    for item in value:
        if len(found) >= MAX_CWE_IDS:
            break
        # The length check first: fullmatch on a megabyte of text is wasted work.
        if not isinstance(item, str) or len(item) > 32:
            continue
        match = _CWE_ID.fullmatch(item.strip().upper())
        if match is not None and (number := int(match.group(1))) > 0:
            found[f"CWE-{number}"] = None  # "CWE-079" (CodeQL's spelling) is CWE-79
    return tuple(sorted(found, key=cwe_key))


def modified_key(value: str, where: str = "the record") -> str:
    """A canonical UTC form of an RFC 3339 time that sorts as the times do ("" sorts first)."""
    if not value:
        return ""
    text = _LONG_FRACTION.sub(r"\1", value.strip())
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise MalformedRecord(f"{where}: {value!r} is not an RFC 3339 time") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    else:
        try:
            moment = moment.astimezone(UTC)
        except OverflowError:
            raise MalformedRecord(f"{where}: {value!r} is out of range") from None
    return (
        f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}T{moment.hour:02d}:"
        f"{moment.minute:02d}:{moment.second:02d}.{moment.microsecond:06d}Z"
    )


def _affected(entry: object, where: str) -> Affected | None:
    if not isinstance(entry, dict):
        raise MalformedRecord(f"{where} is not an object")
    package = entry.get("package")
    if package is None:
        return None
    if not isinstance(package, dict):
        raise MalformedRecord(f"{where}.package is not an object")
    ecosystem = _required_str(package, "ecosystem", f"{where}.package")
    name = _required_str(package, "name", f"{where}.package")
    ranges = []
    for index, raw_range in enumerate(_list(entry, "ranges", where)):
        parsed = _range(raw_range, f"{where}.ranges[{index}]")
        if parsed is not None:
            ranges.append(parsed)
    severity = list(_severities(entry, where))
    specific = entry.get("ecosystem_specific")
    status = ""
    for extra in (specific, entry.get("database_specific")):
        if not isinstance(extra, dict):
            continue
        # Debian's records state the security team's urgency here.
        if isinstance(extra.get("urgency"), str) and extra["urgency"]:
            severity.append((ecosystem.split(":", 1)[0], extra["urgency"]))
        if isinstance(extra.get("status"), str) and not status:
            status = extra["status"]
    versions = _str_list(entry, "versions", where)
    for index, version in enumerate(versions):
        _check_version(version, f"{where}.versions[{index}]")
    return Affected(
        ecosystem=ecosystem,
        name=name,
        ranges=tuple(ranges),
        versions=versions,
        severity=tuple(severity),
        status=status,
    )


def _range(raw: object, where: str) -> AffectedRange | None:
    if not isinstance(raw, dict):
        raise MalformedRecord(f"{where} is not an object")
    range_type = _required_str(raw, "type", where)
    if range_type not in RANGE_TYPES:
        raise MalformedRecord(f"{where}: unknown range type {range_type!r}")
    raw_events = _list(raw, "events", where)
    if not raw_events:
        raise MalformedRecord(f"{where} has no events")
    events = []
    for index, event in enumerate(raw_events):
        if not isinstance(event, dict) or len(event) != 1:
            raise MalformedRecord(f"{where}.events[{index}] must hold exactly one event")
        ((key, version),) = event.items()
        kind = _EVENT_KINDS.get(key)
        if kind is None:
            raise MalformedRecord(f"{where}.events[{index}]: unknown event {key!r}")
        if not isinstance(version, str) or not version:
            raise MalformedRecord(f"{where}.events[{index}].{key} is not a version string")
        _check_version(version, f"{where}.events[{index}].{key}")
        events.append(RangeEvent(kind, version))
    if range_type == "GIT":
        return None
    return AffectedRange(range_type, tuple(events))


def _check_version(version: str, where: str) -> None:
    if len(version) > MAX_VERSION_LENGTH:
        raise MalformedRecord(
            f"{where}: a version of {len(version):,} characters (more than {MAX_VERSION_LENGTH})"
        )


def _severities(data: dict[str, Any], where: str) -> tuple[tuple[str, str], ...]:
    pairs = []
    for index, item in enumerate(_list(data, "severity", where)):
        if not isinstance(item, dict):
            raise MalformedRecord(f"{where}: severity[{index}] is not an object")
        pairs.append(
            (
                _required_str(item, "type", f"{where}: severity[{index}]"),
                _required_str(item, "score", f"{where}: severity[{index}]"),
            )
        )
    return tuple(pairs)


def _references(data: dict[str, Any], where: str) -> tuple[str, ...]:
    urls = []
    for index, item in enumerate(_list(data, "references", where)):
        if not isinstance(item, dict):
            raise MalformedRecord(f"{where}: references[{index}] is not an object")
        urls.append(_required_str(item, "url", f"{where}: references[{index}]"))
    return tuple(dict.fromkeys(urls))


def _required_str(data: dict[str, Any], key: str, where: str) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value.strip():
        if value is None:
            raise MalformedRecord(f"{where} has no {key!r}")
        raise MalformedRecord(f"{where}: {key!r} is not a non-empty string")
    return value.strip()


def _optional_str(data: dict[str, Any], key: str, where: str) -> str:
    value = data.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise MalformedRecord(f"{where}: {key!r} is not a string")
    return value


def _list(data: dict[str, Any], key: str, where: str) -> list[Any]:
    value = data.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise MalformedRecord(f"{where}: {key!r} is not a list")
    return value


def _str_list(data: dict[str, Any], key: str, where: str) -> tuple[str, ...]:
    values = _list(data, key, where)
    if not all(isinstance(v, str) for v in values):
        raise MalformedRecord(f"{where}: {key!r} holds something other than strings")
    return tuple(dict.fromkeys(v for v in values if v))
