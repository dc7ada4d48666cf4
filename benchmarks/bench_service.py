"""Benchmark `basewatch serve`: re-evaluation on data change, polling, API latency, and Trivy.

1. Re-evaluation. A fleet of N stored inventories (1,000 and 10,000) cloned with varied versions
   from the real inventories of the test images (benchmarks/service_data.py), a vulnerability
   database with the real PyPI and Go OSV dumps plus copies of real AlmaLinux records aimed at
   the fleet's packages; one `Reevaluator.check()` sets the baseline, then another process
   (`basewatch db import`) imports an update that changes 1,000 records, and the next `check()`
   is timed: from the change being noticed until its commit, which puts every event in the
   outbox. The update touches the same images (`--affected`) at every fleet size.
2. Polling. Debian's docker-registry on loopback with one small image under 1,000 tags (pushed
   once with skopeo, then the manifest PUT under each tag), one watch of `*`, indexed once; then
   a cycle in which nothing changed, counted through tests/integration's FaultProxy (requests by
   kind, response body bytes: the proxy counts no headers) and timed against the registry.
3. API and dashboard latency. `basewatch serve` (uvicorn) on loopback over the 10,000-image
   fleet (its findings are those of the baseline), p50/p95 of GET /api/v1/images (first page,
   limit 100) and GET /api/v1/images/{digest}, then of each dashboard page (logged in: the
   overview with its 30-day chart, images, a search by advisory, one image, bases, events, one
   advisory), with httpx, on SQLite and on a throwaway PostgreSQL.
4. Peer. `trivy sbom` on CycloneDX files of the same clones. There is no Trivy vulnerability
   database here (it cannot be downloaded), so Trivy only parses the SBOM (`--scanners ""`,
   offline): a lower bound of its re-scan cost, without the matching.

    python benchmarks/bench_service.py [--sizes 1000,10000] [--affected 500] [--tags 1000]
        [--databases sqlite,postgresql] [--requests 200] [--trivy-sboms 20] [--no-debian]
"""

from __future__ import annotations

import argparse
import contextlib
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
for extra in (ROOT, ROOT / "benchmarks"):
    if str(extra) not in sys.path:
        sys.path.insert(0, str(extra))

import httpx  # noqa: E402
from bench_sbom import ensure_peers, measure, tool_env  # noqa: E402
from service_data import (  # noqa: E402
    Advisories,
    Template,
    advisories,
    build_fleet,
    clone,
    digest_of,
    read_templates,
    write_records,
)
from sqlalchemy import func, select  # noqa: E402
from tests.fixtures import shared_fixture  # noqa: E402
from tests.integration import registry_server as rs  # noqa: E402
from tests.service_support import postgres  # noqa: E402

from basewatch.clock import FixedClock  # noqa: E402
from basewatch.jobs.db import import_files  # noqa: E402
from basewatch.report.sbom.cyclonedx import CycloneDXReporter  # noqa: E402
from basewatch.service.config import ServeSettings  # noqa: E402
from basewatch.service.db import open_engine, sessions, upgrade  # noqa: E402
from basewatch.service.models import Event, Watch  # noqa: E402
from basewatch.service.reevaluate import Reevaluator  # noqa: E402
from basewatch.service.watcher import Watcher  # noqa: E402
from basewatch.settings import Settings  # noqa: E402

REAL_DUMPS = ("osv/PyPI.zip", "osv/Go.zip")
CLOCK = FixedClock(datetime(2026, 12, 2, 9, 0, tzinfo=UTC))
ADMIN_TOKEN = "bench-admin-token-0123456789abcdef"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


# --- 1. re-evaluation ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class VulnData:
    """A baseline vulnerability database and the update to import into a copy of it."""

    baseline: Path
    update: Path  # a directory of OSV records
    advisories: Advisories
    import_seconds: float


