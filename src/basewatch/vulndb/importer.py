"""`import_paths`: load advisories and enrichment feeds from local files into a store.

What a path may be, recognised by its form and content rather than trusted by its name:

- an OSV zip (the bulk dump `<ECOSYSTEM>/all.zip`: one JSON record per entry, any folders);
- a directory of OSV records (`*.json`, `*.yaml`, `*.yml`, searched recursively);
- one OSV record as `.json`, `.yaml` or `.yml` (a list, or an API answer `{"vulns": [...]}`,
  holds several);
- an Alpine, Wolfi or Chainguard security database (secdb) JSON file, converted to OSV;
- CISA's KEV catalog JSON; FIRST's EPSS CSV, plain or gzip.

Sources (see `sqlite.py`): records from zips go to `osv:<ECOSYSTEM>`, the same source
`basewatch db update` refreshes; records from loose files go to `local:<ECOSYSTEM>`, which
updates never touch; each secdb file is its own source, `secdb:<ECOSYSTEM>/<REPO>`, replaced
whole on re-import (the file is a snapshot). `<ECOSYSTEM>` is the first affected package's
ecosystem without its release ("Debian:12" -> "Debian"). Zips and loose records are merged
record by record: within a source, the copy with the later `modified` wins.

Malformed records are counted and their reasons kept; they never stop an import. The packages
a refused record names, when readable, are kept too (`SqliteStore.refused`). A file that
cannot be read at all (a corrupt zip, a JSON that is none of the above) raises.

Everything read is bounded, whatever headers say: a zip member is read through a counting
reader and refused past `MAX_RECORD_BYTES`, a whole zip past `MAX_ZIP_EXPANSION`; YAML
aliases are refused (OSV needs none) and documents past `MAX_YAML_NODES`; JSON nested deeper
than the parser allows is a malformed record, or for a whole feed file a `DatabaseError`.
"""

from __future__ import annotations

import logging
import re
import zipfile
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from basewatch.errors import DatabaseError, UsageError
from basewatch.progress import NULL_PROGRESS, Progress
from basewatch.untrusted import UntrustedInput, read_regular_file
from basewatch.untrusted import parse_json as parse_untrusted_json
from basewatch.vulndb.epss import read_epss
from basewatch.vulndb.incremental import MAX_RECORD_BYTES
from basewatch.vulndb.kev import is_kev_document, kev_from_document
from basewatch.vulndb.model import (
    Advisory,
    Affected,
    AffectedRange,
    EventKind,
    RangeEvent,
    SourceStatus,
)
from basewatch.vulndb.names import base_ecosystem
from basewatch.vulndb.osv import (
    MAX_VERSION_LENGTH,
    MalformedRecord,
    Withdrawn,
    parse_json,
    parse_record,
)
from basewatch.vulndb.sqlite import SqliteStore
from basewatch.vulndb.status import parse_time

log = logging.getLogger(__name__)

_RECORD_SUFFIXES = (".json", ".yaml", ".yml")
_MAX_PROBLEMS = 100
# The real dumps expand to a few hundred MB (Debian, Ubuntu); a zip that expands past this is
# a bomb, whatever its members' headers declare.
MAX_ZIP_EXPANSION = 8 << 30
# Loose record files: one record, or a list of them. YAML is read into a node graph first
# (several hundred bytes a value, and pure-Python slow: some 40,000 values a second), so it is
# kept smaller, and so is the graph. Real OSV YAML records are a few KB.
MAX_JSON_FILE_BYTES = 64 << 20
MAX_YAML_FILE_BYTES = 4 << 20
MAX_YAML_NODES = 200_000
_READ_CHUNK = 1 << 20
_PROGRESS_STEP = 256

