"""Run `basewatch` in a child process with a wall-clock and an address-space bound.

Hostile-input tests use it: a hang becomes a failed test after `timeout` seconds instead of a
stuck suite, and runaway memory hits `memory_mb` (RLIMIT_AS) instead of the machine. The result
says whether a bound was hit, so a test can assert that the input was *refused* (a clear error,
an exit code), not merely survived.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"


@dataclass(frozen=True, slots=True)
class Bounded:
    returncode: int
    stdout: str
    stderr: str
    timed_out: bool

    @property
    def traceback(self) -> bool:
        return "Traceback (most recent call last)" in self.stderr

    def check_refused(self, *codes: int) -> None:
        """Assert a clean refusal: no hang, no traceback, no 'internal error', one of `codes`."""
        assert not self.timed_out, f"basewatch hung: {self.stderr[-2000:]}"
        assert not self.traceback, self.stderr[-4000:]
        assert "internal error" not in self.stderr, self.stderr[-2000:]
        assert self.returncode in codes, (self.returncode, self.stderr[-2000:])


def run_bounded(
    args: Sequence[str],
    *,
    timeout: float = 30.0,
    memory_mb: int = 1024,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    stdin: bytes | None = None,
) -> Bounded:
    """Run `python -m basewatch ARGS` under `timeout` seconds and `memory_mb` of address space."""
    limit = memory_mb * 1024 * 1024

    def bound() -> None:  # runs in the child, before exec
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    child_env = dict(os.environ if env is None else env)
    child_env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(SRC), child_env.get("PYTHONPATH", "")) if p
    )
    child_env.setdefault("NO_COLOR", "1")
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "basewatch", *args],
            input=stdin if stdin is not None else b"",
            capture_output=True,
            timeout=timeout,
            cwd=cwd,
            env=child_env,
            preexec_fn=bound,  # setrlimit only: safe before exec
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        return Bounded(
            returncode=-1,
            stdout=_text(exc.stdout),
            stderr=_text(exc.stderr),
            timed_out=True,
        )
    return Bounded(
        returncode=proc.returncode,
        stdout=_text(proc.stdout),
        stderr=_text(proc.stderr),
        timed_out=False,
    )


def _text(data: bytes | str | None) -> str:
    if data is None:
        return ""
    if isinstance(data, str):
        return data
    return data.decode("utf-8", "replace")
