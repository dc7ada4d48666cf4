"""Benchmark the fleet: `basewatch serve --no-local-workers` and 1, 2 and 4 `basewatch worker`
processes on a throwaway PostgreSQL, against the embedded single process (`basewatch serve` on
SQLite, its in-process watcher) on the same simulated fleet in the same run.

The fleet: N images (2,000 by default) in R repositories of Debian's docker-registry, each a
real Alpine minirootfs base (3.18 or 3.20, alternating) plus one small layer of its own, built
by tests/service_support/fleet.py and pushed with the registry's own HTTP API (blob uploads,
cross-repository mounts of the bases, manifest PUTs). As in the fleet tests, each worker runs
in a network namespace of its own and reaches PostgreSQL and the registry over a veth link.

For each mode it measures:
1. Indexing: every repository watched at once; time until all N images are stored (images a
   minute), the registry's blob downloads (its access log: the bases' layers, and the other
   blobs, each image's config and own layer), and the CPU seconds of the workers
   (or the embedded service), PostgreSQL and the registry in that time: on 2 cores, that says
   which of them is the limit. Fleet modes run cold (an empty database and caches) and, for the
   largest worker count, warm: a new database holding only the cold run's shared layer
   analyses, and workers with empty disk caches.
2. Re-evaluation: an advisory that affects every image (busybox, both Alpine releases) imported
   into each process's vulnerability database; time until each image has its `findings.new`
   event (rows touched: events, findings).
3. One poll cycle of every tag, nothing changed: requests and response bytes the registry
   served (its access log), and the time until every tag was checked.

    python benchmarks/bench_fleet.py [--images 2000] [--repositories 100] [--workers 1,2,4]
        [--concurrency 2] [--no-embedded]

Needs root (network namespaces), PostgreSQL's server binaries, docker-registry and skopeo
(`./dev test` installs them).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
from sqlalchemy import Engine, create_engine, func, insert, select, text  # noqa: E402
from tests.integration import registry_server as rs  # noqa: E402
from tests.service_support.fleet import (  # noqa: E402
    FleetImage,
    FleetNetwork,
    WorkerProcess,
    fleet_layout,
    fleet_network,
)
from tests.service_support.postgres import PostgresCluster, throwaway_cluster  # noqa: E402
from tests.service_support.process import ServeProcess  # noqa: E402
from tests.service_support.scenario import import_records  # noqa: E402
from tests.service_support.webhook import reserve_port  # noqa: E402

from basewatch.service.models import Event, Image, ImageFinding, LayerAnalysisRow, TagState  # noqa: E402

ADMIN = "bw_" + "b" * 43
MANIFEST = "application/vnd.oci.image.manifest.v1+json"
ADVISORY = "ALPINE-BENCH-0001"
_ACCESS = re.compile(r'"(GET|HEAD|PUT|POST|PATCH|DELETE) (\S+) HTTP/[0-9.]+" (\d{3}) (\d+|-)')
_BLOB = re.compile(r"/v2/.+/blobs/(sha256:[0-9a-f]{64})$")


# --- the fleet in the registry -------------------------------------------------------------


def push_fleet(host: str, layout: Path, images: Sequence[FleetImage]) -> dict[str, list[str]]:
    """Every image of `layout` pushed to the registry at `host` with its HTTP API; repository ->
    its tags (v1, v2, ...)."""
    index = json.loads((layout / "index.json").read_text())
    manifests = {
        m["annotations"]["org.opencontainers.image.ref.name"]: m["digest"]
        for m in index["manifests"]
    }

    def blob_path(digest: str) -> Path:
        return layout / "blobs" / "sha256" / digest.split(":", 1)[1]

    by_repository: dict[str, list[FleetImage]] = {}
    for image in images:
        by_repository.setdefault(image.repository, []).append(image)
    seeded: dict[str, str] = {}  # base blob -> the repository holding it already

    def upload(client: httpx.Client, repository: str, digest: str) -> None:
        if digest in seeded and seeded[digest] != repository:
            mounted = client.post(
                f"/v2/{repository}/blobs/uploads/",
                params={"mount": digest, "from": seeded[digest]},
            )
            if mounted.status_code == 201:
                return
            assert mounted.status_code == 202, mounted.text
            location = mounted.headers["Location"]
        else:
            started = client.post(f"/v2/{repository}/blobs/uploads/")
            assert started.status_code == 202, started.text
            location = started.headers["Location"]
        done = client.put(
            httpx.URL(location).copy_merge_params({"digest": digest}),
            content=blob_path(digest).read_bytes(),
            headers={"Content-Type": "application/octet-stream"},
        )
        assert done.status_code == 201, done.text

    def push_repository(repository: str) -> list[str]:
        tags: list[str] = []
        with httpx.Client(base_url=f"http://{host}", timeout=60) as client:
            for image in by_repository[repository]:
                manifest_digest = manifests[image.ref_name]
                manifest = blob_path(manifest_digest).read_bytes()
                document = json.loads(manifest)
                upload(client, repository, image.base_layer)
                upload(client, repository, image.app_layer)
                upload(client, repository, document["config"]["digest"])
                tag = f"v{len(tags) + 1}"
                put = client.put(
                    f"/v2/{repository}/manifests/{tag}",
                    content=manifest,
                    headers={"Content-Type": MANIFEST},
                )
                assert put.status_code == 201, put.text
                tags.append(tag)
        return tags

    repositories = sorted(by_repository)
    # the bases into the first repository first, so that every other mounts them from there
    first = repositories[0]
    with httpx.Client(base_url=f"http://{host}", timeout=60) as client:
        for base in sorted({image.base_layer for image in images}):
            upload(client, first, base)
            seeded[base] = first
    with ThreadPoolExecutor(8) as pool:
        return dict(zip(repositories, pool.map(push_repository, repositories), strict=True))


@dataclass(frozen=True)
class Access:
    """The registry's access log from one offset on."""

    requests: int
    blob_gets: dict[str, int]
    bytes: int
    kinds: dict[str, int]