# One id in a secfixes entry: "CVE-2019-1234", "XSA-182", "TALOS-2019-0844", "GHSA-xxxx-...".
_SECFIX_ID = re.compile(r"^[A-Z][A-Z0-9]*-[A-Za-z0-9][A-Za-z0-9._:-]*$")
# "CVE-2017-17434-1", "-2": Alpine's names for two patches of one CVE.
_CVE_ID = re.compile(r"^CVE-\d{4}-\d{4,}(?=$|-\d+$)")
# apk version syntax (abuild's APKBUILD(5)), as OSV's own secdb converter checks it.
_APK_VERSION = re.compile(
    r"^(\d+\.)*\d+[a-zA-Z]?(_?(alpha|beta|rc|pre|cvs|svn|git|hg|p)\d*)*([-.]r\d+)?$"
)
# In secfixes, a CVE listed under version "0" does not affect the package at all (the
# maintainers' way to reject it, e.g. it concerns another platform or predates the package).
_NOT_AFFECTED = "0"


@dataclass(frozen=True, slots=True)
class ImportResult:
    """What importing one path did."""

    path: str
    kind: str  # "osv", "secdb", "kev" or "epss"
    records: int  # records (or CVEs, for KEV and EPSS) written
    withdrawn: int = 0  # withdrawn records seen: never stored, an older copy is removed
    malformed: int = 0  # records or rows refused, see `problems`
    skipped: int = 0  # valid but not stored: older than the stored copy, naming no package,
    # or (secdb) listed under version "0", i.e. not affected
    sources: tuple[str, ...] = ()
    problems: tuple[str, ...] = ()  # the first reasons for refusals


@dataclass(slots=True)
class Tally:
    """Refusals counted while reading records, with the first reasons."""

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
        if len(self.problems) < _MAX_PROBLEMS:
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


@dataclass(frozen=True, slots=True)
class SecdbConversion:
    """A secdb file as OSV advisories, one per vulnerability id, with every package it names."""

    ecosystem: str  # "Alpine:v3.10", "Wolfi", "Chainguard"
    source: str  # "secdb:Alpine:v3.10/main"
    advisories: tuple[Advisory, ...]
    malformed: int = 0
    not_affected: int = 0  # (package, id) pairs listed under "0"
    problems: tuple[str, ...] = ()
    refusals: tuple[tuple[str, str, str, str], ...] = ()  # as `Tally.refusals`


def import_paths(
    store: SqliteStore,
    paths: Sequence[Path | str],
    progress: Progress = NULL_PROGRESS,
    now: datetime | None = None,
) -> tuple[ImportResult, ...]:
    """Import every path into `store` (writes are committed by the caller, see `rebuilding`)."""
    moment = _iso(now or datetime.now(UTC))
    results = []
    for raw in paths:
        path = Path(raw)
        if not path.exists():
            raise UsageError(f"cannot import {path}: no such file or directory")
        results.append(_import_one(store, path, progress, moment))
    return tuple(results)


def _import_one(store: SqliteStore, path: Path, progress: Progress, moment: str) -> ImportResult:
    if path.is_dir():
        return _import_osv(store, path, _directory_records, "local", progress, moment)
    name = path.name.lower()
    if name.endswith(".zip"):
        return _import_osv(store, path, read_zip_records, "osv", progress, moment)
    if name.endswith((".csv", ".csv.gz", ".gz")):
        return _import_epss(store, path, moment)
    if name.endswith((".yaml", ".yml")):
        return _import_osv(store, path, _file_records, "local", progress, moment)
    if name.endswith(".json"):
        data = _load_json_file(path)
        if is_kev_document(data):
            return _import_kev(store, path, data, moment)
        if is_secdb_document(data):
            return _import_secdb(store, path, data, moment)
        if _is_osv_document(data):
            return _import_osv(store, path, _file_records, "local", progress, moment)
        raise UsageError(
            f"cannot import {path}: this JSON is neither an OSV record, a secdb file nor the "
            "KEV catalog"
        )
    raise UsageError(
        f"cannot import {path}: expected an OSV zip, a directory, a .json/.yaml OSV record, "
        "a secdb .json, the KEV .json or an EPSS .csv[.gz]"
    )


# -- OSV ------------------------------------------------------------------------------------

_RecordReader = Callable[[Path, Tally, Progress], Iterator[Advisory | Withdrawn]]


