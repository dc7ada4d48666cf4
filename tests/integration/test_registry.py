"""Pulling from a real registry: Debian's `docker-registry` on loopback, seeded with skopeo.

The images are real: a Debian bookworm image built with mmdebstrap (images.py), the Alpine
minirootfs wrapped into an OCI layout, the busybox OCI image, and a two-platform index. Each
configuration (anonymous, htpasswd, token) and each failure (wrong credentials, unknown tag,
429, tampered blob, dropped connection, slow server) is checked against the real server,
with a misbehaving proxy in front where the fault must be injected.
"""

from __future__ import annotations

import io
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from basewatch.cli.exit_codes import ExitCode
from basewatch.cli.main import main
from basewatch.codec import encode_package
from basewatch.errors import DigestMismatch, RegistryError
from basewatch.jobs.inventory import Scanner
from basewatch.models import Inventory
from basewatch.oci.open import open_image
from basewatch.oci.reference import parse_image_ref
from basewatch.oci.registry.auth import Credentials, StaticCredentials
from basewatch.oci.registry.client import RegistryClient
from basewatch.oci.registry.options import RegistryOptions
from basewatch.oci.registry.source import RegistrySource, resolve
from tests.fixtures import shared_fixture
from tests.integration import images
from tests.integration import registry_server as rs
from tests.integration.conftest import in_ci
from tests.integration.images import BuildImage

pytestmark = pytest.mark.integration

ALPINE = "images/alpine-minirootfs-3.20.3-x86_64.tar.gz"
ALPINE_OLD = "images/alpine-minirootfs-3.18.9-x86_64.tar.gz"
BUSYBOX = "images/busybox-1.38.0-musl-amd64.oci.tar"


@dataclass(frozen=True)
class Seeded:
    registry: rs.RunningRegistry
    layouts: dict[str, str]  # repo:tag in the registry -> the local reference it came from


def _require_tools() -> None:
    missing = rs.missing_tools()
    if missing:
        message = f"registry tests need {', '.join(missing)}"
        if in_ci():
            pytest.fail(message, pytrace=False)
        pytest.skip(message)


def _layouts(workdir: Path, build_image: BuildImage) -> dict[str, str]:
    debian = build_image(images.BOOKWORM_MINBASE)
    alpine = rs.layout_from_rootfs(shared_fixture(ALPINE), workdir / "alpine", "3.20.3")
    multi = rs.two_platform_layout(
        shared_fixture(ALPINE), shared_fixture(ALPINE_OLD), workdir / "multi", "multi"
    )
    busybox = shared_fixture(BUSYBOX)
    return {
        "debian:bookworm": debian.ref("oci-dir"),
        "alpine:3.20.3": f"oci:{alpine}:3.20.3",
        "busybox:musl": f"oci:{busybox}",
        "multi:1": f"oci:{multi}:multi",
    }


def _skopeo_ref(reference: str) -> str:
    """basewatch's oci:PATH[:TAG] as skopeo spells it (oci-archive: for a tar)."""
    rest = reference.removeprefix("oci:")
    if rest.endswith(".tar"):
        return f"oci-archive:{rest}"
    return f"oci:{rest}"


def _seed(registry: rs.RunningRegistry, layouts: dict[str, str]) -> None:
    for repo_tag, reference in layouts.items():
        registry.push(_skopeo_ref(reference), repo_tag, all_platforms=repo_tag == "multi:1")


@pytest.fixture(scope="module")
def layouts(tmp_path_factory: pytest.TempPathFactory, build_image: BuildImage) -> dict[str, str]:
    _require_tools()
    return _layouts(tmp_path_factory.mktemp("layouts"), build_image)


@pytest.fixture(scope="module")
def anonymous(
    tmp_path_factory: pytest.TempPathFactory, layouts: dict[str, str]
) -> Iterator[Seeded]:
    with rs.run_registry(tmp_path_factory.mktemp("anonymous"), "none") as registry:
        _seed(registry, layouts)
        yield Seeded(registry, layouts)


