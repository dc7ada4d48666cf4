"""The compat job on layered OCI images: layers, --on BASE, renderers and the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from basewatch.cli.compat import run_compat
from basewatch.cli.exit_codes import ExitCode
from basewatch.cli.main import build_parser
from basewatch.compat import Cause, CompatReport, LibcFamily
from basewatch.errors import UsageError
from basewatch.jobs.compat import CompatChecker
from basewatch.report.compat.json import COMPAT_SCHEMA
from basewatch.report.formats import CompatFormat, compat_renderer
from tests.fixtures import shared_fixture
from tests.unit.compat.realbin import HELLO, compile_c, glibc_root, need_x86_64, oci_image

ALPINE = "images/alpine-minirootfs-3.20.3-x86_64.tar.gz"


@pytest.fixture
def app_image(tmp_path: Path) -> str:
    """Layer 0: a glibc base made of the host's libraries; layer 1: the application."""
    need_x86_64()
    base = glibc_root(tmp_path / "base")
    app = tmp_path / "app"
    compile_c(app / "app/hello", HELLO)
    compile_c(app / "app/hello-musl", HELLO, compiler="musl-gcc")
    compile_c(app / "app/hello-static", HELLO, flags=("-static-pie",))
    return oci_image(tmp_path / "oci", [base, app])


def checker(tmp_path: Path) -> CompatChecker:
    return CompatChecker.default(cache_dir=tmp_path / "cache")


def failing(report: CompatReport) -> dict[str, list[Cause]]:
    return {f.path: [p.cause for p in f.problems] for f in report.files if not f.loads}


def test_layers_and_cache(app_image: str, tmp_path: Path) -> None:
    first = checker(tmp_path).check(app_image)
    assert first.libc.family is LibcFamily.GLIBC
    assert failing(first) == {"/app/hello-musl": [Cause.INTERPRETER_MISSING]}
    assert {f.path: f.layer for f in first.files}["/app/hello"] == 1
    again = checker(tmp_path).check(app_image)  # from the per-layer cache
    assert again == first


def test_on_alpine_top_layer(app_image: str, tmp_path: Path) -> None:
    alpine = str(shared_fixture(ALPINE))
    report = checker(tmp_path).check_on(app_image, alpine, layers=1)
    assert report.base == alpine
    assert report.libc.family is LibcFamily.MUSL
    assert {f.path for f in report.files} == {
        "/app/hello",
        "/app/hello-musl",
        "/app/hello-static",
    }
    assert failing(report) == {"/app/hello": [Cause.INTERPRETER_MISSING]}
    problem = next(f for f in report.files if f.path == "/app/hello").problems[0]
    assert problem.message == "/app/hello: not found"
    assert "gcompat" in problem.fix


def test_on_with_path(app_image: str, tmp_path: Path) -> None:
    alpine = str(shared_fixture(ALPINE))
    report = checker(tmp_path).check_on(app_image, alpine, path="/app")
    assert failing(report) == {"/app/hello": [Cause.INTERPRETER_MISSING]}
    with pytest.raises(UsageError, match="nothing at that path"):
        checker(tmp_path).check_on(app_image, alpine, path="/nowhere")
    with pytest.raises(UsageError, match="layer"):
        checker(tmp_path).check_on(app_image, alpine, layers=5)


def test_renderers(app_image: str, tmp_path: Path) -> None:
    report = checker(tmp_path).check(app_image)
    data = json.loads(compat_renderer(CompatFormat.JSON).render(report))
    jsonschema.validate(data, COMPAT_SCHEMA)
    assert data["schema_version"] == "1"
    assert data["summary"]["failing"] == 1
    assert data["libc"]["family"] == "glibc"
    table = compat_renderer(CompatFormat.TABLE).render(report).decode()
    assert "Interpreter (dynamic loader) missing (1 file)" in table
    assert "/app/hello-musl: not found" in table
    markdown = compat_renderer(CompatFormat.MARKDOWN).render(report).decode()
    assert "### Interpreter (dynamic loader) missing" in markdown
    assert "/app/hello-musl: not found" in markdown


def run(*argv: str) -> int:
    parser = build_parser()
    return run_compat(parser.parse_args(["compat", *argv]))


def test_cli_exit_codes(app_image: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cache = ["--cache-dir", str(tmp_path / "cache"), "-q"]
    assert run(app_image, *cache) == ExitCode.OK
    assert run(app_image, *cache, "--fail-on", "error") == ExitCode.FINDINGS
    alpine = str(shared_fixture(ALPINE))
    out = tmp_path / "report.json"
    code = run(app_image, *cache, "--on", alpine, "--path", "/app/hello-musl", "-f", "json",
               "-o", str(out), "--fail-on", "error")  # fmt: skip
    assert code == ExitCode.OK
    assert json.loads(out.read_text())["summary"] == {"files": 1, "loading": 1, "failing": 0}
    with pytest.raises(UsageError):
        run(app_image, *cache, "--layers", "1")