def prepare_vulndb(
    work: Path,
    templates: Sequence[Template],
    changed: int,
    touching: int,
    background: int,
    dumps: Sequence[Path],
) -> VulnData:
    """Import the real dumps and the baseline records into `work/baseline.db`; write the
    update's records to `work/update`."""
    records = advisories(templates, changed, touching, background)
    baseline_dir = write_records(work / "baseline-records", records.baseline)
    update_dir = write_records(work / "update", records.update)
    core = Settings.load(environ={}, cache_dir=work / "import-cache", read_config=False)
    started = time.perf_counter()
    import_files([*dumps, baseline_dir], core)
    seconds = time.perf_counter() - started
    path = work / "baseline.db"
    shutil.move(core.db_path, path)
    return VulnData(path, update_dir, records, seconds)


@dataclass(slots=True)
class Reevaluation:
    database: str
    stored: int
    affected: int
    fleet_seconds: float = 0.0  # storing the fleet
    baseline_seconds: float = 0.0  # the first check (every image holding a known package)
    baseline_images: int = 0
    import_seconds: float = 0.0  # the other process importing the update
    packages: int = 0  # changed packages the check read from the change log
    images: int = 0  # images re-matched
    outside: int = 0  # re-matched images that hold no changed package (must be 0)
    events: int = 0
    events_by_type: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    digests: tuple[str, ...] = ()  # the fleet's images

    @property
    def per_image(self) -> float:
        return self.seconds / self.images if self.images else 0.0


def serve_settings(work: Path, url: str, vulndb: Path, registries: str = "") -> ServeSettings:
    flags = {"database": url}
    if registries:
        flags["allowed_registries"] = registries
    return ServeSettings.load(environ={"HOME": str(work)}, default_vulndb=vulndb, flags=flags)


def bench_reevaluation(
    work: Path,
    templates: Sequence[Template],
    vulns: VulnData,
    url: str,
    database: str,
    size: int,
    affected: int,
) -> Reevaluation:
    """Store a fleet of `size` in the service database at `url`, set the baseline, import the
    update in another process and time the check that follows."""
    work.mkdir(parents=True, exist_ok=True)
    vulndb = work / "vuln.db"
    shutil.copy(vulns.baseline, vulndb)
    settings = serve_settings(work, url, vulndb)
    core = Settings.load(environ={}, cache_dir=work / "cache", read_config=False)
    engine = open_engine(url)
    try:
        upgrade(engine)
        make = sessions(engine)
        result = Reevaluation(database, size, min(affected, size))
        started = time.perf_counter()
        fleet = build_fleet(make, templates, size, affected, CLOCK)
        result.fleet_seconds = time.perf_counter() - started
        result.digests = fleet.digests
        reevaluator = Reevaluator(make, settings, core, CLOCK)
        started = time.perf_counter()
        result.baseline_images = len(reevaluator.check().images)
        result.baseline_seconds = time.perf_counter() - started
        with make() as session:
            last_event = session.scalar(select(func.coalesce(func.max(Event.id), 0))) or 0

        command = [sys.executable, "-m", "basewatch", "db", "import", str(vulns.update), "-q"]
        command += ["--db", str(vulndb)]
        started = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True, timeout=600)
        result.import_seconds = time.perf_counter() - started

        started = time.perf_counter()
        report = reevaluator.check()
        result.seconds = time.perf_counter() - started
        result.packages = report.packages
        result.images = len(report.images)
        result.outside = len(set(report.images) - fleet.affected)
        with make() as session:
            types = session.execute(
                select(Event.type, func.count()).where(Event.id > last_event).group_by(Event.type)
            ).all()
        result.events_by_type = {str(kind): int(count) for kind, count in types}
        result.events = sum(result.events_by_type.values())
        return result
    finally:
        engine.dispose()


# --- 2. polling ---------------------------------------------------------------------------------