@pytest.fixture(scope="module")
def proxy(anonymous: Seeded) -> Iterator[rs.FaultProxy]:
    fault_proxy = rs.FaultProxy(anonymous.registry.host)
    yield fault_proxy
    fault_proxy.close()


@pytest.fixture
def fresh_proxy(proxy: rs.FaultProxy) -> rs.FaultProxy:
    proxy.reset()
    return proxy


@pytest.fixture(scope="module", params=["htpasswd", "token"])
def authenticated(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    layouts: dict[str, str],
) -> Iterator[Seeded]:
    mode = request.param
    with rs.run_registry(tmp_path_factory.mktemp(mode), mode) as registry:
        subset = {"busybox:musl": layouts["busybox:musl"]}
        _seed(registry, subset)
        yield Seeded(registry, subset)


def _inventory(
    reference: str | RegistrySource, cache: Path, platform: str | None = None
) -> Inventory:
    """Inventory with every cache (analyses and blobs) under `cache`."""
    if isinstance(reference, str) and not reference.startswith("oci:"):
        reference = RegistrySource(
            reference.removeprefix("registry:"), _options(cache), reference=reference
        )
    return Scanner.default(cache_dir=cache).inventory(reference, platform=platform)


def _packages(inventory: Inventory) -> list[dict[str, Any]]:
    return [encode_package(p) for p in inventory.packages]


def _options(cache: Path, **kwargs: Any) -> RegistryOptions:
    kwargs.setdefault("credentials", StaticCredentials(Credentials("", ""), "nowhere.invalid"))
    return RegistryOptions(cache_dir=cache, **kwargs)


def _blob_files(cache: Path) -> list[Path]:
    folder = cache / "blobs" / "sha256"
    return sorted(folder.iterdir()) if folder.is_dir() else []


def _assert_cache_is_sound(cache: Path) -> None:
    import hashlib

    for path in _blob_files(cache):
        assert "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest() == f"sha256:{path.name}"
    tmp = cache / "blobs" / "tmp"
    assert not tmp.exists() or list(tmp.iterdir()) == []


# --- anonymous --------------------------------------------------------------------------------


@pytest.mark.parametrize("repo_tag", ["debian:bookworm", "alpine:3.20.3", "busybox:musl"])
def test_registry_inventory_equals_the_oci_layout_inventory(
    anonymous: Seeded, repo_tag: str, tmp_path: Path
) -> None:
    local = _inventory(anonymous.layouts[repo_tag], tmp_path / "local")
    pulled = _inventory(f"{anonymous.registry.host}/{repo_tag}", tmp_path / "pulled")
    assert pulled.image.source_type == "registry"
    assert pulled.image.config_digest == local.image.config_digest
    assert [layer.diff_id for layer in pulled.image.layers] == [
        layer.diff_id for layer in local.image.layers
    ]
    assert _packages(pulled) == _packages(local)
    assert pulled.os == local.os
    if repo_tag != "busybox:musl":
        assert len(pulled.packages) > 10
    _assert_cache_is_sound(tmp_path / "pulled")


