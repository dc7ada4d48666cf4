"""Benchmark pulling and inventorying an image from a registry: basewatch, Syft and Trivy.

Starts Debian's `docker-registry` on loopback (tests/integration/registry_server.py), pushes
real Debian images built by tests/integration/images.py with skopeo, then times, on the same
registry in one run: `basewatch sbom registry:...` cold (empty cache) and warm (cache filled by
one untimed run), `syft registry:...` and `trivy image` (remote image source, cold and warm).
Prints median times, ratios to basewatch's cold pull, and the bytes a warm rescan transfers,
measured through a counting proxy (for basewatch: the manifest HEAD only, since manifests and
configs by digest come from the blob cache and layers whose analysis is cached are skipped).

    python benchmarks/bench_registry.py [--runs 3] [--images bookworm-minbase,bookworm-large]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
for extra in (ROOT, ROOT / "benchmarks"):
    if str(extra) not in sys.path:
        sys.path.insert(0, str(extra))

from bench_sbom import count_components, ensure_peers, measure, tool_env  # noqa: E402
from tests.integration import images  # noqa: E402
from tests.integration import registry_server as rs  # noqa: E402

DEFAULT_IMAGES = ("bookworm-minbase", "bookworm-large")
# (reference for the tool, output, scratch dir) -> command
Command = Callable[[str, Path, Path], list[str]]


@dataclass(frozen=True, slots=True)
class Tool:
    name: str
    command: Command
    warm: bool = False  # one untimed run first, then every run shares its scratch directory
    prefix: str = ""  # how the tool spells a registry reference


@dataclass(slots=True)
class Result:
    image: str
    tool: str
    seconds: list[float] = field(default_factory=list)
    packages: int = 0
    warm_bytes: int | None = None
    warm_requests: list[str] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)


def tools(syft: Path, trivy: Path) -> list[Tool]:
    def basewatch(ref: str, out: Path, scratch: Path) -> list[str]:
        return [
            *(sys.executable, "-m", "basewatch", "sbom", ref, "--format", "cyclonedx-json"),
            *("-o", str(out), "--quiet", "--cache-dir", str(scratch / "cache")),
        ]

    def syft_cmd(ref: str, out: Path, scratch: Path) -> list[str]:
        return [str(syft), ref, "-o", f"cyclonedx-json={out}", "-q"]

    def trivy_cmd(ref: str, out: Path, scratch: Path) -> list[str]:
        return [
            *(str(trivy), "image", "--image-src", "remote", "--insecure"),
            *("--format", "cyclonedx", "--output", str(out), "--cache-dir", str(scratch / "c")),
            *("--offline-scan", "--skip-db-update", "--skip-java-db-update", "--quiet", ref),
        ]

    return [
        Tool("basewatch (cold)", basewatch, prefix="registry:"),
        Tool("basewatch (warm)", basewatch, warm=True, prefix="registry:"),
        Tool("syft", syft_cmd, prefix="registry:"),
        Tool("trivy (cold)", trivy_cmd),
        Tool("trivy (warm)", trivy_cmd, warm=True),
    ]


def env(scratch: Path) -> dict[str, str]:
    return {**tool_env(scratch), "SYFT_REGISTRY_INSECURE_USE_HTTP": "true"}


def bench(
    image: images.BuiltImage,
    registry: rs.RunningRegistry,
    proxy: rs.FaultProxy,
    tool_list: Sequence[Tool],
    runs: int,
) -> list[Result]:
    repo_tag = f"bench/{image.recipe.name}:latest"
    registry.push(f"oci:{image.oci_dir}:{image.recipe.tag}", repo_tag)
    results = []
    with tempfile.TemporaryDirectory(prefix="bench-registry-") as tmp:
        for tool in tool_list:
            result = Result(image.recipe.name, tool.name)
            ref = f"{tool.prefix}{registry.host}/{repo_tag}"
            shared = Path(tmp) / tool.name.replace(" ", "_").replace("(", "").replace(")", "")
            shared.mkdir()
            if tool.warm:
                measure(
                    tool.command(ref, shared / "warmup.json", shared), env(shared), shared / "w.log"
                )
            for run in range(runs):
                scratch = shared if tool.warm else shared / f"run{run}"
                scratch.mkdir(exist_ok=True)
                out = scratch / f"sbom{run}.json"
                taken = measure(tool.command(ref, out, scratch), env(scratch), scratch / "r.log")
                result.seconds.append(taken.seconds)
                if run == 0:
                    result.packages = count_components(out)[1]
            if tool.warm:  # once more through the counting proxy
                proxy.reset()
                proxied = f"{tool.prefix}{proxy.host}/{repo_tag}"
                measure(
                    tool.command(proxied, shared / "p.json", shared), env(shared), shared / "p.log"
                )
                result.warm_bytes = proxy.bytes_sent
                result.warm_requests = [f"{m} {p.split('/')[-2]}" for m, p, _ in proxy.requests]
            print(
                f"  {image.recipe.name:16} {tool.name:17} median {result.median:6.2f} s",
                file=sys.stderr,
            )
            results.append(result)
    return results


def print_table(results: Sequence[Result], sizes: dict[str, float]) -> None:
    header = (
        f"{'image':16} {'MiB':>5} {'tool':17} {'median s':>9} {'purls':>6} {'time/bw':>8} "
        f"{'warm rescan bytes':>18}"
    )
    print(header)
    print("-" * len(header))
    for name in dict.fromkeys(r.image for r in results):
        rows = [r for r in results if r.image == name]
        base = next(r for r in rows if r.tool == "basewatch (cold)")
        for r in rows:
            warm = "" if r.warm_bytes is None else f"{r.warm_bytes:,}"
            print(
                f"{r.image:16} {sizes[name]:5.0f} {r.tool:17} {r.median:9.3f} {r.packages:6d} "
                f"{r.median / base.median:7.2f}x {warm:>18}"
            )
    print()
    print("time/bw: the tool's median wall time over basewatch's cold pull and inventory.")
    print("warm rescan bytes: response bodies the registry sent for a rescan with a filled cache:")
    for r in results:
        if r.warm_bytes is not None:
            print(f"  {r.image} {r.tool}: {', '.join(r.warm_requests) or 'no requests'}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=3, help="timed runs per tool (median)")
    parser.add_argument("--images", default=",".join(DEFAULT_IMAGES), help="recipes to push")
    parser.add_argument("--no-peers", action="store_true", help="time basewatch only")
    args = parser.parse_args(argv)
    missing = rs.missing_tools()
    if missing:
        raise SystemExit(f"needs {', '.join(missing)}")
    built = [images.build(images.RECIPES[name]) for name in args.images.split(",") if name]
    tool_list = tools(*ensure_peers()) if not args.no_peers else tools(Path(), Path())[:2]
    results: list[Result] = []
    with (
        tempfile.TemporaryDirectory(prefix="bench-registry-server-") as tmp,
        rs.run_registry(Path(tmp), "none") as registry,
    ):
        proxy = rs.FaultProxy(registry.host)
        try:
            for image in built:
                started = time.monotonic()
                results += bench(image, registry, proxy, tool_list, args.runs)
                took = time.monotonic() - started
                print(f"  {image.recipe.name}: {took:.0f} s", file=sys.stderr)
        finally:
            proxy.close()
    print()
    sizes = {i.recipe.name: i.oci_tar.stat().st_size / 2**20 for i in built}
    print_table(results, sizes)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
