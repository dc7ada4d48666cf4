"""Hostile registries on a real socket: bodies without end, lying sizes, slow senders."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from basewatch.errors import ImageError, RegistryError
from basewatch.oci.reference import RegistryRef, parse_reference
from basewatch.oci.registry.client import RegistryClient
from basewatch.oci.registry.options import RegistryOptions
from basewatch.oci.registry.source import RegistrySource
from tests.bounded import SRC, run_bounded
from tests.imagebuild import sha256
from tests.unit.oci.registry.hostile import (
    ENDLESS_CAP,
    OCI_MANIFEST,
    HostileRegistry,
    HostileServer,
    Request,
    head,
    trickle,
)


class NoCredentials:
    def get(self, registry: str) -> None:
        return None


def tree_bytes(root: Path) -> int:
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file())


def child_env(tmp_path: Path) -> dict[str, str]:
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    # no user's Docker config, no proxy between the child and the loopback server
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    return {**env, "HOME": str(home), "DOCKER_CONFIG": str(home / ".docker")}


def sent_in_all(registry: HostileRegistry) -> int:
    """What the server sent of the endless layer, once every connection for it has ended."""
    assert registry.server is not None
    layer = registry.image.layer_digests[0]
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        asked = [r for r in registry.server.requests if layer in r.path]
        if len(registry.layer_bytes_sent) >= len(asked):
            break
        time.sleep(0.02)
    return sum(registry.layer_bytes_sent)


def pull(host: str, cache: Path, **kwargs: Any) -> None:
    options = RegistryOptions(cache_dir=cache, credentials=NoCredentials(), **kwargs)
    with RegistrySource(f"{host}/test/img:1", options).open() as image:
        for layer in image.info.layers:
            with image.layer(layer):
                pass


# --- item: never more than the descriptor's size -------------------------------------------


@pytest.mark.parametrize(
    "descriptor",
    [
        {"size": 0},
        {"size": None},
        {"size": 10**15},
        {"size": -1},
        {"size": "12"},
        {"size": True},
        {"size": 1000},
    ],
    ids=["zero", "missing", "absurd", "negative", "string", "bool", "small"],
)
def test_an_endless_blob_is_never_read_past_its_declared_size(
    tmp_path: Path, descriptor: dict[str, Any]
) -> None:
    registry = HostileRegistry(layer=descriptor)
    cache = tmp_path / "cache"
    with registry.running() as server:
        started = time.monotonic()
        with pytest.raises(ImageError):
            pull(server.host, cache)
        elapsed = time.monotonic() - started
        sent = sent_in_all(registry)
    assert elapsed < 10
    # socket buffers may hold a few MiB the client never read; nothing near the cap went
    assert sent < 16 << 20 < ENDLESS_CAP
    assert tree_bytes(cache) < 1 << 20  # no partial worth keeping: it cannot be the blob


def test_an_endless_blob_is_refused_by_the_cli_within_bounds(tmp_path: Path) -> None:
    registry = HostileRegistry(layer={"size": 0})
    cache = tmp_path / "cache"
    with registry.running() as server:
        result = run_bounded(
            ["sbom", f"registry:{server.host}/test/img:1", "--cache-dir", str(cache)],
            timeout=30,
            memory_mb=1024,
            env=child_env(tmp_path),
        )
        sent = sent_in_all(registry)
    result.check_refused(3)
    assert "more bytes than the manifest says" in result.stderr
    assert sent < 16 << 20
    assert tree_bytes(cache) < 1 << 20


def test_a_config_larger_than_its_descriptor_is_refused(tmp_path: Path) -> None:
    registry = HostileRegistry(finite=True)
    config = registry.image.manifest["config"]["digest"]
    registry.image.blobs[config] = registry.image.blobs[config] + b" " * (8 << 20)
    with registry.running() as server, pytest.raises(RegistryError, match="larger than"):
        pull(server.host, tmp_path / "cache")


# --- item: one deadline for the whole request ----------------------------------------------

REF_PATH = "test/img"


def slow_server(kind: str, body: bytes, delay: float = 0.02) -> HostileServer:
    """Answers every request with `body`, a byte every `delay` seconds: in the headers
    (`kind` "headers") or in the body ("body")."""

    def handle(request: Request, conn: socket.socket) -> None:
        if request.path == "/v2/":
            conn.sendall(head(200, {"Content-Length": "0", "Connection": "close"}))
            return
        headers = {
            "Content-Type": OCI_MANIFEST,
            "Content-Length": str(len(body)),
            "Connection": "close",
            "X-Padding": "p" * 300,  # headers that take 6 s at this pace
        }
        answer_head = head(200, headers)
        stop = server_ref[0]
        if kind == "headers":
            trickle(conn, answer_head, delay, lambda: stop.stopping)
            conn.sendall(body)
        else:
            conn.sendall(answer_head)
            trickle(conn, body, delay, lambda: stop.stopping)

    server_ref: list[HostileServer] = []
    server = HostileServer(handle)
    server_ref.append(server)
    return server


def read_blob(client: RegistryClient, ref: RegistryRef, digest: str, size: int) -> bytes:
    with client.open_blob(ref, digest, 0, size) as stream:
        return b"".join(stream.chunks)


def deadline_options(**kwargs: Any) -> RegistryOptions:
    return RegistryOptions(credentials=NoCredentials(), retries=4, sleep=lambda s: None, **kwargs)


@pytest.mark.parametrize("kind", ["body", "headers"])
def test_a_manifest_trickled_byte_by_byte_hits_the_request_deadline(kind: str) -> None:
    body = b'{"schemaVersion": 2, "layers": []}' + b" " * 300  # 15 s at this pace
    with slow_server(kind, body) as server:
        ref = parse_reference(f"{server.host}/{REF_PATH}:1")
        started = time.monotonic()
        with (
            RegistryClient(deadline_options(request_deadline=1.0)) as client,
            pytest.raises(RegistryError, match=r"within 1s"),
        ):
            client.get_manifest(ref, "1")
        elapsed = time.monotonic() - started
    assert elapsed < 4  # one deadline, not retried


def test_a_blob_trickled_byte_by_byte_hits_its_deadline_once() -> None:
    data = b"x" * 2000  # 40 s at this pace
    digest = sha256(data)
    with slow_server("body", data) as server:
        ref = parse_reference(f"{server.host}/{REF_PATH}:1")
        options = deadline_options(request_deadline=0.5, min_transfer_rate=4000.0)
        started = time.monotonic()
        with RegistryClient(options) as client, pytest.raises(RegistryError) as info:
            read_blob(client, ref, digest, len(data))
        elapsed = time.monotonic() - started
        blob_requests = [r for r in server.requests if "/blobs/" in r.path]
    assert "sends too slowly" in str(info.value)
    assert elapsed < 4  # 0.5 s + 2000 bytes at 4000 bytes/s, give or take
    assert len(blob_requests) == 1


def test_a_deadline_scales_with_the_blob_size() -> None:
    data = b"x" * 50  # 1 s at this pace: within 0.5 s + 50 / 40 bytes a second
    digest = sha256(data)
    with slow_server("body", data) as server:
        ref = parse_reference(f"{server.host}/{REF_PATH}:1")
        options = deadline_options(request_deadline=0.5, min_transfer_rate=40.0)
        with RegistryClient(options) as client:
            received = read_blob(client, ref, digest, len(data))
    assert received == data


# --- item: --no-cache leaves nothing behind, SIGTERM included --------------------------------


def test_sigterm_during_a_no_cache_pull_leaves_nothing_behind(tmp_path: Path) -> None:
    registry = HostileRegistry(layer={"size": 1 << 20}, stall_after=256 << 10)
    cache = tmp_path / "cache"
    env = {**child_env(tmp_path), "PYTHONPATH": str(SRC)}
    argv = [sys.executable, "-m", "basewatch", "sbom", "--no-cache", "--cache-dir", str(cache)]
    with registry.running() as server:
        proc = subprocess.Popen(
            [*argv, f"registry:{server.host}/test/img:1"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        try:
            give_up = time.monotonic() + 20
            while time.monotonic() < give_up and proc.poll() is None:
                if cache.is_dir() and tree_bytes(cache) >= 128 << 10:
                    break  # the stalled layer's first bytes are on disk
                time.sleep(0.05)
            written_to = [p for p in cache.rglob("*") if p.is_file() and p.stat().st_size]
            proc.send_signal(signal.SIGTERM)
            _, err = proc.communicate(timeout=20)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert written_to, err
    assert all(p.is_relative_to(cache / "tmp") for p in written_to), written_to
    assert proc.returncode == 143, err
    assert [p for p in cache.rglob("*") if not p.is_dir()] == []
