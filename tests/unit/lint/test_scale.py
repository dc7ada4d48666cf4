"""Lint time is linear in the Dockerfile's size: a 100,000-line file with a finding and an
ignore comment on every instruction lints in seconds (the ignore lookup used to walk every
instruction for every finding)."""

from __future__ import annotations

from pathlib import Path

from basewatch.cli.exit_codes import ExitCode
from tests.bounded import run_bounded
from tests.unit.lint.helpers import LINT_MEMORY_MB


def test_a_hundred_thousand_lines_with_ignores_lint_quickly(tmp_path: Path) -> None:
    dockerfile = tmp_path / "Dockerfile"
    adds = 50_000  # two lines each, each ADD a BW110 finding that its comment ignores
    lines = ["FROM alpine:3.22", "USER 1000"]
    for i in range(adds):
        lines += ["# basewatch-ignore: BW110", f"ADD https://example.com/f{i} /f{i}"]
    lines.append("ADD https://example.com/last /last")
    dockerfile.write_text("\n".join(lines) + "\n")
    # ~4 s here; the quadratic lookup took ~40 s
    result = run_bounded(["lint", str(dockerfile)], timeout=20, memory_mb=LINT_MEMORY_MB)
    result.check_refused(ExitCode.OK, ExitCode.FINDINGS)
    bw110 = [line for line in result.stdout.splitlines() if "BW110" in line]
    assert len(bw110) == 1 and bw110[0].startswith(f"{dockerfile}:{len(lines)}:")
