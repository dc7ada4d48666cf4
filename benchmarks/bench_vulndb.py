"""Benchmark importing the real OSV dumps in ../shared/fixtures/osv into a fresh database.

Imports Go, crates.io, PyPI and AlmaLinux in one `db import`-style transaction (a copy built
beside the target and swapped in), several times, and prints the median wall time, records per
second and the database size; then times a few thousand package lookups, and the lookups of an
image of 500 packages (advisories and refusals) one package at a time and in one batch.

    python benchmarks/bench_vulndb.py [--runs 3]
"""

from __future__ import annotations

import argparse
import random
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
        _image_lookups(path, options.runs)
    return 0


def _image_lookups(path: Path, runs: int) -> None:
    """An image's worth of lookups (450 packages the dumps name, 50 they do not): one query
    per package, as matching did, against `affected_many` / `refused_many`."""
    from basewatch.vulndb.sqlite import SqliteStore

    with SqliteStore.open(path) as store:
        held = [tuple(row) for row in store._read("SELECT DISTINCT ecosystem, name FROM affected")]
    packages = random.Random(1).sample(sorted(held), 450)
    packages += [("PyPI", f"absent-{i}") for i in range(50)]

    def one_by_one(store: SqliteStore) -> int:
        found = sum(len(store.affected(e, n)) for e, n in packages)
        return found + sum(len(store.refused(e, n)) for e, n in packages)

    def batched(store: SqliteStore) -> int:
        found = sum(map(len, store.affected_many(packages).values()))
        return found + sum(map(len, store.refused_many(packages).values()))

    for label, lookup in (("one query per package", one_by_one), ("one batch", batched)):
        timings = []
        for _ in range(max(runs, 5)):
            with SqliteStore.open(path) as store:
                start = time.perf_counter()
                entries = lookup(store)
                timings.append(time.perf_counter() - start)
        print(
            f"image of {len(packages)} packages, {label}: median "
            f"{statistics.median(timings) * 1000:.1f} ms ({entries} entries)"
        )


if __name__ == "__main__":
    sys.exit(main())
