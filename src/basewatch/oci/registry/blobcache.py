"""The content-addressed blob cache: `ROOT/blobs/<algorithm>/<hex>`, beside the analysis cache.

A blob enters the cache only once its whole content hashed to its digest: downloads go to a
file under `ROOT/blobs/tmp` and are renamed into place, so an interrupted or corrupt download
never leaves a half blob in the cache. A download that broke off (the network, Ctrl-C) stays
there as `partial-<algorithm>-<hex>`, locked while a process writes it, and the next fetch of
that blob rehashes it and asks only for the rest, as containerd resumes its ingests; content
that does not hash to the digest in the end is thrown away. Beyond the size limit, which counts
everything under ROOT (blobs, layer analyses, assembled inventories, scratch space), the least
recently used blobs and analyses are evicted alike.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from basewatch.errors import CacheError, DigestMismatch, RegistryError, TransientError
from basewatch.oci.digest import digest_bytes, new_hasher, parse_digest
from basewatch.oci.registry.options import DEFAULT_MAX_CACHE_BYTES
from basewatch.scratch import scratch_root, sweep

log = logging.getLogger(__name__)

# Counting everything under the root is a walk of every file, too slow to make after every
# blob a long-running process caches (a service's cache holds thousands): between two walks,
# the bytes this process added are counted on what the last walk found, and the next walk
# comes when that reaches the limit's headroom, after `_RECOUNT_AFTER` blobs or seconds (what
# other processes and the analysis cache wrote meanwhile is counted then).
_HEADROOM = 0.9
_RECOUNT_AFTER = 256
_RECOUNT_SECONDS = 60.0

_STALE_TMP_SECONDS = 3600.0
_STALE_PARTIAL_SECONDS = 7 * 86400.0  # partial downloads are kept this long for resuming
_PARTIAL_PREFIX = "partial-"
# The analysis cache's kinds of entry beside the blobs (`store.analysis.AnalysisCache`, and the
# per-file ELF results): they count against the cache's size and are evicted alike.
ANALYSIS_KINDS = ("layers", "images", "elf")


@dataclass(frozen=True, slots=True)
class BlobStream:
    """An open download: `start` is the offset the server resumed from (0: from the start)."""

    start: int
    chunks: Iterator[bytes]


# Opens the blob from `offset` (a range request when > 0); the server may restart from 0.
Downloader = Callable[[int], contextlib.AbstractContextManager[BlobStream]]


@dataclass(frozen=True, slots=True)
class PruneResult:
    removed: int
    freed_bytes: int
    kept: int
    kept_bytes: int


class BlobCache:
    """Verified blobs by digest under `root/blobs`; `max_bytes` bounds the total size."""

    def __init__(self, root: Path, max_bytes: int = DEFAULT_MAX_CACHE_BYTES) -> None:
        self.root = root
        self.blobs = root / "blobs"
        self.max_bytes = max_bytes

    def path(self, digest: str) -> Path:
        algorithm, _, hexpart = parse_digest(digest, "blob digest").partition(":")
        return self.blobs / algorithm / hexpart

    def get(self, digest: str) -> Path | None:
        """The cached blob's path (marked as recently used), or None."""
        path = self.path(digest)
        try:
            os.utime(path)
        except FileNotFoundError:
            return None
        except OSError:
            return path if path.is_file() else None
        return path

    def read(self, digest: str, limit: int) -> bytes | None:
        """A small cached blob (manifest, config), re-verified; None when absent or bad."""
        path = self.get(digest)
        if path is None:
            return None
        try:
            with path.open("rb") as handle:
                data = handle.read(limit + 1)
        except OSError:
            return None
        if len(data) > limit or digest_bytes(data, digest.split(":", 1)[0]) != digest:
            log.warning("removing corrupt cached blob %s", digest)
            path.unlink(missing_ok=True)
            return None
        return data

    def put(self, digest: str, data: bytes) -> Path:
        """Store bytes already known to hash to `digest` (checked again here)."""
        if digest_bytes(data, digest.split(":", 1)[0]) != digest:
            raise DigestMismatch(f"blob {digest}: content does not match its digest")
        with self._temp() as (handle, tmp):
            handle.write(data)
            handle.flush()
            return self._commit(tmp, digest)

    def fetch(
        self,
        digest: str,
        download: Downloader,
        *,
        size: int,
        attempts: int = 4,
        what: str = "",
    ) -> Path:
        """The blob's path, downloading it first when needed (resuming after a dropped
        connection); raises DigestMismatch or RegistryError and then caches nothing. Never
        more than `size` bytes (the descriptor's) are kept: more is a DigestMismatch."""
        what = what or f"blob {digest}"
        cached = self.get(digest)
        if cached is not None:
            return cached
        with self._partial(digest) as (handle, tmp):
            try:
                hasher = new_hasher(digest)
                written = _rehash(handle, hasher, size)
                if written:
                    log.info("%s: resuming an earlier download at byte %d", what, written)
                    hasher, written = _receive(
                        handle, hasher, written, download, size, attempts, what
                    )
                    if f"{digest.split(':', 1)[0]}:{hasher.hexdigest()}" != digest:
                        # what an earlier run left may be what went wrong: again, from scratch
                        log.info("%s: the resumed download did not verify; starting over", what)
                        handle.seek(0)
                        handle.truncate()
                        hasher, written = new_hasher(digest), 0
                if not written:
                    hasher, written = _receive(handle, hasher, 0, download, size, attempts, what)
                actual = f"{digest.split(':', 1)[0]}:{hasher.hexdigest()}"
                if actual != digest:
                    raise DigestMismatch(
                        f"{what}: content hashes to {actual}, but is named {digest}"
                        " (the blob is corrupt or was tampered with); nothing was cached"
                    )
                if written != size:
                    raise DigestMismatch(
                        f"{what}: {written} bytes received, the manifest says {size}"
                    )
                handle.flush()
                return self._commit(tmp, digest)
            except DigestMismatch:
                _discard(tmp)  # content that is not the blob's is no use to resume
                raise

    @contextlib.contextmanager
    def _partial(self, digest: str) -> Iterator[tuple[BinaryIO, Path]]:
        """The partial download of `digest`, locked for this process; a private file instead
        when another process holds that one."""
        tmp_dir = self.blobs / "tmp"
        algorithm, _, hexpart = digest.partition(":")
        path = tmp_dir / f"{_PARTIAL_PREFIX}{algorithm}-{hexpart}"
        try:
            tmp_dir.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
        except OSError as exc:
            raise CacheError(f"cannot write the blob cache at {self.blobs}: {exc}") from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            with self._temp() as private:  # another process is downloading it right now
                yield private
            return
        with os.fdopen(fd, "r+b") as handle:  # closing releases the lock
            yield handle, path

    @contextlib.contextmanager
    def _temp(self) -> Iterator[tuple[BinaryIO, Path]]:
        tmp_dir = self.blobs / "tmp"
        try:
            tmp_dir.mkdir(parents=True, exist_ok=True)
            fd, name = tempfile.mkstemp(dir=tmp_dir, prefix="download-")
        except OSError as exc:
            raise CacheError(f"cannot write the blob cache at {self.blobs}: {exc}") from exc
        tmp = Path(name)
        try:
            with os.fdopen(fd, "w+b") as handle:
                yield handle, tmp
        finally:
            tmp.unlink(missing_ok=True)  # renamed away on success

    def _commit(self, tmp: Path, digest: str) -> Path:
        final = self.path(digest)
        try:
            final.parent.mkdir(parents=True, exist_ok=True)
            os.replace(tmp, final)
        except OSError as exc:
            raise CacheError(f"cannot write the blob cache at {self.blobs}: {exc}") from exc
        if self.max_bytes > 0:
            try:
                added = final.stat().st_size
            except OSError:
                added = 0
            if not _TALLY.fits(self.root, added, self.max_bytes):
                total = self._evict(self.max_bytes, keep=final)[3]
                _TALLY.counted(self.root, total)
        return final

    def _blob_entries(self) -> list[tuple[float, int, Path]]:
        found = []
        if not self.blobs.is_dir():
            return []
        for algorithm in self.blobs.iterdir():
            if algorithm.name == "tmp" or not algorithm.is_dir():
                continue
            for entry in os.scandir(algorithm):
                with contextlib.suppress(OSError):
                    info = entry.stat(follow_symlinks=False)
                    found.append((info.st_mtime, info.st_size, Path(entry.path)))
        return found

    def _entries(self) -> tuple[list[tuple[float, int, Path]], int]:
        """What may be evicted, as (last use, size, path), and the bytes held by what may
        not (scratch space and downloads in progress), which count against the limit too."""
        found = self._blob_entries()
        pinned = 0
        tmp_dir = self.blobs / "tmp"
        for entry in _scan(tmp_dir):
            with contextlib.suppress(OSError):
                info = entry.stat(follow_symlinks=False)
                if entry.name.startswith(_PARTIAL_PREFIX) and not _locked(Path(entry.path)):
                    found.append((info.st_mtime, info.st_size, Path(entry.path)))
                else:
                    pinned += info.st_size  # being written right now
        for kind in ANALYSIS_KINDS:
            for path, info in _files(self.root / kind):
                # the analysis cache rewrites entries rather than touching them on a hit;
                # the access time says when one was last read where the filesystem keeps it
                found.append((max(info.st_atime, info.st_mtime), info.st_size, path))
        pinned += sum(info.st_size for _, info in _files(scratch_root(self.root)))
        return found, pinned

    def usage(self) -> int:
        """Bytes held by cached blobs."""
        return sum(size for _, size, _ in self._blob_entries())

    def _evict(self, max_bytes: int, keep: Path | None = None) -> tuple[int, int, int, int]:
        """Remove the least recently used entries (blobs, resumable downloads and analyses
        alike) until everything under the root fits `max_bytes`."""
        found, pinned = self._entries()
        entries = sorted(found)  # oldest first
        total = pinned + sum(size for _, size, _ in entries)
        removed = freed = 0
        for _, size, path in entries:
            if total <= max_bytes:
                break
            if path == keep:
                continue
            with contextlib.suppress(OSError):
                path.unlink()
                total -= size
                removed += 1
                freed += size
                _remove_empty_parents(path.parent, self.root)
        return removed, freed, len(entries) - removed, total

    def prune(self, max_bytes: int | None = None, now: float | None = None) -> PruneResult:
        """Remove stale downloads and what dead processes left in the scratch area, then the
        least recently used entries (blobs and layer analyses alike) until the whole cache
        fits `max_bytes` (default: the cache's limit; 0 empties it)."""
        limit = self.max_bytes if max_bytes is None else max_bytes
        tmp_dir = self.blobs / "tmp"
        removed = freed = 0
        moment = time.time() if now is None else now
        for entry in _scan(tmp_dir):
            partial = entry.name.startswith(_PARTIAL_PREFIX)
            cutoff = moment - (_STALE_PARTIAL_SECONDS if partial else _STALE_TMP_SECONDS)
            with contextlib.suppress(OSError):
                info = entry.stat(follow_symlinks=False)
                if info.st_mtime < cutoff and not (partial and _locked(Path(entry.path))):
                    os.unlink(entry.path)
                    removed += 1
                    freed += info.st_size
        scratch = scratch_root(self.root)
        before = sum(info.st_size for _, info in _files(scratch))
        sweep(scratch)
        freed += before - sum(info.st_size for _, info in _files(scratch))
        evicted, evicted_bytes, kept, kept_bytes = self._evict(limit)
        return PruneResult(removed + evicted, freed + evicted_bytes, kept, kept_bytes)


