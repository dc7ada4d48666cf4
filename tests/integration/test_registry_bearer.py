"""Pulling with the `Authorization` value Harbor's scanner API hands over, from a real registry.

Debian's `docker-registry` on loopback (registry_server.py), seeded with the busybox OCI image:
with htpasswd auth, `Basic base64(user:password)` is used for Basic authentication; with token
auth, `Bearer JWT` (a real JWT from the test's token issuer, as Harbor would issue one for the
scanned repository) goes to the registry as it is, and the token service hears nothing.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import pytest

from basewatch.errors import RegistryError, Remedy
from basewatch.oci.registry.auth import StaticCredentials, credentials_from_authorization
from basewatch.oci.registry.options import RegistryOptions
from basewatch.oci.registry.source import RegistrySource, resolve
from tests.fixtures import shared_fixture
from tests.integration import registry_server as rs
from tests.integration.conftest import in_ci

pytestmark = pytest.mark.integration

BUSYBOX = "images/busybox-1.38.0-musl-amd64.oci.tar"
REPO_TAG = "busybox:musl"
PULL_SCOPE = "repository:busybox:pull"


def _require_tools() -> None:
    missing = rs.missing_tools()
    if missing:
        message = f"registry tests need {', '.join(missing)}"
        if in_ci():
            pytest.fail(message, pytrace=False)
        pytest.skip(message)


def _seeded(workdir: Path, mode: rs.AuthMode) -> Iterator[rs.RunningRegistry]:
    _require_tools()
    busybox = shared_fixture(BUSYBOX)
    with rs.run_registry(workdir, mode) as registry:
        registry.push(f"oci-archive:{busybox}", REPO_TAG)
        yield registry


@pytest.fixture(scope="module")
def htpasswd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[rs.RunningRegistry]:
    yield from _seeded(tmp_path_factory.mktemp("htpasswd"), "htpasswd")


@pytest.fixture(scope="module")
def token(tmp_path_factory: pytest.TempPathFactory) -> Iterator[rs.RunningRegistry]:
    yield from _seeded(tmp_path_factory.mktemp("token"), "token")


def _options(registry: rs.RunningRegistry, authorization: str, cache: Path) -> RegistryOptions:
    creds = StaticCredentials(credentials_from_authorization(authorization), registry.host)
    return RegistryOptions(credentials=creds, cache_dir=cache, use_cache=False)


def _pull(registry: rs.RunningRegistry, options: RegistryOptions) -> str:
    """Resolve busybox:musl, then open it and read every layer; its manifest digest."""
    ref = f"{registry.host}/{REPO_TAG}"
    resolved = resolve(ref, options=options)
    with RegistrySource(ref, options).open() as image:
        assert image.info.manifest_digest == resolved.manifest_digest
        assert image.info.layers
        for layer in image.info.layers:
            with image.layer(layer) as reader:
                assert any(entry.path == "/bin/busybox" for entry, _ in reader.entries())
    return resolved.manifest_digest


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


# --- Basic: robot account credentials ---------------------------------------------------------


def test_basic_authorization_pulls_from_an_htpasswd_registry(
    htpasswd: rs.RunningRegistry, tmp_path: Path
) -> None:
    options = _options(htpasswd, _basic(rs.USERNAME, rs.PASSWORD), tmp_path)
    assert _pull(htpasswd, options).startswith("sha256:")


def test_basic_authorization_with_a_wrong_password_is_refused_clearly(
    htpasswd: rs.RunningRegistry, tmp_path: Path
) -> None:
    wrong = "not-the-password-71"
    options = _options(htpasswd, _basic(rs.USERNAME, wrong), tmp_path)
    with pytest.raises(RegistryError, match="refused the credentials") as info:
        _pull(htpasswd, options)
    assert rs.USERNAME in str(info.value)
    assert wrong not in str(info.value)


def test_a_bearer_token_cannot_answer_an_htpasswd_registry(
    htpasswd: rs.RunningRegistry, tmp_path: Path
) -> None:
    secret = "a-token-for-some-other-registry"
    with pytest.raises(RegistryError, match="Basic authentication") as info:
        _pull(htpasswd, _options(htpasswd, f"Bearer {secret}", tmp_path))
    assert info.value.remedy is Remedy.GIVE_CREDENTIALS
    assert secret not in str(info.value)


# --- Bearer: a registry token, used as it is ----------------------------------------------------


def _token_server(registry: rs.RunningRegistry) -> rs.TokenServer:
    assert registry.token_server is not None
    return registry.token_server


def test_bearer_authorization_pulls_without_asking_the_token_service(
    token: rs.RunningRegistry, tmp_path: Path
) -> None:
    server = _token_server(token)
    jwt = server.token_for(PULL_SCOPE)
    before = server.received
    assert _pull(token, _options(token, f"Bearer {jwt}", tmp_path)).startswith("sha256:")
    assert server.received == before  # the token went to the registry as it was, unexchanged


@pytest.fixture
def counting_proxy(token: rs.RunningRegistry) -> Iterator[rs.FaultProxy]:
    """A proxy in front of the token registry that records what the client sends it."""
    proxy = rs.FaultProxy(token.host)
    yield proxy
    proxy.close()


def test_a_token_for_another_repository_is_refused_without_a_loop(
    token: rs.RunningRegistry, counting_proxy: rs.FaultProxy, tmp_path: Path
) -> None:
    server = _token_server(token)
    jwt = server.token_for("repository:someone-else:pull")
    before = server.received
    creds = StaticCredentials(credentials_from_authorization(f"bearer {jwt}"), counting_proxy.host)
    options = RegistryOptions(credentials=creds, cache_dir=tmp_path, use_cache=False)
    with pytest.raises(RegistryError, match="refused the bearer token") as info:
        resolve(f"{counting_proxy.host}/{REPO_TAG}", options=options)
    assert "busybox" in str(info.value)
    assert info.value.remedy is Remedy.GIVE_CREDENTIALS
    assert jwt not in str(info.value)
    assert server.received == before
    # asked once anonymously (the challenge), once with the token, then given up
    sent = [auth for _, _, auth in counting_proxy.requests]
    assert sent == ["", f"Bearer {jwt}"]
