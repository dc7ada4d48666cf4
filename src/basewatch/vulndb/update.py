"""`update`: download OSV ecosystem dumps and swap them into the database atomically.

For each ecosystem the database already holds, only the records changed since its newest one
are fetched (`incremental`: `modified_id.csv`, then each `<id>.json`) when that is the cheaper
way; otherwise `GET <base>/<ECOSYSTEM>/all.zip`, conditional on the ETag and Last-Modified the
previous download recorded. Bodies stream to a temporary file beside the
database, then the zip is checked (every CRC, at least one record). Only when every download
succeeded is a copy of the database rebuilt (each downloaded ecosystem's source replaced whole)
and renamed over the old one. Anything that goes wrong before that rename leaves the previous
database untouched and raises `DownloadError`. A `304 Not Modified` changes nothing, the
source's `updated_at` included: it says when the data last changed. A server that cannot be
reached at all (no such host, connection refused, TLS failure) fails the update at once.

The whole update holds the database's writer lock (`sqlite.writer_lock`), so two updates
(or an update and an import) run one after the other, the second from the first's result.

Dumps exist per ecosystem without release ("Debian" holds "Debian:11" and "Debian:12"), so
"Debian:12" is fetched as `Debian/all.zip` into the source `osv:Debian`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import email.utils
import logging
import os
import tempfile
import zipfile
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote

import httpx

from basewatch import __version__
from basewatch.clock import SYSTEM_CLOCK
from basewatch.defaults import OSV_BASE_URL
from basewatch.errors import DatabaseError, DownloadError, UsageError
from basewatch.progress import NULL_PROGRESS, Progress, Unit
from basewatch.vulndb.importer import read_zip_member, read_zip_records, zip_record_entries
from basewatch.vulndb.incremental import changed_ids, csv_url, fetch_records, unreachable
from basewatch.vulndb.model import SourceStatus
from basewatch.vulndb.names import base_ecosystem
from basewatch.vulndb.osv import Tally
from basewatch.vulndb.sqlite import LOCK_TIMEOUT, SqliteStore, rebuilding, writer_lock
from basewatch.vulndb.store import PackageKey, VulnWriter

if TYPE_CHECKING:
    from basewatch.models import Inventory
    from basewatch.vulndb.model import Advisory
    from basewatch.vulndb.osv import Withdrawn

log = logging.getLogger(__name__)

SOURCE_PREFIX = "osv:"
_CHUNK_SIZE = 1 << 16


@dataclass(frozen=True, slots=True)
class EcosystemUpdate:
    """What updating one ecosystem did."""

    ecosystem: str  # the dump's name: "Debian", "PyPI"
    source: str  # "osv:Debian"
    url: str
    changed: bool  # False when the server answered 304 Not Modified
    records: int  # records the source holds now
    withdrawn: int = 0
    malformed: int = 0
    problems: tuple[str, ...] = ()
    fetched: int | None = None  # records fetched one by one (incremental); None: whole dump
    # The (ecosystem, normalised name) pairs whose advisories or refusals the update changed:
    # for a whole dump, those it brought, altered or dropped; incrementally, those it touched
    # (see `VulnWriter.take_changed`). Empty when nothing changed.
    changed_packages: frozenset[PackageKey] = frozenset()


@dataclass(frozen=True, slots=True)
class UpdateReport:
    path: str
    results: tuple[EcosystemUpdate, ...]
    unavailable: tuple[str, ...] = ()  # dumps the server does not have (with `missing_ok`)

    @property
    def changed(self) -> frozenset[PackageKey]:
        """The packages whose advisories or refusals changed, over every ecosystem: the
        inventories holding them are the ones to re-evaluate."""
        return frozenset().union(*(r.changed_packages for r in self.results))


class _NoSuchDump(DownloadError):
    """The server answered 404 for a dump."""


@dataclass(slots=True)
class _Download:
    ecosystem: str
    url: str
    previous: SourceStatus | None
    file: Path | None = None  # None: not modified
    # Incremental: the changed records to write over the source (None: not incremental).
    changes: list[Advisory | Withdrawn] | None = None
    problems: list[str] = field(default_factory=list)
    refusals: list[tuple[str, str, str, str]] = field(default_factory=list)
    etag: str = ""
    last_modified: str = ""


def dump_url(base_url: str, ecosystem: str) -> str:
    """The URL of one ecosystem's dump under `base_url`."""
    return f"{base_url.rstrip('/')}/{quote(ecosystem, safe='')}/all.zip"


def dumps_for(ecosystems: Iterable[str]) -> list[str]:
    """The dumps that hold these ecosystems ("Debian:12" -> "Debian"), in order, once each."""
    return list(dict.fromkeys(base_ecosystem(e.strip()) for e in ecosystems if e.strip()))


def needed_ecosystems(inventory: Inventory) -> list[str]:
    """The OSV ecosystems the packages of `inventory` are published under."""
    return sorted({p.ecosystem for p in inventory.packages if p.ecosystem})