@dataclass(slots=True)
class Polling:
    tags: int
    setup_seconds: float = 0.0  # pushing the image and the tags
    first_seconds: float = 0.0  # the first cycle (every tag new, the digest indexed)
    first_indexed: int = 0
    requests: Counter[str] = field(default_factory=Counter)  # "HEAD manifest", "GET tags"...
    body_bytes: int = 0
    connections: int = 0
    proxied_seconds: float = 0.0  # the counted cycle, through the proxy
    seconds: float = 0.0  # the same cycle straight to the registry
    errors: list[str] = field(default_factory=list)


def _kind(method: str, path: str) -> str:
    for part, name in (("/manifests/", "manifest"), ("/blobs/", "blob"), ("/tags/list", "tags")):
        if part in path:
            return f"{method} {name}"
    return f"{method} other"


def push_tags(registry: rs.RunningRegistry, work: Path, repository: str, tags: int) -> None:
    """The Alpine fixture pushed as `repository:t0000` with skopeo, its manifest PUT under the
    other tags (a manifest PUT by tag is what a push of an existing image does)."""
    layout = rs.layout_from_rootfs(
        shared_fixture("images/alpine-minirootfs-3.20.3-x86_64.tar.gz"), work / "alpine", "3.20.3"
    )
    registry.push(f"oci:{layout}:3.20.3", f"{repository}:t0000")
    base = f"http://{registry.host}/v2/{repository}/manifests"
    with httpx.Client(timeout=30) as client:
        got = client.get(f"{base}/t0000", headers={"Accept": OCI_MANIFEST})
        got.raise_for_status()
        kind = got.headers.get("Content-Type", OCI_MANIFEST)
        for index in range(1, tags):
            put = client.put(
                f"{base}/t{index:04d}", content=got.content, headers={"Content-Type": kind}
            )
            put.raise_for_status()


def _watcher(work: Path, host: str, repository: str, vulndb: Path) -> Watcher:
    url = f"sqlite+pysqlite:///{work}/service.db"
    engine = open_engine(url)
    upgrade(engine)
    make = sessions(engine)
    with make() as session:
        session.add(Watch(repository=f"{host}/{repository}", tags=["*"], created_at=CLOCK.now()))
        session.commit()
    core = Settings.load(environ={}, cache_dir=work / "cache", read_config=False)
    return Watcher(make, serve_settings(work, url, vulndb, host), core, CLOCK)


def bench_polling(work: Path, tags: int, vulndb: Path) -> Polling:
    """Index 1 digest under `tags` tags once, then time a cycle in which nothing changed, once
    through the counting proxy and once straight to the registry."""
    result = Polling(tags)
    repository = "bench/app"
    with rs.run_registry(work / "registry") as registry:
        started = time.perf_counter()
        push_tags(registry, work, repository, tags)
        result.setup_seconds = time.perf_counter() - started
        proxy = rs.FaultProxy(registry.host)
        try:
            counted = _watcher(work / "counted", proxy.host, repository, vulndb)
            started = time.perf_counter()
            first = counted.poll_once()
            result.first_seconds = time.perf_counter() - started
            result.first_indexed = len(first.indexed)
            result.errors += first.errors
            proxy.reset()
            started = time.perf_counter()
            second = counted.poll_once()
            result.proxied_seconds = time.perf_counter() - started
            result.errors += second.errors
            if second.tags != tags or second.moved or second.indexed:
                result.errors.append(f"the quiet cycle saw {second.tags} tags, moved or indexed")
            result.requests = Counter(_kind(m, p) for m, p, _ in proxy.requests)
            result.body_bytes = proxy.bytes_sent
            result.connections = proxy.connections
        finally:
            proxy.close()
        direct = _watcher(work / "direct", registry.host, repository, vulndb)
        result.errors += direct.poll_once().errors
        started = time.perf_counter()
        result.errors += direct.poll_once().errors
        result.seconds = time.perf_counter() - started
    return result


# --- 3. API latency -----------------------------------------------------------------------------


