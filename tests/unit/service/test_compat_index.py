"""The ELF compatibility verdict the watcher keeps for every image it indexes: summarized from
a hand-built report, and computed for real on images pushed to Debian's docker-registry on
loopback (the Alpine fixture; an app layer whose program needs a library the image lacks; a
check that fails)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from basewatch.clock import FixedClock
from basewatch.compat import (
    Cause,
    CompatReport,
    FileKind,
    FileVerdict,
    LibcFamily,
    LibcInfo,
    Problem,
    Severity,
)
from basewatch.errors import ImageError
from basewatch.jobs.compat import CompatChecker
from basewatch.oci.interface import ImageSource
from basewatch.service.compat_summary import (
    MAX_PROBLEMS,
    CompatVerdict,
    FailedLoad,
    summarize,
    unchecked,
)
from basewatch.service.config import ServeSettings
from basewatch.service.db import open_engine, sessions, upgrade
from basewatch.service.models import Image, ImageCompat, Watch
from basewatch.service.watcher import Watcher
from basewatch.settings import Settings
from tests.fixtures import shared_fixture
from tests.imagebuild import Member
from tests.integration import registry_server as rs
from tests.service_support import images
from tests.unit.compat.realbin import HELLO, compile_c, need_x86_64

DAY = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)
PROGRAM = "srv/app/prog"  # in the app layer; needs libgone.so.1, which nothing ships

# --- the summary of a report --------------------------------------------------------------------


def _verdict(path: str, *problems: Problem) -> FileVerdict:
    return FileVerdict(
        path=path,
        layer=1,
        kind=FileKind.DYNAMIC,
        libc=LibcFamily.MUSL,
        machine="x86_64",
        interpreter="/lib/ld-musl-x86_64.so.1",
        problems=problems,
    )


def _problem(severity: Severity, message: str, fix: str = "") -> Problem:
    return Problem(severity, Cause.LIBRARY_MISSING, message, subject="libx.so.1", fix=fix)


def test_a_report_is_summarized_worst_problem_first_from_the_failing_files_only() -> None:
    warned = _problem(Severity.WARNING, "a warning of a failing file")
    missing = _problem(Severity.ERROR, "Error loading shared library libx.so.1", "apk add x")
    report = CompatReport(
        image="registry.example/app@sha256:1",
        platform="linux/amd64",
        libc=LibcInfo(LibcFamily.MUSL, "1.2.5", "/lib/ld-musl-x86_64.so.1", "apk"),
        files=(
            _verdict("/bin/ok"),
            _verdict("/bin/loads-but-warns", _problem(Severity.WARNING, "only a warning")),
            _verdict("/app/a", warned, missing),
            _verdict("/app/b", missing),
        ),
        warnings=("a warning",),
        notes=("musl 1.2.5: DNS over TCP",),
    )
    summary = summarize(report, DAY)
    assert (summary.verdict, summary.libc, summary.files, summary.failing) == (
        CompatVerdict.PROBLEMS,
        "musl 1.2.5",
        4,
        2,
    )
    assert summary.problems == (
        FailedLoad("/app/a", "error", "library-missing", missing.message, "apk add x"),
        FailedLoad("/app/b", "error", "library-missing", missing.message, "apk add x"),
        FailedLoad("/app/a", "warning", "library-missing", warned.message, ""),
    )
    assert summary.notes == ("a warning", "musl 1.2.5: DNS over TCP")
    assert summary.not_checked == () and summary.checked_at == DAY
    row = summary.row("sha256:abc")
    assert (row.digest, row.verdict, row.libc, row.files, row.failing) == (
        "sha256:abc",
        "problems",
        "musl 1.2.5",
        4,
        2,
    )
    assert row.problems[0] == {
        "path": "/app/a",
        "severity": "error",
        "cause": "library-missing",
        "message": missing.message,
        "fix": "apk add x",
    }
    assert row.notes == ["a warning", "musl 1.2.5: DNS over TCP"] and row.not_checked == []


def test_a_summary_is_bounded_and_names_each_verdict() -> None:
    libc = LibcInfo(LibcFamily.GLIBC, "2.36")
    many = tuple(_verdict(f"/app/{n}", _problem(Severity.ERROR, f"missing {n}")) for n in range(80))
    report = CompatReport("app", "linux/amd64", libc, many, notes=tuple(map(str, range(30))))
    summary = summarize(report, DAY)
    assert (summary.verdict, summary.libc, summary.failing) == (
        CompatVerdict.PROBLEMS,
        "glibc 2.36",
        80,
    )
    assert len(summary.problems) == MAX_PROBLEMS and summary.problems[0].path == "/app/0"
    assert len(summary.notes) == 20

    loads = summarize(CompatReport("app", "linux/amd64", libc, (_verdict("/bin/ok"),)), DAY)
    assert (loads.verdict, loads.failing, loads.problems) == (CompatVerdict.LOADS, 0, ())
    empty = summarize(CompatReport("app", "linux/amd64", LibcInfo(LibcFamily.NONE), ()), DAY)
    assert (empty.verdict, empty.libc, empty.files) == (CompatVerdict.NO_ELF, "", 0)
    no_version = CompatReport("app", "linux/amd64", LibcInfo(LibcFamily.MUSL), ())
    assert summarize(no_version, DAY).libc == "musl"

    failed = unchecked("registry.example/app: layer 2: connection reset", DAY)
    assert (failed.verdict, failed.not_checked, failed.files) == (
        CompatVerdict.UNCHECKED,
        ("registry.example/app: layer 2: connection reset",),
        0,
    )


# --- indexing real images -------------------------------------------------------------------------


def program_needing_a_missing_library(work: Path) -> bytes:
    """A musl program linked against libgone.so.1 (a stub, left out of every image)."""
    stub = compile_c(
        work / "stub/libgone.so.1",
        "int gone(void) { return 0; }\n",
        compiler="musl-gcc",
        flags=("-shared", "-fPIC", "-Wl,-soname,libgone.so.1"),
    )
    source = HELLO.replace("int main(void) {", "int gone(void);\nint main(void) { gone();")
    return compile_c(work / "prog", source, compiler="musl-gcc", flags=(str(stub),)).read_bytes()


@dataclass
class Pushed:
    proxy: rs.FaultProxy
    alpine: str  # repositories
    app: str


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pushed]:
    """The Alpine fixture as `alpine:3.20.3`, and `app:1`: the fixture, then a layer holding a
    program that needs a library the image does not have."""
    need_x86_64()
    missing = rs.missing_tools()
    if missing:
        pytest.skip(f"registry tests need {', '.join(missing)}")
    work = tmp_path_factory.mktemp("compat-index")
    program = program_needing_a_missing_library(work / "build")
    rootfs = shared_fixture(images.ALPINE)
    alpine = images.stacked_layout(work / "alpine", "3.20.3", rootfs, [])
    app = images.stacked_layout(work / "app", "1", rootfs, [[Member(PROGRAM, program, mode=0o755)]])
    with rs.run_registry(work / "registry") as running:
        running.push(f"oci:{alpine}:3.20.3", "alpine:3.20.3")
        running.push(f"oci:{app}:1", "app:1")
        proxy = rs.FaultProxy(running.host)
        try:
            yield Pushed(proxy, f"{proxy.host}/alpine", f"{proxy.host}/app")
        finally:
            proxy.close()


@dataclass
class Service:
    watcher: Watcher
    make: sessionmaker[Session]
    engine: Engine

    def watch(self, repository: str) -> None:
        with self.make() as session:
            session.add(Watch(repository=repository, tags=["*"], created_at=DAY))
            session.commit()

    def compat(self, digest: str) -> ImageCompat:
        with self.make() as session:
            row = session.get(ImageCompat, digest)
            assert row is not None, f"{digest} has no compat verdict"
            assert session.get(Image, digest) is not None
            return row


@pytest.fixture
def service(database_url: str, registry: Pushed, tmp_path: Path) -> Iterator[Service]:
    core = Settings.load(environ={}, cache_dir=tmp_path / "cache", read_config=False)
    settings = ServeSettings.load(
        environ={"HOME": str(tmp_path)},
        default_vulndb=core.db_path,
        flags={"database": database_url, "allowed_registries": registry.proxy.host},
    )
    engine = open_engine(database_url)
    upgrade(engine)
    make = sessions(engine)
    try:
        yield Service(Watcher(make, settings, core, FixedClock(DAY)), make, engine)
    finally:
        engine.dispose()


@pytest.mark.integration
def test_an_alpine_image_loads_on_musl_and_its_layer_is_pulled_once(
    registry: Pushed, service: Service
) -> None:
    service.watch(registry.alpine)
    registry.proxy.reset()
    report = service.watcher.poll_once()
    assert report.errors == []
    (digest,) = report.indexed
    row = service.compat(digest)
    assert row.verdict == "loads", row.problems
    assert row.libc.startswith("musl 1.2"), row.libc
    assert row.files > 0 and row.failing == 0 and row.problems == []
    assert row.not_checked == [] and row.checked_at == DAY
    # the compat check read the layer sbom had just pulled from the blob cache
    blobs = [p for m, p, _ in registry.proxy.requests if m == "GET" and "/blobs/" in p]
    assert len(blobs) == len(set(blobs)), blobs


@pytest.mark.integration
def test_a_program_needing_a_missing_library_is_a_problem(
    registry: Pushed, service: Service
) -> None:
    service.watch(registry.app)
    report = service.watcher.poll_once()
    assert report.errors == []
    (digest,) = report.indexed
    row = service.compat(digest)
    assert (row.verdict, row.failing) == ("problems", 1)
    assert row.libc.startswith("musl")
    assert {p["path"] for p in row.problems} == {f"/{PROGRAM}"}  # Alpine's own files load
    # what musl prints: the library first, then each symbol it would have defined
    assert [(p["severity"], p["cause"], p["message"]) for p in row.problems] == [
        (
            "error",
            "library-missing",
            f"Error loading shared library libgone.so.1: No such file or directory "
            f"(needed by /{PROGRAM})",
        ),
        ("error", "symbol-missing", f"Error relocating /{PROGRAM}: gone: symbol not found"),
    ]


@pytest.mark.integration
def test_a_check_that_fails_is_unchecked_and_the_image_still_indexed(
    registry: Pushed, service: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(
        self: CompatChecker, source: str | ImageSource, platform: str | None = None
    ) -> CompatReport:
        raise ImageError("layer 0: the registry closed the connection")

    monkeypatch.setattr(CompatChecker, "check", broken)
    service.watch(registry.alpine)
    report = service.watcher.poll_once()
    assert report.errors == []
    (digest,) = report.indexed
    row = service.compat(digest)
    assert (row.verdict, row.files, row.problems) == ("unchecked", 0, [])
    assert row.not_checked == ["layer 0: the registry closed the connection"]
    with service.make() as session:
        image = session.get(Image, digest)
        assert image is not None and image.packages == 14
