"""`import_paths`: load advisories and enrichment feeds from local files into a store.

What a path may be, recognised by its form and content rather than trusted by its name:

- an OSV zip (the bulk dump `<ECOSYSTEM>/all.zip`: one JSON record per entry, any folders);
- a directory of OSV records (`*.json`, `*.yaml`, `*.yml`, searched recursively);
- one OSV record as `.json`, `.yaml` or `.yml` (a list, or an API answer `{"vulns": [...]}`,
  holds several);
- an Alpine, Wolfi or Chainguard security database (secdb) JSON file, converted to OSV
  (`secdb.py`);
- CISA's KEV catalog JSON; FIRST's EPSS CSV, plain or gzip.

Sources (see `sqlite.py`): records from zips go to `osv:<ECOSYSTEM>`, the same source
`basewatch db update` refreshes; records from loose files go to `local:<ECOSYSTEM>`, which
updates never touch; each secdb file is its own source, `secdb:<ECOSYSTEM>/<REPO>`, replaced
whole on re-import (the file is a snapshot). `<ECOSYSTEM>` is the first affected package's
ecosystem without its release ("Debian:12" -> "Debian"). Zips and loose records are merged
record by record: within a source, the copy with the later `modified` wins.

Each result says which (ecosystem, package) pairs it changed (`VulnWriter.take_changed`).

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
import zipfile
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import assert_never

import yaml

from basewatch.clock import SYSTEM_CLOCK
from basewatch.errors import DatabaseError, UsageError
from basewatch.progress import NULL_PROGRESS, Progress
from basewatch.untrusted import UntrustedInput, read_regular_file
from basewatch.untrusted import parse_json as parse_untrusted_json
from basewatch.vulndb.epss import read_epss
from basewatch.vulndb.incremental import MAX_RECORD_BYTES
from basewatch.vulndb.kev import is_kev_document, kev_from_document
from basewatch.vulndb.model import Advisory, SourceStatus
from basewatch.vulndb.names import base_ecosystem
from basewatch.vulndb.osv import (
    MAX_PROBLEMS,
    MalformedRecord,
    Tally,
    Withdrawn,
    parse_json,
    parse_record,
)
from basewatch.vulndb.secdb import convert_secdb, is_secdb_document
from basewatch.vulndb.status import parse_time
from basewatch.vulndb.store import PackageKey, VulnWriter

log = logging.getLogger(__name__)

_RECORD_SUFFIXES = (".json", ".yaml", ".yml")
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


class ImportKind(StrEnum):
    """What a path held, as recognised from its form and content."""

    OSV = "osv"  # OSV records: a dump, a directory or a record file
    SECDB = "secdb"  # an Alpine, Wolfi or Chainguard secdb file
    KEV = "kev"  # CISA's KEV catalog
    EPSS = "epss"  # FIRST's EPSS scores

    @property
    def per_cve(self) -> bool:
        """Whether its records are CVEs (an enrichment feed) rather than advisories."""
        match self:
            case ImportKind.OSV | ImportKind.SECDB:
                return False
            case ImportKind.KEV | ImportKind.EPSS:
                return True
            case _:
                assert_never(self)


@dataclass(frozen=True, slots=True)
class ImportResult:
    """What importing one path did."""

    path: str
    kind: ImportKind
    records: int  # records (or CVEs, for KEV and EPSS) written
    withdrawn: int = 0  # withdrawn records seen: never stored, an older copy is removed
    malformed: int = 0  # records or rows refused, see `problems`
    skipped: int = 0  # valid but not stored: older than the stored copy, naming no package,
    # or (secdb) listed under version "0", i.e. not affected
    sources: tuple[str, ...] = ()
    problems: tuple[str, ...] = ()  # the first reasons for refusals
    # The (ecosystem, normalised name) pairs whose advisories or refusals this import changed
    # (none for KEV and EPSS: their facts are per CVE). See `VulnWriter.take_changed`.
    changed: frozenset[PackageKey] = frozenset()


def import_paths(
    store: VulnWriter,
    paths: Sequence[Path | str],
    progress: Progress = NULL_PROGRESS,
    now: datetime | None = None,
) -> tuple[ImportResult, ...]:
    """Import every path into `store` (writes are committed by the caller, see `rebuilding`);
    each result says which packages it changed."""
    moment = _iso(now or SYSTEM_CLOCK.now())
    results = []
    for raw in paths:
        path = Path(raw)
        if not path.exists():
            raise UsageError(f"cannot import {path}: no such file or directory")
        result = _import_one(store, path, progress, moment)
        results.append(replace(result, changed=store.take_changed()))
    return tuple(results)


def _import_one(store: VulnWriter, path: Path, progress: Progress, moment: str) -> ImportResult:
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
    store: VulnWriter,
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
        kind=ImportKind.OSV,
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


def _import_secdb(store: VulnWriter, path: Path, data: object, moment: str) -> ImportResult:
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
        kind=ImportKind.SECDB,
        records=counts.written,
        malformed=conversion.malformed,
        skipped=conversion.not_affected,
        sources=(conversion.source,),
        problems=conversion.problems,
    )


# -- enrichment feeds ---------------------------------------------------------------------


def _import_kev(store: VulnWriter, path: Path, data: object, moment: str) -> ImportResult:
    catalog = kev_from_document(data, str(path))
    stored = store.replace_kev(catalog.entries)
    return _enrichment_result(
        store,
        ImportKind.KEV,
        path,
        moment,
        stored,
        catalog.malformed,
        catalog.problems[:MAX_PROBLEMS],
        catalog.released,
    )


def _import_epss(store: VulnWriter, path: Path, moment: str) -> ImportResult:
    feed = read_epss(path)
    stored = store.replace_epss(feed.scores)
    log.debug("EPSS model %s, scores of %s", feed.model_version, feed.score_date)
    return _enrichment_result(
        store, ImportKind.EPSS, path, moment, stored, feed.malformed, feed.problems, feed.score_date
    )


def _enrichment_result(
    store: VulnWriter,
    kind: ImportKind,
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
            name=kind.value,  # the source is named after its feed: "kev", "epss"
            records=stored,
            updated_at=moment,
            origin=str(path),
            malformed=malformed,
            data_date=data_date if parse_time(data_date) is not None else "",
        )
    )
    return ImportResult(
        path=str(path),
        kind=kind,
        records=stored,
        malformed=malformed,
        sources=(kind.value,),
        problems=tuple(problems),
    )


def _iso(moment: datetime) -> str:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
