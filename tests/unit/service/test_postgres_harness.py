"""The throwaway PostgreSQL cluster the service tests run on (tests/service_support/postgres.py):
a real server, isolated databases, a restart that keeps the data, loopback only, and nothing
left behind when it is done."""

from __future__ import annotations

import contextlib
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from tests.service_support.postgres import PostgresCluster, alive, throwaway_cluster

pytestmark = pytest.mark.postgres


@pytest.fixture
def database(postgres_cluster: PostgresCluster) -> Iterator[str]:
    name = f"t_{uuid.uuid4().hex}"
    postgres_cluster.create_database(name)
    try:
        yield name
    finally:
        postgres_cluster.drop_database(name)


def test_a_row_round_trips(postgres_cluster: PostgresCluster, database: str) -> None:
    with psycopg.connect(postgres_cluster.dsn(database)) as connection:
        connection.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT NOT NULL)")
        connection.execute("INSERT INTO t VALUES (%s, %s)", (1, "bookworm \N{SNOWMAN}"))
        connection.commit()
    with psycopg.connect(postgres_cluster.dsn(database)) as connection:
        assert connection.execute("SELECT id, name FROM t").fetchall() == [
            (1, "bookworm \N{SNOWMAN}")
        ]
        row = connection.execute("SELECT current_setting('server_encoding'), current_user")
        assert row.fetchone() == ("UTF8", "postgres")
    url = postgres_cluster.url(database)
    assert url == f"postgresql+psycopg://postgres@127.0.0.1:{postgres_cluster.port}/{database}"


def test_databases_are_isolated(postgres_cluster: PostgresCluster, database: str) -> None:
    other = f"t_{uuid.uuid4().hex}"
    postgres_cluster.create_database(other)
    try:
        with psycopg.connect(postgres_cluster.dsn(database), autocommit=True) as connection:
            connection.execute("CREATE TABLE mine (v TEXT)")
            connection.execute("INSERT INTO mine VALUES ('one')")
        with psycopg.connect(postgres_cluster.dsn(other), autocommit=True) as connection:
            with pytest.raises(psycopg.errors.UndefinedTable):
                connection.execute("SELECT v FROM mine")
            connection.execute("CREATE TABLE mine (v TEXT)")  # the same name, another table
            assert connection.execute("SELECT count(*) FROM mine").fetchone() == (0,)
    finally:
        postgres_cluster.drop_database(other)


def test_drop_terminates_the_connections_left_open(postgres_cluster: PostgresCluster) -> None:
    name = f"t_{uuid.uuid4().hex}"
    postgres_cluster.create_database(name)
    leftover = psycopg.connect(postgres_cluster.dsn(name))
    try:
        leftover.execute("SELECT 1")
        postgres_cluster.drop_database(name)
        with pytest.raises(psycopg.OperationalError):
            leftover.execute("SELECT 1")
    finally:
        leftover.close()
    with pytest.raises(psycopg.OperationalError, match="does not exist"):
        psycopg.connect(postgres_cluster.dsn(name))
    postgres_cluster.drop_database(name)  # dropping what is gone is not an error


def test_database_names_must_be_plain(postgres_cluster: PostgresCluster) -> None:
    with pytest.raises(ValueError, match="not a plain database name"):
        postgres_cluster.create_database('x"; DROP DATABASE postgres; --')


def test_restart_keeps_the_data_and_cuts_the_connections(
    postgres_cluster: PostgresCluster, database: str
) -> None:
    with psycopg.connect(postgres_cluster.dsn(database), autocommit=True) as connection:
        connection.execute("CREATE TABLE kept AS SELECT 'before' AS v")
    old = psycopg.connect(postgres_cluster.dsn(database), autocommit=True)
    try:
        postmaster = postgres_cluster.processes()[0]
        port = postgres_cluster.port
        postgres_cluster.restart()
        assert postgres_cluster.port == port
        assert postgres_cluster.processes()[0] != postmaster
        assert not alive(postmaster)
        with pytest.raises(psycopg.OperationalError):
            old.execute("SELECT 1")  # the old server's connection is gone
    finally:
        old.close()
    with psycopg.connect(postgres_cluster.dsn(database)) as connection:
        assert connection.execute("SELECT v FROM kept").fetchall() == [("before",)]


