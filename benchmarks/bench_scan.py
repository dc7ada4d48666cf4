"""Benchmark matching: a 500-package image against databases of 1k, 10k and 100k affected rows.

The 500 scanned packages (Debian source packages, as in a real bookworm image) have the same
three advisories each in every database; the rest of the rows are other packages. If matching
looks packages up (rather than scanning the table), its time stays flat as the database grows.

    python benchmarks/bench_scan.py [--runs 5]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from basewatch.matching.evaluate import scan_inventory
from basewatch.models import ImageInfo, Inventory, OSInfo, Package, PackageType, SourceType
from basewatch.vulndb.model import Advisory, Affected, AffectedRange, EventKind, RangeEvent
from basewatch.vulndb.sqlite import SqliteStore, rebuilding

SCANNED = 500
PER_PACKAGE = 3
ECOSYSTEM = "Debian:12"
VECTOR = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"


def advisory(number: int, name: str, fixed: str) -> Advisory:
    events = (RangeEvent(EventKind.INTRODUCED, "0"), RangeEvent(EventKind.FIXED, fixed))
    return Advisory(
        id=f"DEBIAN-CVE-2024-{number}",
        upstream=(f"CVE-2024-{number}",),
        summary=f"synthetic advisory {number}",
        severity=(("CVSS_V3", VECTOR),),
        modified="2024-01-01T00:00:00Z",
        affected=(Affected(ECOSYSTEM, name, (AffectedRange("ECOSYSTEM", events),)),),
    )


def records(total_rows: int) -> Iterator[tuple[str, Advisory]]:
    number = 0
    for index in range(SCANNED):
        for k in range(PER_PACKAGE):
            number += 1
            # one fixed above the installed 1.0-1, two at or below it
            yield "osv:Debian", advisory(number, f"src{index}", ("2.0-1", "1.0-1", "0.9-1")[k])
    filler = 0
    while number < total_rows:
        number += 1
        filler += 1
        yield "osv:Debian", advisory(number, f"other{filler % 20000}", "3.0-1")


def inventory() -> Inventory:
    packages = tuple(
        Package(
            name=f"bin{index}",
            version="1.0-1",
            type=PackageType.DEB,
            arch="amd64",
            source_name=f"src{index}",
            source_version="1.0-1",
            ecosystem=ECOSYSTEM,
        )
        for index in range(SCANNED)
    )
    return Inventory(ImageInfo("synthetic", SourceType.SBOM), OSInfo("debian", "12"), packages)


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    options = parser.parse_args()
    image = inventory()
    print(f"{'rows':>8} {'build s':>8} {'match median s':>15} {'min s':>7} {'findings':>9}")
    with tempfile.TemporaryDirectory() as scratch:
        # the scanned packages' own rows (1,500) are part of every database
        for rows in (SCANNED * PER_PACKAGE, 10_000, 100_000):
            path = Path(scratch) / f"db-{rows}.sqlite"
            started = time.perf_counter()
            with rebuilding(path) as store:
                store.write_records(records(rows))
            built = time.perf_counter() - started
            times = []
            found = 0
            for _ in range(options.runs):
                with SqliteStore.open(path) as store:
                    started = time.perf_counter()
                    result = scan_inventory(image, store)
                    times.append(time.perf_counter() - started)
                found = len(result.findings)
            assert found == SCANNED, found  # exactly the one advisory above each version
            print(
                f"{rows:>8} {built:>8.2f} {statistics.median(times):>15.3f} "
                f"{min(times):>7.3f} {found:>9}"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
