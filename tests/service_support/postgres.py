"""A throwaway PostgreSQL cluster for the service tests.

`throwaway_cluster(workdir)` runs Debian's `postgresql` binaries (the newest major version under
/usr/lib/postgresql): `initdb` into a fresh directory, a server on 127.0.0.1 and a free port with
trust authentication for 127.0.0.1 only, its unix socket inside that directory, durability off
(fsync, synchronous_commit, full_page_writes) because nothing in it outlives the tests. On exit,
failures included, the server is stopped (`pg_ctl stop -m fast`, then immediate, then SIGKILL)
and the directory removed; the server's log stays in `workdir`.

PostgreSQL refuses to run as root, so as root every server command runs as the `postgres` OS
user the package creates (dropped to in the child, as `runuser -u postgres` would); as any other
user it runs as that user. The postmaster is our own child, not a daemon that `pg_ctl start`
leaves behind, so it is reaped when it stops: an init that reaps no orphans (as in this
project's VMs) would keep a zombie of every daemonised postmaster.
`unavailable()` says why no cluster can be made here, for a skip with the reason.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import re
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
from psycopg import sql

POSTGRES_ROOT = Path("/usr/lib/postgresql")
SERVER_USER = "postgres"  # the OS user (when we are root) and the database superuser alike
MINIMUM_VERSION = 13  # DROP DATABASE ... WITH (FORCE)
START_TIMEOUT = 60.0
STOP_TIMEOUT = 30.0
_TOOLS = ("initdb", "pg_ctl", "postgres")
_DATABASE_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")
# A unix socket path is at most 107 bytes (sun_path); "/.s.PGSQL.65535" takes 15 of them.
_MAX_SOCKET_DIR = 107 - len("/.s.PGSQL.65535")
# Nothing of the caller's environment (PGDATA, PGPORT, LC_*...) reaches the server.
_SERVER_ENV = {"PATH": "/usr/bin:/bin", "TZ": "UTC", "LC_ALL": "C.UTF-8"}


class ClusterError(RuntimeError):
    """The throwaway cluster could not be set up, started or stopped (the log tail says why)."""


def _version(bin_dir: Path) -> int:
    # Debian's layout: /usr/lib/postgresql/<major>/bin; "9.6" counts as 9.
    major = bin_dir.parent.name.split(".")[0]
    return int(major) if major.isdigit() else 0


def find_bin_dir() -> Path | None:
    """The bin directory of the newest PostgreSQL installed the Debian way, or None."""
    candidates = [
        bin_dir
        for bin_dir in POSTGRES_ROOT.glob("*/bin")
        if all((bin_dir / tool).is_file() for tool in _TOOLS)
    ]
    return max(candidates, key=_version, default=None)


def unavailable() -> str:
    """Why a cluster cannot be made here ("" when it can)."""
    bin_dir = find_bin_dir()
    if bin_dir is None:
        return (
            f"Debian's postgresql package is not installed (no {POSTGRES_ROOT}/<version>/bin "
            "with initdb, pg_ctl and postgres; ./dev test installs it)"
        )
    if _version(bin_dir) < MINIMUM_VERSION:
        return f"PostgreSQL {bin_dir.parent.name} is too old: the harness needs {MINIMUM_VERSION}+"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam(SERVER_USER)
        except KeyError:
            return (
                f"no {SERVER_USER} OS user to run the server as (the postgresql package makes it)"
            )
    return ""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _stat_fields(pid: int) -> list[str] | None:
    """/proc/PID/stat after the command name (state, ppid, ...), None when there is no PID."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return None


def alive(pid: int) -> bool:
    """Whether process `pid` exists and has not exited (a zombie has)."""
    fields = _stat_fields(pid)
    return fields is not None and fields[0] not in {"Z", "X"}


def _children(pid: int) -> list[int]:
    children = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            fields = _stat_fields(int(entry.name))
            if fields is not None and int(fields[1]) == pid:
                children.append(int(entry.name))
    return children


def _reachable(path: Path, uid: int, gid: int) -> bool:
    """Whether user `uid` (group `gid`) may pass through `path` and every directory above it."""
    for directory in (path, *path.parents):
        info = directory.stat()
        if info.st_uid == uid:
            bit = stat.S_IXUSR
        elif info.st_gid == gid:
            bit = stat.S_IXGRP
        else:
            bit = stat.S_IXOTH
        if not info.st_mode & bit:
            return False
    return True


