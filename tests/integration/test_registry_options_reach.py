"""Every image a command reads goes through the registry options it was given.

`advise` and `compare --app` used to read their image with default options: anonymous, and
TLS-only. Here the registry is a real `docker-registry` on another host (a network namespace
behind a veth pair, so its address is not loopback), speaking plain HTTP on a non-default port,
with htpasswd auth: it answers only to a command that passes `--insecure-registry` and the
credentials on to every image it opens.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from basewatch.cli.exit_codes import ExitCode
from tests.fixtures import shared_fixture
from tests.integration import registry_server as rs
from tests.unit.compat.realbin import HELLO, compile_c, glibc_root, need_x86_64, oci_image

pytestmark = pytest.mark.integration

ALPINE = "images/alpine-minirootfs-3.20.3-x86_64.tar.gz"


@pytest.fixture(scope="module")
def remote(tmp_path_factory: pytest.TempPathFactory) -> Iterator[rs.RunningRegistry]:
    need_x86_64()
    missing = rs.missing_tools()
    if missing:
        pytest.skip(f"registry tests need {', '.join(missing)}")
    unavailable = rs.namespace_unavailable()
    if unavailable:
        pytest.skip(f"a second host needs a network namespace: {unavailable}")
    work = tmp_path_factory.mktemp("remote-registry")
    base = glibc_root(work / "base")
    app = work / "app"
    compile_c(app / "app/hello", HELLO)
    base_ref = oci_image(work / "base-oci", [base], tag="1")
    app_ref = oci_image(work / "oci", [base, app], tag="1")
    alpine = rs.layout_from_rootfs(shared_fixture(ALPINE), work / "alpine", "3.20.3")
    with (
        rs.network_namespace() as namespace,
        rs.run_registry(work / "registry", "htpasswd", namespace=namespace) as running,
    ):
        assert not running.host.startswith("127.")
        running.push(base_ref, "base:1")
        running.push(app_ref, "app:1")
        running.push(f"oci:{alpine}:3.20.3", "alpine:3.20.3")
        yield running


def _run(
    tmp_path: Path,
    registry: rs.RunningRegistry,
    *argv: str,
    insecure: bool = True,
    json_output: bool = True,
) -> tuple[int, Any, str]:
    """Run a command in a process of its own (nothing a previous pull learnt about the registry
    carries over), with the password on standard input; (exit code, JSON output, stderr)."""
    out = tmp_path / "out.json"
    options = ["--insecure-registry", registry.host] if insecure else []
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "basewatch",
            *argv,
            *options,
            *("--username", rs.USERNAME, "--password-stdin"),
            *(("-f", "json", "-o", str(out), "-q") if json_output else ()),
            *("--cache-dir", str(tmp_path / "cache")),
        ],
        input=rs.PASSWORD + "\n",
        # a home and cache dir of its own: nothing another run left in the user's cache helps
        env={**os.environ, "HOME": str(tmp_path / "home"), "XDG_CACHE_HOME": str(tmp_path / "xdg")},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    return proc.returncode, json.loads(out.read_text()) if out.exists() else None, proc.stderr


def test_advise_reads_its_image_and_alternatives_with_the_registry_options(
    remote: rs.RunningRegistry, tmp_path: Path
) -> None:
    """The image, its base (found through the catalog: its tag is resolved and its tags are
    listed for a refresh or an update) and the alternative all come from the registry."""
    base, app = f"{remote.host}/base:1", f"{remote.host}/app:1"
    alpine = f"{remote.host}/alpine:3.20.3"
    code, _, err = _run(tmp_path, remote, "catalog", "add", base, json_output=False)
    assert code == ExitCode.OK, err
    code, advice, err = _run(tmp_path, remote, "advise", app, "--alternative", alpine)
    assert code == ExitCode.OK, err
    assert advice["image"] == app
    assert advice["base"]["reference"] == base
    assert advice["base"]["method"] == "catalog"
    assert advice["not_checked"] == []
    alternative = [r for r in advice["recommendations"] if r["kind"] == "alternative"]
    assert [r["reference"] for r in alternative] == [alpine]
    assert "warning" not in err


def test_advise_without_the_insecure_option_is_refused_with_a_remedy(
    remote: rs.RunningRegistry, tmp_path: Path
) -> None:
    """The control: the same command without `--insecure-registry` cannot reach the registry
    (it speaks no TLS), so the test above passing means the option reached the read."""
    code, _, err = _run(tmp_path, remote, "advise", f"{remote.host}/app:1", insecure=False)
    assert code == ExitCode.IMAGE_ERROR, err
    assert remote.host in err
    assert "Traceback" not in err


def test_compare_reads_the_app_with_the_registry_options(
    remote: rs.RunningRegistry, tmp_path: Path
) -> None:
    app, alpine = f"{remote.host}/app:1", f"{remote.host}/alpine:3.20.3"
    code, report, err = _run(tmp_path, remote, "compare", alpine, "--app", app)
    assert code in (ExitCode.OK, ExitCode.PARTIAL), err
    (candidate,) = report["candidates"]
    assert candidate["reference"] == alpine
    # the app is a glibc program: it does not load on musl Alpine (its base's libc is in it,
    # but only the top layer is the app)
    assert candidate["compat"] == "1 of 1 ELF files fail to load", candidate