def test_cli_sbom_and_scan_take_a_registry_reference(
    anonymous: Seeded, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ref = f"registry:{anonymous.registry.host}/alpine:3.20.3"
    out = tmp_path / "sbom.json"
    code = main(["sbom", ref, "-f", "json", "-o", str(out), "--cache-dir", str(tmp_path), "-q"])
    assert code == ExitCode.OK, capsys.readouterr().err
    report = json.loads(out.read_text())
    assert report["image"]["source_type"] == "registry"
    assert any(p["name"] == "musl" for p in report["packages"])


def test_cli_scan_takes_a_registry_reference(
    anonymous: Seeded, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "vuln.db"
    assert main(["db", "import", str(shared_fixture("osv/PyPI.zip")), "--db", str(db)]) == 0
    ref = f"{anonymous.registry.host}/alpine:3.20.3"
    out = tmp_path / "scan.json"
    code = main(
        [
            *("scan", ref, "--offline", "--db", str(db), "-f", "json", "-o", str(out)),
            *("--cache-dir", str(tmp_path / "cache"), "-q"),
        ]
    )
    # the database has no Alpine advisories: the scan is reported as partial
    assert code == ExitCode.PARTIAL, capsys.readouterr().err
    report = json.loads(out.read_text())
    assert report["image"]["source_type"] == "registry"


def test_a_warm_rescan_transfers_only_metadata(
    anonymous: Seeded, fresh_proxy: rs.FaultProxy, tmp_path: Path
) -> None:
    ref = f"{fresh_proxy.host}/debian:bookworm"
    _inventory(ref, tmp_path)
    cold = fresh_proxy.bytes_sent
    fresh_proxy.reset()
    _inventory(ref, tmp_path)
    warm_paths = [path for _, path, _ in fresh_proxy.requests]
    assert all("/manifests/" in p for p in warm_paths), warm_paths
    assert fresh_proxy.bytes_sent < 20_000 < cold


def test_a_known_layer_is_not_downloaded_for_a_new_image(
    anonymous: Seeded, fresh_proxy: rs.FaultProxy, tmp_path: Path
) -> None:
    """Layers whose analysis is cached are never fetched, even when their blob is not cached."""
    _inventory(f"{fresh_proxy.host}/alpine:3.20.3", tmp_path)
    for blob in _blob_files(tmp_path):
        if blob.stat().st_size > 100_000:
            blob.unlink()
    fresh_proxy.reset()
    _inventory(f"{fresh_proxy.host}/multi:1", tmp_path, platform="linux/amd64")
    blob_gets = [p for m, p, _ in fresh_proxy.requests if m == "GET" and "/blobs/" in p]
    assert len(blob_gets) == 1  # the config only: the layer is the same alpine rootfs


def test_one_client_keeps_its_connection_across_pulls(
    anonymous: Seeded, fresh_proxy: rs.FaultProxy, tmp_path: Path
) -> None:
    refs = [f"{fresh_proxy.host}/{repo_tag}" for repo_tag in ("alpine:3.20.3", "busybox:musl")]

    def pull_all(cache: Path, client: RegistryClient | None) -> list[Inventory]:
        scanner = Scanner.default(cache_dir=cache)
        return [
            scanner.inventory(open_image(parse_image_ref(ref), _options(cache), client=client))
            for ref in refs
        ]

    separate = pull_all(tmp_path / "separate", None)
    per_pull = fresh_proxy.connections
    fresh_proxy.reset()
    with RegistryClient(_options(tmp_path / "shared")) as client:
        shared = pull_all(tmp_path / "shared", client)
    # each client probes the loopback registry for TLS once, then keeps one connection alive
    # (a HEAD too must leave it reusable)
    assert (per_pull, fresh_proxy.connections) == (4, 2)
    assert [_packages(i) for i in shared] == [_packages(i) for i in separate]


def test_one_client_asks_the_token_service_once(authenticated: Seeded, tmp_path: Path) -> None:
    token_server = authenticated.registry.token_server
    if token_server is None:
        pytest.skip("htpasswd registries issue no tokens")
    ref = f"{authenticated.registry.host}/busybox:musl"
    creds = StaticCredentials(Credentials(rs.USERNAME, rs.PASSWORD), authenticated.registry.host)
    options = _options(tmp_path, credentials=creds)
    token_server.requests.clear()
    for _ in range(2):
        resolve(ref, options=options)
    assert len(token_server.requests) == 2  # a client per call: a token each
    token_server.requests.clear()
    with RegistryClient(options) as client:
        first = resolve(ref, options=options, client=client)
        with open_image(parse_image_ref(ref), options, client=client).open() as image:
            assert image.info.manifest_digest == first.manifest_digest
    assert len(token_server.requests) == 1


def test_platform_picked_from_an_index(anonymous: Seeded, tmp_path: Path) -> None:
    ref = f"{anonymous.registry.host}/multi:1"
    amd64 = _inventory(ref, tmp_path, platform="linux/amd64")
    arm64 = _inventory(ref, tmp_path, platform="linux/arm64")
    assert amd64.image.architecture == "amd64"
    assert arm64.image.architecture == "arm64"
    assert amd64.os is not None and arm64.os is not None
    assert (amd64.os.version_id, arm64.os.version_id) == ("3.20.3", "3.18.9")
    with pytest.raises(Exception, match="linux/s390x"):
        _inventory(ref, tmp_path, platform="linux/s390x")


def test_resolve_prints_index_and_platform_digests(
    anonymous: Seeded,
    fresh_proxy: rs.FaultProxy,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    ref = f"{fresh_proxy.host}/multi:1"
    code = main(
        ["resolve", ref, "--platform", "linux/arm64", "-f", "json", "--cache-dir", str(tmp_path)]
    )
    assert code == ExitCode.OK
    resolved = json.loads(capsys.readouterr().out)
    index = json.loads(
        (
            Path(anonymous.layouts["multi:1"].removeprefix("oci:").rsplit(":", 1)[0]) / "index.json"
        ).read_text()
    )
    assert resolved["index_digest"] == resolved["digest"] == index["manifests"][0]["digest"]
    assert resolved["platform"] == "linux/arm64"
    assert {p["platform"] for p in resolved["platforms"]} == {"linux/amd64", "linux/arm64"}
    assert fresh_proxy.requests[0][0] == "HEAD"
    code = main(["resolve", ref, "--cache-dir", str(tmp_path)])
    text = capsys.readouterr().out
    assert code == ExitCode.OK
    assert "index " in text
    assert "manifest " in text


def test_unknown_tag_is_exit_3(
    anonymous: Seeded, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ref = f"{anonymous.registry.host}/debian:no-such-tag"
    assert main(["sbom", ref, "--cache-dir", str(tmp_path), "-q"]) == ExitCode.IMAGE_ERROR
    assert "no tag 'no-such-tag'" in capsys.readouterr().err


def test_a_loopback_registry_speaking_tls_is_pulled_over_https(
    layouts: dict[str, str], tmp_path: Path
) -> None:
    """As Docker does for loopback and insecure hosts: HTTPS first (unverified), else HTTP."""
    with rs.run_registry(tmp_path / "registry", "none", tls=True) as registry:
        _seed(registry, {"busybox:musl": layouts["busybox:musl"]})
        inventory = _inventory(f"{registry.host}/busybox:musl", tmp_path / "cache")
    assert inventory.image.source_type == "registry"


# --- failures through the proxy ---------------------------------------------------------------


def test_429_then_success_honours_retry_after(
    anonymous: Seeded, fresh_proxy: rs.FaultProxy, tmp_path: Path
) -> None:
    fresh_proxy.faults.statuses = [(429, {"Retry-After": "1"}), (503, {})]
    sleeps: list[float] = []
    source = RegistrySource(
        f"{fresh_proxy.host}/busybox:musl", _options(tmp_path, sleep=sleeps.append)
    )
    assert _inventory(source, tmp_path).image.source_type == "registry"
    assert sleeps == [1.0, 1.0]  # Retry-After, then backoff 0.5 * 2


class _RecordingGate:
    """A `RequestGate` that lets everything go and writes down what it was told."""

    def __init__(self) -> None:
        self.admitted: list[str] = []
        self.limited: list[tuple[str, float | None]] = []

    def before(self, registry: str) -> None:
        self.admitted.append(registry)

    def rate_limited(self, registry: str, retry_after: float | None) -> None:
        self.limited.append((registry, retry_after))


def test_every_request_to_the_registry_passes_the_gate_and_it_hears_of_a_429(
    anonymous: Seeded, fresh_proxy: rs.FaultProxy, tmp_path: Path
) -> None:
    fresh_proxy.faults.statuses = [(429, {"Retry-After": "2"})]
    gate = _RecordingGate()
    sleeps: list[float] = []
    source = RegistrySource(
        f"{fresh_proxy.host}/busybox:musl", _options(tmp_path, sleep=sleeps.append, gate=gate)
    )
    assert _inventory(source, tmp_path).image.source_type == "registry"
    assert len(fresh_proxy.requests) >= 4  # the 429, the manifest, the config, the layer
    assert gate.admitted == [fresh_proxy.host] * len(fresh_proxy.requests)
    assert gate.limited == [(fresh_proxy.host, 2.0)]
    assert sleeps == [2.0]


def test_a_429_pauses_the_registry_for_every_client_sharing_the_limits(
    anonymous: Seeded, fresh_proxy: rs.FaultProxy, tmp_path: Path
) -> None:
    from basewatch.errors import RateLimited
    from basewatch.service.db import open_engine, upgrade
    from basewatch.service.fleet.limits import SharedRateLimits

    engine = open_engine(f"sqlite:///{tmp_path / 'service.db'}")
    upgrade(engine)

    def client_options(cache: Path) -> RegistryOptions:
        gate = SharedRateLimits(engine, {}, None, 1.0, max_wait=1.0, default_pause=60.0)
        return _options(cache, sleep=lambda _: None, gate=gate)

    fresh_proxy.faults.statuses = [(429, {"Retry-After": "120"})]
    reference = f"{fresh_proxy.host}/busybox:musl"
    with pytest.raises(RateLimited) as first:
        _inventory(RegistrySource(reference, client_options(tmp_path / "one")), tmp_path / "one")
    assert len(fresh_proxy.requests) == 1 and first.value.retry_after > 100
    # another worker, with its own gate over the same database, does not ask at all
    with pytest.raises(RateLimited, match="429"):
        _inventory(RegistrySource(reference, client_options(tmp_path / "two")), tmp_path / "two")
    assert len(fresh_proxy.requests) == 1
    engine.dispose()


def test_tampered_blob_is_refused_and_not_cached(
    anonymous: Seeded, fresh_proxy: rs.FaultProxy, tmp_path: Path
) -> None:
    local = _inventory(anonymous.layouts["alpine:3.20.3"], tmp_path / "local")
    layer = local.image.layers[0].digest
    fresh_proxy.faults.tamper.add(layer)
    ref = f"registry:{fresh_proxy.host}/alpine:3.20.3"
    with pytest.raises(DigestMismatch, match="tampered"):
        _inventory(ref, tmp_path / "pulled")
    assert layer.split(":")[1] not in {p.name for p in _blob_files(tmp_path / "pulled")}
    _assert_cache_is_sound(tmp_path / "pulled")
    fresh_proxy.faults.tamper.clear()
    assert _packages(_inventory(ref, tmp_path / "pulled")) == _packages(local)


def test_connection_dropped_mid_blob_resumes(
    anonymous: Seeded, fresh_proxy: rs.FaultProxy, tmp_path: Path
) -> None:
    local = _inventory(anonymous.layouts["debian:bookworm"], tmp_path / "local")
    layer = local.image.layers[0]
    fresh_proxy.faults.drop_after[layer.digest] = layer.size // 2
    pulled = _inventory(f"{fresh_proxy.host}/debian:bookworm", tmp_path / "pulled")
    assert _packages(pulled) == _packages(local)
    blob_gets = [p for m, p, _ in fresh_proxy.requests if p.endswith(layer.digest)]
    assert len(blob_gets) == 2  # the first broke off; the second resumed
    _assert_cache_is_sound(tmp_path / "pulled")


def test_a_download_broken_off_resumes_in_the_next_run(
    anonymous: Seeded, fresh_proxy: rs.FaultProxy, tmp_path: Path
) -> None:
    local = _inventory(anonymous.layouts["debian:bookworm"], tmp_path / "local")
    layer = local.image.layers[0]
    half = layer.size // 2
    fresh_proxy.faults.drop_after[layer.digest] = half
    reference = f"{fresh_proxy.host}/debian:bookworm"
    cache = tmp_path / "pulled"
    once = RegistrySource(reference, _options(cache, retries=0), reference=reference)
    with pytest.raises(RegistryError, match="resumes there"):
        _inventory(once, cache)
    # The next run (same cache) asks only for what the first one did not get.
    fresh_proxy.reset()
    pulled = _inventory(reference, cache)
    assert _packages(pulled) == _packages(local)
    ranges = [r for p, r in fresh_proxy.ranges if p.endswith(layer.digest)]
    assert ranges == [f"bytes={half}-"]
    _assert_cache_is_sound(cache)
    assert list((cache / "blobs" / "tmp").iterdir()) == []


def test_a_server_too_slow_times_out_cleanly(
    anonymous: Seeded, fresh_proxy: rs.FaultProxy, tmp_path: Path
) -> None:
    fresh_proxy.faults.delay = 2.0
    source = RegistrySource(
        f"{fresh_proxy.host}/busybox:musl",
        _options(tmp_path, read_timeout=0.3, retries=1, sleep=lambda s: None),
    )
    with pytest.raises(RegistryError, match="timed out"):
        _inventory(source, tmp_path)
    _assert_cache_is_sound(tmp_path)


def test_redirect_to_storage_gets_no_authorization(layouts: dict[str, str], tmp_path: Path) -> None:
    with rs.run_registry(tmp_path / "registry", "htpasswd") as registry:
        _seed(registry, {"busybox:musl": layouts["busybox:musl"]})
        proxy = rs.FaultProxy(registry.host)
        try:
            proxy.faults.redirect_blobs = True
            proxy.faults.upstream_auth = Credentials(rs.USERNAME, rs.PASSWORD).basic_header()
            creds = StaticCredentials(Credentials(rs.USERNAME, rs.PASSWORD))
            source = RegistrySource(
                f"{proxy.host}/busybox:musl", _options(tmp_path / "cache", credentials=creds)
            )
            _inventory(source, tmp_path / "cache")
        finally:
            proxy.close()
    storage = [(p, a) for _, p, a in proxy.requests if p.startswith("/_storage/")]
    assert storage  # blobs were fetched from "another host" (localhost, not 127.0.0.1)
    assert all(a == "" for _, a in storage)
    assert [a for _, p, a in proxy.requests if p.startswith("/v2/") and a]  # registry: yes


# --- authentication ---------------------------------------------------------------------------


def test_authenticated_pull_with_password_stdin(
    authenticated: Seeded,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "no-docker-config"))
    monkeypatch.setattr("sys.stdin", io.StringIO(rs.PASSWORD + "\n"))
    ref = f"{authenticated.registry.host}/busybox:musl"
    code = main(
        [
            *("sbom", ref, "--username", rs.USERNAME, "--password-stdin", "-f", "json"),
            *("--cache-dir", str(tmp_path), "-q"),
        ]
    )
    out, err = capsys.readouterr()
    assert code == ExitCode.OK, err
    assert json.loads(out)["image"]["source_type"] == "registry"
    assert rs.PASSWORD not in out + err


def test_wrong_credentials_are_exit_3_without_the_secret(
    authenticated: Seeded,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "no-docker-config"))
    monkeypatch.setattr("sys.stdin", io.StringIO("not-the-password-42\n"))
    ref = f"{authenticated.registry.host}/busybox:musl"
    code = main(
        [
            *("-v", "sbom", ref, "--username", rs.USERNAME, "--password-stdin"),
            *("--cache-dir", str(tmp_path), "-q"),
        ]
    )
    err = capsys.readouterr().err
    assert code == ExitCode.IMAGE_ERROR
    assert "refused the credentials" in err
    assert rs.USERNAME in err
    assert "not-the-password-42" not in err
    _assert_cache_is_sound(tmp_path)


def test_anonymous_pull_from_an_authenticated_registry_says_how_to_log_in(
    authenticated: Seeded,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "no-docker-config"))
    ref = f"{authenticated.registry.host}/busybox:musl"
    assert main(["sbom", ref, "--cache-dir", str(tmp_path), "-q"]) == ExitCode.IMAGE_ERROR
    assert "docker login" in capsys.readouterr().err


def test_credentials_from_docker_config(
    authenticated: Seeded,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import base64

    config_dir = tmp_path / "docker"
    config_dir.mkdir()
    auth = base64.b64encode(f"{rs.USERNAME}:{rs.PASSWORD}".encode()).decode()
    host = authenticated.registry.host
    (config_dir / "config.json").write_text(json.dumps({"auths": {host: {"auth": auth}}}))
    monkeypatch.setenv("DOCKER_CONFIG", str(config_dir))
    code = main(["resolve", f"{host}/busybox:musl", "--cache-dir", str(tmp_path)])
    out = capsys.readouterr().out
    assert code == ExitCode.OK
    assert "manifest   sha256:" in out
    if authenticated.registry.token_server is not None:
        scopes = {r.get("scope") for r in authenticated.registry.token_server.requests}
        assert "repository:busybox:pull" in scopes
        assert all(
            r.get("service") == rs.SERVICE for r in authenticated.registry.token_server.requests
        )


def test_credential_helper_protocol(
    authenticated: Seeded,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    helper = bin_dir / "docker-credential-basewatchtest"
    secret = json.dumps({"ServerURL": "", "Username": rs.USERNAME, "Secret": rs.PASSWORD})
    helper.write_text(
        f"#!/bin/sh\n[ \"$1\" = get ] || exit 1\nread server\ncat <<'EOF'\n{secret}\nEOF\n"
    )
    helper.chmod(0o755)
    config_dir = tmp_path / "docker"
    config_dir.mkdir()
    host = authenticated.registry.host
    (config_dir / "config.json").write_text(json.dumps({"credHelpers": {host: "basewatchtest"}}))
    monkeypatch.setenv("DOCKER_CONFIG", str(config_dir))
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    code = main(["resolve", f"{host}/busybox:musl", "--cache-dir", str(tmp_path)])
    assert code == ExitCode.OK, capsys.readouterr().err


def _resolve_with_docker_config(
    seeded: Seeded, entry: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> int:
    """`basewatch resolve` of busybox:musl with `entry` as Docker's config entry for the host."""
    host = seeded.registry.host
    config_dir = tmp_path / "docker"
    config_dir.mkdir()
    (config_dir / "config.json").write_text(json.dumps({"auths": {host: entry}}))
    monkeypatch.setenv("DOCKER_CONFIG", str(config_dir))
    return main(["resolve", f"{host}/busybox:musl", "--cache-dir", str(tmp_path)])


def test_identity_token_from_docker_config(
    authenticated: Seeded,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import base64

    token_server = authenticated.registry.token_server
    # As `docker login` leaves it for a registry whose token service gave a refresh token.
    entry = {
        "auth": base64.b64encode(f"{rs.USERNAME}:".encode()).decode(),
        "identitytoken": rs.REFRESH_TOKEN,
    }
    code = _resolve_with_docker_config(authenticated, entry, tmp_path, monkeypatch)
    captured = capsys.readouterr()
    if token_server is None:
        # Basic authentication needs a password; the identity token is not one.
        assert code == ExitCode.IMAGE_ERROR
        assert "identity token" in captured.err
        assert rs.REFRESH_TOKEN not in captured.err
        return
    assert code == ExitCode.OK, captured.err
    assert "manifest   sha256:" in captured.out
    (post, *_) = token_server.posts
    assert (post["grant_type"], post["refresh_token"], post["client_id"]) == (
        "refresh_token",
        rs.REFRESH_TOKEN,
        "basewatch",
    )
    assert (post["service"], post["scope"]) == (rs.SERVICE, "repository:busybox:pull")


def test_a_revoked_identity_token_is_a_clear_error(
    authenticated: Seeded,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    entry = {"identitytoken": "revoked-long-ago"}
    code = _resolve_with_docker_config(authenticated, entry, tmp_path, monkeypatch)
    err = capsys.readouterr().err
    assert code == ExitCode.IMAGE_ERROR
    assert "revoked-long-ago" not in err
    if authenticated.registry.token_server is None:
        assert "identity token" in err  # Basic authentication cannot use one at all
        return
    assert "refused the identity token" in err
    assert "docker login" in err