class PostgresCluster:
    """A throwaway server, running or stopped; made by `throwaway_cluster`."""

    __slots__ = (
        "_bin_dir",
        "_extra_groups",
        "_gid",
        "_server",
        "_uid",
        "clients",
        "data",
        "directory",
        "listen",
        "log",
        "port",
        "sockets",
    )

    def __init__(
        self,
        bin_dir: Path,
        directory: Path,
        log: Path,
        uid: int | None,
        gid: int | None,
        listen: tuple[str, ...] = ("127.0.0.1",),
        clients: tuple[str, ...] = ("127.0.0.1/32",),
    ) -> None:
        self._bin_dir = bin_dir
        self.listen, self.clients = listen, clients
        self._uid, self._gid = uid, gid  # the server's user and group; None: ours
        self._extra_groups: list[int] | None = None if uid is None else []  # drop root's
        self._server: subprocess.Popen[bytes] | None = None
        self.directory = directory
        self.data = directory / "data"
        self.sockets = directory / "socket"
        self.log = log
        self.port = 0

    # --- addresses ---------------------------------------------------------------------------

    def url(self, database: str, host: str = "127.0.0.1") -> str:
        """The SQLAlchemy URL of `database` on this server (at `host`, one it listens on)."""
        return f"postgresql+psycopg://{SERVER_USER}@{host}:{self.port}/{database}"

    def dsn(self, database: str, connect_timeout: int = 10) -> str:
        """The libpq connection string of `database`, for psycopg.connect."""
        return (
            f"host=127.0.0.1 port={self.port} user={SERVER_USER} dbname={database} "
            f"sslmode=disable connect_timeout={connect_timeout}"
        )

    # --- databases ---------------------------------------------------------------------------

    def create_database(self, name: str) -> None:
        """CREATE DATABASE `name` (a plain lower-case identifier)."""
        with self._admin() as connection:
            connection.execute(sql.SQL("CREATE DATABASE {}").format(_identifier(name)))

    def drop_database(self, name: str) -> None:
        """Drop `name` if it exists, terminating the connections still open to it."""
        with self._admin() as connection:
            connection.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(_identifier(name))
            )

    def _admin(self) -> psycopg.Connection[tuple[object, ...]]:
        # CREATE/DROP DATABASE refuse to run inside a transaction block.
        return psycopg.connect(self.dsn("postgres"), autocommit=True)

    # --- the server --------------------------------------------------------------------------

    def start(self, timeout: float = START_TIMEOUT) -> None:
        """Start the server on `port`; return once it accepts a connection on 127.0.0.1."""
        if self.running():
            raise ClusterError(f"the server on port {self.port} is already running")
        with self.log.open("ab") as log:  # the child keeps its own descriptor
            self._server = subprocess.Popen(
                [str(self._bin_dir / "postgres"), "-D", str(self.data), "-p", str(self.port)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=_SERVER_ENV,
                cwd=self.directory,  # the server's user may not be able to enter ours
                user=self._uid,
                group=self._gid,
                extra_groups=self._extra_groups,
            )
        deadline = time.monotonic() + timeout
        while True:
            code = self._server.poll()
            if code is not None:
                self._server = None
                raise ClusterError(f"the server exited ({code}):\n{self.log_tail()}")
            try:
                with psycopg.connect(self.dsn("postgres", connect_timeout=2)):
                    return
            except psycopg.OperationalError as exc:  # refused, or "starting up"
                if time.monotonic() > deadline:
                    raise ClusterError(
                        f"the server did not accept connections in {timeout:.0f}s ({exc}):\n"
                        f"{self.log_tail()}"
                    ) from exc
            time.sleep(0.05)

    def stop(self, mode: str = "fast") -> None:
        """`pg_ctl stop -m MODE` (smart, fast or immediate) and wait for the server to exit;
        nothing to do when it is not running."""
        server = self._server
        if server is None or server.poll() is not None:
            self._server = None
            return
        self._run("pg_ctl", "-D", str(self.data), "stop", "-m", mode, "-w",
                  "-t", str(int(STOP_TIMEOUT)), timeout=STOP_TIMEOUT + 10)  # fmt: skip
        try:
            server.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired as exc:
            raise ClusterError(f"the server outlived pg_ctl stop -m {mode}") from exc
        self._server = None

    def restart(self) -> None:
        """Stop (fast) and start again on the same port: every client connection is cut."""
        self.stop()
        self.start()

    def running(self) -> bool:
        """Whether the postmaster is alive."""
        return self._server is not None and self._server.poll() is None

    def processes(self) -> tuple[int, ...]:
        """The process ids of the postmaster and its children (backends, checkpointer...)."""
        if self._server is None or self._server.poll() is not None:
            return ()
        postmaster = self._server.pid
        return (postmaster, *(child for child in _children(postmaster) if alive(child)))

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return "(no server log)"

    def _run(self, tool: str, *argv: str, timeout: float) -> None:
        try:
            done = subprocess.run(
                [str(self._bin_dir / tool), *argv],
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
                env=_SERVER_ENV,
                cwd=self.directory,
                user=self._uid,
                group=self._gid,
                extra_groups=self._extra_groups,
            )
        except subprocess.TimeoutExpired as exc:
            raise ClusterError(
                f"{tool} did not finish in {timeout:.0f}s; server log:\n{self.log_tail()}"
            ) from exc
        if done.returncode != 0:
            raise ClusterError(
                f"{tool} failed (exit {done.returncode}): {(done.stderr or done.stdout).strip()}"
                f"\nserver log:\n{self.log_tail()}"
            )

    # --- set-up and tear-down, for throwaway_cluster -----------------------------------------

    def _initdb(self) -> None:
        self._run("initdb", "-D", str(self.data), "-U", SERVER_USER, "--encoding=UTF8",
                  "--locale=C.UTF-8", "--auth=trust", "--no-sync", "--no-instructions",
                  timeout=120)  # fmt: skip
        settings = {
            "listen_addresses": "'" + ",".join(self.listen) + "'",
            "unix_socket_directories": f"'{self.sockets}'",
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
            "timezone": "'UTC'",
        }
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.write("\n# a throwaway test cluster: tests/service_support/postgres.py\n")
            conf.writelines(f"{key} = {value}\n" for key, value in settings.items())
        # Trust over TCP from 127.0.0.1 only (and the test's own network namespaces, when it
        # made some): no socket logins, no other address, no IPv6.
        (self.data / "pg_hba.conf").write_text(
            "".join(f"host all all {network} trust\n" for network in self.clients)
        )

    def _first_start(self, attempts: int = 3) -> None:
        # Another process may take the free port between our probe and the server's bind.
        for attempt in range(attempts):
            self.port = free_port()
            try:
                self.start()
                return
            except ClusterError:
                if attempt == attempts - 1 or "could not bind" not in self.log_tail():
                    raise

    def _shut_down(self) -> None:
        """Stop by every means there is: fast, immediate, then SIGKILL to all its processes."""
        for mode in ("fast", "immediate"):
            with contextlib.suppress(ClusterError):
                self.stop(mode)
                return
        server, leftovers = self._server, self.processes()
        for pid in reversed(leftovers):  # the children first, the postmaster last
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        if server is not None:
            server.wait(timeout=STOP_TIMEOUT)
        self._server = None


def _identifier(name: str) -> sql.Identifier:
    if not _DATABASE_NAME.fullmatch(name):
        raise ValueError(f"not a plain database name: {name!r} (want [a-z_][a-z0-9_]*)")
    return sql.Identifier(name)


@contextlib.contextmanager
def throwaway_cluster(
    workdir: Path,
    listen: tuple[str, ...] = ("127.0.0.1",),
    clients: tuple[str, ...] = ("127.0.0.1/32",),
) -> Iterator[PostgresCluster]:
    """A fresh cluster, started on 127.0.0.1 (and the other `listen` addresses, taking
    connections from the `clients` networks) and a free port; stopped and removed on exit.

    The cluster lives in a new directory under `workdir` when the server's user can reach it,
    else under the system temporary directory (pytest's tmp_path is private to root).
    """
    why = unavailable()
    if why:
        raise ClusterError(why)
    bin_dir = find_bin_dir()
    assert bin_dir is not None  # unavailable() said so
    workdir.mkdir(parents=True, exist_ok=True)
    uid: int | None = None
    gid: int | None = None
    if os.geteuid() == 0:
        user = pwd.getpwnam(SERVER_USER)
        uid, gid = user.pw_uid, user.pw_gid
    name = f"basewatch-pg-{uuid.uuid4().hex[:12]}"
    reachable = uid is None or gid is None or _reachable(workdir, uid, gid)
    directory = (workdir if reachable else Path(tempfile.gettempdir())) / name
    if len(str(directory / "socket")) > _MAX_SOCKET_DIR:
        directory = Path(tempfile.gettempdir()) / name
    directory.mkdir(mode=0o700)
    cluster = PostgresCluster(
        bin_dir, directory, workdir / f"{name}.log", uid, gid, listen, clients
    )
    try:
        cluster.sockets.mkdir(mode=0o700)
        if uid is not None and gid is not None:
            for path in (directory, cluster.sockets):
                os.chown(path, uid, gid)
        cluster._initdb()
        cluster._first_start()
        yield cluster
    finally:
        try:
            cluster._shut_down()
        finally:
            shutil.rmtree(directory, ignore_errors=True)
