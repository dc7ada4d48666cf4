"""A fleet on one machine, as if on several: `basewatch worker` processes each in a network
namespace of its own (a veth pair to this one, a default route through it), sharing no files
with the service, and reaching PostgreSQL and the registry only over the network, at an address
of this namespace (`FleetNetwork.address`, a second address of its loopback interface: the
kernel answers for its own addresses whichever link a packet came in on) that the service uses
too, so an image reference means the same registry to every process.

`fleet_images` writes one OCI layout holding many small images on a few real bases (the Alpine
minirootfs fixtures), pushed to the registry with skopeo, several at a time.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.fixtures import SHARED_FIXTURES as FIXTURES
from tests.imagebuild import Member, layer_tar
from tests.integration.registry_server import Namespace, RunningRegistry
from tests.service_support.images import gzip_layer, write_image, write_index
from tests.service_support.process import ChildProcess

BASES = (
    "images/alpine-minirootfs-3.18.9-x86_64.tar.gz",
    "images/alpine-minirootfs-3.20.3-x86_64.tar.gz",
)
NAMESPACE_NETWORKS = "10.213.0.0/16"
_BLOB_GET = re.compile(r'"GET /v2/[^ ]+/blobs/(sha256:[0-9a-f]{64}) HTTP/[0-9.]+" (\d+)')


@dataclass(frozen=True)
class FleetNetwork:
    address: str  # this namespace's address every process reaches PostgreSQL and the registry at
    namespaces: tuple[Namespace, ...]


def _run(argv: list[str]) -> None:
    subprocess.run(argv, capture_output=True, text=True, check=True, timeout=30)


@contextlib.contextmanager
def fleet_network(count: int) -> Iterator[FleetNetwork]:
    """`count` namespaces, each with a veth link here and a default route through it, and an
    address here (on the loopback interface) that they all reach."""
    tag = uuid.uuid4().hex[:6]
    subnet = int(tag, 16) % 250 + 1
    address = f"10.214.{subnet}.1"
    made: list[tuple[str, str]] = []  # (namespace, its veth's outer end)
    added = False
    try:
        _run(["ip", "addr", "add", f"{address}/32", "dev", "lo"])
        added = True
        spaces: list[Namespace] = []
        for n in range(count):
            name, outside, inside = f"bw{tag}{n}", f"bwh{tag}{n}", f"bwn{tag}{n}"
            third = (subnet * 7 + n * 13) % 250 + 1
            host_address, inner = f"10.213.{third}.{4 * n + 1}", f"10.213.{third}.{4 * n + 2}"
            _run(["ip", "netns", "add", name])
            made.append((name, outside))
            for step in (
                ["ip", "link", "add", outside, "type", "veth", "peer", "name", inside],
                ["ip", "link", "set", inside, "netns", name],
                ["ip", "addr", "add", f"{host_address}/30", "dev", outside],
                ["ip", "link", "set", outside, "up"],
                ["ip", "netns", "exec", name, "ip", "addr", "add", f"{inner}/30", "dev", inside],
                ["ip", "netns", "exec", name, "ip", "link", "set", inside, "up"],
                ["ip", "netns", "exec", name, "ip", "link", "set", "lo", "up"],
                ["ip", "netns", "exec", name, "ip", "route", "add", "default", "via", host_address],
            ):
                _run(step)
            spaces.append(Namespace(name, inner, host_address))
        yield FleetNetwork(address, tuple(spaces))
    finally:
        for name, outside in made:
            subprocess.run(["ip", "link", "delete", outside], capture_output=True, check=False)
            subprocess.run(["ip", "netns", "delete", name], capture_output=True, check=False)
        if added:
            subprocess.run(
                ["ip", "addr", "delete", f"{address}/32", "dev", "lo"],
                capture_output=True,
                check=False,
            )


def toml(tables: dict[str, dict[str, Any]]) -> str:
    """A TOML file of flat tables (JSON strings, numbers and arrays of them are TOML too)."""
    lines: list[str] = []
    for table, values in tables.items():
        lines.append(f"[{table}]")
        lines.extend(f"{key} = {json.dumps(value)}" for key, value in values.items())
    return "\n".join(lines) + "\n"


@dataclass
class WorkerProcess(ChildProcess):
    """`basewatch worker` in `namespace`, with a home, caches and vulnerability database of its
    own (a copy of the one given, as `db update` would have made it there)."""

    workdir: Path
    namespace: Namespace
    database: str
    vulndb: Path
    tables: dict[str, dict[str, Any]]
    concurrency: int = 2
    metrics_port: int = 9464
    process: subprocess.Popen[bytes] | None = None
    starts: int = 0
    env: dict[str, str] = field(default_factory=dict)

    @property
    def metrics_url(self) -> str:
        return f"http://{self.namespace.address}:{self.metrics_port}/metrics"

    def start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        own = self.workdir / "vulndb.sqlite"
        if not own.exists():
            own.write_bytes(self.vulndb.read_bytes())
        config = self.workdir / "worker.toml"
        config.write_text(toml(self.tables))
        command = [sys.executable, "-m", "basewatch", "worker", "--config", str(config)]
        command += ["--database", self.database, "--vulndb", str(own)]
        command += ["--concurrency", str(self.concurrency)]
        command += ["--metrics", f"{self.namespace.address}:{self.metrics_port}"]
        command += ["--name", self.namespace.name]
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(self.workdir),
            "BASEWATCH_CACHE_DIR": str(self.workdir / "cache"),
            "PYTHONPATH": os.environ.get("PYTHONPATH", ""),
            **self.env,
        }
        self.starts += 1
        log = (self.workdir / f"worker-{self.starts}.log").open("wb")
        self.process = subprocess.Popen(
            self.namespace.command(command), stdout=log, stderr=subprocess.STDOUT, env=env
        )
        log.close()

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise AssertionError(f"basewatch worker exited: {self.log()[-3000:]}")
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(self.metrics_url, timeout=1).status_code == 200:
                    return
            time.sleep(0.1)
        raise AssertionError(f"basewatch worker did not start: {self.log()[-3000:]}")

    def metric(self, name: str, **labels: str) -> float:
        """The value of one sample of this worker's /metrics (0 when absent)."""
        text = httpx.get(self.metrics_url, timeout=5).text
        wanted = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
        pattern = re.escape(name) + (r"\{" + re.escape(wanted) + r"\}" if labels else "")
        for line in text.splitlines():
            match = re.fullmatch(pattern + r" (\S+)", line)
            if match:
                return float(match.group(1))
        return 0.0

    def log(self) -> str:
        return "".join(
            p.read_text(errors="replace") for p in sorted(self.workdir.glob("worker-*.log"))
        )

    def kill(self) -> None:
        """SIGKILL, with no chance to say goodbye (`ip netns exec` execs the command: the
        child is basewatch itself)."""
        self.stop(signal.SIGKILL, timeout=10)


