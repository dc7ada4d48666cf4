"""Benchmark `basewatch policy` against `basewatch scan` on the same warm image.

Every policy needs the scan's inventory and findings, then adds its own work (licenses, the
end-of-life table, the config's user, exceptions): the target is under 10% over the scan.
Both run in this process through the same seams, offline (no registry lookups: the policies
that need one are "not evaluated" and cost nothing), with the layer-analysis cache warm, on:

- the Alpine 3.20 minirootfs fixture, matched against the real Alpine secdb and the real KEV
  catalog (../shared/fixtures);
- bookworm-pip (mmdebstrap, Debian and pip packages) matched against the real PyPI OSV dump.

The end-to-end commands (`basewatch scan --offline`, `basewatch policy --offline`, a new
process each) are timed too. Trivy has no policy mode of its own offline (its policies are
Rego over a scan, and it cannot scan without its DB here), so the peer is basewatch's scan.

    python benchmarks/bench_policy.py [--runs 15]
"""

from __future__ import annotations

import argparse
import compileall
import functools
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.fixtures import shared_fixture  # noqa: E402
from tests.integration import images  # noqa: E402

from basewatch.jobs.db import import_files  # noqa: E402
from basewatch.jobs.policy import PolicyRequest, evaluate_policies  # noqa: E402
from basewatch.jobs.scan import ScanRequest, scan  # noqa: E402
from basewatch.jobs.seams import Seams  # noqa: E402
from basewatch.settings import Settings  # noqa: E402

ALPINE = "images/alpine-minirootfs-3.20.3-x86_64.tar.gz"
DATA = ("alpine-secdb-2020/main.json", "alpine-secdb-2020/community.json", "osv/PyPI.zip")
KEV = "kev/known_exploited_vulnerabilities.json"


def alternated(
    first: Callable[[], object], second: Callable[[], object], runs: int
) -> tuple[list[float], list[float]]:
    """Times of `first` and `second`, run in turn (so the machine's drift hits both alike),
    `runs` times each, or for about a second each when that is more (a few-millisecond scan's
    median needs hundreds of runs to be steady)."""
    first()  # warms the caches
    second()
    started = time.perf_counter()
    first()
    once = time.perf_counter() - started
    runs = max(runs, min(500, int(1.0 / max(once, 1e-6))))
    times: tuple[list[float], list[float]] = ([], [])
    for _ in range(runs):
        for action, into in ((first, times[0]), (second, times[1])):
            started = time.perf_counter()
            action()
            into.append(time.perf_counter() - started)
    return times


def quietly(words: list[str]) -> None:
    subprocess.run(words, check=False, capture_output=True)


def command(settings: Settings, *words: str) -> list[str]:
    return [
        sys.executable,
        *("-m", "basewatch", "-q", *words, "--offline"),
        *("--cache-dir", str(settings.cache_dir), "--db", str(settings.db_path)),
        *("-f", "json", "-o", "/dev/null"),
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    options = parser.parse_args()
    refs = [
        ("alpine-3.20", f"rootfs:{shared_fixture(ALPINE)}"),
        ("bookworm-pip", images.build(images.BOOKWORM_PIP).ref("docker-archive")),
    ]
    with tempfile.TemporaryDirectory(prefix="bench-policy-") as scratch:
        settings = Settings.load(environ={}, cache_dir=Path(scratch) / "cache", read_config=False)
        started = time.perf_counter()
        import_files([*(shared_fixture(d) for d in DATA), shared_fixture(KEV)], settings)
        print(f"database: {', '.join(DATA)}, KEV ({time.perf_counter() - started:.1f} s)")
        header = f"{'image':16} {'what':30} {'scan ms':>9} {'policy ms':>9} {'ratio':>7}"
        print(header)
        print("-" * len(header))
        worst = worst_command = 0.0
        with Seams.default(settings, offline=True) as seams:
            for name, ref in refs:
                scans, policies = alternated(
                    functools.partial(scan, ScanRequest(image=ref, fetch=False), seams),
                    functools.partial(
                        evaluate_policies, PolicyRequest(image=ref, fetch=False), seams
                    ),
                    options.runs,
                )
                outcome = evaluate_policies(PolicyRequest(image=ref, fetch=False), seams)
                s, p = statistics.median(scans), statistics.median(policies)
                worst = max(worst, p / s)
                print(
                    f"{name:16} {'in process, median':30} {s * 1000:9.1f} {p * 1000:9.1f} "
                    f"{p / s:7.3f}"
                )
                statuses = ", ".join(
                    f"{v.id}={v.status.value}" for v in outcome.run.report.verdicts
                )
                print(f"{'':16} verdicts: {statuses}")
        # An installed basewatch has its bytecode compiled; a checkout run with
        # PYTHONDONTWRITEBYTECODE would compile every module each time and time that instead.
        compileall.compile_dir(ROOT / "src", quiet=1)
        for name, ref in refs:
            runs = max(3, options.runs // 3)
            scan_cmd = command(settings, "scan", ref)
            policy_cmd = command(settings, "policy", ref)
            quietly(policy_cmd)  # warm: the layer cache, the SPDX table kept in the cache dir
            scans, policies = alternated(
                functools.partial(quietly, scan_cmd), functools.partial(quietly, policy_cmd), runs
            )
            s, p = statistics.median(scans), statistics.median(policies)
            worst_command = max(worst_command, p / s)
            print(f"{name:16} {'command, median':30} {s * 1000:9.1f} {p * 1000:9.1f} {p / s:7.3f}")
        print(f"in-process overhead of every policy over the scan: at most {worst - 1:+.1%}")
        print(f"as commands (a new process each): at most {worst_command - 1:+.1%}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
