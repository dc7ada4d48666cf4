from __future__ import annotations

import logging

import httpx
import pytest

from basewatch.errors import DigestMismatch, ImageError, RegistryError
from basewatch.registry.auth import Credentials, StaticCredentials
from basewatch.registry.client import RegistryClient
from basewatch.registry.options import RegistryOptions
from basewatch.registry.reference import parse_reference
from basewatch.registry.source import RegistrySource, resolve
from tests.imagebuild import build_image, file, sha256
from tests.unit.registry.fakeregistry import (
    HOST,
    PASSWORD,
    TOKEN,
    TOKEN_HOST,
    USER,
    FakeRegistry,
    options,
)

REF = parse_reference(f"{HOST}/library/debian:12")


def seeded(**kwargs: object) -> tuple[FakeRegistry, str]:
    registry = FakeRegistry(**kwargs)  # type: ignore[arg-type]
    image = build_image([[file("etc/os-release", "ID=debian\n")]])
    return registry, registry.add_image("library/debian", "12", image)


def client(registry: FakeRegistry, **kwargs: object) -> RegistryClient:
    return RegistryClient(options(registry, **kwargs))


def test_head_gives_the_digest_without_a_body() -> None:
    registry, digest = seeded()
    with client(registry) as c:
        head = c.head_manifest(REF, "12")
    assert head is not None
    assert head.digest == digest
    assert registry.paths("GET") == []


def test_resolve_uses_head_then_the_manifest_by_digest(tmp_path: object) -> None:
    registry, digest = seeded()
    resolved = resolve(REF, options=options(registry, use_cache=False))
    assert resolved.digest == resolved.manifest_digest == digest
    assert [(r.method, r.url.path) for r in registry.requests] == [
        ("HEAD", "/v2/library/debian/manifests/12"),
        ("GET", f"/v2/library/debian/manifests/{digest}"),
    ]


def test_resolve_without_head_support_falls_back_to_get() -> None:
    registry, digest = seeded(head_allowed=False)
    assert resolve(REF, options=options(registry, use_cache=False)).digest == digest


def test_unknown_tag_is_a_clear_error() -> None:
    registry, _ = seeded()
    with pytest.raises(RegistryError, match="no tag 'nope'"):
        resolve(f"{HOST}/library/debian:nope", options=options(registry, use_cache=False))


def test_anonymous_bearer_flow_asks_the_realm_with_service_and_scope() -> None:
    registry, digest = seeded(auth="bearer")
    with client(registry) as c:
        assert c.get_manifest(REF, "12").digest == digest
        assert c.get_manifest(REF, digest).digest == digest
    token_requests = [r for r in registry.requests if r.url.host == TOKEN_HOST]
    assert len(token_requests) == 1  # the token is reused
    query = dict(token_requests[0].url.params)
    assert query == {"service": "fake-registry", "scope": "repository:library/debian:pull"}
    assert "Authorization" not in token_requests[0].headers
    assert registry.requests[-1].headers["Authorization"] == f"Bearer {TOKEN}"


def test_bearer_flow_with_credentials_sends_them_to_the_realm_only() -> None:
    registry, _ = seeded(auth="bearer")
    creds = StaticCredentials(Credentials(USER, PASSWORD))
    with client(registry, credentials=creds) as c:
        c.get_manifest(REF, "12")
    token_request = next(r for r in registry.requests if r.url.host == TOKEN_HOST)
    assert token_request.headers["Authorization"].startswith("Basic ")
    for request in registry.requests:
        if request.url.host == HOST:
            assert not request.headers.get("Authorization", "").startswith("Basic")


