"""`basewatch lint` through its argparse adapter (the parser `basewatch` itself builds)."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import pytest

from basewatch.cli.exit_codes import ExitCode
from basewatch.cli.lint import run_lint
from basewatch.cli.main import build_parser
from basewatch.errors import UsageError
from tests.unit.lint.test_fix import make_layout


def run(argv: list[str]) -> int:
    parser = build_parser()
    return run_lint(parser.parse_args(["lint", *argv]))


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    (tmp_path / "Dockerfile").write_text("FROM python:3.12-slim\nUSER 1000\n")
    return tmp_path


def test_default_path_and_fail_on(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run([]) == ExitCode.OK
    assert capsys.readouterr().out == (
        "Dockerfile:1:6 BW103 medium: python:3.12-slim is not pinned to a digest;"
        " run basewatch lint --fix\n"
    )
    assert run(["--fail-on", "medium"]) == ExitCode.FINDINGS
    assert run(["--fail-on", "high"]) == ExitCode.OK
    with pytest.raises(UsageError):
        run(["--fail-on", "huge"])


def test_config_file_and_formats(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (project / ".basewatch.toml").write_text('[lint]\ndisable = ["BW103"]\n')
    assert run(["-f", "json"]) == ExitCode.OK
    assert json.loads(capsys.readouterr().out)["findings"] == []
    (project / ".basewatch.toml").write_text("[lint]\nnope = 1\n")
    with pytest.raises(UsageError, match="unknown lint setting"):
        run([])


def test_stdin_build_args_and_target(
    project: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    text = b"ARG V=3.12\nFROM python:${V}-slim AS app\nUSER 1\nFROM app AS extra\n"
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(text)))
    assert run(["-", "--build-arg", "V=3.8", "--target", "app", "-f", "github"]) == 0
    out = capsys.readouterr().out
    assert "file=<stdin>,line=2" in out and "Python 3.8" in out
    with pytest.raises(UsageError):
        run(["--build-arg", "novalue"])


def test_unreadable_and_broken_files_are_partial(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (project / "broken").write_text("RUN <<EOF\n")
    assert (
        run(["Dockerfile", "broken", "missing", "-f", "sarif", "-o", "out.sarif"])
        == ExitCode.PARTIAL
    )
    document = json.loads((project / "out.sarif").read_text())
    assert len(document["runs"][0]["invocations"][0]["toolExecutionNotifications"]) == 2
    assert "unterminated heredoc" in capsys.readouterr().err


def test_fix_and_diff(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    digests = make_layout(project / "python", {"3.12-slim": "org.opencontainers.image.ref.name"})
    from basewatch.cli.lint import RegistryResolver, make_resolver

    # without --oci-layout, digests come from the registry (tested against a real one in
    # tests/integration/test_lint_fix_registry.py; unit tests stay offline)
    assert isinstance(make_resolver([]), RegistryResolver)
    with pytest.raises(UsageError, match="--diff goes with --fix"):
        run(["--diff"])
    assert run(["--fix", "--diff", "--oci-layout", "python"]) == ExitCode.OK
    out = capsys.readouterr().out
    assert f"+FROM python:3.12-slim@{digests['3.12-slim']}" in out
    assert (project / "Dockerfile").read_text() == "FROM python:3.12-slim\nUSER 1000\n"
    assert run(["--fix", "--oci-layout", "python", "--fail-on", "low"]) == ExitCode.OK
    assert (project / "Dockerfile").read_text() == (
        f"FROM python:3.12-slim@{digests['3.12-slim']}\nUSER 1000\n"
    )
    captured = capsys.readouterr()
    assert captured.out == "" and "pinned 1 FROM line" in captured.err


def test_eol_table_option(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (project / "eol.json").write_text(
        '{"schema_version": 1, "products": {"python": [{"cycle": "3.12", "eol": "2000-01-01"}]}}'
    )
    run(["--eol-table", "eol.json"])
    assert "Python 3.12 reached end of life on 2000-01-01" in capsys.readouterr().out
    with pytest.raises(UsageError):
        run(["--eol-table", "missing.json"])


def test_fix_on_stdin_prints_the_fixed_dockerfile(
    project: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    digests = make_layout(project / "alpine", {"3.22": "org.opencontainers.image.ref.name"})
    stdin = io.TextIOWrapper(io.BytesIO(b"ARG B=alpine:3.22\nFROM $B\r\nFROM alpine:3.22\r\n"))
    monkeypatch.setattr(sys, "stdin", stdin)
    assert run(["-", "--fix", "--oci-layout", "alpine"]) == ExitCode.OK
    captured = capsys.readouterr()
    assert captured.out == (f"ARG B=alpine:3.22\nFROM $B\r\nFROM alpine:3.22@{digests['3.22']}\r\n")
    assert "$B is built from ARGs: left alone" in captured.err
