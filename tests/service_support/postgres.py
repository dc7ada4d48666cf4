"""A throwaway PostgreSQL cluster for the service tests: Debian's `postgresql` binaries, run as
the `postgres` user, in a fresh directory, on 127.0.0.1 and a free port; stopped and removed on
exit."""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg

POSTGRES_ROOT = Path("/usr/lib/postgresql")


def _bin_dir() -> Path | None:
    versions = sorted(
        (p for p in POSTGRES_ROOT.glob("*/bin") if (p / "initdb").exists()),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
    )
    return versions[-1] if versions else None


def unavailable() -> str:
    """Why a cluster cannot be made here ("" when it can)."""
    if _bin_dir() is None:
        return "Debian's postgresql package is not installed (no initdb under /usr/lib/postgresql)"
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        return "there is no postgres user"
    if os.geteuid() != 0:
        return "starting a cluster as the postgres user needs root"
    return ""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class PostgresCluster:
    bin_dir: Path
    data: Path
    sockets: Path
    port: int

    def _as_postgres(self, *argv: str, timeout: float = 60) -> None:
        result = subprocess.run(
            ["runuser", "-u", "postgres", "--", *argv],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if result.returncode != 0:
            raise RuntimeError(f"{argv[0]} failed: {result.stderr.strip() or result.stdout}")

    def start(self) -> None:
        options = (
            f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.sockets} "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        )
        self._as_postgres(
            str(self.bin_dir / "pg_ctl"), "-D", str(self.data), "-o", options, "-w", "-t", "60",
            "-l", str(self.data / "server.log"), "start",
        )  # fmt: skip
        deadline = time.monotonic() + 30
        while True:
            try:
                with psycopg.connect(self.dsn("postgres"), connect_timeout=2):
                    return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def stop(self, mode: str = "fast") -> None:
        self._as_postgres(
            str(self.bin_dir / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop"
        )

    def restart(self) -> None:
        """Stop and start again on the same port (clients must reconnect)."""
        self.stop()
        self.start()

    def running(self) -> bool:
        return (self.data / "postmaster.pid").exists()

    def dsn(self, database: str) -> str:
        return f"host=127.0.0.1 port={self.port} user=postgres dbname={database}"

    def url(self, database: str) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> None:
        with psycopg.connect(self.dsn("postgres"), autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')

    def drop_database(self, name: str) -> None:
        with psycopg.connect(self.dsn("postgres"), autocommit=True) as connection:
            connection.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = %s AND pid <> pg_backend_pid()",
                (name,),
            )
            connection.execute(f'DROP DATABASE IF EXISTS "{name}"')


@contextlib.contextmanager
def throwaway_cluster(workdir: Path) -> Iterator[PostgresCluster]:
    """initdb, start, yield, stop (fast, then immediate) and remove."""
    bin_dir = _bin_dir()
    if bin_dir is None:
        raise RuntimeError(unavailable())
    root = workdir / f"pg-{uuid.uuid4().hex[:8]}"
    data, sockets = root / "data", root / "sockets"
    for directory in (root, data, sockets):
        directory.mkdir(parents=True)
        shutil.chown(directory, "postgres", "postgres")
    # the parents must be passable for the postgres user
    for parent in root.parents:
        if parent == Path("/"):
            break
        mode = parent.stat().st_mode
        if not mode & 0o001:
            os.chmod(parent, mode | 0o001)
    cluster = PostgresCluster(bin_dir, data, sockets, _free_port())
    cluster._as_postgres(
        str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust",
        "--no-locale", "--encoding=UTF8", "--no-sync",
    )  # fmt: skip
    try:
        cluster.start()
        yield cluster
    finally:
        if cluster.running():
            try:
                cluster.stop("fast")
            except (RuntimeError, subprocess.TimeoutExpired):
                with contextlib.suppress(RuntimeError, subprocess.TimeoutExpired):
                    cluster.stop("immediate")
        shutil.rmtree(root, ignore_errors=True)