def _import_osv(
    store: SqliteStore,
    path: Path,
    reader: _RecordReader,
    prefix: str,
    progress: Progress,
    moment: str,
) -> ImportResult:
    tally = Tally()

    def pairs() -> Iterator[tuple[str, Advisory | Withdrawn]]:
        for record in reader(path, tally, progress):
            source = _record_source(prefix, record)
            if source is None:
                tally.skipped += 1
                continue
            yield source, record

    counts = store.write_records(pairs())
    by_source = counts.by_source
    sources = sorted(by_source)
    main = max(sources, key=lambda s: by_source[s]) if sources else ""
    for source, refusals in tally.refusals_by_source(prefix).items():
        store.set_refused(source, refusals)
    for source in sources:
        store.set_source(
            SourceStatus(
                name=source,
                records=store.source_records(source),
                updated_at=moment,
                origin=str(path),
                malformed=tally.malformed if source == main else 0,
                data_date=store.data_date(source),
            )
        )
    return ImportResult(
        path=str(path),
        kind="osv",
        records=counts.written,
        withdrawn=counts.withdrawn,
        malformed=tally.malformed,
        skipped=tally.skipped + counts.skipped,
        sources=tuple(sources),
        problems=tuple(tally.problems),
    )


def _record_source(prefix: str, record: Advisory | Withdrawn) -> str | None:
    if isinstance(record, Withdrawn):
        ecosystem = record.ecosystems[0] if record.ecosystems else ""
    else:
        ecosystem = record.affected[0].ecosystem if record.affected else ""
    return f"{prefix}:{base_ecosystem(ecosystem)}" if ecosystem else None


def zip_record_entries(archive: zipfile.ZipFile) -> list[zipfile.ZipInfo]:
    """The members of an OSV zip that hold records."""
    return [
        info
        for info in archive.infolist()
        if not info.is_dir()
        and info.filename.lower().endswith(".json")
        and not info.filename.startswith("__MACOSX/")
    ]


def read_zip_records(
    path: Path, tally: Tally, progress: Progress, label: str = ""
) -> Iterator[Advisory | Withdrawn]:
    """The records of an OSV zip; malformed ones (oversized ones too) are counted in `tally`.

    Raises `DatabaseError` when the archive is corrupt or expands past `MAX_ZIP_EXPANSION`.
    """
    description = f"importing {label or path.name}"
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise DatabaseError(f"{path} is not a readable zip archive: {exc}") from exc
    with archive:
        entries = zip_record_entries(archive)
        progress.begin(description, len(entries))
        budget = _Expansion(path)
        try:
            for done, info in enumerate(entries, start=1):
                raw = read_zip_member(archive, info, path, budget)
                where = f"{path.name}:{info.filename}"
                if raw is None:
                    tally.refuse(where, f"over {MAX_RECORD_BYTES:,} bytes: no OSV record is")
                else:
                    try:
                        yield parse_json(raw)
                    except MalformedRecord as exc:
                        tally.refuse_record(where, exc)
                if done % _PROGRESS_STEP == 0:
                    progress.advance(description, _PROGRESS_STEP)
            progress.advance(description, len(entries) % _PROGRESS_STEP)
        finally:
            progress.end()


@dataclass(slots=True)
class _Expansion:
    """What a zip has expanded to so far, counted from the bytes actually inflated."""

    path: Path
    total: int = 0

    def add(self, amount: int) -> None:
        self.total += amount
        if self.total > MAX_ZIP_EXPANSION:
            raise DatabaseError(
                f"{self.path} expands to more than {MAX_ZIP_EXPANSION >> 30} GiB, far more than "
                "any OSV dump: refused as a zip bomb (the database is unchanged)"
            )


def read_zip_member(
    archive: zipfile.ZipFile, info: zipfile.ZipInfo, path: Path, budget: _Expansion | None = None
) -> bytes | None:
    """A member's bytes, or None when it is over `MAX_RECORD_BYTES`.

    Reads through the decompressor in chunks and stops past the limit: the member's declared
    size is not trusted. Reading a member to its end checks its CRC; `DatabaseError` when the
    archive is corrupt.
    """
    chunks: list[bytes] = []
    size = 0
    try:
        with archive.open(info) as member:
            while chunk := member.read(min(_READ_CHUNK, MAX_RECORD_BYTES + 1 - size)):
                chunks.append(chunk)
                size += len(chunk)
                if budget is not None:
                    budget.add(len(chunk))
                if size > MAX_RECORD_BYTES:
                    return None
    except (zipfile.BadZipFile, zlib.error, OSError, EOFError, ValueError) as exc:
        raise DatabaseError(f"{path} is corrupt (entry {info.filename}: {exc})") from exc
    except NotImplementedError as exc:  # an unsupported compression method
        raise DatabaseError(f"{path}: cannot read entry {info.filename}: {exc}") from exc
    return b"".join(chunks)


