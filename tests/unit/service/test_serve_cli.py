"""`basewatch serve` as a process: the first admin token printed once, the API on --listen,
SIGTERM ends it cleanly, a restart keeps its tokens; `serve token create` adds one."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from basewatch.cli.exit_codes import ExitCode

SERVE = [sys.executable, "-m", "basewatch", "serve"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def environment(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BASEWATCH_")}
    return {**env, "HOME": str(tmp_path / "home"), "XDG_CACHE_HOME": str(tmp_path / "c"), **extra}


@contextmanager
def serving(
    tmp_path: Path, database_url: str, **extra: str
) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    port = free_port()
    process = subprocess.Popen(
        [*SERVE, "--listen", f"127.0.0.1:{port}", "--database", database_url],
        env=environment(tmp_path, **extra),
        stderr=subprocess.PIPE,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise AssertionError(f"serve exited {process.returncode}: {process.stderr}")
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        else:
            raise AssertionError("serve did not answer within 30 s")
        yield base, process
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def stop(process: subprocess.Popen[str]) -> tuple[int, str]:
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=30)
    return process.returncode, err


def test_first_start_prints_an_admin_token_once(tmp_path: Path, database_url: str) -> None:
    with serving(tmp_path, database_url) as (base, process):
        assert httpx.get(f"{base}/api/v1/watches").status_code == 401
        code, err = stop(process)
    assert code == ExitCode.OK, err
    (line,) = [line for line in err.splitlines() if "first admin token" in line]
    token = line.rsplit(" ", 1)[1]
    assert token.startswith("bw_")
    assert "Traceback" not in err
    with serving(tmp_path, database_url) as (base, process):
        headers = {"Authorization": f"Bearer {token}"}
        made = httpx.post(
            f"{base}/api/v1/watches",
            json={"repository": "docker.io/library/debian"},
            headers=headers,
        )
        assert made.status_code == 422  # docker.io is not in allowed_registries
        assert httpx.get(f"{base}/readyz", headers=headers).json()["status"] == "ready"
        code, err = stop(process)
    assert code == ExitCode.OK
    assert "first admin token" not in err  # shown once only


def test_the_admin_token_from_the_environment_and_token_create(
    tmp_path: Path, database_url: str
) -> None:
    given = "bw_" + "g" * 40
    created = subprocess.run(
        [*SERVE, "--database", database_url, "token", "create", "--role", "viewer"],
        env=environment(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert created.returncode == ExitCode.OK, created.stderr
    viewer = created.stdout.strip()
    assert viewer.startswith("bw_")
    with serving(tmp_path, database_url, BASEWATCH_ADMIN_TOKEN=given) as (base, process):
        # a token existed, so no admin was made from the environment on this start
        assert (
            httpx.get(f"{base}/readyz", headers={"Authorization": f"Bearer {given}"}).status_code
            == 401
        )
        reader = {"Authorization": f"Bearer {viewer}"}
        assert httpx.get(f"{base}/api/v1/watches", headers=reader).status_code == 200
        refused = httpx.post(f"{base}/api/v1/watches", json={"repository": "x/y"}, headers=reader)
        assert refused.status_code == 403
        stop(process)


def test_the_environment_s_admin_token_on_an_empty_database(
    tmp_path: Path, database_url: str
) -> None:
    given = "bw_" + "e" * 40
    with serving(tmp_path, database_url, BASEWATCH_ADMIN_TOKEN=given) as (base, process):
        headers = {"Authorization": f"Bearer {given}"}
        assert httpx.get(f"{base}/readyz", headers=headers).status_code == 200
        code, err = stop(process)
    assert code == ExitCode.OK
    assert given not in err and "first admin token" not in err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--listen", "nowhere"], "--listen: 'nowhere' is not HOST:PORT"),
        (["--database", "mysql://a/b"], "--database: the database must be sqlite"),
        (["--poll-interval", "often"], "--poll-interval: 'often' is not a duration"),
    ],
)
def test_bad_settings_are_usage_errors(tmp_path: Path, argv: list[str], message: str) -> None:
    proc = subprocess.run(
        [*SERVE, *argv],
        env=environment(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == ExitCode.USAGE
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr


def test_a_bad_policy_file_stops_the_start_saying_where(tmp_path: Path) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text("policies:\n  - id: no-fixable-severe\n    severty: high\n")
    proc = subprocess.run(
        [*SERVE, "--database", f"sqlite:///{tmp_path}/service.db"],
        env=environment(tmp_path, BASEWATCH_POLICY=str(policy)),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == ExitCode.USAGE
    assert f"BASEWATCH_POLICY: {policy}:3: no-fixable-severe: unknown parameter" in proc.stderr
    assert "Traceback" not in proc.stderr and "serving on" not in proc.stderr