def updatable_ecosystems(store_path: Path) -> list[str]:
    """The ecosystems a database already holds dumps for ([] when there is no database)."""
    if not Path(store_path).exists():
        return []
    with SqliteStore.open(store_path, readonly=True) as store:
        return [
            s.name.removeprefix(SOURCE_PREFIX)
            for s in store.sources()
            if s.name.startswith(SOURCE_PREFIX)
        ]


def update(
    store_path: Path | str,
    ecosystems: Sequence[str],
    base_url: str = OSV_BASE_URL,
    client: httpx.Client | None = None,
    progress: Progress = NULL_PROGRESS,
    now: datetime | None = None,
    missing_ok: bool = False,
    incremental: bool = True,
    lock_timeout: float = LOCK_TIMEOUT,
) -> UpdateReport:
    """Download the dumps of `ecosystems` and swap them into the database at `store_path`.

    Raises `DownloadError` (the database left as it was) when any download fails, is cut
    short or is not a valid zip; `UsageError` when no ecosystem is given. With `missing_ok`, a
    dump the server does not have (404) is left out and named in `unavailable` instead.
    `incremental=False` always downloads whole dumps. Waits up to `lock_timeout` seconds for
    another writer of the same database (then `DatabaseError`).
    """
    store_path = Path(store_path)
    dumps = dumps_for(ecosystems)
    if not dumps:
        raise UsageError("no ecosystem to update: name at least one (e.g. Debian, PyPI, Go)")
    with writer_lock(store_path, lock_timeout):
        return _update(store_path, dumps, base_url, client, progress, now, missing_ok, incremental)


def _update(
    store_path: Path,
    dumps: list[str],
    base_url: str,
    client: httpx.Client | None,
    progress: Progress,
    now: datetime | None,
    missing_ok: bool,
    incremental: bool,
) -> UpdateReport:
    moment = (now or SYSTEM_CLOCK.now()).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    previous: dict[str, SourceStatus] = {}
    cursors: dict[str, str] = {}  # dump -> the newest `modified` its source holds
    if store_path.exists():
        with SqliteStore.open(store_path, readonly=True) as store:
            previous = {s.name: s for s in store.sources()}
            if incremental:
                cursors = {d: store.newest_modified(SOURCE_PREFIX + d) for d in dumps}
    try:
        store_path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DownloadError(f"cannot create {store_path.parent}: {exc.strerror}") from exc
    unchanged = (
        f"the database at {store_path} was left unchanged"
        if store_path.exists()
        else f"no database was written at {store_path}"
    )
    own_client = client is None
    http = client or httpx.Client(
        timeout=httpx.Timeout(30.0, read=120.0),
        follow_redirects=True,
        headers={"User-Agent": f"basewatch/{__version__}"},
    )
    downloads: list[_Download] = []
    unavailable: list[str] = []
    try:
        for dump in dumps:
            download = _Download(dump, dump_url(base_url, dump), previous.get(SOURCE_PREFIX + dump))
            downloads.append(download)
            cursor = cursors.get(dump, "")
            if download.previous is not None and cursor:
                listed = changed_ids(http, base_url, dump, cursor, unchanged)
                if listed is not None:
                    # Those as new as the cursor may be held already, unchanged.
                    with SqliteStore.open(store_path, readonly=True) as store:
                        held = store.modified_of(SOURCE_PREFIX + dump, list(listed))
                    ids = [i for i, key in listed.items() if held.get(i) != key]
                    download.changes, download.problems, download.refusals = fetch_records(
                        http, base_url, dump, ids, unchanged
                    )
                    download.url = csv_url(base_url, dump)
                    continue
            try:
                _fetch(http, download, store_path, progress, unchanged)
            except _NoSuchDump:
                if not missing_ok:
                    raise
                log.info("%s: no such dump", download.url)
                downloads.pop()
                if download.file is not None:
                    download.file.unlink(missing_ok=True)
                unavailable.append(dump)
        changed = [d for d in downloads if d.file is not None or d.changes]
        results: dict[str, EcosystemUpdate] = {}
        if changed:
            with rebuilding(store_path, locked=True) as store:
                for download in changed:
                    results[download.ecosystem] = _apply(store, download, moment, progress)
        for download in downloads:
            if download.ecosystem not in results:
                status = download.previous
                results[download.ecosystem] = EcosystemUpdate(
                    ecosystem=download.ecosystem,
                    source=SOURCE_PREFIX + download.ecosystem,
                    url=download.url,
                    changed=False,
                    records=status.records if status else 0,
                )
        return UpdateReport(
            str(store_path), tuple(results[d] for d in dumps if d in results), tuple(unavailable)
        )
    finally:
        for download in downloads:
            if download.file is not None:
                download.file.unlink(missing_ok=True)
        if own_client:
            http.close()


