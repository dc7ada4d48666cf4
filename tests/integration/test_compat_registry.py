"""`basewatch compat` with registry references: IMAGE and --on BASE pulled from a real
registry (Debian's `docker-registry` on loopback, with htpasswd auth, seeded with skopeo)."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from basewatch.cli.exit_codes import ExitCode
from basewatch.cli.main import main
from tests.fixtures import shared_fixture
from tests.integration import registry_server as rs
from tests.unit.compat.realbin import HELLO, compile_c, glibc_root, need_x86_64, oci_image

pytestmark = pytest.mark.integration

ALPINE = "images/alpine-minirootfs-3.20.3-x86_64.tar.gz"


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[rs.RunningRegistry]:
    need_x86_64()
    missing = rs.missing_tools()
    if missing:
        pytest.skip(f"registry tests need {', '.join(missing)}")
    work = tmp_path_factory.mktemp("compat-registry")
    base = glibc_root(work / "base")
    app = work / "app"
    compile_c(app / "app/hello", HELLO)
    compile_c(app / "app/hello-musl", HELLO, compiler="musl-gcc")
    app_ref = oci_image(work / "oci", [base, app], tag="1")
    alpine = rs.layout_from_rootfs(shared_fixture(ALPINE), work / "alpine", "3.20.3")
    with rs.run_registry(work / "registry", "htpasswd") as running:
        running.push(app_ref, "app:1")
        running.push(f"oci:{alpine}:3.20.3", "alpine:3.20.3")
        yield running


def _compat(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, *argv: str
) -> tuple[int, dict[str, object]]:
    monkeypatch.setattr("sys.stdin", io.StringIO(rs.PASSWORD + "\n"))
    out = tmp_path / "compat.json"
    code = main(
        [
            "compat",
            *argv,
            *("--username", rs.USERNAME, "--password-stdin"),
            *("-f", "json", "-o", str(out), "--cache-dir", str(tmp_path / "cache"), "-q"),
        ]
    )
    return code, json.loads(out.read_text())


def _failing(report: dict[str, object]) -> dict[str, list[str]]:
    files = report["files"]
    assert isinstance(files, list)
    return {f["path"]: [p["cause"] for p in f["problems"]] for f in files if not f["loads"]}


def test_compat_image_from_a_registry(
    registry: rs.RunningRegistry, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    code, report = _compat(monkeypatch, tmp_path, f"{registry.host}/app:1")
    assert code == ExitCode.OK
    assert _failing(report) == {"/app/hello-musl": ["interpreter-missing"]}


def test_compat_on_a_base_from_the_same_registry(
    registry: rs.RunningRegistry, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """One password on standard input serves both references."""
    code, report = _compat(
        monkeypatch,
        tmp_path,
        f"{registry.host}/app:1",
        *("--on", f"registry:{registry.host}/alpine:3.20.3", "--fail-on", "error"),
    )
    assert code == ExitCode.FINDINGS
    assert report["base"] == f"registry:{registry.host}/alpine:3.20.3"
    assert _failing(report) == {"/app/hello": ["interpreter-missing"]}