@dataclass(slots=True)
class _Count:
    total: int  # bytes under the root: the last walk's, plus what this process added since
    at: float  # time.monotonic() of the last walk
    added: int = 0  # blobs committed since


class _Tally:
    """What each cache root held at its last walk, and what this process added since."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[Path, _Count] = {}

    def fits(self, root: Path, added: int, max_bytes: int) -> bool:
        """True when `added` more bytes surely fit without a walk; False: walk now."""
        with self._lock:
            count = self._counts.get(root)
            if count is None or time.monotonic() - count.at > _RECOUNT_SECONDS:
                return False
            count.total += added
            count.added += 1
            return count.total <= max_bytes * _HEADROOM and count.added < _RECOUNT_AFTER

    def counted(self, root: Path, total: int) -> None:
        with self._lock:
            self._counts[root] = _Count(total, time.monotonic())


_TALLY = _Tally()


def _scan(folder: Path) -> list[os.DirEntry[str]]:
    try:
        return list(os.scandir(folder))
    except OSError:
        return []


def _files(folder: Path) -> Iterator[tuple[Path, os.stat_result]]:
    """Every regular file under `folder` (symlinks not followed), with its stat."""
    pending = [folder]
    while pending:
        for entry in _scan(pending.pop()):
            with contextlib.suppress(OSError):
                if entry.is_dir(follow_symlinks=False):
                    pending.append(Path(entry.path))
                elif entry.is_file(follow_symlinks=False):
                    yield Path(entry.path), entry.stat(follow_symlinks=False)


def _locked(path: Path) -> bool:
    """True when a process holds the lock of a partial download (it is being written)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError:
        return True
    finally:
        os.close(fd)
    return False


