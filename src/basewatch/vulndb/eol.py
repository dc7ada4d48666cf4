"""End-of-life dates of distributions and runtimes, and what a base image's tag says it runs.

A table of known dates ships in the package (`vulndb/data/eol.json`) so linting, `compare` and
`advise` work offline; `refresh_eol_table` rebuilds it from the end-of-life API
(`ENDOFLIFE_API`). A cycle's `eol` is the day free security updates stop for someone using the
image: Debian's LTS end (same archive, free), the end of standard support elsewhere (Ubuntu ESM
needs a subscription the image does not have). `eol_status` says where a date stands on a given
day; "today" is always passed in (from a `Clock`), never read here.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import re
import tempfile
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from basewatch.clock import SYSTEM_CLOCK, Clock, today
from basewatch.errors import EolError

if TYPE_CHECKING:
    import httpx

log = logging.getLogger(__name__)

ENDOFLIFE_API = "https://endoflife.date/api"
CACHE_FILE = "eol.json"  # the refreshed table, in the user cache dir (`basewatch db update`)
SCHEMA_VERSION = 1

# endoflife.date product -> display name
PRODUCTS: Mapping[str, str] = {
    "debian": "Debian",
    "ubuntu": "Ubuntu",
    "alpine": "Alpine Linux",
    "python": "Python",
    "nodejs": "Node.js",
    "go": "Go",
    "eclipse-temurin": "Java (Temurin)",
    "nginx": "nginx",
    "postgresql": "PostgreSQL",
}

# Which API field says when free security updates stop (default: "eol").
_SUPPORT_FIELD: Mapping[str, str] = {"debian": "extendedSupport"}

# Image repository name (last path component) -> product whose cycle the tag starts with.
IMAGE_PRODUCTS: Mapping[str, str] = {
    "debian": "debian",
    "ubuntu": "ubuntu",
    "alpine": "alpine",
    "python": "python",
    "pypy": "",
    "node": "nodejs",
    "golang": "go",
    "eclipse-temurin": "eclipse-temurin",
    "openjdk": "eclipse-temurin",
    "nginx": "nginx",
    "postgres": "postgresql",
}


# A release whose end of life is this close (days) is "ending": time to plan the move.
SOON_DAYS = 90


class EolStatus(StrEnum):
    """Where a release stands on a given day (the words reports print)."""

    SUPPORTED = "supported"
    ENDING = "ends within 90 days"
    ENDED = "end of life"
    UNKNOWN = "unknown"  # no date known for it


def eol_status(eol: date | None, on: date) -> EolStatus:
    """The status on the day `on` of a release whose support ends on `eol` (None: unknown).
    The last day itself is ending, not ended."""
    if eol is None:
        return EolStatus.UNKNOWN
    if eol < on:
        return EolStatus.ENDED
    if (eol - on).days <= SOON_DAYS:
        return EolStatus.ENDING
    return EolStatus.SUPPORTED


class TaggedImage(Protocol):
    """What `cycles_in` reads of an image reference: its repository's last name and its tag."""

    @property
    def name(self) -> str: ...

    @property
    def tag(self) -> str: ...


@dataclass(frozen=True, slots=True)
class Cycle:
    product: str
    cycle: str
    eol: date | None  # None: no date announced yet
    codename: str = ""

    @property
    def label(self) -> str:
        name = PRODUCTS.get(self.product, self.product)
        suffix = f" ({self.codename})" if self.codename else ""
        return f"{name} {self.cycle}{suffix}"


