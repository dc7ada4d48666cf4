"""The fleet's shared layer analyses and layer claims on a real PostgreSQL: what one worker's
scanner analysed is found by another's with an empty disk cache, a row that is not what it
should be is a miss, a database that is away costs nothing but the sharing, and a claim makes
a second reader wait for the first one's result."""

from __future__ import annotations

import logging
import socket
import threading
import time
from pathlib import Path

import pytest
import zstandard
from sqlalchemy import Engine, func, insert, select

from basewatch.inventory.layers import detectors_key
from basewatch.jobs.inventory import Scanner
from basewatch.models import LayerInfo
from basewatch.service.db import open_engine, upgrade
from basewatch.service.fleet import analyses
from basewatch.service.fleet.analyses import LayerClaims, SharedAnalysisCache
from basewatch.service.models import LayerAnalysisRow
from basewatch.settings import Settings
from tests.fixtures import shared_fixture

pytestmark = pytest.mark.postgres

BUSYBOX = "images/busybox-1.38.0-musl-amd64.oci.tar"
ENTRY = {"diff_id": "sha256:" + "1" * 64, "entries": ["etc/os-release"], "results": {}}


def _scanner(root: Path, engine: Engine) -> Scanner:
    settings = Settings(cache_dir=root)
    return Scanner.from_settings(settings, cache=SharedAnalysisCache(settings.analysis_dir, engine))


def _rows(engine: Engine) -> int:
    """The layer analyses shared (not the blob-to-diffID bindings beside them)."""
    with engine.connect() as conn:
        count = select(func.count()).select_from(LayerAnalysisRow)
        where = (LayerAnalysisRow.kind == "layers", LayerAnalysisRow.detectors != "diff-id")
        return int(conn.scalar(count.where(*where)) or 0)


