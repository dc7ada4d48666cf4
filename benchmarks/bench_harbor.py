"""Benchmark basewatch as Harbor's scanner: a burst of scan requests, reports, and a data change.

On a real docker-registry with htpasswd auth on loopback, basewatch serve (in this process,
over HTTP on loopback, SQLite) gets DIGESTS images (the Alpine fixture plus an app layer of
their own each) asked REQUESTS times at once, as Harbor does when a project is scanned:

1. Burst. The wall time from the first `POST /scan` to the last report answered 200, how many
   artifacts were pulled (the rest reused), the blob bytes the registry served, and report
   latency (p50/p95) once they are ready.
2. Data change. After `db import` of a record that affects every image, the time until the
   next poll of each report shows it (no new scan request): one GET each.
3. Peer. Harbor's Trivy adapter answers a data change only by scanning again. There is no Trivy
   vulnerability database here, so `trivy sbom --offline-scan --skip-db-update --scanners ""`
   on each image's CycloneDX SBOM (reading it, matching nothing) is timed as a lower bound of
   that re-scan (a real one pulls the image and matches too).

    python benchmarks/bench_harbor.py [--digests 10] [--requests 50] [--trivy 10]
"""

from __future__ import annotations

import argparse
import base64
import json
import statistics
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import httpx  # noqa: E402
from bench_sbom import ensure_peers, measure, tool_env  # noqa: E402
from bench_service import percentile  # noqa: E402
from tests.fixtures import shared_fixture  # noqa: E402
from tests.integration import registry_server as rs  # noqa: E402
from tests.service_support import images  # noqa: E402
from tests.service_support.scenario import record  # noqa: E402
from tests.service_support.server import serving  # noqa: E402

from basewatch.clock import FixedClock  # noqa: E402
from basewatch.jobs.db import import_files  # noqa: E402
from basewatch.report.sbom.cyclonedx import CycloneDXReporter  # noqa: E402
from basewatch.service.app import create_app  # noqa: E402
from basewatch.service.config import ServeSettings  # noqa: E402
from basewatch.service.db import open_engine, sessions, upgrade  # noqa: E402
from basewatch.service.harbor.scans import HarborScans  # noqa: E402
from basewatch.service.harbor.sealing import sealer_for  # noqa: E402
from basewatch.service.http import ServiceState  # noqa: E402
from basewatch.service.inventories import SqlInventoryStore  # noqa: E402
from basewatch.service.watcher import Watcher  # noqa: E402
from basewatch.settings import Settings  # noqa: E402

TOKEN = "benchmark-harbor-token-0123456789"
VULN = "application/vnd.scanner.adapter.vuln.report.harbor+json; version=1.0"
SCAN_REQUEST = "application/vnd.scanner.adapter.scan.request+json; version=1.1"


def push_images(registry: rs.RunningRegistry, work: Path, count: int) -> list[tuple[str, str]]:
    rootfs = shared_fixture(images.ALPINE)
    found = []
    for n in range(count):
        layout = images.stacked_layout(work / f"app{n}", "1", rootfs, [images.app_layer(f"a{n}")])
        registry.push(f"oci:{layout}:1", f"bench/app{n}:1")
        index = json.loads((layout / "index.json").read_text())
        found.append((f"bench/app{n}", index["manifests"][0]["digest"]))
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--digests", type=int, default=10)
    parser.add_argument("--requests", type=int, default=50)
    parser.add_argument("--trivy", type=int, default=10, help="SBOMs Trivy scans; 0: none")
    options = parser.parse_args()
    missing = rs.missing_tools()
    if missing:
        raise SystemExit(f"needs {', '.join(missing)}")
    with tempfile.TemporaryDirectory(prefix="bench-harbor-") as scratch:
        work = Path(scratch)
        with rs.run_registry(work / "registry", auth="htpasswd") as registry:
            proxy = rs.FaultProxy(registry.host)
            try:
                artifacts = push_images(registry, work, options.digests)
                run(work, proxy, artifacts, options)
            finally:
                proxy.close()
    return 0


