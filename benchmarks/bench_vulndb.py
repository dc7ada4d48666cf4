"""Benchmark importing the real OSV dumps in ../shared/fixtures/osv into a fresh database.

Imports Go, crates.io, PyPI and AlmaLinux in one `db import`-style transaction (a copy built
beside the target and swapped in), several times, and prints the median wall time, records per
second and the database size; then times a few thousand package lookups.

    python benchmarks/bench_vulndb.py [--runs 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT.parent / "shared" / "fixtures" / "osv"
DUMPS = ("Go", "crates.io", "PyPI", "AlmaLinux")


def main() -> int:
    from basewatch.vulndb.importer import import_paths
    from basewatch.vulndb.sqlite import SqliteStore, rebuilding

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=3)
    options = parser.parse_args()
    zips = [FIXTURES / f"{name}.zip" for name in DUMPS]
    missing = [str(z) for z in zips if not z.exists()]
    if missing:
        print(f"missing fixtures: {', '.join(missing)}", file=sys.stderr)
        return 1

    timings = []
    records = 0
    with tempfile.TemporaryDirectory() as scratch:
        for run in range(options.runs):
            path = Path(scratch) / f"run{run}" / "vuln.db"
            start = time.perf_counter()
            with rebuilding(path) as store:
                results = import_paths(store, zips)
            timings.append(time.perf_counter() - start)
            records = sum(r.records for r in results)
        size_mib = path.stat().st_size / 2**20
        median = statistics.median(timings)
        print(f"import {' + '.join(DUMPS)}: {records} records")
        print(
            f"  median {median:.2f} s over {options.runs} runs "
            f"(min {min(timings):.2f} s), {records / median:,.0f} records/s, {size_mib:.1f} MiB"
        )

        with SqliteStore.open(path) as store:
            names = [
                ("PyPI", "django"),
                ("PyPI", "Jinja2"),
                ("Go", "golang.org/x/net"),
                ("crates.io", "tokio"),
                ("AlmaLinux:9", "openssl"),
                ("AlmaLinux:8", "kernel"),
                ("PyPI", "no-such-package"),
            ]
            lookups = 0
            hits = 0
            start = time.perf_counter()
            while time.perf_counter() - start < 1.0:
                for ecosystem, name in names:
                    hits += len(store.affected(ecosystem, name))
                    lookups += 1
            elapsed = time.perf_counter() - start
        print(f"lookups: {lookups / elapsed:,.0f} per second ({hits // lookups} entries each)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