def access_since(registry: rs.RunningRegistry, offset: int) -> Access:
    data = (registry.root / "registry.log").read_bytes()[offset:].decode(errors="replace")
    blob_gets: dict[str, int] = {}
    kinds: dict[str, int] = {}
    requests = size = 0
    for match in _ACCESS.finditer(data):
        method, path, status, length = match.groups()
        path = path.split("?", 1)[0]
        requests += 1
        size += int(length) if length != "-" else 0
        kind = f"{method} {_kind(path)}"
        kinds[kind] = kinds.get(kind, 0) + 1
        blob = _BLOB.search(path)
        if blob and method == "GET" and status in ("200", "307"):
            blob_gets[blob.group(1)] = blob_gets.get(blob.group(1), 0) + 1
    return Access(requests, blob_gets, size, kinds)


def _kind(path: str) -> str:
    if path.rstrip("/") == "/v2":
        return "/v2/"
    for part in ("manifests", "blobs", "tags"):
        if f"/{part}/" in path:
            return part
    return "other"


def log_offset(registry: rs.RunningRegistry) -> int:
    return (registry.root / "registry.log").stat().st_size


# --- CPU accounting --------------------------------------------------------------------------


_TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int, children: bool = False) -> float:
    """User and system CPU seconds of `pid` (with its waited-for children's, `children`)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    used = int(fields[11]) + int(fields[12])
    if children:
        used += int(fields[13]) + int(fields[14])
    return used / _TICK


def postgres_cpu(cluster: PostgresCluster) -> float:
    """The server's CPU seconds: the postmaster (with its exited backends) and live backends."""
    postmaster = int((cluster.data / "postmaster.pid").read_text().split()[0])
    total = cpu_seconds(postmaster, children=True)
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError):
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == postmaster:
                    total += cpu_seconds(int(entry.name))
    return total


def registry_pid(registry: rs.RunningRegistry) -> int:
    found = subprocess.run(
        ["pgrep", "-f", f"docker-registry serve {registry.root}"],
        check=False,
        capture_output=True,
        text=True,
    )
    return int(found.stdout.split()[0])


@dataclass
class Cpu:
    processes: Callable[[], float]  # basewatch's processes (workers or the embedded service)
    cluster: PostgresCluster
    registry: int
    start: tuple[float, float, float] = (0.0, 0.0, 0.0)

    def sample(self) -> tuple[float, float, float]:
        return (self.processes(), postgres_cpu(self.cluster), cpu_seconds(self.registry))

    def begin(self) -> None:
        self.start = self.sample()

    def used(self) -> tuple[float, float, float]:
        now = self.sample()
        return (now[0] - self.start[0], now[1] - self.start[1], now[2] - self.start[2])


# --- modes -----------------------------------------------------------------------------------


