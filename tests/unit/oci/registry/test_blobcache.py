from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from basewatch.errors import DigestMismatch, RegistryError, TransientError
from basewatch.oci.registry.blobcache import BlobCache, BlobStream, prune_analyses
from basewatch.scratch import scratch_dir
from basewatch.store.analysis import AnalysisCache
from tests.imagebuild import sha256

DATA = bytes(range(256)) * 64
DIGEST = sha256(DATA)


def server(data: bytes, drops: list[int], honour_ranges: bool = True) -> tuple[list[int], object]:
    offsets: list[int] = []

    @contextlib.contextmanager
    def download(offset: int) -> Iterator[BlobStream]:
        offsets.append(offset)
        start = offset if honour_ranges else 0
        cut = drops.pop(0) if drops else None

        def chunks() -> Iterator[bytes]:
            body = data[start:]
            if cut is not None:
                yield body[:cut]
                raise TransientError("connection dropped")
            for i in range(0, len(body), 1000):
                yield body[i : i + 1000]

        yield BlobStream(start, chunks())

    return offsets, download


def cache_files(cache: BlobCache) -> list[Path]:
    return sorted(p for p in cache.blobs.rglob("*") if p.is_file())


def test_fetch_stores_a_verified_blob(tmp_path: Path) -> None:
    cache = BlobCache(tmp_path)
    offsets, download = server(DATA, [])
    path = cache.fetch(DIGEST, download, size=len(DATA))  # type: ignore[arg-type]
    assert path.read_bytes() == DATA
    assert path == tmp_path / "blobs" / "sha256" / DIGEST.split(":")[1]
    assert cache.fetch(DIGEST, download, size=len(DATA)) == path  # type: ignore[arg-type]
    assert offsets == [0]  # the second fetch was served from the cache


def test_a_dropped_connection_resumes_where_it_stopped(tmp_path: Path) -> None:
    cache = BlobCache(tmp_path)
    offsets, download = server(DATA, [5000, 3000])
    path = cache.fetch(DIGEST, download, size=len(DATA))  # type: ignore[arg-type]
    assert path.read_bytes() == DATA
    assert offsets == [0, 5000, 8000]


def test_a_server_ignoring_ranges_restarts_cleanly(tmp_path: Path) -> None:
    cache = BlobCache(tmp_path)
    offsets, download = server(DATA, [5000], honour_ranges=False)
    assert cache.fetch(DIGEST, download, size=len(DATA)).read_bytes() == DATA  # type: ignore[arg-type]
    assert offsets == [0, 5000]


def blobs(cache: BlobCache) -> list[Path]:
    """The cache's blobs, without the downloads kept aside for resuming."""
    return [p for p in cache_files(cache) if p.parent.name != "tmp"]


def partials(cache: BlobCache) -> list[Path]:
    return sorted((cache.blobs / "tmp").glob("partial-*"))


def test_giving_up_caches_nothing_and_the_next_run_resumes(tmp_path: Path) -> None:
    cache = BlobCache(tmp_path)
    _, download = server(DATA, [10, 10, 10])
    with pytest.raises(RegistryError, match=r"failed 3 times.*resumes there"):
        cache.fetch(DIGEST, download, size=len(DATA), attempts=3)  # type: ignore[arg-type]
    assert blobs(cache) == []
    (partial,) = partials(cache)
    assert partial.read_bytes() == DATA[:30]
    # Another run (a new cache object, as a new process would have) asks only for the rest.
    offsets, healthy = server(DATA, [])
    path = BlobCache(tmp_path).fetch(DIGEST, healthy, size=len(DATA))  # type: ignore[arg-type]
    assert path.read_bytes() == DATA
    assert offsets == [30]
    assert partials(cache) == []