def _directory_records(
    path: Path, tally: Tally, progress: Progress
) -> Iterator[Advisory | Withdrawn]:
    files = sorted(
        p
        for p in path.rglob("*")
        if p.suffix.lower() in _RECORD_SUFFIXES
        and p.is_file()
        and not any(part.startswith(".") for part in p.relative_to(path).parts)
    )
    progress.begin(f"importing {path.name}", len(files))
    try:
        for file in files:
            yield from _file_records(file, tally, NULL_PROGRESS)
            progress.advance(f"importing {path.name}")
    finally:
        progress.end()


def _file_records(path: Path, tally: Tally, progress: Progress) -> Iterator[Advisory | Withdrawn]:
    is_yaml = path.suffix.lower() in (".yaml", ".yml")
    try:
        text = read_regular_file(
            path, max_bytes=MAX_YAML_FILE_BYTES if is_yaml else MAX_JSON_FILE_BYTES
        )
        data = _load_yaml(text) if is_yaml else parse_untrusted_json(text, str(path))
    except UntrustedInput as exc:
        tally.refuse(str(path), str(exc))
        return
    except (OSError, ValueError, yaml.YAMLError) as exc:
        tally.refuse(str(path), f"cannot be read as JSON/YAML: {exc}")
        return
    if isinstance(data, dict) and isinstance(data.get("vulns"), list):
        items: list[object] = data["vulns"]
    elif isinstance(data, list):
        items = data
    else:
        items = [data]
    for index, item in enumerate(items):
        where = str(path) if len(items) == 1 else f"{path}[{index}]"
        try:
            yield parse_record(item)
        except MalformedRecord as exc:
            tally.refuse_record(where, exc)


def _is_osv_document(data: object) -> bool:
    if isinstance(data, list):
        return all(isinstance(item, dict) for item in data)
    return isinstance(data, dict) and ("id" in data or isinstance(data.get("vulns"), list))


class _StringLoader(yaml.SafeLoader):
    """A safe loader that keeps every scalar a string, refuses aliases and bounds the graph.

    OSV fields are all strings; YAML's implicit typing would turn `modified: 2021-01-01T00:00Z`
    into a datetime and version `1.10` into the float 1.1. An alias (`*name`) repeats a node:
    aliases of aliases are a few KB that expand to billions of values, and OSV needs none.
    """

    def __init__(self, stream: str | bytes) -> None:
        super().__init__(stream)
        self._nodes = 0

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        if self.check_event(yaml.AliasEvent):
            raise yaml.composer.ComposerError(
                None, None, "aliases (*name) are not allowed in OSV records", self._mark()
            )
        self._nodes += 1
        if self._nodes > MAX_YAML_NODES:
            raise yaml.composer.ComposerError(
                None, None, f"more than {MAX_YAML_NODES:,} values", self._mark()
            )
        return super().compose_node(parent, index)

    def _mark(self) -> yaml.Mark | None:
        event = self.peek_event()  # type: ignore[no-untyped-call]
        mark = getattr(event, "start_mark", None)
        return mark if isinstance(mark, yaml.Mark) else None


_StringLoader.yaml_implicit_resolvers = {}


def _load_yaml(text: bytes) -> object:
    loader = _StringLoader(text)
    try:
        return loader.get_single_data()
    except RecursionError:
        raise UntrustedInput("the YAML nests too deeply to be an OSV record") from None
    finally:
        loader.dispose()


def _load_json_file(path: Path) -> object:
    try:
        text = read_regular_file(path, max_bytes=MAX_JSON_FILE_BYTES)
        return parse_untrusted_json(text, str(path))
    except UntrustedInput as exc:
        raise DatabaseError(f"cannot import {exc}") from exc
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror or exc}") from exc
    except ValueError as exc:
        raise DatabaseError(f"{path} is not valid JSON: {exc}") from exc