@dataclass
class Run:
    mode: str
    images: int
    seconds: float
    base_gets: int
    layer_gets: int
    cpu: tuple[float, float, float]  # basewatch, PostgreSQL, registry
    reeval_seconds: float | None = None
    reeval_events: int = 0
    reeval_findings: int = 0
    poll: Access | None = None
    poll_seconds: float | None = None
    poll_tags: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def per_minute(self) -> float:
        return self.images / self.seconds * 60 if self.seconds else 0.0


def count(engine: Engine, statement: Any) -> int:
    with engine.connect() as connection:
        return int(connection.execute(statement).scalar() or 0)


def wait_until(condition: Callable[[], bool], seconds: float, what: str) -> float:
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > seconds:
            raise RuntimeError(f"timed out after {seconds:.0f}s waiting for {what}")
        time.sleep(0.2)
    return time.monotonic() - started


def advisory() -> dict[str, Any]:
    return {
        "id": ADVISORY,
        "aliases": ["CVE-2099-5151"],
        "modified": "2026-12-01T00:00:00Z",
        "affected": [
            {
                "package": {"ecosystem": f"Alpine:v{release}", "name": "busybox"},
                "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}]}],
            }
            for release in ("3.18", "3.20")
        ],
        "database_specific": {"severity": "HIGH"},
    }


def import_advisory(vulndb: Path, work: Path) -> None:
    import_records(vulndb, work, advisory())


def empty_vulndb(work: Path) -> Path:
    """A vulnerability database holding one unrelated record (so that it has a data date)."""
    path = work / "vuln.db"
    seed = advisory() | {"id": "ALPINE-BENCH-0000", "aliases": [], "affected": []}
    import_records(path, work, seed)
    return path