def test_a_partial_download_that_does_not_verify_is_started_over(tmp_path: Path) -> None:
    cache = BlobCache(tmp_path)
    (cache.blobs / "tmp").mkdir(parents=True)
    (cache.blobs / "tmp" / f"partial-sha256-{DIGEST.split(':')[1]}").write_bytes(b"garbage")
    offsets, download = server(DATA, [])
    assert cache.fetch(DIGEST, download, size=len(DATA)).read_bytes() == DATA  # type: ignore[arg-type]
    assert offsets == [7, 0]
    assert partials(cache) == []


def test_a_partial_download_another_process_writes_is_left_alone(tmp_path: Path) -> None:
    import fcntl

    cache = BlobCache(tmp_path)
    (cache.blobs / "tmp").mkdir(parents=True)
    partial = cache.blobs / "tmp" / f"partial-sha256-{DIGEST.split(':')[1]}"
    partial.write_bytes(DATA[:100])
    with partial.open("r+b") as held:
        fcntl.flock(held, fcntl.LOCK_EX)  # as the other process does while it downloads
        offsets, download = server(DATA, [])
        assert cache.fetch(DIGEST, download, size=len(DATA)).read_bytes() == DATA  # type: ignore[arg-type]
    assert offsets == [0]  # a download of its own, from the start
    assert partial.read_bytes() == DATA[:100]


def test_tampered_content_is_not_cached(tmp_path: Path) -> None:
    cache = BlobCache(tmp_path)
    _, download = server(b"X" + DATA[1:], [])
    with pytest.raises(DigestMismatch, match="tampered"):
        cache.fetch(DIGEST, download, size=len(DATA))  # type: ignore[arg-type]
    assert cache_files(cache) == []


def test_more_bytes_than_the_manifest_says_is_refused(tmp_path: Path) -> None:
    cache = BlobCache(tmp_path)
    _, download = server(DATA, [])
    with pytest.raises(DigestMismatch, match="more than"):
        cache.fetch(DIGEST, download, size=100)  # type: ignore[arg-type]
    assert cache_files(cache) == []


def test_interrupt_caches_no_partial_blob(tmp_path: Path) -> None:
    cache = BlobCache(tmp_path)

    @contextlib.contextmanager
    def download(offset: int) -> Iterator[BlobStream]:
        def chunks() -> Iterator[bytes]:
            yield DATA[:100]
            raise KeyboardInterrupt

        yield BlobStream(0, chunks())

    with pytest.raises(KeyboardInterrupt):
        cache.fetch(DIGEST, download, size=len(DATA))
    assert blobs(cache) == []
    assert [p.read_bytes() for p in partials(cache)] == [DATA[:100]]  # kept for resuming


def test_read_reverifies_and_drops_corrupt_entries(tmp_path: Path) -> None:
    cache = BlobCache(tmp_path)
    path = cache.put(DIGEST, DATA)
    assert cache.read(DIGEST, 1 << 20) == DATA
    path.write_bytes(b"corrupt")
    assert cache.read(DIGEST, 1 << 20) is None
    assert not path.exists()


def test_size_limit_evicts_least_recently_used(tmp_path: Path) -> None:
    cache = BlobCache(tmp_path, max_bytes=2500)
    blobs = [bytes([i]) * 1000 for i in range(3)]
    paths = []
    for i, blob in enumerate(blobs):
        paths.append(cache.put(sha256(blob), blob))
        os.utime(paths[-1], (1000 + i, 1000 + i))
    assert not paths[0].exists()  # the oldest went when the third arrived
    assert paths[1].exists()
    assert paths[2].exists()
    assert cache.usage() == 2000