def test_wrong_credentials_name_the_user_never_the_password(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    registry, _ = seeded(auth="bearer")
    creds = StaticCredentials(Credentials(USER, "wrong-password-xyz"))
    with client(registry, credentials=creds) as c, pytest.raises(RegistryError) as info:
        c.get_manifest(REF, "12")
    assert USER in str(info.value)
    assert "wrong-password-xyz" not in str(info.value)
    assert "wrong-password-xyz" not in caplog.text


def test_basic_auth() -> None:
    registry, digest = seeded(auth="basic")
    creds = StaticCredentials(Credentials(USER, PASSWORD))
    with client(registry, credentials=creds) as c:
        assert c.get_manifest(REF, "12").digest == digest
        c.get_manifest(REF, digest)
    # after the first challenge, credentials are sent up front
    assert [r.headers.get("Authorization", "") != "" for r in registry.requests] == [
        False,
        True,
        True,
    ]


def test_basic_auth_without_credentials_says_how_to_log_in() -> None:
    registry, _ = seeded(auth="basic")
    with client(registry) as c, pytest.raises(RegistryError, match="docker login"):
        c.get_manifest(REF, "12")


def test_basic_auth_with_wrong_password() -> None:
    registry, _ = seeded(auth="basic")
    creds = StaticCredentials(Credentials(USER, "nope-nope"))
    with client(registry, credentials=creds) as c, pytest.raises(RegistryError) as info:
        c.get_manifest(REF, "12")
    assert "refused the credentials" in str(info.value)
    assert "nope-nope" not in str(info.value)


def test_429_and_5xx_are_retried_honouring_retry_after() -> None:
    registry, digest = seeded()
    registry.statuses = [(429, {"Retry-After": "7"}), (503, {}), (502, {})]
    sleeps: list[float] = []
    with client(registry, sleeps=sleeps, backoff=0.25) as c:
        assert c.get_manifest(REF, "12").digest == digest
    assert sleeps == [7.0, 0.5, 1.0]


def test_retries_give_up_with_a_clear_error() -> None:
    registry, _ = seeded()
    registry.statuses = [(429, {"Retry-After": "1"})] * 10
    with client(registry, retries=2) as c, pytest.raises(RegistryError, match="429"):
        c.get_manifest(REF, "12")


def test_retry_after_is_capped() -> None:
    registry, _ = seeded()
    registry.statuses = [(429, {"Retry-After": "100000"})]
    sleeps: list[float] = []
    with client(registry, sleeps=sleeps, max_retry_after=5.0) as c:
        c.get_manifest(REF, "12")
    assert sleeps == [5.0]


def test_redirect_to_storage_drops_the_authorization_header() -> None:
    registry, _ = seeded(auth="basic", redirect_blobs_to="storage.test")
    creds = StaticCredentials(Credentials(USER, PASSWORD))
    image_blob = next(d for d, b in registry.blobs.items() if b.startswith(b"\x1f\x8b"))
    with client(registry, credentials=creds) as c, c.open_blob(REF, image_blob) as stream:
        data = b"".join(stream.chunks)
    assert sha256(data) == image_blob
    storage = [r for r in registry.requests if r.url.host == "storage.test"]
    assert storage
    assert all("Authorization" not in r.headers for r in storage)


def test_a_manifest_that_does_not_match_its_digest_is_refused() -> None:
    registry, digest = seeded()
    media_type, data = registry.manifests[digest]
    registry.manifests[digest] = (media_type, data + b" ")
    with client(registry) as c, pytest.raises(DigestMismatch):
        c.get_manifest(REF, digest)


def test_schema1_manifest_is_a_clear_error() -> None:
    registry = FakeRegistry()
    data = b'{"schemaVersion": 1, "name": "library/debian", "fsLayers": []}'
    digest = sha256(data)
    registry.manifests[digest] = ("application/vnd.docker.distribution.manifest.v1+prettyjws", data)
    registry.tags[("library/debian", "12")] = digest
    with pytest.raises(ImageError, match="schema 1"):
        resolve(REF, options=options(registry, use_cache=False))


def test_insecure_and_loopback_hosts_use_https_when_they_can_else_http() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.scheme == "https" and request.url.host in ("plain.lan", "127.0.0.1"):
            raise httpx.ConnectError("[SSL: WRONG_VERSION_NUMBER]", request=request)
        return httpx.Response(401)

    opts = RegistryOptions(
        transport=httpx.MockTransport(handler),
        insecure_registries=frozenset({"plain.lan:5000", "tls.lan:5000"}),
    )
    with RegistryClient(opts) as c:
        assert c.base_url("plain.lan:5000") == "http://plain.lan:5000"
        assert c.base_url("tls.lan:5000") == "https://tls.lan:5000"
        assert c.base_url("127.0.0.1:5000") == "http://127.0.0.1:5000"
        assert c.base_url("ghcr.io") == "https://ghcr.io"
        # certificates are verified except on hosts the user called insecure (and loopback)
        assert c._client_for("https://ghcr.io/v2/") is c._http
        assert c._client_for("https://tls.lan:5000/v2/") is not c._http
        assert c._client_for("https://storage.test/blob") is c._http


def test_source_label_in_errors() -> None:
    registry, _ = seeded()
    source = RegistrySource(f"{HOST}/library/debian:nope", options(registry, use_cache=False))
    with pytest.raises(RegistryError, match=f"{HOST}/library/debian"), source.open():
        pass


def test_each_repository_gets_a_token_for_its_own_scope() -> None:
    registry, _ = seeded(auth="bearer")
    image = build_image([[file("etc/os-release", "ID=alpine\n")]])
    registry.add_image("library/alpine", "3", image)
    with client(registry) as c:
        c.get_manifest(REF, "12")
        c.get_manifest(parse_reference(f"{HOST}/library/alpine:3"), "3")
    scopes = [dict(r.url.params)["scope"] for r in registry.requests if r.url.host == TOKEN_HOST]
    assert scopes == ["repository:library/debian:pull", "repository:library/alpine:pull"]


def test_unknown_repository_is_named_as_such() -> None:
    registry, _ = seeded()

    def handler(request: httpx.Request) -> httpx.Response:
        if "/nope/" in request.url.path:
            body = {"errors": [{"code": "NAME_UNKNOWN", "message": "repository name not known"}]}
            return httpx.Response(404, json=body)
        return registry.handle(request)

    opts = RegistryOptions(transport=httpx.MockTransport(handler), use_cache=False)
    with pytest.raises(RegistryError, match="no such repository"):
        resolve(f"{HOST}/nope:1", options=opts)
