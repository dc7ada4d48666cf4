"""Benchmark `basewatch compare` of three candidate bases with warm caches.

A warm compare should be dominated by cache reads: each candidate's manifest and config are
read, its assembled inventory comes from the cache, no layer is read again. Prints the time per
candidate, cold and warm.

    python benchmarks/bench_compare.py [--runs 5]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.integration import images  # noqa: E402

ALPINE = ROOT.parent / "shared" / "fixtures" / "images" / "alpine-minirootfs-3.20.3-x86_64.tar.gz"


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    options = parser.parse_args()
    refs = [
        images.build(images.BOOKWORM_MINBASE).ref("docker-archive"),
        images.build(images.TRIXIE_MINBASE).ref("docker-archive"),
    ]
    refs.append(
        f"rootfs:{ALPINE}"
        if ALPINE.exists()
        else images.build(images.BOOKWORM_PYTHON).ref("docker-archive")
    )
    with tempfile.TemporaryDirectory() as scratch:
        command = [
            sys.executable,
            "-m",
            "basewatch",
            "compare",
            *refs,
            "-q",
            "-f",
            "json",
            "--cache-dir",
            str(Path(scratch) / "cache"),
            "-o",
            str(Path(scratch) / "out.json"),
        ]
        started = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True)
        cold = time.perf_counter() - started
        warm = []
        for _ in range(options.runs):
            started = time.perf_counter()
            subprocess.run(command, check=True, capture_output=True)
            warm.append(time.perf_counter() - started)
    median = statistics.median(warm)
    print(f"candidates: {len(refs)}")
    print(f"cold: {cold:.3f} s ({cold / len(refs):.3f} s per candidate)")
    print(
        f"warm: {median:.3f} s median of {options.runs} ({median / len(refs):.3f} s per candidate)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