@dataclass(frozen=True, slots=True)
class EolTable:
    cycles: tuple[Cycle, ...]
    updated: str = ""

    def find(self, product: str, cycle: str) -> Cycle | None:
        for entry in self.cycles:
            if entry.product == product and cycle in (entry.cycle, entry.codename):
                return entry
        return None

    def to_json(self) -> dict[str, Any]:
        products: dict[str, list[dict[str, Any]]] = {}
        for entry in self.cycles:
            row: dict[str, Any] = {
                "cycle": entry.cycle,
                "eol": entry.eol.isoformat() if entry.eol else None,
            }
            if entry.codename:
                row["codename"] = entry.codename
            products.setdefault(entry.product, []).append(row)
        return {
            "schema_version": SCHEMA_VERSION,
            "source": ENDOFLIFE_API,
            "updated": self.updated,
            "products": products,
        }

    @classmethod
    def from_json(cls, document: Any) -> EolTable:
        try:
            if document["schema_version"] != SCHEMA_VERSION:
                raise EolError(f"unsupported schema_version {document['schema_version']!r}")
            cycles = [
                Cycle(
                    product=str(product),
                    cycle=str(row["cycle"]),
                    eol=date.fromisoformat(row["eol"]) if row.get("eol") else None,
                    codename=str(row.get("codename") or ""),
                )
                for product, rows in document["products"].items()
                for row in rows
            ]
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise EolError(f"malformed end-of-life table: {exc!r}") from exc
        return cls(cycles=tuple(cycles), updated=str(document.get("updated", "")))


def load_eol_table(path: Path | None = None) -> EolTable:
    """The table at `path` (a refreshed copy), else the one shipped in the package."""
    if path is None:
        text = resources.files("basewatch.vulndb").joinpath("data/eol.json").read_text("utf-8")
    else:
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise EolError(f"cannot read {path}: {exc.strerror}") from exc
    try:
        return EolTable.from_json(json.loads(text))
    except json.JSONDecodeError as exc:
        raise EolError(f"{path or 'shipped table'}: not JSON: {exc}") from exc


