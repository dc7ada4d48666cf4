"""Benchmark `basewatch compat`: every ELF of a real bookworm image with python3.

Prints the time to merely list the image's files (one pass over the layers, no detector), the
cold time (every ELF parsed), the time with only the per-file cache warm (every layer read
again, but no ELF parsed again: files seen in any image before), the warm time (per-layer
results from the cache), the time per ELF, and for reference pax-utils' `scanelf` (DT_NEEDED
of every ELF) and `lddtree` (resolving each one's dependency tree) on the unpacked root
filesystem, when installed.

    python benchmarks/bench_compat.py [--image bookworm-python] [--runs 3]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from basewatch.jobs.compat import CompatChecker, compat_detectors
from basewatch.jobs.inventory import Scanner
from basewatch.oci.open import open_source
from basewatch.store.analysis import AnalysisCache

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script from anywhere: the image builder lives in tests/
    sys.path.insert(0, str(ROOT))

from tests.integration import images  # noqa: E402


def timed(fn: Callable[[], object], runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--image", default="bookworm-python", choices=sorted(images.RECIPES))
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)
    built = images.build(images.RECIPES[args.image])
    ref = built.ref("oci-dir")
    with tempfile.TemporaryDirectory() as tmp:
        cache = Path(tmp)

        def list_files() -> None:
            scanner = Scanner.default(cache_dir=cache, use_cache=False)
            scanner.detectors = []
            with open_source(ref).open() as image:
                scanner.analyze_layers(image)

        def cold() -> None:
            CompatChecker.default(cache_dir=cache, use_cache=False).check(ref)

        def file_cache_only() -> None:
            scanner = Scanner.default(cache_dir=cache, use_cache=False)
            scanner.detectors = compat_detectors(AnalysisCache(cache))
            CompatChecker(scanner).check(ref)

        report = CompatChecker.default(cache_dir=cache).check(ref)  # fills the cache
        listing = timed(list_files, args.runs)
        cold_s = timed(cold, args.runs)
        files_s = timed(file_cache_only, args.runs)
        warm_s = timed(lambda: CompatChecker.default(cache_dir=cache).check(ref), args.runs)
    n = len(report.files)
    print(f"image {args.image}: {n} ELF files, {len(report.failures)} predicted failures")
    print(f"  list files only      {listing:7.3f} s")
    print(f"  compat, cold         {cold_s:7.3f} s  ({cold_s / listing:.1f}x listing, "
          f"{1000 * (cold_s - listing) / max(n, 1):.2f} ms per ELF over listing)")  # fmt: skip
    print(f"  compat, file cache   {files_s:7.3f} s  (layers read again, no ELF parsed)")
    print(f"  compat, warm cache   {warm_s:7.3f} s")
    root = str(built.rootfs)
    if shutil.which("scanelf"):
        scan_s = timed(
            lambda: subprocess.run(["scanelf", "-qRn", root], capture_output=True, check=False),
            args.runs,
        )
        print(f"  scanelf -qRn (ref)   {scan_s:7.3f} s  (DT_NEEDED only, unpacked rootfs)")
    if shutil.which("lddtree"):
        paths = [str(built.rootfs / f.path.lstrip("/")) for f in report.files]

        def lddtree() -> None:
            for chunk in range(0, len(paths), 200):
                cmd = ["lddtree", "--root", root, "-l", *paths[chunk : chunk + 200]]
                subprocess.run(cmd, capture_output=True, check=False)

        tree_s = timed(lddtree, 1)
        print(f"  lddtree --root (ref) {tree_s:7.3f} s  (dependency trees, unpacked rootfs)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