def test_prune(tmp_path: Path) -> None:
    cache = BlobCache(tmp_path)
    for i in range(3):
        cache.put(sha256(bytes([i]) * 10), bytes([i]) * 10)
    import time

    stale = cache.blobs / "tmp" / "download-x"
    stale.write_bytes(b"half")
    os.utime(stale, (0, 0))
    # a partial download is kept for a week, to be resumed; an older one goes
    day_old = cache.blobs / "tmp" / "partial-sha256-aa"
    day_old.write_bytes(b"part")
    os.utime(day_old, (time.time() - 86400, time.time() - 86400))
    month_old = cache.blobs / "tmp" / "partial-sha256-bb"
    month_old.write_bytes(b"part")
    os.utime(month_old, (time.time() - 30 * 86400, time.time() - 30 * 86400))
    result = cache.prune(max_bytes=40)  # 30 bytes of blobs and a partial download of 4 fit
    assert result.removed == 2
    assert result.kept == 4
    assert not stale.exists()
    assert day_old.exists()
    assert not month_old.exists()
    assert cache.prune(max_bytes=0).kept == 0
    (tmp_path / "layers" / "sha256" / "ab").mkdir(parents=True)
    (tmp_path / "layers" / "sha256" / "ab" / "k.json").write_text("{}")
    assert prune_analyses(tmp_path) == 2
    assert not (tmp_path / "layers").exists()


def test_prune_counts_and_evicts_the_layer_analyses_too(tmp_path: Path) -> None:
    cache = BlobCache(tmp_path, max_bytes=0)
    blob = b"b" * 1000
    blob_path = cache.put(sha256(blob), blob)
    analyses = AnalysisCache(tmp_path)
    layer, image = "sha256:" + "a" * 64, "sha256:" + "c" * 64
    analyses.put(layer, "key", {"files": "x" * 3000})
    analyses.put(image, "key", {"packages": "y" * 3000}, kind="images")
    layer_path = next((tmp_path / "layers").rglob("*.json"))
    image_path = next((tmp_path / "images").rglob("*.json"))
    os.utime(layer_path, (1000, 1000))  # least recently used
    os.utime(blob_path, (2000, 2000))
    os.utime(image_path, (3000, 3000))
    # 7,000 bytes in all, the blobs only 1,000 of them: 5,000 means evicting the oldest analysis
    result = cache.prune(max_bytes=5000)
    assert not layer_path.exists()
    assert blob_path.exists()
    assert image_path.exists()
    assert not (tmp_path / "layers" / "sha256" / ("a" * 64)).exists()  # no empty folders left
    assert result.removed == 1
    assert result.kept_bytes <= 5000
    # then the blob, older than the inventory
    cache.prune(max_bytes=3500)
    assert not blob_path.exists()
    assert image_path.exists()
    assert analyses.get(image, "key", kind="images") is not None


def test_scratch_space_counts_against_the_limit_and_dead_scratch_goes(tmp_path: Path) -> None:
    cache = BlobCache(tmp_path)
    blob = b"b" * 1000
    blob_path = cache.put(sha256(blob), blob)
    with scratch_dir(tmp_path) as live:
        (live / "spool").write_bytes(b"s" * 2000)
        dead = tmp_path / "tmp" / "scratch-1-dead"  # no lock held: its process died
        dead.mkdir()
        (dead / "spool").write_bytes(b"s" * 5000)
        os.utime(dead, (1000, 1000))
        result = cache.prune(max_bytes=2500)
        assert not dead.exists()
        assert (live / "spool").exists()  # in use: counted, never removed
        assert not blob_path.exists()  # so the blob had to go to fit 2,500 bytes
        assert result.freed_bytes == 6000


def test_many_blobs_cached_are_not_each_followed_by_a_walk_of_the_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    walks: list[int] = []
    entries = BlobCache._entries

    def counting(self: BlobCache) -> tuple[list[tuple[float, int, Path]], int]:
        walks.append(1)
        return entries(self)

    monkeypatch.setattr(BlobCache, "_entries", counting)
    roomy = BlobCache(tmp_path / "roomy", max_bytes=10 << 20)
    for i in range(300):
        blob = i.to_bytes(2, "big") * 50
        roomy.put(sha256(blob), blob)
    assert 1 < len(walks) <= 3  # the first, then one every 256 blobs: not one a blob
    # near the limit every blob is counted again, and the limit holds
    walks.clear()
    tight = BlobCache(tmp_path / "tight", max_bytes=5000)
    for i in range(20):
        blob = bytes([i]) * 1000
        tight.put(sha256(blob), blob)
    assert tight.usage() <= 5000 and len(walks) >= 15