def test_a_stopped_cluster_refuses_and_starts_again(
    postgres_cluster: PostgresCluster, database: str
) -> None:
    postgres_cluster.stop()
    try:
        assert not postgres_cluster.running()
        assert postgres_cluster.processes() == ()
        with pytest.raises(psycopg.OperationalError):
            psycopg.connect(postgres_cluster.dsn(database, connect_timeout=2))
        postgres_cluster.stop()  # stopping a stopped server does nothing
    finally:
        postgres_cluster.start()
    assert postgres_cluster.running()
    with psycopg.connect(postgres_cluster.dsn(database)) as connection:
        assert connection.execute("SELECT 1").fetchone() == (1,)


def _listening(port: int) -> list[str]:
    """The local addresses (hex, as /proc/net/tcp* spells them) listening on TCP `port`."""
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as rows:
            next(rows)  # the header
            for row in rows:
                local, state = row.split()[1], row.split()[3]
                address, hex_port = local.rsplit(":", 1)
                if state == "0A" and int(hex_port, 16) == port:  # 0A: LISTEN
                    found.append(address)
    return found


def test_it_listens_on_127_0_0_1_only(postgres_cluster: PostgresCluster, database: str) -> None:
    assert _listening(postgres_cluster.port) == ["0100007F"]  # 127.0.0.1, and no IPv6 socket
    with psycopg.connect(postgres_cluster.dsn(database)) as connection:
        assert connection.execute("SHOW listen_addresses").fetchone() == ("127.0.0.1",)
    # The unix socket is in the cluster's own directory, and trust stops at 127.0.0.1: a login
    # through the socket has no pg_hba.conf entry.
    assert (postgres_cluster.sockets / f".s.PGSQL.{postgres_cluster.port}").is_socket()
    assert postgres_cluster.sockets.parent == postgres_cluster.directory
    with pytest.raises(psycopg.OperationalError, match=r"no pg_hba\.conf entry"):
        psycopg.connect(
            host=str(postgres_cluster.sockets),
            port=postgres_cluster.port,
            user="postgres",
            dbname=database,
        )


def _postmasters_of(data: Path) -> list[int]:
    """Live processes whose command line names the data directory `data`."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                command = (entry / "cmdline").read_bytes().split(b"\0")
            except (FileNotFoundError, ProcessLookupError):
                continue
            if str(data).encode() in command and alive(int(entry.name)):
                found.append(int(entry.name))
    return found


@pytest.mark.parametrize("ending", ["clean", "exception"])
@pytest.mark.parametrize("workdir_kind", ["reachable", "private"])
def test_nothing_is_left_after_the_cluster(
    postgres_available: None, ending: str, workdir_kind: str
) -> None:
    """Reachable: a work dir the server's user may enter holds the cluster. Private: one it may
    not (like pytest's tmp_path as root), so the cluster goes to the system temporary directory."""
    with tempfile.TemporaryDirectory(prefix="bw-harness-") as work:
        workdir = Path(work)
        workdir.chmod(0o711 if workdir_kind == "reachable" else 0o700)
        failing = ending == "exception"
        expected = pytest.raises(RuntimeError, match="the test failed")
        with (
            expected if failing else contextlib.nullcontext(),
            throwaway_cluster(workdir) as cluster,
        ):
            connection = psycopg.connect(cluster.dsn("postgres"))  # a backend, left open
            processes = cluster.processes()
            assert len(processes) >= 3  # postmaster, checkpointer, our backend...
            assert _postmasters_of(cluster.data) == [processes[0]]
            if workdir_kind == "reachable":
                assert cluster.directory.parent == workdir
            else:
                assert cluster.directory.parent == Path(tempfile.gettempdir())
            if failing:
                raise RuntimeError("the test failed")
        connection.close()
        assert [pid for pid in processes if alive(pid)] == []
        assert _postmasters_of(cluster.data) == []
        assert not cluster.directory.exists()
        assert "database system is shut down" in cluster.log.read_text()  # kept, in workdir
        assert cluster.log.parent == workdir