@dataclass
class Bench:
    net: FleetNetwork
    cluster: PostgresCluster
    registry: rs.RunningRegistry
    tags: dict[str, list[str]]
    images: list[FleetImage]
    work: Path
    concurrency: int

    @property
    def total(self) -> int:
        return len(self.images)

    def serve_config(self) -> dict[str, Any]:
        return {
            "allowed_registries": [self.registry.host],
            "insecure_registries": [self.registry.host],  # plain HTTP, not on loopback
            "poll_interval": "1h",  # a cycle when told (a watch added)
            "vulndb_check_interval": "500ms",
            "vulndb_update_interval": "off",
        }

    def index_and_more(
        self, mode: str, serve: ServeProcess, engine: Engine, cpu: Cpu, vulndbs: Sequence[Path]
    ) -> Run:
        bases = {image.base_layer for image in self.images}
        offset = log_offset(self.registry)
        cpu.begin()
        started = time.monotonic()
        for repository in sorted(self.tags):
            serve.post("/api/v1/watches", {"repository": f"{self.registry.host}/{repository}"})
        total = self.total
        wait_until(
            lambda: count(engine, select(func.count()).select_from(Image)) >= total,
            3600,
            f"{total} images indexed ({mode})",
        )
        seconds = time.monotonic() - started
        used = cpu.used()
        access = access_since(self.registry, offset)
        run = Run(
            mode,
            total,
            seconds,
            sum(access.blob_gets.get(b, 0) for b in bases),
            sum(n for d, n in access.blob_gets.items() if d not in bases),
            used,
        )
        # a database update that affects every image
        events = select(func.count()).select_from(Event).where(Event.type == "findings.new")
        findings = select(func.count()).select_from(ImageFinding)
        events_before, findings_before = count(engine, events), count(engine, findings)
        time.sleep(1.0)  # the data date differs from the one the images were matched with
        started = time.monotonic()
        for vulndb in vulndbs:
            import_advisory(vulndb, self.work)
        wait_until(
            lambda: count(engine, events) - events_before >= total,
            3600,
            f"the update matched against {total} images ({mode})",
        )
        run.reeval_seconds = time.monotonic() - started
        run.reeval_events = count(engine, events) - events_before
        run.reeval_findings = count(engine, findings) - findings_before
        # one poll cycle of every tag, nothing changed: a watch added wakes the poller
        since = datetime.now(UTC)
        offset = log_offset(self.registry)
        started = time.monotonic()
        serve.post("/api/v1/watches", {"repository": f"{self.registry.host}/fleet/none"})
        checked = select(func.count()).select_from(TagState).where(TagState.checked_at >= since)
        wait_until(lambda: count(engine, checked) >= total, 3600, f"a poll cycle ({mode})")
        run.poll_seconds = time.monotonic() - started
        run.poll_tags = count(engine, checked)
        time.sleep(0.5)  # the last responses logged
        run.poll = access_since(self.registry, offset)
        return run

    def embedded(self) -> Run:
        work = self.work / "embedded"
        work.mkdir()
        vulndb = empty_vulndb(work)
        database = f"sqlite:///{work / 'service.db'}"
        serve = ServeProcess(
            work / "serve", reserve_port(), database, vulndb, self.serve_config(), ADMIN
        )
        serve.start()
        engine = create_engine(database)
        try:
            pid = serve.process.pid if serve.process else 0
            cpu = Cpu(lambda: cpu_seconds(pid), self.cluster, registry_pid(self.registry))
            return self.index_and_more("embedded (SQLite, 1 process)", serve, engine, cpu, [vulndb])
        finally:
            engine.dispose()
            serve.close()

    def fleet(self, workers: int, warm_from: str | None = None) -> tuple[Run, str]:
        name = f"bench_{uuid.uuid4().hex[:8]}"
        work = self.work / name
        work.mkdir()
        self.cluster.create_database(name)
        url = self.cluster.url(name, host=self.net.address)
        engine = create_engine(url)
        vulndb = empty_vulndb(work)
        env = {"BASEWATCH_FLEET_LEASE": "30s"}
        serve = ServeProcess(
            work / "serve",
            reserve_port(),
            url,
            vulndb,
            self.serve_config(),
            ADMIN,
            env=env,
            args=["--no-local-workers"],
        )
        serve.start()  # the schema made (migrations) before any row is copied in
        if warm_from is not None:
            copy_analyses(self.cluster.url(warm_from, host=self.net.address), engine)
        processes = [
            WorkerProcess(
                workdir=work / f"worker-{n}",
                namespace=self.net.namespaces[n],
                database=url,
                vulndb=vulndb,
                tables={"serve": self.serve_config(), "serve.fleet": {"lease": "30s"}},
                concurrency=self.concurrency,
            )
            for n in range(workers)
        ]
        try:
            for worker in processes:
                worker.start()
            for worker in processes:
                worker.wait_ready()
            pids = [w.process.pid for w in processes if w.process is not None]
            cpu = Cpu(
                lambda: sum(cpu_seconds(p) for p in pids), self.cluster, registry_pid(self.registry)
            )
            label = f"fleet, {workers} worker{'s' if workers > 1 else ''} x{self.concurrency}"
            label += ", warm analyses" if warm_from else ", cold"
            vulndbs = [w.workdir / "vulndb.sqlite" for w in processes] + [vulndb]
            run = self.index_and_more(label, serve, engine, cpu, vulndbs)
            run.notes.append(f"PostgreSQL database: {database_size(engine) / 1e6:.1f} MB")
            return run, name
        finally:
            for worker in processes:
                worker.close()
            serve.close()
            engine.dispose()


def copy_analyses(source_url: str, target: Engine) -> None:
    source = create_engine(source_url)
    try:
        with source.connect() as connection:
            rows = [
                dict(r._mapping) for r in connection.execute(select(LayerAnalysisRow.__table__))
            ]
    finally:
        source.dispose()
    with target.begin() as connection:
        connection.execute(insert(LayerAnalysisRow), rows)