# -- Alpine / Wolfi / Chainguard secdb --------------------------------------------------------


def is_secdb_document(data: object) -> bool:
    """Whether a decoded JSON document is a secdb file (`{"packages": [{"pkg": ...}]}`)."""
    return (
        isinstance(data, dict)
        and isinstance(data.get("packages"), list)
        and any(k in data for k in ("distroversion", "reponame", "urlprefix", "apkurl"))
    )


def convert_secdb(data: object, filename: str = "") -> SecdbConversion:
    """Turn a secdb document into OSV advisories.

    Ecosystem: `Alpine:<distroversion>` for Alpine; Wolfi and Chainguard files carry no
    release, and are told apart by "wolfi" or "chainguard" in their `reponame`, `urlprefix` or
    `apkurl` fields, else in the file name. Ids follow OSV's Alpine records: `ALPINE-CVE-...`
    (`WOLFI-`, `CHAINGUARD-`) with the vulnerability id as `upstream`, one record per id
    holding every package it names, each with an `introduced: 0` / `fixed: <version>` range
    per version listing it. Further ids in an entry ("CVE-2016-6258 XSA-182") are kept as
    upstream ids, parenthesised notes are dropped; entries under "0" are not vulnerabilities
    of that package and produce nothing.
    """
    if not is_secdb_document(data):
        raise DatabaseError(f"{filename or 'this file'} is not a secdb document")
    assert isinstance(data, dict)
    ecosystem, prefix = _secdb_distribution(data, filename)
    repo = data.get("reponame") if isinstance(data.get("reponame"), str) else ""
    source = f"secdb:{ecosystem}/{repo or Path(filename).stem or 'secdb'}"
    tally = Tally()
    # primary id -> (upstream ids, package -> fixed versions); both dicts keep file order
    found: dict[str, tuple[dict[str, None], dict[str, dict[str, None]]]] = {}
    for index, item in enumerate(data["packages"]):
        package = item.get("pkg") if isinstance(item, dict) else None
        name = package.get("name") if isinstance(package, dict) else None
        secfixes = package.get("secfixes") if isinstance(package, dict) else None
        where = f"packages[{index}]"
        if not isinstance(name, str) or not name.strip():
            tally.refuse(where, "no package name")
            continue
        if secfixes is None:
            continue
        package_key = (ecosystem, name.strip())
        if not isinstance(secfixes, dict):
            tally.refuse(f"{where} ({name})", "secfixes is not an object", package_key)
            continue
        for version, entries in secfixes.items():
            entries = entries or []
            shown = _shorten(str(version))
            if not isinstance(entries, list):
                tally.refuse(f"{name} {shown}", "the secfixes entry is not a list", package_key)
                continue
            if version == _NOT_AFFECTED:
                tally.skipped += len(entries)
                continue
            if len(version) > MAX_VERSION_LENGTH or not _APK_VERSION.match(version):
                for entry in entries:
                    tally.refuse(
                        f"{name} {shown!r}",
                        f"not an apk version ({_shorten(repr(entry))})",
                        package_key,
                    )
                continue
            for entry in entries:
                ids = _secfix_ids(entry) if isinstance(entry, str) else []
                if not ids:
                    tally.refuse(
                        f"{name} {shown}",
                        f"no vulnerability id in {_shorten(repr(entry))}",
                        package_key,
                    )
                    continue
                upstream, packages = found.setdefault(ids[0], ({}, {}))
                upstream.update(dict.fromkeys(ids))
                packages.setdefault(name.strip(), {})[version] = None
    advisories = tuple(
        Advisory(
            id=f"{prefix}-{primary}",
            upstream=tuple(upstream),
            affected=tuple(
                Affected(
                    ecosystem=ecosystem,
                    name=package,
                    ranges=tuple(
                        AffectedRange(
                            "ECOSYSTEM",
                            (
                                RangeEvent(EventKind.INTRODUCED, "0"),
                                RangeEvent(EventKind.FIXED, fixed),
                            ),
                        )
                        for fixed in versions
                    ),
                )
                for package, versions in packages.items()
            ),
        )
        for primary, (upstream, packages) in found.items()
    )
    return SecdbConversion(
        ecosystem=ecosystem,
        source=source,
        advisories=advisories,
        malformed=tally.malformed,
        not_affected=tally.skipped,
        problems=tuple(tally.problems),
        refusals=tuple(tally.refusals),
    )


