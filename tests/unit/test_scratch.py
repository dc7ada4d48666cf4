"""Scratch space lives under the cache, goes away with its work, and dead processes' is swept."""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
import time
from pathlib import Path

from basewatch.scratch import GRACE_SECONDS, LOCK_NAME, scratch_dir, sweep
from tests.bounded import SRC, run_bounded
from tests.imagebuild import DEBIAN_OS_RELEASE, build_image, dpkg_status, file, write_docker_archive


def _age(path: Path, seconds: float) -> None:
    old = time.time() - seconds
    os.utime(path, (old, old))


def test_scratch_is_under_the_cache_and_removed_after(tmp_path: Path) -> None:
    with scratch_dir(tmp_path) as scratch:
        assert scratch.parent == tmp_path / "tmp"
        (scratch / "spooled").write_bytes(b"x" * 1000)
    assert not scratch.exists()
    assert not (tmp_path / "tmp").exists()


def test_scratch_is_removed_when_the_work_fails(tmp_path: Path) -> None:
    try:
        with scratch_dir(tmp_path) as scratch:
            raise RuntimeError("boom")
    except RuntimeError:
        pass
    assert not scratch.exists()


def test_sweep_removes_what_dead_processes_left_and_keeps_live_ones(tmp_path: Path) -> None:
    base = tmp_path / "tmp"
    base.mkdir()
    dead = base / "scratch-1-abc"  # its lock file exists but nobody holds it
    dead.mkdir()
    (dead / LOCK_NAME).touch()
    (dead / "big").write_bytes(b"x" * 4096)
    legacy = base / "tmpk2j3h4"  # what earlier versions left: no lock at all
    legacy.mkdir()
    young = base / "scratch-2-def"  # being set up right now
    young.mkdir()
    live = base / "scratch-3-ghi"
    live.mkdir()
    fd = os.open(live / LOCK_NAME, os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX)
    for path in (dead, legacy, live):
        _age(path, GRACE_SECONDS * 10)
    try:
        assert sweep(base) == 2
        assert sorted(p.name for p in base.iterdir()) == ["scratch-2-def", "scratch-3-ghi"]
    finally:
        os.close(fd)


def test_a_new_scratch_dir_sweeps_first(tmp_path: Path) -> None:
    dead = tmp_path / "tmp" / "tmpold"
    dead.mkdir(parents=True)
    _age(dead, GRACE_SECONDS * 10)
    with scratch_dir(tmp_path):
        assert not dead.exists()


def test_sigterm_removes_the_scratch_dir(tmp_path: Path) -> None:
    """The CLI turns SIGTERM into an exception: `finally` blocks run, scratch goes."""
    script = f"""
import os, signal, sys, time
from pathlib import Path
from basewatch.cli import main as cli
from basewatch.scratch import scratch_dir

def work(argv):
    with scratch_dir(Path({str(tmp_path)!r})) as scratch:
        (scratch / "partial").write_bytes(b"x" * 100000)
        print(scratch, flush=True)
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(30)
    return 0

cli._main = work
sys.exit(cli.main([]))
"""
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    proc = subprocess.run(
        [sys.executable, "-c", script],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert proc.returncode == 143, proc.stderr
    assert "terminated" in proc.stderr
    scratch = Path(proc.stdout.strip())
    assert scratch.parent == tmp_path / "tmp"
    assert not scratch.exists()


def _image(tmp_path: Path) -> Path:
    built = build_image(
        [
            [
                file("etc/os-release", DEBIAN_OS_RELEASE),
                file("var/lib/dpkg/status", dpkg_status(("libc6", "2.36-9+deb12u7"))),
            ]
        ]
    )
    return write_docker_archive(tmp_path / "img.tar", [(built, ["test/img:1"])])


def test_no_cache_with_an_unwritable_cache_dir_still_works(tmp_path: Path) -> None:
    """`--no-cache` needs no cache directory at all; scratch goes to the system's tmp."""
    archive = _image(tmp_path)
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the cache directory would be")
    tmpdir = tmp_path / "systmp"
    tmpdir.mkdir()
    result = run_bounded(
        [
            "sbom",
            f"docker-archive:{archive}",
            "-f",
            "json",
            "--no-cache",
            "--cache-dir",
            str(blocker / "cache"),
        ],
        env={**os.environ, "TMPDIR": str(tmpdir)},
        timeout=60,
    )
    result.check_refused(0)
    assert '"libc6"' in result.stdout
    leftovers = [p for p in tmpdir.rglob("*") if p.is_file()]
    assert leftovers == []


def test_no_cache_writes_nothing_that_outlives_the_run(tmp_path: Path) -> None:
    archive = _image(tmp_path)
    cache = tmp_path / "cache"
    result = run_bounded(
        ["sbom", f"docker-archive:{archive}", "--no-cache", "--cache-dir", str(cache)],
        timeout=60,
    )
    result.check_refused(0)
    assert not cache.exists() or list(cache.rglob("*")) == []
