"""`basewatch lint --fix` against a real registry (docker-registry on loopback): FROM lines are
pinned to exactly the digest `basewatch resolve` reports, every other byte kept."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration import images
from tests.integration import registry_server as rs
from tests.integration.images import BuildImage

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def registry(
    tmp_path_factory: pytest.TempPathFactory, build_image: BuildImage
) -> Iterator[rs.RunningRegistry]:
    missing = rs.missing_tools()
    if missing:
        pytest.skip(f"missing tools for a real registry: {', '.join(missing)}")
    base = build_image(images.BOOKWORM_MINBASE)
    with rs.run_registry(tmp_path_factory.mktemp("lint-registry"), "none") as running:
        running.push(f"oci:{base.oci_dir}:{base.recipe.tag}", "library/debian:bookworm")
        yield running


def basewatch(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "basewatch", *args], capture_output=True, text=True, check=False
    )


def test_fix_pins_the_digest_resolve_reports(registry: rs.RunningRegistry, tmp_path: Path) -> None:
    host = registry.host
    dockerfile = tmp_path / "Dockerfile"
    original = (
        "# syntax=docker/dockerfile:1\r\n"
        f"FROM   {host}/library/debian:bookworm   AS build\r\n"
        "RUN echo hi\r\n"
        "ARG BASE=scratch\r\n"
        "FROM ${BASE}\r\n"
        f"FROM {host}/library/debian:bookworm\r\n"
        "USER 1000\r\n"
    )
    dockerfile.write_bytes(original.encode())
    resolved = basewatch("resolve", f"{host}/library/debian:bookworm", "-f", "json")
    assert resolved.returncode == 0, resolved.stderr
    digest = json.loads(resolved.stdout)["digest"]

    diff = basewatch("lint", str(dockerfile), "--fix", "--diff")
    assert diff.returncode in (0, 1), diff.stderr
    assert f"{host}/library/debian:bookworm@{digest}" in diff.stdout
    assert dockerfile.read_bytes() == original.encode()  # --diff writes nothing

    fixed = basewatch("lint", str(dockerfile), "--fix")
    assert fixed.returncode in (0, 1), fixed.stderr
    expected = original.replace(
        f"{host}/library/debian:bookworm", f"{host}/library/debian:bookworm@{digest}"
    )
    assert dockerfile.read_bytes() == expected.encode()
    again = basewatch("lint", str(dockerfile), "--fix")
    assert again.returncode in (0, 1), again.stderr
    assert dockerfile.read_bytes() == expected.encode()  # nothing left to pin


def test_fix_with_an_unknown_tag_is_a_clear_error(
    registry: rs.RunningRegistry, tmp_path: Path
) -> None:
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text(f"FROM {registry.host}/library/debian:no-such-tag\n")
    result = basewatch("lint", str(dockerfile), "--fix")
    assert "Traceback" not in result.stderr
    assert result.returncode == 3, result.stderr  # an error, not "0, nothing pinned"
    assert f"basewatch: error: {dockerfile}:1: {registry.host}/library/debian:no-such-tag" in (
        result.stderr
    )
    assert dockerfile.read_text() == f"FROM {registry.host}/library/debian:no-such-tag\n"