def _shorten(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text):,} characters)"


def _secdb_distribution(data: dict[str, Any], filename: str) -> tuple[str, str]:
    fields = " ".join(str(data.get(key, "")) for key in ("reponame", "urlprefix", "apkurl"))
    by_fields = _wolfi_or_chainguard(fields)
    if by_fields is not None:
        return by_fields
    version = data.get("distroversion")
    if isinstance(version, str) and version.strip():
        version = version.strip()
        return f"Alpine:{version if version.startswith('v') else 'v' + version}", "ALPINE"
    by_name = _wolfi_or_chainguard(Path(filename).name)
    if by_name is not None:
        return by_name
    raise DatabaseError(
        f"cannot tell which distribution the secdb file {filename} is for: it has no "
        "distroversion (Alpine) and names neither Wolfi nor Chainguard"
    )


def _wolfi_or_chainguard(text: str) -> tuple[str, str] | None:
    text = text.lower()
    if "chainguard" in text:
        return "Chainguard", "CHAINGUARD"
    if "wolfi" in text:
        return "Wolfi", "WOLFI"
    return None


def _secfix_ids(entry: str) -> list[str]:
    ids: list[str] = []
    for token in entry.split():
        if token.startswith("("):
            break  # the rest is a note: "CVE-2018-14468 (FrameRelay)"
        if token.startswith("CVE-"):
            if cve := _CVE_ID.match(token):
                ids.append(cve.group(0))
        elif _SECFIX_ID.match(token):
            ids.append(token)
    return list(dict.fromkeys(ids))


def _import_secdb(store: SqliteStore, path: Path, data: object, moment: str) -> ImportResult:
    conversion = convert_secdb(data, path.name)
    store.clear_source(conversion.source)
    counts = store.write_records((conversion.source, a) for a in conversion.advisories)
    store.set_refused(conversion.source, conversion.refusals)
    store.set_source(
        SourceStatus(
            name=conversion.source,
            records=store.source_records(conversion.source),
            updated_at=moment,
            origin=str(path),
            malformed=conversion.malformed,
        )
    )
    return ImportResult(
        path=str(path),
        kind="secdb",
        records=counts.written,
        malformed=conversion.malformed,
        skipped=conversion.not_affected,
        sources=(conversion.source,),
        problems=conversion.problems,
    )


# -- enrichment feeds ---------------------------------------------------------------------


def _import_kev(store: SqliteStore, path: Path, data: object, moment: str) -> ImportResult:
    catalog = kev_from_document(data, str(path))
    stored = store.replace_kev(catalog.entries)
    return _enrichment_result(
        store,
        "kev",
        path,
        moment,
        stored,
        catalog.malformed,
        catalog.problems[:_MAX_PROBLEMS],
        catalog.released,
    )


def _import_epss(store: SqliteStore, path: Path, moment: str) -> ImportResult:
    feed = read_epss(path)
    stored = store.replace_epss(feed.scores)
    log.debug("EPSS model %s, scores of %s", feed.model_version, feed.score_date)
    return _enrichment_result(
        store, "epss", path, moment, stored, feed.malformed, feed.problems, feed.score_date
    )


def _enrichment_result(
    store: SqliteStore,
    name: str,
    path: Path,
    moment: str,
    stored: int,
    malformed: int,
    problems: Sequence[str],
    data_date: str,
) -> ImportResult:
    """Record an enrichment feed (replaced whole) as a source, and say what was imported."""
    store.set_source(
        SourceStatus(
            name=name,
            records=stored,
            updated_at=moment,
            origin=str(path),
            malformed=malformed,
            data_date=data_date if parse_time(data_date) is not None else "",
        )
    )
    return ImportResult(
        path=str(path),
        kind=name,
        records=stored,
        malformed=malformed,
        sources=(name,),
        problems=tuple(problems),
    )


def _iso(moment: datetime) -> str:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