@dataclass(slots=True)
class Latency:
    database: str
    images: int
    list_ms: list[float] = field(default_factory=list)
    detail_ms: list[float] = field(default_factory=list)
    pages_ms: dict[str, list[float]] = field(default_factory=dict)  # dashboard page -> times


def percentile(values: Sequence[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


@contextlib.contextmanager
def running_server(work: Path, url: str, vulndb: Path) -> Iterator[str]:
    """`basewatch serve` on a free loopback port over `url`; yields its base URL."""
    port = rs.free_port()
    command = [sys.executable, "-m", "basewatch", "serve", "--listen", f"127.0.0.1:{port}"]
    command += ["--database", url, "--vulndb", str(vulndb)]
    command += ["--poll-interval", "1h", "--vulndb-check-interval", "1h"]
    env = {**tool_env(work), "BASEWATCH_ADMIN_TOKEN": ADMIN_TOKEN}
    with (work / "serve.log").open("wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"basewatch serve exited: {(work / 'serve.log').read_text()}")
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError("basewatch serve did not answer /healthz within 60 s")
            time.sleep(0.1)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def bench_api(
    work: Path, url: str, database: str, digests: Sequence[str], requests: int, vulndb: Path
) -> Latency:
    """Latency of the image list (first page, limit 100) and of one image, `requests` each
    (after 10 untimed), through a real server on loopback."""
    work.mkdir(parents=True, exist_ok=True)
    result = Latency(database, len(digests))
    chosen = random.Random(13).choices(list(digests), k=requests + 10)
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    advisory = ""
    with (
        running_server(work, url, vulndb) as base,
        httpx.Client(base_url=base, headers=headers, timeout=60) as client,
    ):
        for index in range(requests + 10):
            started = time.perf_counter()
            page = client.get("/api/v1/images", params={"limit": 100})
            taken = (time.perf_counter() - started) * 1000
            page.raise_for_status()
            if len(page.json()["items"]) != min(100, len(digests)):
                raise RuntimeError("the image list's first page is short")
            if index >= 10:
                result.list_ms.append(taken)
        for index, digest in enumerate(chosen):
            started = time.perf_counter()
            one = client.get(f"/api/v1/images/{digest}")
            taken = (time.perf_counter() - started) * 1000
            one.raise_for_status()
            if index >= 10:
                result.detail_ms.append(taken)
            if not advisory and one.json()["finding_list"]:
                advisory = one.json()["finding_list"][0]["id"]
        bench_pages(base, chosen, advisory, max(20, requests // 4), result)
    return result


def bench_pages(
    base: str, digests: Sequence[str], advisory: str, requests: int, result: Latency
) -> None:
    """Server-side render time of each dashboard page (logged in with the admin token)."""
    with httpx.Client(base_url=base, timeout=60) as browser:
        login = browser.post("/login", data={"token": ADMIN_TOKEN, "next": "/"})
        if login.status_code != 303 or "bw_session" not in login.cookies:
            raise RuntimeError(f"login: HTTP {login.status_code}")
        # the cookie is Secure: browsers send it to a loopback http:// origin, httpx does not
        browser.headers["Cookie"] = f"bw_session={login.cookies['bw_session']}"
        browser.cookies.clear()
        pages: dict[str, Callable[[int], str]] = {
            "/ (overview)": lambda n: "/",
            "/images": lambda n: "/images",
            "/images?q=ADVISORY": lambda n: f"/images?q={advisory}",
            "/images/{digest}": lambda n: f"/images/{digests[n % len(digests)]}",
            "/bases": lambda n: "/bases",
            "/events": lambda n: "/events",
            "/advisories/{id}": lambda n: f"/advisories/{advisory}",
        }
        for name, path in pages.items():
            times = result.pages_ms.setdefault(name, [])
            for index in range(requests + 3):
                started = time.perf_counter()
                page = browser.get(path(index))
                taken = (time.perf_counter() - started) * 1000
                if page.status_code != 200 or "<main" not in page.text:
                    raise RuntimeError(f"{path(index)}: HTTP {page.status_code}")
                if index >= 3:
                    times.append(taken)


# --- 4. Trivy -----------------------------------------------------------------------------------


@dataclass(slots=True)
class Peer:
    sboms: int
    seconds: list[float] = field(default_factory=list)

    @property
    def per_image(self) -> float:
        return statistics.mean(self.seconds)


def bench_trivy(work: Path, trivy: Path, templates: Sequence[Template], count: int) -> Peer:
    """`trivy sbom` on `count` CycloneDX files of clones, round robin over the templates."""
    work.mkdir(parents=True, exist_ok=True)
    reporter = CycloneDXReporter(now=CLOCK.now())
    result = Peer(count)
    for index in range(count):
        template = templates[index % len(templates)]
        inventory = clone(template.inventory, index, digest_of(f"trivy/{index}"))
        sbom = work / f"sbom{index}.cdx.json"
        sbom.write_bytes(reporter.render(inventory))
        command = [
            *(str(trivy), "sbom", "--offline-scan", "--skip-db-update", "--skip-java-db-update"),
            *("--scanners", "", "--cache-dir", str(work / "cache"), "--format", "json"),
            *("--output", str(work / f"trivy{index}.json"), "--quiet", str(sbom)),
        ]
        result.seconds.append(measure(command, tool_env(work), work / "trivy.log").seconds)
    return result


# --- report -------------------------------------------------------------------------------------


def print_reevaluations(results: Sequence[Reevaluation], vulns: VulnData) -> None:
    changed = len(vulns.advisories.update)
    print(
        f"Re-evaluation: an update of {changed} advisory records ({vulns.advisories.touching} "
        f"name packages of the affected images, {changed - vulns.advisories.touching} real "
        "AlmaLinux records no stored image holds), imported by another process"
    )
    header = (
        f"{'database':10} {'stored':>7} {'affected':>8} {'changed pkgs':>12} {'re-matched':>10} "
        f"{'outside':>7} {'events':>7} {'check s':>8} {'ms/image':>8} {'store s':>8} "
        f"{'baseline s':>10} {'import s':>8}"
    )
    print(header)
    print("-" * len(header))
    for r in results:
        print(
            f"{r.database:10} {r.stored:7,} {r.affected:8,} {r.packages:12,} {r.images:10,} "
            f"{r.outside:7} {r.events:7,} {r.seconds:8.2f} {r.per_image * 1000:8.1f} "
            f"{r.fleet_seconds:8.1f} {r.baseline_seconds:10.1f} {r.import_seconds:8.1f}"
        )
    for r in results:
        kinds = ", ".join(f"{k} {v}" for k, v in sorted(r.events_by_type.items()))
        print(f"  {r.database} {r.stored:,}: events {kinds or 'none'}")
    for database in dict.fromkeys(r.database for r in results):
        rows = sorted((r for r in results if r.database == database), key=lambda r: r.stored)
        if len(rows) >= 2 and rows[0].seconds:
            small, large = rows[0], rows[-1]
            print(
                f"  {database}: fleet x{large.stored / small.stored:g}, affected "
                f"{small.images} -> {large.images}, check time x{large.seconds / small.seconds:.2f}"
            )
    print(
        "check s: Reevaluator.check() from reading the change log to its commit (every event "
        "in the outbox); outside: re-matched images holding no changed package; store s: "
        "SqlInventoryStore.put and the image row of every clone; baseline s: the first check."
    )


def print_polling(result: Polling) -> None:
    print(f"Polling: {result.tags:,} tags of one repository, nothing changed since the last cycle")
    kinds = ", ".join(f"{k}: {v:,}" for k, v in sorted(result.requests.items()))
    total = sum(result.requests.values())
    print(f"  requests: {total:,} ({kinds})")
    print(f"  manifest bodies fetched: {result.requests.get('GET manifest', 0)}")
    print(
        f"  response body bytes: {result.body_bytes:,} (tag-list pages; the proxy counts bodies, "
        f"not headers); connections: {result.connections}"
    )
    print(
        f"  cycle wall time: {result.seconds:.2f} s straight to the registry, "
        f"{result.proxied_seconds:.2f} s through the counting proxy (one upstream connection a "
        f"request); first cycle (indexed {result.first_indexed} digest): "
        f"{result.first_seconds:.2f} s; pushing the tags: {result.setup_seconds:.1f} s"
    )
    for problem in result.errors:
        print(f"  error: {problem}")


def print_latency(results: Sequence[Latency], skipped: Sequence[str]) -> None:
    print("API latency (ms, through basewatch serve on loopback, httpx with keep-alive)")
    header = f"{'database':10} {'images':>7} {'endpoint':30} {'p50':>7} {'p95':>7} {'n':>5}"
    print(header)
    print("-" * len(header))
    for r in results:
        for name, values in (
            ("GET /api/v1/images?limit=100", r.list_ms),
            ("GET /api/v1/images/{digest}", r.detail_ms),
            *((f"page {page}", times) for page, times in r.pages_ms.items()),
        ):
            print(
                f"{r.database:10} {r.images:7,} {name:30} {percentile(values, 0.5):7.1f} "
                f"{percentile(values, 0.95):7.1f} {len(values):5}"
            )
    for reason in skipped:
        print(f"  skipped: {reason}")


def print_peer(peer: Peer | None, results: Sequence[Reevaluation], why: str) -> None:
    if not results:
        return
    largest = max(results, key=lambda r: (r.stored, r.database == "sqlite"))
    print(
        f"basewatch re-evaluation of {largest.stored:,} stored ({largest.database}): "
        f"{largest.seconds:.2f} s for {largest.images:,} re-matched images "
        f"({largest.per_image * 1000:.1f} ms/image)"
    )
    if peer is None:
        print(f"  Trivy: not run ({why})")
        return
    total = peer.per_image * largest.stored
    print(
        f"Trivy SBOM re-scan: {peer.per_image:.3f} s/image (mean of {peer.sboms} SBOMs) => "
        f"{total:,.0f} s for the {largest.stored:,} stored (a re-scan reads every image: it does "
        f"not know which hold a changed package), {peer.per_image * largest.images:,.0f} s even "
        f"for the {largest.images:,} affected alone"
    )
    print(
        "  Trivy ran offline with no vulnerability database (none can be downloaded here): it "
        "parsed each SBOM and matched nothing, so this is a lower bound of its cost."
    )


# --- main ---------------------------------------------------------------------------------------


class Databases:
    """Fresh service databases: SQLite files, and PostgreSQL databases in one throwaway cluster
    when one can be made here (else the reason is in `skipped`)."""

    def __init__(self, stack: contextlib.ExitStack, work: Path, kinds: Sequence[str]) -> None:
        self.kinds = [k for k in kinds if k == "sqlite"]
        self.skipped: list[str] = []
        self._cluster: postgres.PostgresCluster | None = None
        if "postgresql" in kinds:
            why = postgres.unavailable()
            if why:
                self.skipped.append(f"PostgreSQL: {why}")
            else:
                self._cluster = stack.enter_context(postgres.throwaway_cluster(work / "postgres"))
                self.kinds.append("postgresql")

    def fresh(self, kind: str, directory: Path, name: str) -> str:
        if kind == "sqlite" or self._cluster is None:
            directory.mkdir(parents=True, exist_ok=True)
            return f"sqlite+pysqlite:///{directory}/{name}.db"
        self._cluster.create_database(name)
        return self._cluster.url(name)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--sizes", default="1000,10000", help="stored inventories per run")
    parser.add_argument("--affected", type=int, default=500, help="images the update touches")
    parser.add_argument("--changed", type=int, default=1000, help="advisory records updated")
    parser.add_argument(
        "--touching", type=int, default=200, help="of those, records aimed at the fleet"
    )
    parser.add_argument("--background", type=int, default=40, help="records for the others")
    parser.add_argument("--tags", type=int, default=1000, help="watched tags (0: no polling)")
    parser.add_argument("--databases", default="sqlite,postgresql")
    parser.add_argument("--requests", type=int, default=200, help="API requests per endpoint")
    parser.add_argument("--trivy-sboms", type=int, default=20, help="0: no Trivy run")
    parser.add_argument("--no-debian", action="store_true", help="Alpine templates only")
    parser.add_argument("--no-dumps", action="store_true", help="skip the real PyPI/Go dumps")
    args = parser.parse_args(argv)
    sizes = sorted(int(s) for s in args.sizes.split(",") if s)
    kinds = [k for k in args.databases.split(",") if k]
    unknown = set(kinds) - {"sqlite", "postgresql"}
    if unknown:
        parser.error(f"unknown database(s) {sorted(unknown)}: use sqlite, postgresql")

    skipped: list[str] = []
    with tempfile.TemporaryDirectory(prefix="bench-service-") as tmp:
        work = Path(tmp)
        core = Settings.load(environ={}, cache_dir=work / "templates-cache", read_config=False)
        started = time.monotonic()
        templates, missing = read_templates(core, debian=not args.no_debian)
        for problem in missing:
            print(f"  template skipped: {problem}", file=sys.stderr)
        print(
            f"templates ({time.monotonic() - started:.0f} s): "
            + ", ".join(
                f"{t.name} ({len(t.inventory.packages)}{', affected' if t.affected else ''})"
                for t in templates
            ),
            file=sys.stderr,
        )
        dumps = [] if args.no_dumps else [shared_fixture(d) for d in REAL_DUMPS]
        vulns = prepare_vulndb(
            work / "vulndb", templates, args.changed, args.touching, args.background, dumps
        )
        print(f"baseline database imported in {vulns.import_seconds:.0f} s", file=sys.stderr)

        results: list[Reevaluation] = []
        latencies: list[Latency] = []
        with contextlib.ExitStack() as stack:
            databases = Databases(stack, work, kinds)
            skipped += databases.skipped
            for kind in databases.kinds:
                for size in sizes:
                    run = work / f"{kind}-{size}"
                    url = databases.fresh(kind, run, f"fleet_{size}")
                    result = bench_reevaluation(
                        run, templates, vulns, url, kind, size, args.affected
                    )
                    print(
                        f"  {kind} {size:,}: stored in {result.fleet_seconds:.0f} s, check "
                        f"{result.seconds:.2f} s ({result.images} images, {result.events} events)",
                        file=sys.stderr,
                    )
                    results.append(result)
                    if size == sizes[-1] and args.requests:
                        try:
                            api = bench_api(
                                run / "api",
                                url,
                                kind,
                                result.digests,
                                args.requests,
                                run / "vuln.db",
                            )
                            latencies.append(api)
                        except (httpx.HTTPError, RuntimeError) as exc:  # report the rest anyway
                            log = (run / "api" / "serve.log").read_text(errors="replace")
                            skipped.append(f"API on {kind}: {exc}; the server said:\n{log[-1500:]}")
                    if kind == "sqlite" and size != sizes[-1]:
                        shutil.rmtree(run)  # keep the disk modest: only the largest is reused
        polling = None
        if args.tags:
            missing_tools = rs.missing_tools()
            if missing_tools:
                skipped.append(f"polling: needs {', '.join(missing_tools)}")
            else:
                polling = bench_polling(work / "polling", args.tags, vulns.baseline)
        peer, why = None, "--trivy-sboms 0"
        if args.trivy_sboms:
            trivy = ensure_peers()[1]
            peer = bench_trivy(work / "trivy", trivy, templates, args.trivy_sboms)

    print()
    print_reevaluations(results, vulns)
    print()
    if polling is not None:
        print_polling(polling)
        print()
    print_latency(latencies, skipped)
    print()
    print_peer(peer, results, why)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