def _remove_empty_parents(folder: Path, root: Path) -> None:
    while folder != root and folder.is_relative_to(root):
        try:
            folder.rmdir()
        except OSError:
            return
        folder = folder.parent


def _receive(
    handle: BinaryIO,
    hasher: hashlib._Hash,
    written: int,
    download: Downloader,
    size: int,
    attempts: int,
    what: str,
) -> tuple[hashlib._Hash, int]:
    """Append the blob from byte `written` on to `handle`, resuming after dropped connections;
    returns the hasher and the length received in all."""
    for attempt in range(1, max(attempts, 1) + 1):
        try:
            with download(written) as stream:
                if stream.start != written:  # the server ignored the range: restart
                    handle.seek(0)
                    handle.truncate()
                    hasher, written = hashlib.new(hasher.name), 0
                for chunk in stream.chunks:
                    if written + len(chunk) > size:  # checked before anything is written
                        raise DigestMismatch(
                            f"{what}: the registry sent more than the {size} bytes the manifest "
                            "says (the blob is corrupt or was tampered with); nothing was kept"
                        )
                    handle.write(chunk)
                    hasher.update(chunk)
                    written += len(chunk)
            return hasher, written
        except TransientError as exc:
            if attempt >= attempts:
                handle.flush()
                raise RegistryError(
                    f"{what}: the download failed {attempts} times ({exc}); nothing was cached; "
                    f"the {written} bytes received are kept and the next attempt resumes there"
                ) from exc
            log.info("%s: resuming at byte %d after: %s", what, written, exc)
    raise AssertionError("unreachable")  # the loop returns or raises


def _rehash(handle: BinaryIO, hasher: hashlib._Hash, size: int) -> int:
    """Feed what an earlier download left in `handle` to `hasher`; returns its length (0 and
    an empty file when it cannot be a prefix of a blob of `size` bytes)."""
    handle.seek(0, os.SEEK_END)
    length = handle.tell()
    if length > size:
        handle.seek(0)
        handle.truncate()
        return 0
    handle.seek(0)
    while chunk := handle.read(1 << 20):
        hasher.update(chunk)
    return length


def _discard(path: Path) -> None:
    with contextlib.suppress(OSError):
        path.unlink()


def prune_analyses(root: Path) -> int:
    """Remove every cached analysis (`root/layers`, `root/images`, the per-file ELF results in
    `root/elf`); returns how many bytes."""
    total = 0
    for kind in ANALYSIS_KINDS:
        folder = root / kind
        if folder.is_dir():
            total += sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
            shutil.rmtree(folder, ignore_errors=True)
    return total