def test_a_layer_analysed_by_one_worker_is_reused_by_another(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    image = f"oci:{shared_fixture(BUSYBOX)}"
    reads: list[str] = []
    read_layer = Scanner._read_layer

    def counting(self: Scanner, image_: object, layer: LayerInfo, *args: object) -> object:
        reads.append(layer.digest)
        return read_layer(self, image_, layer, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(Scanner, "_read_layer", counting)
    first = _scanner(tmp_path / "one", engine).inventory(image)
    assert reads, "the first worker reads its layers"
    assert _rows(engine) == len(first.image.layers)
    reads.clear()
    second = _scanner(tmp_path / "two", engine).inventory(image)
    assert reads == [], "the second worker, its own disk empty, read no layer"
    assert second == first
    assert second.filesystem_bytes > 1_000_000, "busybox's files, both times"
    # what the database gave is on the second worker's disk now: its next scan asks nothing
    assert any((tmp_path / "two").rglob("*.json"))
    with engine.connect() as conn:
        data, size = conn.execute(
            select(LayerAnalysisRow.data, LayerAnalysisRow.size).where(
                LayerAnalysisRow.kind == "layers", LayerAnalysisRow.detectors != "diff-id"
            )
        ).one()
    assert zstandard.ZstdDecompressor().decompress(data, max_output_size=size)[:1] == b"{"


def test_a_row_that_is_not_an_analysis_is_a_miss(
    engine: Engine,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    cache = SharedAnalysisCache(tmp_path, engine)
    squeeze = zstandard.ZstdCompressor().compress
    rows = {
        "sha256:" + "a" * 64: b"not zstd at all",
        "sha256:" + "b" * 64: squeeze(b"[1, 2, 3]"),  # JSON, not an object
        "sha256:" + "c" * 64: squeeze(b"{" * 100_000),  # nested past the parser's bound
        "sha256:" + "d" * 64: squeeze(b'{"x": "' + b"y" * 4096 + b'"}'),  # inflates too far
    }
    monkeypatch.setattr(analyses, "MAX_ENTRY_BYTES", 1024)
    with engine.begin() as conn:
        for digest, data in rows.items():
            conn.execute(
                insert(LayerAnalysisRow).values(
                    kind="layers",
                    digest=digest,
                    detectors="k",
                    data=data,
                    size=len(data),
                    created_at=cache.clock.now(),
                )
            )
    with caplog.at_level(logging.WARNING):
        for digest in rows:
            assert cache.get(digest, "k") is None
    assert len([r for r in caplog.records if "ignoring the shared" in r.getMessage()]) == 4
    assert "inflates past 1024 bytes" in caplog.text
    assert not any(tmp_path.rglob("*.json")), "nothing unreadable was kept on disk"


def test_a_database_that_is_away_costs_only_the_sharing(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    away = open_engine(f"postgresql+psycopg://basewatch@127.0.0.1:{port}/none")
    cache = SharedAnalysisCache(tmp_path, away)
    digest = "sha256:" + "e" * 64
    with caplog.at_level(logging.WARNING):
        assert cache.get(digest, "k") is None
        cache.put(digest, "k", ENTRY)  # kept on this worker's disk all the same
        assert cache.get(digest, "k") == ENTRY
    warnings = [r for r in caplog.records if "cannot be used now" in r.getMessage()]
    assert len(warnings) == 1, "said once, not for every layer"
    away.dispose()


def test_the_same_entry_written_twice_is_one_row(engine: Engine, tmp_path: Path) -> None:
    digest = "sha256:" + "f" * 64
    SharedAnalysisCache(tmp_path / "a", engine).put(digest, "k", ENTRY)
    SharedAnalysisCache(tmp_path / "b", engine).put(digest, "k", {**ENTRY, "entries": []})
    assert _rows(engine) == 1
    assert SharedAnalysisCache(tmp_path / "c", engine).get(digest, "k") == ENTRY  # the first


def test_a_claim_holds_others_until_it_is_given_up(engine: Engine) -> None:
    key = "layer sha256:" + "0" * 64 + " k"
    with LayerClaims(engine, wait_seconds=30) as first:
        assert first.claim(key) is False  # nobody had it
        assert first.claim(key) is False  # a job's own claim again: at once
        outcome: list[bool] = []
        second = LayerClaims(engine, wait_seconds=30)
        waiter = threading.Thread(target=lambda: outcome.append(second.claim(key)))
        waiter.start()
        time.sleep(0.5)
        assert outcome == [], "the second claim waits while the first is held"
    waiter.join(10)
    assert outcome == [True], "it got the claim once given up, and says it waited"
    assert second.waited >= 0.4
    second.release()
    with LayerClaims(engine, wait_seconds=1) as third:
        assert third.claim(key) is False


def test_a_claim_dies_with_its_connection_and_a_long_wait_goes_ahead(
    engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    key = "index sha256:" + "9" * 64
    holder = LayerClaims(engine, wait_seconds=30)
    assert holder.claim(key) is False
    started = time.monotonic()
    with caplog.at_level(logging.WARNING), LayerClaims(engine, wait_seconds=0.5) as impatient:
        assert impatient.claim(key) is True
        assert key not in impatient.held
    assert 0.3 < time.monotonic() - started < 5
    assert "still claimed by another worker" in caplog.text
    assert holder._conn is not None
    holder._conn.invalidate()  # what a worker killed with SIGKILL leaves: a dropped connection
    holder._conn = None
    started = time.monotonic()
    with caplog.at_level(logging.WARNING), LayerClaims(engine, wait_seconds=10) as after:
        caplog.clear()
        after.claim(key)  # at once, or as soon as the server has seen the connection go
        assert key in after.held
    assert time.monotonic() - started < 5 and "still claimed" not in caplog.text


def test_a_layer_claimed_elsewhere_is_not_downloaded_once_its_analysis_is_shared(
    engine: Engine, tmp_path: Path
) -> None:
    image = f"oci:{shared_fixture(BUSYBOX)}"
    done = _scanner(tmp_path / "done", engine)
    with done.source_of(image).open() as opened:
        layer = opened.info.layers[-1]
    key = f"layer {layer.diff_id} {detectors_key(done.detectors)}"
    reader = LayerClaims(engine, wait_seconds=30)
    assert reader.claim(key) is False  # another worker is reading it

    def finish() -> None:
        time.sleep(0.5)
        done.inventory(image)  # its analysis goes to the database...
        reader.release()  # ...and then its claim is given up

    other = threading.Thread(target=finish)
    other.start()
    with LayerClaims(engine, wait_seconds=30) as claims:
        waiting = _scanner(tmp_path / "waiting", engine)
        waiting.claims = claims
        assert waiting.layer_is_uncached(layer) is False, "found, once the claim was given up"
        assert claims.waited > 0.3
    other.join(30)
    with LayerClaims(engine, wait_seconds=30) as claims:
        fresh = Scanner.from_settings(Settings(cache_dir=tmp_path / "fresh"))  # its own only
        fresh.claims = claims
        assert fresh.layer_is_uncached(layer) is True, "nobody has it: this worker reads it"
        assert key in claims.held


def test_claims_without_postgresql_are_granted_at_once(tmp_path: Path) -> None:
    engine = open_engine(f"sqlite:///{tmp_path / 'service.db'}")
    upgrade(engine)
    with LayerClaims(engine, wait_seconds=1) as claims, LayerClaims(engine, 1) as other:
        assert claims.claim("k") is False
        assert other.claim("k") is False
    cache = SharedAnalysisCache(tmp_path / "cache", engine)  # the same rows on SQLite
    cache.put("sha256:" + "a" * 64, "k", ENTRY)
    assert SharedAnalysisCache(tmp_path / "other", engine).get("sha256:" + "a" * 64, "k") == ENTRY
    engine.dispose()
