"""CISA's Known Exploited Vulnerabilities catalog (its JSON feed) -> `KevEntry` values."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from basewatch.errors import DatabaseError

_CVE = re.compile(r"^CVE-\d{4}-\d{4,}$")


@dataclass(frozen=True, slots=True)
class KevEntry:
    cve: str
    date_added: str = ""
    due_date: str = ""
    ransomware: str = ""  # knownRansomwareCampaignUse: "Known" or "Unknown"


@dataclass(frozen=True, slots=True)
class KevCatalog:
    version: str
    released: str
    entries: tuple[KevEntry, ...]
    malformed: int = 0
    problems: tuple[str, ...] = ()


def is_kev_document(data: object) -> bool:
    """Whether a decoded JSON document looks like the KEV catalog."""
    return (
        isinstance(data, dict)
        and isinstance(data.get("vulnerabilities"), list)
        and ("catalogVersion" in data or "dateReleased" in data)
    )


def parse_kev(raw: bytes | str, origin: str = "the KEV catalog") -> KevCatalog:
    """Parse the catalog; entries without a valid CVE id are counted, not fatal."""
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise DatabaseError(f"{origin} is not valid JSON: {exc}") from None
    return kev_from_document(data, origin)


def kev_from_document(data: object, origin: str = "the KEV catalog") -> KevCatalog:
    if not isinstance(data, dict) or not is_kev_document(data):
        raise DatabaseError(f"{origin} is not a KEV catalog (no 'vulnerabilities' list)")
    entries: dict[str, KevEntry] = {}
    problems: list[str] = []
    malformed = 0
    for index, item in enumerate(data["vulnerabilities"]):
        cve = item.get("cveID") if isinstance(item, dict) else None
        if not isinstance(item, dict) or not isinstance(cve, str) or not _CVE.match(cve.strip()):
            malformed += 1
            problems.append(f"vulnerabilities[{index}]: no valid cveID ({cve!r})")
            continue
        entries[cve.strip()] = KevEntry(
            cve=cve.strip(),
            date_added=_text(item.get("dateAdded")),
            due_date=_text(item.get("dueDate")),
            ransomware=_text(item.get("knownRansomwareCampaignUse")),
        )
    return KevCatalog(
        version=_text(data.get("catalogVersion")),
        released=_text(data.get("dateReleased")),
        entries=tuple(entries.values()),
        malformed=malformed,
        problems=tuple(problems),
    )


def _text(value: object) -> str:
    return value.strip() if isinstance(value, str) else ""