def database_size(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(
            connection.execute(text("SELECT pg_database_size(current_database())")).scalar_one()
        )


def table_sizes(engine: Engine) -> dict[str, int]:
    query = text(
        "SELECT relname, pg_total_relation_size(c.oid) FROM pg_class c "
        "JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = 'public' AND c.relkind = 'r' ORDER BY 2 DESC"
    )
    with engine.connect() as connection:
        return {str(name): int(size) for name, size in connection.execute(query)}


def table_rows(engine: Engine, tables: Sequence[str]) -> dict[str, int]:
    with engine.connect() as connection:
        return {
            table: int(connection.execute(text(f'SELECT count(*) FROM "{table}"')).scalar_one())
            for table in tables
        }


# --- report ----------------------------------------------------------------------------------


def print_runs(runs: Sequence[Run], cores: int) -> None:
    baseline = next((r for r in runs if r.mode.startswith("embedded")), None)
    print("\n1. indexing every image (cold unless said)")
    header = (
        f"{'mode':<38} {'images':>6} {'s':>7} {'img/min':>8} {'vs emb':>7} "
        f"{'base GETs':>9} {'other GETs':>10}  CPU s: basewatch / PostgreSQL / registry"
        " (share of the cores)"
    )
    print(header)
    for run in runs:
        ratio = f"{run.per_minute / baseline.per_minute:.2f}x" if baseline else "-"
        shares = " / ".join(f"{c:.0f} ({c / (run.seconds * cores):.0%})" for c in run.cpu)
        print(
            f"{run.mode:<38} {run.images:>6} {run.seconds:>7.1f} {run.per_minute:>8.0f} "
            f"{ratio:>7} {run.base_gets:>9} {run.layer_gets:>10}  {shares}"
        )
    print("\n2. an advisory affecting every image, imported into each process's database")
    for run in runs:
        if run.reeval_seconds is not None:
            print(
                f"{run.mode:<38} {run.reeval_seconds:>7.1f}s  events {run.reeval_events}  "
                f"findings rows {run.reeval_findings}  "
                f"({run.reeval_events / run.reeval_seconds:.0f} images/s)"
            )
    print("\n3. one poll cycle of every tag, nothing changed")
    for run in runs:
        if run.poll is not None and run.poll_seconds is not None:
            kinds = ", ".join(f"{k} {n}" for k, n in sorted(run.poll.kinds.items()))
            print(
                f"{run.mode:<38} {run.poll_seconds:>7.1f}s  tags {run.poll_tags}  requests "
                f"{run.poll.requests} ({kinds})  body bytes {run.poll.bytes}"
            )
    for run in runs:
        for note in run.notes:
            print(f"   {run.mode}: {note}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--images", type=int, default=2000)
    parser.add_argument("--repositories", type=int, default=100)
    parser.add_argument("--workers", default="1,2,4")
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument("--no-embedded", action="store_true")
    args = parser.parse_args(argv)
    counts = sorted({int(n) for n in args.workers.split(",") if n.strip()})
    why = rs.namespace_unavailable() or ", ".join(rs.missing_tools())
    if why:
        print(f"bench_fleet: cannot run: {why}", file=sys.stderr)
        return 2
    with contextlib.ExitStack() as stack:
        work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-fleet-")))
        os.chmod(work, 0o755)
        net = stack.enter_context(fleet_network(max(counts)))
        cluster = stack.enter_context(
            throwaway_cluster(
                work / "postgres",
                listen=("127.0.0.1", net.address),
                clients=("127.0.0.1/32", f"{net.address}/32", "10.213.0.0/16"),
            )
        )
        registry = stack.enter_context(
            rs.run_registry(work / "registry", "none", address=net.address, access_log=True)
        )
        started = time.monotonic()
        images = fleet_layout(work / "layout", args.images, args.repositories)
        tags = push_fleet(registry.host, work / "layout", images)
        print(
            f"{len(images)} images in {len(tags)} repositories on 2 Alpine bases, built and "
            f"pushed in {time.monotonic() - started:.0f}s; {os.cpu_count()} cores"
        )
        bench = Bench(net, cluster, registry, tags, images, work, args.concurrency)
        runs: list[Run] = []
        if not args.no_embedded:
            runs.append(bench.embedded())
            print(f"  done: {runs[-1].mode}", file=sys.stderr)
        cold_name = ""
        for workers in counts:
            run, cold_name = bench.fleet(workers)
            runs.append(run)
            print(f"  done: {run.mode}", file=sys.stderr)
        run, warm_name = bench.fleet(max(counts), warm_from=cold_name)
        runs.append(run)
        print_runs(runs, os.cpu_count() or 1)
        engine = create_engine(cluster.url(warm_name))
        try:
            sizes = table_sizes(engine)
            rows = table_rows(engine, list(sizes))
            total_size = database_size(engine)
        finally:
            engine.dispose()
        print(
            f"\nPostgreSQL after {len(images)} images (the warm run's database, "
            f"{total_size / 1e6:.1f} MB in all):"
        )
        print(f"  {'table':<28} {'MB':>8} {'rows':>8} {'B/row':>7} {'B/image':>8}")
        for table, size in sizes.items():
            if size >= 64 << 10:
                print(
                    f"  {table:<28} {size / 1e6:>8.2f} {rows[table]:>8} "
                    f"{size / max(rows[table], 1):>7.0f} {size / len(images):>8.0f}"
                )
    return 0


if __name__ == "__main__":
    sys.exit(main())
