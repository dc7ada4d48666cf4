"""`basewatch serve` as a real process: started, stopped with SIGTERM, killed with SIGKILL, and
started again on the same database and port."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx


class ChildProcess:
    """A basewatch process the tests started (`process`), stopped with a signal or killed."""

    process: subprocess.Popen[bytes] | None

    def stop(self, sig: signal.Signals = signal.SIGTERM, timeout: float = 60.0) -> int:
        assert self.process is not None
        self.process.send_signal(sig)
        code = self.process.wait(timeout)
        self.process = None
        return code

    def close(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
        self.process = None


@dataclass
class ServeProcess(ChildProcess):
    workdir: Path
    port: int
    database: str
    vulndb: Path
    config: dict[str, Any]  # the [serve] section
    admin_token: str
    process: subprocess.Popen[bytes] | None = None
    starts: int = 0
    env: dict[str, str] = field(default_factory=dict)
    args: list[str] = field(default_factory=list)  # more flags (--no-local-workers)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.admin_token}"}

    def _config_file(self) -> Path:
        # JSON strings and arrays of them are TOML too
        lines = ["[serve]", *(f"{key} = {json.dumps(value)}" for key, value in self.config.items())]
        path = self.workdir / "serve.toml"
        path.write_text("\n".join(lines) + "\n")
        return path

    def start(self, timeout: float = 60.0) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        command = [sys.executable, "-m", "basewatch", "serve", "--config", str(self._config_file())]
        command += ["--listen", f"127.0.0.1:{self.port}", "--database", self.database]
        command += ["--vulndb", str(self.vulndb), *self.args]
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(self.workdir),
            "BASEWATCH_CACHE_DIR": str(self.workdir / "cache"),
            "BASEWATCH_ADMIN_TOKEN": self.admin_token,
            **self.env,
        }
        self.starts += 1
        log = (self.workdir / f"serve-{self.starts}.log").open("wb")
        self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
        log.close()
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise AssertionError(f"basewatch serve exited: {self.log()[-3000:]}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"basewatch serve did not answer: {self.log()[-3000:]}")
            time.sleep(0.1)

    def log(self) -> str:
        return "".join(
            p.read_text(errors="replace") for p in sorted(self.workdir.glob("serve-*.log"))
        )

    def get(self, path: str, **params: Any) -> Any:
        response = httpx.get(f"{self.url}{path}", params=params, headers=self.headers, timeout=30)
        assert response.status_code == 200, response.text
        return response.json()

    def post(self, path: str, body: dict[str, Any]) -> Any:
        response = httpx.post(f"{self.url}{path}", json=body, headers=self.headers, timeout=30)
        assert response.status_code in (200, 201, 202), response.text
        return response.json()


def wait_for(condition: Any, seconds: float = 60.0, what: str = "the condition") -> Any:
    """Poll `condition()` until it returns something true; that value."""
    deadline = time.monotonic() + seconds
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.2)
