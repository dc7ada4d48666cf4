from __future__ import annotations

import argparse
import io
import os
from pathlib import Path

import pytest

from basewatch.cli.exit_codes import ExitCode
from basewatch.cli.main import build_parser, main
from basewatch.cli.registry import parse_size, registry_options
from basewatch.errors import UsageError
from basewatch.oci.registry.blobcache import BlobCache
from basewatch.store.analysis import AnalysisCache
from tests.imagebuild import sha256


def args(**kwargs: object) -> argparse.Namespace:
    defaults: dict[str, object] = {
        "username": None,
        "password_stdin": False,
        "insecure_registries": [],
        "cache_dir": None,
        "no_cache": False,
    }
    return argparse.Namespace(**{**defaults, **kwargs})


def test_password_comes_from_stdin_for_the_image_registry_only() -> None:
    options = registry_options(
        args(username="bob", password_stdin=True), "ghcr.io/org/app:1", io.StringIO("pw\n")
    )
    assert options.credentials is not None
    creds = options.credentials.get("ghcr.io")
    assert creds is not None
    assert (creds.username, creds.password) == ("bob", "pw")
    assert "pw" not in repr(creds)


def test_stdin_is_read_once_and_the_password_stays_with_its_registry(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A command that opens several images (advise, lint --fix) reads stdin once, and never
    sends the password to another registry than the one it was given for."""
    namespace = args(username="bob", password_stdin=True)
    stdin = io.StringIO("pw\n")
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path))  # no config.json: only the password
    first = registry_options(namespace, "ghcr.io/org/app:1", stdin)
    again = registry_options(namespace, "ghcr.io/org/base:2", stdin)
    other = registry_options(namespace, "quay.io/org/app:1", stdin)
    for options in (first, again):
        assert options.credentials is not None
        creds = options.credentials.get("ghcr.io")
        assert creds is not None and creds.password == "pw"
    assert other.credentials is not None
    assert other.credentials.get("quay.io") is None
    assert other.credentials.get("ghcr.io") is None


def test_username_and_password_stdin_go_together() -> None:
    with pytest.raises(UsageError, match="needs --username"):
        registry_options(args(password_stdin=True), "debian")
    with pytest.raises(UsageError, match="--password-stdin"):
        registry_options(args(username="bob"), "debian")
    with pytest.raises(UsageError, match="empty"):
        registry_options(args(username="bob", password_stdin=True), "debian", io.StringIO(""))


def test_insecure_registries_and_cache() -> None:
    options = registry_options(
        args(insecure_registries=["reg.lan:5000"], no_cache=True, cache_dir=Path("/x")), "d"
    )
    assert options.insecure_registries == frozenset({"reg.lan:5000"})
    assert not options.use_cache
    assert options.cache_dir == Path("/x")


def test_image_commands_take_registry_options() -> None:
    parser = build_parser()
    for command in ("sbom", "scan"):
        parsed = parser.parse_args(
            [command, "debian:12", "--insecure-registry", "h:1", "--platform", "linux/arm64"]
        )
        assert parsed.insecure_registries == ["h:1"]
        assert parsed.platform == "linux/arm64"
    parsed = parser.parse_args(["resolve", "debian:12", "--format", "json"])
    assert parsed.reference == "debian:12"


@pytest.mark.parametrize(
    ("text", "size"), [("500", 500), ("2K", 2048), ("1.5G", 3 << 29), ("10MiB", 10 << 20)]
)
def test_parse_size(text: str, size: int) -> None:
    assert parse_size(text) == size


def test_cache_prune(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cache = BlobCache(tmp_path)
    for i in range(3):
        cache.put(sha256(bytes([i]) * 100), bytes([i]) * 100)
    assert main(["cache", "prune", "--cache-dir", str(tmp_path), "--max-size", "250"]) == 0
    assert "removed 1 entry" in capsys.readouterr().out
    assert main(["cache", "prune", "--cache-dir", str(tmp_path), "--all"]) == 0
    assert cache.usage() == 0


def test_cache_prune_max_size_counts_the_layer_analyses(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    BlobCache(tmp_path).put(sha256(b"b" * 100), b"b" * 100)
    AnalysisCache(tmp_path).put("sha256:" + "a" * 64, "key", {"files": "x" * 5000})
    (entry,) = (tmp_path / "layers").rglob("*.json")
    os.utime(entry, (1000, 1000))  # used long ago
    # the blobs alone fit 1K: the analysis has to count for anything to go
    assert main(["cache", "prune", "--cache-dir", str(tmp_path), "--max-size", "1K"]) == 0
    assert "removed 1 entry" in capsys.readouterr().out
    assert not entry.exists()
    assert BlobCache(tmp_path).usage() == 100


def test_bad_reference_for_resolve_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["resolve", "Not A Ref"]) == ExitCode.USAGE
    assert "is not a valid" in capsys.readouterr().err


@pytest.mark.parametrize("flag", ["--insecure-registry", "--allow-auth-host"])
def test_registry_host_options_refuse_ports_that_do_not_exist(flag: str) -> None:
    dest = {"--insecure-registry": "insecure_registries", "--allow-auth-host": "allowed_auth_hosts"}
    with pytest.raises(UsageError, match=f"{flag} 'reg.lan:99999'.*1 and 65535"):
        registry_options(args(**{dest[flag]: ["reg.lan:99999"]}), "reg.lan/app:1")


def test_a_bad_port_is_a_usage_error_at_the_cli(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["resolve", "127.0.0.1:99999/app:1"]) == ExitCode.USAGE
    assert "1 and 65535" in capsys.readouterr().err
    argv = ["resolve", "127.0.0.1:5000/app:1", "--insecure-registry", "reg.lan:99999"]
    assert main(argv) == ExitCode.USAGE
    assert "--insecure-registry" in capsys.readouterr().err


def test_allow_auth_host_reaches_the_options() -> None:
    parsed = build_parser().parse_args(["resolve", "r.lan/app", "--allow-auth-host", "Auth.LAN"])
    options = registry_options(parsed, "r.lan/app")
    assert options.allowed_auth_hosts == frozenset({"auth.lan"})