# --- many images on a few bases ------------------------------------------------------------------


@dataclass(frozen=True)
class FleetImage:
    ref_name: str  # its name in the layout
    repository: str  # where it is pushed: app-N
    base: int  # index into BASES
    base_layer: str  # the blob digest of its base's layer
    app_layer: str  # the blob digest of its own layer


def fleet_layout(layout: Path, count: int, repositories: int) -> list[FleetImage]:
    """One OCI layout of `count` linux/amd64 images, spread over `repositories` repositories
    (tag `v1`, `v2`... in each), each a real Alpine root filesystem (alternating between the
    bases) plus one small layer of its own."""
    layout.mkdir(parents=True, exist_ok=True)
    bases = [gzip_layer((FIXTURES / name).read_bytes()) for name in BASES]
    base_digests = ["sha256:" + hashlib.sha256(data).hexdigest() for data, _ in bases]
    manifests: list[tuple[str, int, str]] = []
    images: list[FleetImage] = []
    for n in range(count):
        base = n % len(bases)
        members = [Member(f"srv/app{n}/main.sh", f"#!/bin/sh\necho {n}\n".encode(), mode=0o755)]
        own = gzip_layer(gzip.compress(layer_tar(members), mtime=0))
        digest, size = write_image(layout, [bases[base], own], [f"COPY app{n} /srv"])
        manifests.append((digest, size, f"app{n}"))
        app_layer = "sha256:" + hashlib.sha256(own[0]).hexdigest()
        repository = f"fleet/app-{n % repositories}"
        images.append(FleetImage(f"app{n}", repository, base, base_digests[base], app_layer))
    write_index(layout, manifests)
    return images


def push_all(
    registry: RunningRegistry, layout: Path, images: Sequence[FleetImage], parallel: int = 4
) -> dict[str, list[str]]:
    """Push every image (skopeo, `parallel` at once); repository -> its tags (v1, v2...)."""
    tags: dict[str, list[str]] = {}
    jobs: list[tuple[str, str]] = []
    for image in images:
        tag = f"v{len(tags.setdefault(image.repository, [])) + 1}"
        tags[image.repository].append(tag)
        jobs.append((f"oci:{layout}:{image.ref_name}", f"{image.repository}:{tag}"))
    # the bases first, one image each, so the parallel pushes find their blobs there
    first = {image.base: n for n, image in reversed(list(enumerate(images)))}
    for n in sorted(first.values()):
        registry.push(*jobs[n])
    rest = [job for n, job in enumerate(jobs) if n not in first.values()]
    with ThreadPoolExecutor(parallel) as pool:
        list(pool.map(lambda job: registry.push(*job), rest))
    return tags


def blob_requests(registry: RunningRegistry) -> dict[str, int]:
    """Blob digest -> how many times the registry served it (GET, status 200, by its access
    log: `"GET /v2/NAME/blobs/DIGEST HTTP/1.1" 200`)."""
    counts: dict[str, int] = {}
    text = (registry.root / "registry.log").read_text(errors="replace")
    for match in re.finditer(
        r'"GET /v2/[^ ]+/blobs/(sha256:[0-9a-f]{64}) HTTP/[0-9.]+" (\d+)', text
    ):
        if match.group(2) in ("200", "307"):
            counts[match.group(1)] = counts.get(match.group(1), 0) + 1
    return counts