def _fetch(
    client: httpx.Client,
    download: _Download,
    store_path: Path,
    progress: Progress,
    unchanged: str,
) -> None:
    headers = {}
    if download.previous is not None:
        if download.previous.etag:
            headers["If-None-Match"] = download.previous.etag
        if download.previous.last_modified:
            headers["If-Modified-Since"] = download.previous.last_modified
    url = download.url
    try:
        fd, name = tempfile.mkstemp(
            dir=store_path.parent, prefix=f".{store_path.name}.download.", suffix=".zip"
        )
    except OSError as exc:
        raise DownloadError(
            f"cannot write beside {store_path}: {exc.strerror}; {unchanged}"
        ) from exc
    download.file = Path(name)
    begun = False
    try:
        with os.fdopen(fd, "wb") as out, client.stream("GET", url, headers=headers) as response:
            if response.status_code == 304 and headers:
                log.info("%s: not modified", url)
                download.file.unlink()
                download.file = None
                return
            if response.status_code != 200:
                missing = response.status_code == 404
                hint = " (is the ecosystem name right?)" if missing else ""
                raise (_NoSuchDump if missing else DownloadError)(
                    f"downloading {url} failed: HTTP {response.status_code} "
                    f"{response.reason_phrase}{hint}; {unchanged}"
                )
            try:
                total = max(int(response.headers.get("Content-Length") or 0), 0)
            except ValueError:
                total = 0  # unknown: the bar pulses instead
            progress.begin(f"downloading {download.ecosystem}", total, Unit.BYTES)
            begun = True
            for chunk in response.iter_bytes(_CHUNK_SIZE):
                out.write(chunk)
                progress.advance(f"downloading {download.ecosystem}", len(chunk))
            download.etag = response.headers.get("ETag", "")
            download.last_modified = response.headers.get("Last-Modified", "")
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        permanent = unreachable(exc, url, unchanged)
        if permanent is not None:
            raise permanent from exc
        raise DownloadError(
            f"downloading {url} failed: {exc or type(exc).__name__}; {unchanged}"
        ) from exc
    except OSError as exc:
        raise DownloadError(f"cannot save {url}: {exc.strerror or exc}; {unchanged}") from exc
    finally:
        if begun:
            progress.end()
    _verify(download.file, url, unchanged)


def _verify(path: Path, url: str, unchanged: str) -> None:
    """Check every record member's CRC (as far as the import will read it: members over the
    size limit are refused there) and that there are records at all."""
    try:
        with zipfile.ZipFile(path) as archive:
            entries = zip_record_entries(archive)
            for info in entries:
                read_zip_member(archive, info, path)
    except (zipfile.BadZipFile, zlib.error, OSError, EOFError, ValueError) as exc:
        raise DownloadError(
            f"{url} did not download a valid zip archive ({exc}); {unchanged}"
        ) from exc
    except DatabaseError as exc:
        raise DownloadError(f"{url} downloaded a corrupt zip archive ({exc}); {unchanged}") from exc
    if not entries:
        raise DownloadError(f"{url} downloaded a zip without OSV records; {unchanged}")


def _apply(
    store: VulnWriter, download: _Download, moment: str, progress: Progress
) -> EcosystemUpdate:
    """Write one download into its source: a whole dump replaces the source, an incremental
    update's records go over it."""
    source = SOURCE_PREFIX + download.ecosystem
    if download.changes is not None:
        assert download.previous is not None
        counts = store.write_records((source, record) for record in download.changes)
        store.set_refused(source, download.refusals)
        problems, malformed = download.problems, len(download.problems)
        fetched: int | None = len(download.changes) + malformed
        status = dataclasses.replace(
            download.previous, malformed=download.previous.malformed + malformed
        )
    else:
        assert download.file is not None
        tally = Tally()
        store.clear_source(source)
        counts = store.write_records(
            (source, record)
            for record in read_zip_records(download.file, tally, progress, download.ecosystem)
        )
        store.set_refused(source, tally.refusals)
        problems, malformed, fetched = tally.problems, tally.malformed, None
        status = SourceStatus(
            name=source,
            records=0,
            updated_at=moment,
            origin=download.url,
            etag=download.etag,
            last_modified=download.last_modified,
            malformed=malformed,
        )
        with contextlib.suppress(OSError):
            download.file.unlink()
    records = store.source_records(source)
    data_date = store.data_date(source)
    if download.changes is None:
        # The dump is as fresh as its export, however quiet the ecosystem has been since.
        data_date = max(data_date, _http_date(download.last_modified))
    store.set_source(
        dataclasses.replace(status, records=records, updated_at=moment, data_date=data_date)
    )
    return EcosystemUpdate(
        ecosystem=download.ecosystem,
        source=source,
        url=download.url,
        changed=True,
        records=records,
        withdrawn=counts.withdrawn,
        malformed=malformed,
        problems=tuple(problems),
        fetched=fetched,
        changed_packages=store.take_changed(),
    )


def _http_date(value: str) -> str:
    """A Last-Modified header as an RFC 3339 UTC time; "" when absent or unreadable."""
    if not value:
        return ""
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return ""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
