from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from basewatch.cli.exit_codes import ExitCode
from basewatch.cli.main import main
from tests.imagebuild import (
    DEBIAN_OS_RELEASE,
    build_image,
    dpkg_status,
    file,
    layer_tar,
    symlink,
    write_docker_archive,
    write_oci_layout,
)


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(args)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def image(tmp_path: Path) -> Path:
    built = build_image(
        [
            [
                file("etc/os-release", DEBIAN_OS_RELEASE),
                file("var/lib/dpkg/status", dpkg_status(("libc6", "2.36-9+deb12u7"))),
            ]
        ]
    )
    return write_docker_archive(tmp_path / "img.tar", [(built, ["test/img:1"])])


def test_sbom_json_to_a_file(
    image: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "sbom.json"
    code, stdout, _ = run(
        [
            "sbom",
            f"docker-archive:{image}",
            "-f",
            "json",
            "-o",
            str(out),
            "--cache-dir",
            str(tmp_path / "c"),
        ],
        capsys,
    )
    assert code == ExitCode.OK
    assert stdout == ""
    document = json.loads(out.read_text())
    assert [(p["name"], p["version"]) for p in document["packages"]] == [
        ("libc6", "2.36-9+deb12u7")
    ]
    assert document["os"]["id"] == "debian"
    assert document["image"]["repo_tags"] == ["test/img:1"]
    assert list(tmp_path.glob(".sbom.json.*")) == []


@pytest.mark.parametrize("fmt", ["table", "cyclonedx-json", "spdx-json"])
def test_every_format_renders(
    fmt: str, image: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, stdout, _ = run(
        ["sbom", str(image), "-f", fmt, "--cache-dir", str(tmp_path / "c")], capsys
    )
    assert code == ExitCode.OK
    assert "libc6" in stdout


def test_missing_image_is_an_image_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(["sbom", f"oci:{tmp_path / 'nope'}"], capsys)
    assert code == ExitCode.IMAGE_ERROR
    assert "no such file or directory" in err


def test_unwritable_output_loses_nothing(
    image: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(
        ["sbom", str(image), "-o", str(tmp_path / "no" / "dir" / "x.json"), "--no-cache"], capsys
    )
    assert code == ExitCode.OUTPUT_ERROR
    assert "cannot write" in err


def test_corrupt_database_is_a_partial_result(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    built = build_image([[file("var/lib/dpkg/status", b"Package: a\nVersion: 1\n\n\0\0\0 junk")]])
    layout = write_oci_layout(tmp_path / "l", [(built, "")])
    code, stdout, err = run(["sbom", f"oci:{layout}", "-f", "json", "--no-cache"], capsys)
    assert code == ExitCode.PARTIAL
    assert json.loads(stdout)["partial"] is True
    assert "inventory is partial" in err


def test_ambiguous_archive_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    one, two = build_image([[file("a", "1")]]), build_image([[file("b", "2")]])
    archive = write_docker_archive(tmp_path / "two.tar", [(one, ["a:1"]), (two, ["b:1"])])
    code, _, err = run(["sbom", f"docker-archive:{archive}", "--no-cache"], capsys)
    assert code == ExitCode.USAGE
    assert "docker-archive:PATH:REPO:TAG" in err


HOSTILE_LAYERS = {
    "dotdot": layer_tar([file("../../../tmp/basewatch-pwned", "x")]),
    "truncated-gzip": gzip.compress(layer_tar([file("big", os.urandom(200_000))]))[:50_000],
    "not-a-tar": b"this is not a tar archive at all" * 40,
}


@pytest.mark.parametrize("case", sorted(HOSTILE_LAYERS))
def test_hostile_layers_fail_cleanly_without_traceback(case: str, tmp_path: Path) -> None:
    import hashlib

    blob = HOSTILE_LAYERS[case]
    digest = "sha256:" + hashlib.sha256(blob).hexdigest()
    image = build_image([[file("ok", "1")]])
    # Swap in the hostile blob under its true digest, so only its content is wrong.
    image.blobs.pop(image.layer_digests[0])
    image.blobs[digest] = blob
    image.manifest["layers"][0]["digest"] = digest
    image.manifest["layers"][0]["size"] = len(blob)
    manifest = json.dumps(image.manifest).encode()
    image.blobs = {
        k: v
        for k, v in image.blobs.items()
        if k != "sha256:" + hashlib.sha256(image.manifest_bytes).hexdigest()
    }
    image.manifest_bytes = manifest
    image.blobs["sha256:" + hashlib.sha256(manifest).hexdigest()] = manifest
    layout = write_oci_layout(tmp_path / "l", [(image, "")])
    proc = subprocess.run(
        [sys.executable, "-m", "basewatch", "sbom", f"oci:{layout}", "--no-cache", "-q"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == ExitCode.IMAGE_ERROR, proc.stderr
    assert "Traceback" not in proc.stderr
    assert proc.stderr.startswith("basewatch: error:")
    assert not Path("/tmp/basewatch-pwned").exists()


def test_symlink_loop_and_escaping_symlink_are_harmless(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    built = build_image(
        [
            [
                symlink("etc/os-release", "../../../../etc/os-release"),
                symlink("usr/lib/os-release", "../../usr/lib/os-release"),
                symlink("a", "b"),
                symlink("b", "a"),
            ]
        ]
    )
    layout = write_oci_layout(tmp_path / "l", [(built, "")])
    code, stdout, _ = run(["sbom", f"oci:{layout}", "-f", "json", "--no-cache"], capsys)
    assert code == ExitCode.OK
    assert json.loads(stdout)["os"] is None  # the host's /etc/os-release was never read


def test_no_command_prints_help(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run([], capsys)
    assert code == ExitCode.USAGE
    assert "sbom" in err


def test_image_without_layers_is_an_empty_inventory(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    layout = write_oci_layout(tmp_path / "l", [(build_image([]), "")])
    code, stdout, _ = run(["sbom", f"oci:{layout}", "-f", "json", "--no-cache"], capsys)
    assert code == ExitCode.OK
    document = json.loads(stdout)
    assert (document["packages"], document["os"], document["image"]["layers"]) == ([], None, [])


@pytest.mark.parametrize("prefix", ["docker-archive:", "oci:", "rootfs:", ""])
def test_empty_file_is_an_image_error(
    prefix: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    empty = tmp_path / "empty.tar"
    empty.write_bytes(b"")
    code, _, err = run(["sbom", f"{prefix}{empty}", "--no-cache"], capsys)
    assert code == ExitCode.IMAGE_ERROR, err
    assert err.startswith("basewatch: error:")
