"""The public API: every name it promises imports, and the README's example runs as written."""

from __future__ import annotations

import re
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import basewatch.api
from basewatch.api import FixedClock, SbomRequest, Seams, Settings, sbom
from tests.fixtures import shared_fixture

README = Path(__file__).parents[2] / "README.md"
ALPINE = "images/alpine-minirootfs-3.20.3-x86_64.tar.gz"


def test_every_exported_name_exists() -> None:
    missing = [name for name in basewatch.api.__all__ if not hasattr(basewatch.api, name)]
    assert missing == []
    assert sorted(basewatch.api.__all__) == sorted(set(basewatch.api.__all__))


def _library_example() -> str:
    text = README.read_text(encoding="utf-8")
    section = text.split("## Use as a library", 1)[1].split("\n## ", 1)[0]
    match = re.search(r"```python\n(.*?)```", section, re.DOTALL)
    assert match is not None, "the README's library section has no python example"
    return match.group(1)


def test_the_readme_example_runs(tmp_path: Path) -> None:
    alpine = shared_fixture(ALPINE)
    example = tmp_path / "example.py"
    # the example's cache directory is the test's own
    example.write_text(_library_example().replace("/tmp/basewatch-demo", str(tmp_path / "c")))
    proc = subprocess.run(
        [sys.executable, str(example), f"rootfs:{alpine}"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    first, *packages = proc.stdout.splitlines()
    assert re.fullmatch(r"14 packages; base: .*", first), first
    assert len(packages) == 5
    assert (tmp_path / "c").is_dir()  # it wrote where it was told, nowhere else
    bad = subprocess.run(
        [sys.executable, str(example), f"rootfs:{tmp_path / 'missing.tar'}"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert bad.returncode == 1
    assert bad.stderr.startswith("cannot read rootfs:")
    assert "Traceback" not in bad.stderr


def test_a_job_runs_on_injected_settings_and_clock(tmp_path: Path) -> None:
    settings = Settings.load(environ={}, cache_dir=tmp_path / "cache", read_config=False)
    clock = FixedClock(datetime(2026, 1, 1, tzinfo=UTC))
    with Seams.default(settings, clock=clock) as seams:
        assert seams.clock is clock
        inventory = sbom(SbomRequest(f"rootfs:{shared_fixture(ALPINE)}"), seams)
    assert {p.name for p in inventory.packages} >= {"musl", "busybox", "apk-tools"}
    assert (tmp_path / "cache").is_dir()