def run(work: Path, proxy: rs.FaultProxy, artifacts: list[tuple[str, str]], options: Any) -> None:
    vulndb = work / "vuln.db"
    cli = Settings.load(environ={}, cache_dir=work / "cli", db=vulndb, read_config=False)
    import_files([shared_fixture("alpine-secdb-2020/main.json")], cli)
    url = f"sqlite+pysqlite:///{work}/service.db"
    settings = ServeSettings.load(
        environ={"HOME": str(work / "home"), "BASEWATCH_HARBOR_TOKEN": TOKEN},
        default_vulndb=vulndb,
        flags={"database": url, "allowed_registries": proxy.host},
    )
    core = Settings.load(environ={}, cache_dir=work / "cache", read_config=False)
    engine = open_engine(url)
    upgrade(engine)
    make = sessions(engine)
    clock = FixedClock(datetime(2026, 12, 2, 9, 0, tzinfo=UTC))
    watcher = Watcher(make, settings, core, clock)
    scans = HarborScans(make, settings, watcher, sealer_for(settings.harbor), clock)
    app = create_app(ServiceState(settings, engine, make, clock, harbor=scans))
    authorization = "Basic " + base64.b64encode(f"{rs.USERNAME}:{rs.PASSWORD}".encode()).decode()
    bodies = [
        {
            "registry": {"url": f"http://{proxy.host}", "authorization": authorization},
            "artifact": {
                "repository": artifacts[n % len(artifacts)][0],
                "digest": artifacts[n % len(artifacts)][1],
            },
        }
        for n in range(options.requests)
    ]
    headers = {"Authorization": f"Bearer {TOKEN}"}
    proxy.reset()
    with serving(app) as base:  # its lifespan runs the scan workers
        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=options.requests) as pool:
            ids = list(
                pool.map(
                    lambda body: httpx.post(
                        f"{base}/harbor/api/v1/scan",
                        json=body,
                        headers={**headers, "Content-Type": SCAN_REQUEST},
                        timeout=60,
                    ).json()["id"],
                    bodies,
                )
            )
        pending = set(ids)
        with httpx.Client(timeout=60) as client:
            while pending:
                for scan_id in list(pending):
                    got = client.get(
                        f"{base}/harbor/api/v1/scan/{scan_id}/report",
                        headers={**headers, "Accept": VULN},
                    )
                    if got.status_code == 200:
                        pending.discard(scan_id)
                    elif got.status_code != 302:
                        raise SystemExit(f"report {scan_id}: {got.status_code} {got.text}")
                time.sleep(0.05)
            burst = time.perf_counter() - started
            latencies = []
            for scan_id in ids:
                t = time.perf_counter()
                got = client.get(
                    f"{base}/harbor/api/v1/scan/{scan_id}/report",
                    headers={**headers, "Accept": VULN},
                )
                latencies.append(time.perf_counter() - t)
                assert got.status_code == 200 and got.json()["vulnerabilities"] == []
            blobs = Counter(
                path.rsplit("/", 1)[1]
                for method, path, _ in proxy.requests
                if method == "GET" and "/blobs/" in path
            )
            print(f"burst: {options.requests} requests for {len(artifacts)} digests")
            print(f"  all reports ready        {burst:8.2f} s")
            print(f"  artifacts pulled         {scans.pulled:8d} (the rest reused)")
            print(f"  blob GETs                {sum(blobs.values()):8d} for {len(blobs)} blobs")
            print(f"  registry bytes served    {proxy.bytes_sent:8d}")
            print(
                f"  report p50 / p95         {statistics.median(latencies) * 1000:8.1f} / "
                f"{percentile(latencies, 0.95) * 1000:.1f} ms"
            )

            directory = work / "records"
            directory.mkdir()
            (directory / "record.json").write_text(json.dumps(record()))
            import_files([directory], cli)
            started = time.perf_counter()
            for scan_id in ids:
                got = client.get(
                    f"{base}/harbor/api/v1/scan/{scan_id}/report",
                    headers={**headers, "Accept": VULN},
                )
                assert got.status_code == 200 and got.json()["vulnerabilities"], got.text
            changed = time.perf_counter() - started
            print("data change: a record affecting every image imported")
            print(
                f"  every report current     {changed:8.2f} s ({options.requests} GETs, no "
                "new scan request)"
            )
    if options.trivy:
        trivy = ensure_peers()[1]
        store = SqlInventoryStore(make, clock)
        reporter = CycloneDXReporter()
        seconds = []
        for n in range(options.trivy):
            inventory = store.get(artifacts[n % len(artifacts)][1])
            assert inventory is not None
            sbom = work / f"sbom{n}.cdx.json"
            sbom.write_bytes(reporter.render(inventory))
            command = [
                *(str(trivy), "sbom", "--offline-scan", "--skip-db-update"),
                *("--skip-java-db-update", "--scanners", "", "--format", "json"),
                *("--cache-dir", str(work / "trivy-cache")),
                *("--output", str(work / f"trivy{n}.json"), "--quiet", str(sbom)),
            ]
            seconds.append(measure(command, tool_env(work), work / "trivy.log").seconds)
        each = statistics.median(seconds)
        print("peer: trivy sbom on each image's SBOM (no DB: a lower bound of a re-scan)")
        print(f"  per artifact (median)    {each:8.3f} s")
        print(
            f"  re-scan {len(artifacts)} artifacts      {each * len(artifacts):8.2f} s "
            f"vs basewatch {changed:.2f} s for all {options.requests} reports"
        )
    engine.dispose()


if __name__ == "__main__":
    raise SystemExit(main())
