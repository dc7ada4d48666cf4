"""`basewatch watch` and `basewatch events` against the real service: the app on a SQLite
database under a real uvicorn server on loopback, the CLI run in-process (and once as a process);
misbehaving servers from tests/unit/oci/registry/hostile.py for what a real service never does."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from basewatch.cli.exit_codes import ExitCode
from basewatch.cli.main import main
from basewatch.cli.remote import MAX_ANSWER_BYTES, PAGE_SIZE, after_cursor
from basewatch.service.app import create_app
from basewatch.service.auth import bootstrap, create_token
from basewatch.service.config import ServeSettings
from basewatch.service.db import open_engine, sessions, upgrade
from basewatch.service.http import ServiceState, encode_cursor
from basewatch.service.models import Event, EventType, Role, Watch
from tests.service_support.server import serving
from tests.unit.oci.registry.hostile import HostileServer, Request, answer, endless, head

REGISTRY = "127.0.0.1:5000"
WHEN = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
DIGEST = "sha256:" + "ab" * 32


@dataclass
class Service:
    url: str
    admin: str
    viewer: str
    sessions: sessionmaker[Session]

    def add_event(self, kind: EventType, payload: dict[str, Any], repository: str = "") -> int:
        with self.sessions() as session:
            event = Event(
                type=kind.value,
                digest=DIGEST,
                repository=repository or f"{REGISTRY}/app",
                payload=payload,
                created_at=WHEN,
            )
            session.add(event)
            session.commit()
            return event.id


@pytest.fixture
def service(tmp_path: Path) -> Iterator[Service]:
    settings = ServeSettings.load(
        environ={"HOME": "/nonexistent"},
        default_vulndb=Path("/nonexistent/vuln.db"),
        flags={
            "database": f"sqlite+pysqlite:///{tmp_path}/service.db",
            "allowed_registries": REGISTRY,
        },
    )
    engine = open_engine(settings.database)
    upgrade(engine)
    make = sessions(engine)
    with make() as session:
        admin = bootstrap(session, "")
        viewer = create_token(session, Role.VIEWER, "dashboard")
        session.commit()
    assert admin is not None
    try:
        with serving(create_app(ServiceState(settings, engine, make))) as url:
            yield Service(url, admin, viewer, make)
    finally:
        engine.dispose()


@pytest.fixture
def admin(service: Service, monkeypatch: pytest.MonkeyPatch) -> Service:
    """The service, with BASEWATCH_SERVER naming it and BASEWATCH_TOKEN the admin token."""
    monkeypatch.setenv("BASEWATCH_SERVER", service.url)
    monkeypatch.setenv("BASEWATCH_TOKEN", service.admin)
    return service


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(args)
    out, err = capsys.readouterr()
    return code, out, err


def failed(code: int, err: str, expected: ExitCode) -> str:
    """The one error line, checked: the exit code, one line, no traceback."""
    assert code == expected, err
    assert "Traceback" not in err
    (line,) = err.splitlines()
    assert line.startswith("basewatch: error: ")
    return line


def test_watches_are_added_listed_and_removed_by_id_and_by_repository(
    admin: Service, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(
        ["watch", "add", f"{REGISTRY}/app", "--tag", "1.*", "--tag", "latest"], capsys
    )
    assert code == ExitCode.OK, err
    assert out.startswith("added watch ") and f"{REGISTRY}/app  1.* latest" in out
    code, out, err = run(["watch", "add", f"registry:{REGISTRY}/base", "-f", "json"], capsys)
    assert code == ExitCode.OK, err
    base = json.loads(out)
    assert base["repository"] == f"{REGISTRY}/base" and base["tags"] == ["*"]

    code, out, _ = run(["watch", "list"], capsys)
    assert code == ExitCode.OK
    lines = out.splitlines()
    assert len(lines) == 2
    assert lines[0].endswith(f"{REGISTRY}/app  1.* latest")
    assert lines[1] == f"{base['id']}  {REGISTRY}/base  *"
    app_id = int(lines[0].split()[0])

    code, out, err = run(["watch", "rm", str(app_id)], capsys)
    assert (code, out) == (ExitCode.OK, f"removed watch {app_id}  {REGISTRY}/app  1.* latest\n")
    code, out, err = run(["watch", "rm", f"{REGISTRY}/base", "--format", "json"], capsys)
    assert code == ExitCode.OK, err
    assert json.loads(out) == base
    code, out, _ = run(["watch", "list", "--format", "json"], capsys)
    assert (code, json.loads(out)) == (ExitCode.OK, [])
    with admin.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Watch)) == 0


def test_rm_of_what_is_not_watched_says_so(
    admin: Service, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(["watch", "rm", "999"], capsys)
    assert "not found (404): no watch 999" in failed(code, err, ExitCode.USAGE)
    code, _, err = run(["watch", "rm", f"{REGISTRY}/nothing"], capsys)
    line = failed(code, err, ExitCode.USAGE)
    assert f"no watch of {REGISTRY}/nothing" in line and "basewatch watch list" in line


def test_the_list_follows_every_page(admin: Service, capsys: pytest.CaptureFixture[str]) -> None:
    count = PAGE_SIZE * 2 + 3
    with admin.sessions() as session:
        session.add_all(
            Watch(repository=f"{REGISTRY}/app{i:03d}", tags=["*"], created_at=WHEN)
            for i in range(count)
        )
        session.commit()
    code, out, err = run(["watch", "list", "-f", "json"], capsys)
    assert code == ExitCode.OK, err
    assert [w["repository"] for w in json.loads(out)] == [
        f"{REGISTRY}/app{i:03d}" for i in range(count)
    ]
    # rm by name finds a repository on the last page
    code, out, err = run(["watch", "rm", f"{REGISTRY}/app{count - 1:03d}"], capsys)
    assert code == ExitCode.OK, err


def test_a_viewer_token_cannot_add_and_is_told_why(
    admin: Service, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BASEWATCH_TOKEN", admin.viewer)
    code, _, err = run(["watch", "add", f"{REGISTRY}/app"], capsys)
    line = failed(code, err, ExitCode.USAGE)
    assert "forbidden (403)" in line and "viewer token only reads" in line
    assert "admin token" in line
    code, out, _ = run(["watch", "list"], capsys)  # a viewer reads
    assert (code, out) == (ExitCode.OK, "")


def test_a_token_the_service_does_not_know(
    admin: Service, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BASEWATCH_TOKEN", "bw_" + "x" * 40)
    code, _, err = run(["watch", "list"], capsys)
    line = failed(code, err, ExitCode.USAGE)
    assert f"the service at {admin.url} refused the token (401: the token is not known)" in line
    assert "basewatch serve token create" in line


def test_no_token_is_a_usage_error_before_any_request(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("BASEWATCH_TOKEN", raising=False)
    for args in (["watch", "list"], ["events"], ["watch", "add", f"{REGISTRY}/app"]):
        code, out, err = run([*args, "--server", "http://127.0.0.1:9"], capsys)
        line = failed(code, err, ExitCode.USAGE)
        assert line.endswith("set BASEWATCH_TOKEN to a token from `basewatch serve token create`")
        assert out == ""


def test_a_service_that_is_not_there(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))  # bound but not listening: connections are refused
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        monkeypatch.setenv("BASEWATCH_TOKEN", "bw_token")
        code, _, err = run(["events", "--server", url], capsys)
    line = failed(code, err, ExitCode.SERVICE_ERROR)
    assert f"cannot reach the service at {url}: is `basewatch serve` running?" in line


@pytest.mark.parametrize(
    ("server", "why"),
    [
        ("ftp://127.0.0.1:8080", "not an http:// or https:// URL"),
        ("127.0.0.1:8080", "not an http:// or https:// URL"),
        ("http://admin:secret@127.0.0.1:8080", "must not hold credentials"),
        ("http://127.0.0.1:port", "malformed"),
    ],
)
def test_a_server_url_is_checked(
    server: str, why: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BASEWATCH_TOKEN", "bw_token")
    code, _, err = run(["watch", "list", "--server", server], capsys)
    line = failed(code, err, ExitCode.USAGE)
    assert why in line and "secret" not in line


def test_a_registry_the_service_may_not_contact_is_refused_with_its_detail(
    admin: Service, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(["watch", "add", "ghcr.io/org/app"], capsys)
    line = failed(code, err, ExitCode.USAGE)
    assert "the service refused the request (422)" in line
    assert "the registry ghcr.io is not in allowed_registries (127.0.0.1:5000)" in line


def findings(*ids: str) -> dict[str, Any]:
    return {
        "image": {"digest": DIGEST, "repository": f"{REGISTRY}/app"},
        "findings": [{"id": i, "package": "libc6", "severity": "high"} for i in ids],
    }


def test_events_are_listed_one_a_line_and_filtered_by_type(
    admin: Service, capsys: pytest.CaptureFixture[str]
) -> None:
    new = admin.add_event(EventType.FINDINGS_NEW, findings("CVE-2026-1", "CVE-2026-2"))
    fixed = admin.add_event(EventType.FINDINGS_FIXED, findings("CVE-2026-1"))
    moved = admin.add_event(
        EventType.BASE_MOVED,
        {
            "base": {"reference": f"{REGISTRY}/base:tag", "from": DIGEST, "to": "sha256:cd"},
            "images": [
                {"digest": DIGEST, "repository": f"{REGISTRY}/app", "tags": ["1"], "fixes": ["x"]},
                {"digest": "sha256:" + "ef" * 32, "repository": f"{REGISTRY}/tools", "tags": []},
            ],
        },
        repository=f"{REGISTRY}/base",
    )
    many = admin.add_event(EventType.FINDINGS_NEW, findings(*(f"CVE-2026-{i}" for i in range(10))))
    eol = admin.add_event(
        EventType.EOL_REACHED,
        {"release": "debian 10", "summary": "debian 10 reached end of life on 2024-06-30"},
    )

    code, out, err = run(["events"], capsys)
    assert code == ExitCode.OK, err
    short = "ab" * 6
    assert out.splitlines() == [
        f"{new}  2026-12-01T12:00:00Z  findings.new      {REGISTRY}/app  {short}  "
        "CVE-2026-1, CVE-2026-2",
        f"{fixed}  2026-12-01T12:00:00Z  findings.fixed    {REGISTRY}/app  {short}  CVE-2026-1",
        f"{moved}  2026-12-01T12:00:00Z  base.moved        {REGISTRY}/base  {short}  "
        f"{REGISTRY}/base:tag moved: rebuild {REGISTRY}/app:1 (fixes 1), "
        f"{REGISTRY}/tools@{'ef' * 6}",
        f"{many}  2026-12-01T12:00:00Z  findings.new      {REGISTRY}/app  {short}  "
        + ", ".join(f"CVE-2026-{i}" for i in range(8))
        + " (+2 more)",
        f"{eol}  2026-12-01T12:00:00Z  eol.reached       {REGISTRY}/app  {short}  "
        "debian 10 reached end of life on 2024-06-30",
    ]

    code, out, err = run(["events", "--type", "findings.new"], capsys)
    assert code == ExitCode.OK, err
    assert [int(line.split()[0]) for line in out.splitlines()] == [new, many]
    code, out, err = run(["events", "--type", "base.moved", "--format", "json"], capsys)
    assert code == ExitCode.OK, err
    (event,) = json.loads(out)
    assert event["id"] == moved and event["payload"]["images"][0]["tags"] == ["1"]
    code, out, err = run(["events", "--since", str(fixed), "--limit", "1"], capsys)
    assert (code, [int(line.split()[0]) for line in out.splitlines()]) == (ExitCode.OK, [moved])

    code, _, err = run(["events", "--type", "findings.old"], capsys)
    line = failed(code, err, ExitCode.USAGE)
    assert "(422)" in line and "type" in line


def test_events_are_read_across_pages(admin: Service, capsys: pytest.CaptureFixture[str]) -> None:
    count = PAGE_SIZE * 2 + 5
    with admin.sessions() as session:
        session.add_all(
            Event(
                type=EventType.FINDINGS_NEW.value,
                digest=DIGEST,
                repository=f"{REGISTRY}/app",
                payload=findings(f"CVE-2026-{i}"),
                created_at=WHEN + timedelta(seconds=i),
            )
            for i in range(count)
        )
        session.commit()
    code, out, err = run(["events", "-f", "json"], capsys)
    assert code == ExitCode.OK, err
    documents = json.loads(out)
    assert [e["payload"]["findings"][0]["id"] for e in documents] == [
        f"CVE-2026-{i}" for i in range(count)
    ]
    ids = [e["id"] for e in documents]
    assert ids == sorted(ids) and len(set(ids)) == count
    code, out, err = run(["events", "--since", str(ids[PAGE_SIZE + 1]), "--limit", "150"], capsys)
    assert code == ExitCode.OK, err
    assert [int(line.split()[0]) for line in out.splitlines()] == ids[PAGE_SIZE + 2 :]


def test_text_from_the_service_cannot_drive_the_terminal(
    admin: Service, capsys: pytest.CaptureFixture[str]
) -> None:
    admin.add_event(
        EventType.FINDINGS_NEW,
        findings("CVE-2026-1\x1b]0;owned\x07"),
        repository=f"{REGISTRY}/app\x1b[2J\r",
    )
    code, out, err = run(["events"], capsys)
    assert code == ExitCode.OK, err
    assert "\x1b" not in out and "\r" not in out and "\x07" not in out
    assert f"{REGISTRY}/app?[2J?" in out and "CVE-2026-1?]0;owned?" in out


def test_the_cursor_is_the_one_the_service_writes() -> None:
    for last in (1, 42, 2**63 - 1):
        assert after_cursor(last) == encode_cursor("id", str(last))


# --- what a real service never does -----------------------------------------------------------


def test_an_answer_that_is_not_json(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BASEWATCH_TOKEN", "bw_token")

    def html(request: Request, conn: socket.socket) -> None:
        answer(conn, 200, b"<html>a router</html>", {"Content-Type": "text/html"})

    def garbled(request: Request, conn: socket.socket) -> None:
        answer(conn, 200, b'{"items": [', {"Content-Type": "application/json"})

    def proxy_error(request: Request, conn: socket.socket) -> None:
        answer(conn, 502, b"<html>bad gateway</html>", {"Content-Type": "text/html"})

    for handler, why in (
        (html, "answered 200 with text/html, not JSON: is it the basewatch service?"),
        (garbled, "answered 200 with malformed JSON"),
        (proxy_error, "answered 502 with text/html, not JSON"),
    ):
        with HostileServer(handler) as server:
            code, out, err = run(["watch", "list", "--server", f"http://{server.host}"], capsys)
        assert why in failed(code, err, ExitCode.SERVICE_ERROR)
        assert out == ""


def test_an_answer_of_the_wrong_shape(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BASEWATCH_TOKEN", "bw_token")
    body = json.dumps({"items": [{"id": "one", "repository": 5}], "next_cursor": None}).encode()

    def wrong(request: Request, conn: socket.socket) -> None:
        answer(conn, 200, body, {"Content-Type": "application/json"})

    with HostileServer(wrong) as server:
        code, _, err = run(["watch", "list", "--server", f"http://{server.host}"], capsys)
    assert "answered with an unexpected document (id:" in failed(code, err, ExitCode.SERVICE_ERROR)


def test_an_oversized_answer_is_not_read_to_the_end(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BASEWATCH_TOKEN", "bw_token")
    sent: list[int] = []

    def announced(request: Request, conn: socket.socket) -> None:
        headers = {"Content-Type": "application/json", "Content-Length": str(1 << 40)}
        conn.sendall(head(200, headers))

    def unannounced(request: Request, conn: socket.socket) -> None:
        conn.sendall(head(200, {"Content-Type": "application/json", "Connection": "close"}))
        sent.append(endless(conn, lambda: False))  # until the client hangs up

    for handler in (announced, unannounced):
        with HostileServer(handler) as server:
            code, _, err = run(["events", "--server", f"http://{server.host}"], capsys)
        line = failed(code, err, ExitCode.SERVICE_ERROR)
        assert f"larger than {MAX_ANSWER_BYTES:,} bytes" in line
    deadline = time.monotonic() + 10
    while not sent and time.monotonic() < deadline:  # the sending thread notices the hang-up
        time.sleep(0.05)
    (count,) = sent
    assert MAX_ANSWER_BYTES <= count < MAX_ANSWER_BYTES + (16 << 20)  # it hung up, soon


def test_a_redirect_is_not_followed(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BASEWATCH_TOKEN", "bw_token")

    def redirect(request: Request, conn: socket.socket) -> None:
        answer(conn, 302, b"", {"Location": "http://169.254.169.254/latest/meta-data/"})

    with HostileServer(redirect) as server:
        code, _, err = run(["watch", "list", "--server", f"http://{server.host}"], capsys)
        assert len(server.requests) == 1
        assert server.requests[0].headers["authorization"] == "Bearer bw_token"
    line = failed(code, err, ExitCode.SERVICE_ERROR)
    assert "redirect to http://169.254.169.254/latest/meta-data/, which is not followed" in line


def test_a_server_error_is_reported_with_its_problem(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BASEWATCH_TOKEN", "bw_token")
    body = json.dumps(
        {"title": "The database is unavailable", "status": 503, "detail": "OperationalError"}
    ).encode()

    def down(request: Request, conn: socket.socket) -> None:
        answer(conn, 503, body, {"Content-Type": "application/problem+json"})

    with HostileServer(down) as server:
        code, _, err = run(["events", "--server", f"http://{server.host}"], capsys)
    line = failed(code, err, ExitCode.SERVICE_ERROR)
    assert "failed (503 The database is unavailable): OperationalError" in line


# --- as a process ---------------------------------------------------------------------------


# `python -m basewatch ARGS` with Ctrl-C raising KeyboardInterrupt, as from a terminal: a test
# run started in the background by a shell without job control ignores SIGINT, and a child
# inherits that (Python then installs no handler of its own)
WITH_CTRL_C = (
    "import runpy, signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
    "sys.argv[0] = 'basewatch'; runpy.run_module('basewatch', run_name='__main__')"
)


def test_follow_prints_new_events_as_they_come_and_ends_on_ctrl_c(service: Service) -> None:
    first = service.add_event(EventType.FINDINGS_NEW, findings("CVE-2026-1"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("BASEWATCH_")}
    env |= {"BASEWATCH_TOKEN": service.viewer, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        [sys.executable, "-c", WITH_CTRL_C, "events", "--follow", "--server", service.url],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    watchdog = threading.Timer(60, process.kill)  # a hung client fails the test, not the run
    watchdog.start()
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.startswith(f"{first}  ") and line.rstrip().endswith("CVE-2026-1"), line
        later = service.add_event(EventType.FINDINGS_FIXED, findings("CVE-2026-1"))
        line = process.stdout.readline()
        assert line.startswith(f"{later}  ") and "findings.fixed" in line, line
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=20)
    finally:
        watchdog.cancel()
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == ExitCode.OK, err
    assert "Traceback" not in err
