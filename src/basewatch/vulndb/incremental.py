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
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import quote

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


def csv_url(base_url: str, ecosystem: str) -> str:
    return f"{base_url.rstrip('/')}/{quote(ecosystem, safe='')}/modified_id.csv"


def record_url(base_url: str, ecosystem: str, record_id: str) -> str:
    return f"{base_url.rstrip('/')}/{quote(ecosystem, safe='')}/{quote(record_id, safe='')}.json"


def changed_ids(
    client: httpx.Client, base_url: str, ecosystem: str, cursor: str
) -> dict[str, str] | None:
    """The ids modified at or after `cursor` (a `modified_key`), newest first, with their
    `modified_key`; None when the whole dump should be downloaded instead."""
    url = csv_url(base_url, ecosystem)
    ids: dict[str, str] = {}
    try:
        with client.stream("GET", url) as response:
            if response.status_code != 200:
                log.info("%s: HTTP %d; downloading the whole dump", url, response.status_code)
                return None
            for line in response.iter_lines():
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
    except httpx.HTTPError as exc:
        log.info("%s: %s; downloading the whole dump", url, exc)
        return None
    return ids


def fetch_records(
    client: httpx.Client, base_url: str, ecosystem: str, ids: Sequence[str], unchanged: str
) -> tuple[list[Advisory | Withdrawn], list[str]]:
    """The records `ids` name, and the problems of those that are malformed (left out).

    Raises `DownloadError` when one cannot be fetched.
    """

    def fetch(record_id: str) -> bytes:
        url = record_url(base_url, ecosystem, record_id)
        try:
            response = client.get(url)
        except httpx.HTTPError as exc:
            raise DownloadError(f"downloading {url} failed: {exc}; {unchanged}") from exc
        if response.status_code != 200:
            raise DownloadError(
                f"downloading {url} failed: HTTP {response.status_code} "
                f"{response.reason_phrase}; {unchanged}"
            )
        if len(response.content) > MAX_RECORD_BYTES:
            raise DownloadError(f"{url} is over {MAX_RECORD_BYTES} bytes; {unchanged}")
        return response.content

    with ThreadPoolExecutor(max_workers=_WORKERS) as pool:
        bodies = list(pool.map(fetch, ids))
    records: list[Advisory | Withdrawn] = []
    problems: list[str] = []
    for record_id, body in zip(ids, bodies, strict=True):
        try:
            record = parse_json(body)
        except MalformedRecord as exc:
            problems.append(f"{ecosystem}/{record_id}.json: {exc}")
            continue
        if record.id != record_id:
            problems.append(f"{ecosystem}/{record_id}.json: holds record {record.id!r}")
            continue
        records.append(record)
    return records, problems