def save_eol_table(table: EolTable, path: Path) -> None:
    """Write atomically: a failed write leaves the previous table in place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(table.to_json(), handle, indent=1)
            handle.write("\n")
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise EolError(f"cannot write {path}: {exc.strerror}") from exc


def refresh_eol_table(
    client: httpx.Client,
    *,
    base_url: str = ENDOFLIFE_API,
    products: Iterable[str] = tuple(PRODUCTS),
    clock: Clock = SYSTEM_CLOCK,
) -> EolTable:
    """Download every product's cycles (`GET {base_url}/{product}.json`), dated `clock`'s
    UTC day; raises EolError."""
    import httpx  # only refreshing needs it: keep `basewatch lint` start-up fast

    cycles: list[Cycle] = []
    for product in products:
        url = f"{base_url.rstrip('/')}/{product}.json"
        try:
            response = client.get(url)
            response.raise_for_status()
            rows = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise EolError(f"cannot fetch end-of-life dates of {product}: {exc}") from exc
        if not isinstance(rows, list):
            raise EolError(f"{product}: expected a list of cycles, got {type(rows).__name__}")
        bad = 0
        for row in rows:
            cycle = _cycle_from_api(product, row)
            if cycle is None:
                bad += 1
            else:
                cycles.append(cycle)
        if bad:
            log.warning("%s: %d malformed cycles skipped", product, bad)
    return EolTable(cycles=tuple(cycles), updated=today(clock).isoformat())


def _cycle_from_api(product: str, row: Any) -> Cycle | None:
    if not isinstance(row, dict) or "cycle" not in row:
        return None
    field = _SUPPORT_FIELD.get(product, "eol")
    value = row.get(field)
    if not isinstance(value, str):
        value = row.get("eol")
    eol: date | None = None
    if isinstance(value, str):
        try:
            eol = date.fromisoformat(value)
        except ValueError:
            return None
    elif value is True:
        eol = date.min  # ended, day unknown
    codename = row.get("codename")
    codename = codename.split()[0].lower() if isinstance(codename, str) and codename else ""
    return Cycle(product=product, cycle=str(row["cycle"]), eol=eol, codename=codename)


# --- what a tag says ----------------------------------------------------------------------

_DEBIAN_CODENAMES = ("jessie", "stretch", "buster", "bullseye", "bookworm", "trixie", "wheezy")
_UBUNTU_CODENAMES = (
    "trusty", "xenial", "bionic", "focal", "jammy", "noble", "precise", "groovy", "hirsute",
    "impish", "kinetic", "lunar", "mantic", "oracular", "plucky", "questing", "resolute",
)  # fmt: skip
_MINOR = re.compile(r"(\d+)\.(\d+)(?:\.\d+)*")
_MAJOR = re.compile(r"(\d+)(?:[.u_]\S*)?")


def cycles_in(ref: TaggedImage, table: EolTable) -> list[Cycle]:
    """The distribution and runtime cycles a reference's tag names (`python:3.8-slim-buster`:
    Python 3.8 and Debian 10). Floating tags (`3`, `lts`, `latest`) name no cycle."""
    tag = ref.tag.lower()
    if not tag:
        return []
    found: list[Cycle] = []
    words = tag.split("-")
    product = IMAGE_PRODUCTS.get(ref.name, "")
    first = words[0]
    cycle: str | None = None
    match product:
        case "debian" | "ubuntu":
            match_version = re.fullmatch(r"(\d+)(?:\.(\d+))?(?:\.\d+)?", first)
            if first.isalpha():
                cycle = first
            elif match_version and product == "debian":
                cycle = match_version.group(1)
            elif match_version and product == "ubuntu" and match_version.group(2):
                cycle = f"{match_version.group(1)}.{match_version.group(2)}"
        case "alpine" | "python" | "go" | "nginx":
            minor = _MINOR.fullmatch(first)
            if minor:
                cycle = f"{minor.group(1)}.{minor.group(2)}"
        case "nodejs" | "eclipse-temurin" | "postgresql":
            if first.isalpha():
                cycle = first  # node codenames
            elif (
                product == "postgresql"
                and (minor := _MINOR.fullmatch(first))
                and int(minor.group(1)) < 10
            ):
                cycle = f"{minor.group(1)}.{minor.group(2)}"
            elif major := _MAJOR.fullmatch(first):
                cycle = major.group(1)
        case _:
            pass
    if product and cycle is not None and (entry := table.find(product, cycle)):
        found.append(entry)
    # A variant suffix names the distribution underneath (`-buster`, `-alpine3.15`, `-jammy`).
    for word in words[1:] if product else words:
        entry = None
        if word in _DEBIAN_CODENAMES:
            entry = table.find("debian", word)
        elif word in _UBUNTU_CODENAMES:
            entry = table.find("ubuntu", word)
        elif (alpine := re.fullmatch(r"alpine(\d+\.\d+)", word)) is not None:
            entry = table.find("alpine", alpine.group(1))
        if entry is not None and entry not in found:
            found.append(entry)
    return found


def table_identity(path: Path) -> tuple[int, int, int] | None:
    """What tells a rewritten (or replaced) table from the one read before; None: no file."""
    try:
        stat = path.stat()
    except OSError:
        return None
    return stat.st_ino, stat.st_size, stat.st_mtime_ns


def release_cycle(os_id: str, version_id: str) -> str:
    """The end-of-life table's cycle of a release: alpine 3.20.3 -> 3.20, debian 12.5 -> 12."""
    if os_id in ("alpine",):
        return ".".join(version_id.split(".")[:2])
    if os_id in ("debian", "rhel", "almalinux", "rocky"):
        return version_id.split(".", maxsplit=1)[0]
    return version_id


# product (os-release ID or table product), cycle -> the cycle's end of life; None: unknown
EolLookup = Callable[[str, str], date | None]


def current_eol_lookup(refreshed: Path) -> EolLookup:
    """`eol_lookup_from_table(refreshed)`, read again only when `db update` rewrote the table
    (every policy evaluation asks for it)."""
    return _lookup_of(refreshed, table_identity(refreshed))


@functools.lru_cache(maxsize=4)
def _lookup_of(refreshed: Path, identity: tuple[int, int, int] | None) -> EolLookup:
    return eol_lookup_from_table(refreshed)


def eol_lookup_from_table(refreshed: Path) -> EolLookup:
    """End-of-life dates: the refreshed copy at `refreshed` (`Settings.eol_table`), else the
    table shipped with basewatch."""

    try:
        table = load_eol_table(refreshed) if refreshed.is_file() else load_eol_table()
    except EolError:
        table = load_eol_table()

    def lookup(product: str, cycle: str) -> date | None:
        found = table.find(product, cycle)
        return found.eol if found is not None else None

    return lookup
