"""Incremental OSV updates: only the records that changed since the database's newest one.

Beside each ecosystem's `all.zip`, OSV publishes `modified_id.csv` (one `<modified>,<id>` line
per record, newest first) and every record as `<id>.json`. When the database already holds a
dump, `changed_records` reads the CSV down to the newest `modified` time the database has for
that source and fetches those records alone. Whenever that is not the better path (no CSV, a
line it cannot read, more changes than `MAX_CHANGED` records), it answers None and the caller
downloads the whole dump instead. A record that cannot be fetched fails the update, like a
broken dump: nothing is applied.
"""

from __future__ import annotations

import logging
import re
import ssl
import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import quote, urlsplit

import httpx

from basewatch.errors import DownloadError
from basewatch.vulndb.model import Advisory
from basewatch.vulndb.osv import MalformedRecord, Withdrawn, modified_key, parse_json

log = logging.getLogger(__name__)

MAX_CHANGED = 500  # more changed records than this: the whole dump is the cheaper download
MAX_RECORD_BYTES = 16 << 20  # one OSV record
_WORKERS = 8
# OSV ids: a prefix and an identifier ("DEBIAN-CVE-2024-1234", "GHSA-xxxx-xxxx-xxxx",
# "ALSA-2024:1234"); anything else could walk out of the ecosystem's directory in a URL.
_RECORD_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:+-]{0,200}")


def unreachable(exc: BaseException, url: str, unchanged: str) -> DownloadError | None:
    """A `DownloadError` saying why `url` cannot be reached when no retry can succeed (the
    name does not resolve, the connection is refused, TLS fails, the URL is not http(s));
    None for errors worth another try (timeouts, a connection cut mid-way)."""
    if isinstance(exc, httpx.InvalidURL | httpx.UnsupportedProtocol):
        return DownloadError(f"{url} is not a URL basewatch can download from ({exc}); {unchanged}")
    if not isinstance(exc, httpx.ConnectError):
        return None
    host = urlsplit(url).netloc or url
    text = str(exc)
    causes = [exc, *_causes(exc)]
    if (
        "Name or service not known" in text
        or "nodename nor servname" in text
        or ("Temporary failure in name resolution" in text)
    ):
        why = f"the host name {urlsplit(url).hostname!r} does not resolve"
    elif any(isinstance(c, ConnectionRefusedError) for c in causes) or "Connection refused" in text:
        why = f"{host} refused the connection (nothing listens there)"
    elif any(isinstance(c, ssl.SSLError) for c in causes) or "SSL" in text or "certificate" in text:
        why = f"the TLS handshake with {host} failed ({text})"
    else:
        why = f"cannot connect to {host} ({text})"
    return DownloadError(
        f"downloading {url} failed: {why}; check the OSV URL setting and the network; {unchanged}"
    )


def _causes(exc: BaseException) -> list[BaseException]:
    found: list[BaseException] = []
    current = exc.__cause__ or exc.__context__
    while current is not None and len(found) < 10:
        found.append(current)
        current = current.__cause__ or current.__context__
    return found


def csv_url(base_url: str, ecosystem: str) -> str:
    return f"{base_url.rstrip('/')}/{quote(ecosystem, safe='')}/modified_id.csv"


def record_url(base_url: str, ecosystem: str, record_id: str) -> str:
    return f"{base_url.rstrip('/')}/{quote(ecosystem, safe='')}/{quote(record_id, safe='')}.json"


def changed_ids(
    client: httpx.Client, base_url: str, ecosystem: str, cursor: str, unchanged: str = ""
) -> dict[str, str] | None:
    """The ids modified at or after `cursor` (a `modified_key`), newest first, with their
    `modified_key`; None when the whole dump should be downloaded instead.

    Raises `DownloadError` when the server cannot be reached at all (see `unreachable`)."""
    url = csv_url(base_url, ecosystem)
    ids: dict[str, str] = {}
    try:
        with client.stream("GET", url) as response:
            if response.status_code != 200:
                log.info("%s: HTTP %d; downloading the whole dump", url, response.status_code)
                return None
            for line in _bounded_lines(response):
                if line is None:
                    log.info("%s: a line too long; downloading the whole dump", url)
                    return None
                if not line.strip():
                    continue
                modified, sep, record_id = line.strip().partition(",")
                try:
                    key = modified_key(modified, url)
                except MalformedRecord:
                    key = ""
                if not sep or not key or not _RECORD_ID.fullmatch(record_id):
                    log.info("%s: unreadable line %r; downloading the whole dump", url, line)
                    return None
                if key < cursor:
                    break  # newest first: everything below is already held
                ids.setdefault(record_id, key)
                if len(ids) > MAX_CHANGED:
                    log.info(
                        "%s: over %d changed records; downloading the whole dump", url, MAX_CHANGED
                    )
                    return None
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        permanent = unreachable(exc, url, unchanged)
        if permanent is not None:
            raise permanent from exc  # the dump is on the same server: it would fail the same
        log.info("%s: %s; downloading the whole dump", url, exc)
        return None
    return ids


def _bounded_lines(response: httpx.Response, limit: int = 4096) -> Iterator[str | None]:
    """The lines of a body, decoded; None (and the end) for a line longer than `limit`
    (a real one is under 100 bytes; `iter_lines` would hold a gigabyte line in memory)."""
    pending = b""
    for chunk in response.iter_bytes():
        pending += chunk
        *lines, pending = pending.split(b"\n")
        for line in lines:
            yield line.decode("utf-8", "replace") if len(line) <= limit else None
        if len(pending) > limit:
            yield None
            return
    if pending:
        yield pending.decode("utf-8", "replace")


def fetch_records(
    client: httpx.Client, base_url: str, ecosystem: str, ids: Sequence[str], unchanged: str
) -> tuple[list[Advisory | Withdrawn], list[str], list[tuple[str, str, str, str]]]:
    """The records `ids` name, the problems of those that are malformed (left out), and the
    (ecosystem, name, id, reason) of the packages those named.

    Raises `DownloadError` when one cannot be fetched; after the first failure the others
    are not even asked for.
    """
    failed = threading.Event()

    def fetch(record_id: str) -> bytes:
        if failed.is_set():
            return b""
        url = record_url(base_url, ecosystem, record_id)
        try:
            with client.stream("GET", url) as response:
                if response.status_code != 200:
                    raise DownloadError(
                        f"downloading {url} failed: HTTP {response.status_code} "
                        f"{response.reason_phrase}; {unchanged}"
                    )
                body = bytearray()
                for chunk in response.iter_bytes():
                    body += chunk
                    if len(body) > MAX_RECORD_BYTES:  # whatever Content-Length said
                        raise DownloadError(f"{url} is over {MAX_RECORD_BYTES} bytes; {unchanged}")
                return bytes(body)
        except DownloadError:
            failed.set()
            raise
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            failed.set()
            permanent = unreachable(exc, url, unchanged)
            if permanent is not None:
                raise permanent from exc
            raise DownloadError(f"downloading {url} failed: {exc}; {unchanged}") from exc

    with ThreadPoolExecutor(max_workers=_WORKERS) as pool:
        bodies = list(pool.map(fetch, ids))
    records: list[Advisory | Withdrawn] = []
    problems: list[str] = []
    refusals: list[tuple[str, str, str, str]] = []
    for record_id, body in zip(ids, bodies, strict=True):
        try:
            record = parse_json(body)
        except MalformedRecord as exc:
            problems.append(f"{ecosystem}/{record_id}.json: {exc}")
            refusals.extend((e, n, record_id, str(exc)[:500]) for e, n in exc.packages)
            continue
        if record.id != record_id:
            problems.append(f"{ecosystem}/{record_id}.json: holds record {record.id!r}")
            continue
        records.append(record)
    return records, problems, refusals
