from __future__ import annotations

import base64
import contextlib
import json
import logging
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from basewatch.clock import FixedClock
from basewatch.errors import DigestMismatch, ImageError, RegistryError, Remedy
from basewatch.oci.reference import parse_reference
from basewatch.oci.registry.auth import (
    Credentials,
    StaticCredentials,
    credentials_from_authorization,
)
from basewatch.oci.registry.client import RegistryClient, _fatal_cause
from basewatch.oci.registry.options import RegistryOptions
from basewatch.oci.registry.source import RegistrySource, resolve
from tests.imagebuild import build_image, file, sha256
from tests.unit.oci.registry.fakeregistry import (
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
    with client(registry, credentials=creds, allowed_auth_hosts=frozenset({TOKEN_HOST})) as c:
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
    allowed = frozenset({TOKEN_HOST})
    with (
        client(registry, credentials=creds, allowed_auth_hosts=allowed) as c,
        pytest.raises(RegistryError) as info,
    ):
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
    with client(registry) as c, pytest.raises(RegistryError, match="no credentials") as info:
        c.get_manifest(REF, "12")
    assert info.value.remedy is Remedy.GIVE_CREDENTIALS
    assert info.value.registry == "registry.test"


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


def test_a_retry_after_date_is_read_on_the_injected_clock() -> None:
    registry, digest = seeded()
    clock = FixedClock(datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC))
    registry.statuses = [(429, {"Retry-After": "Sun, 01 Mar 2026 12:00:09 GMT"})]
    sleeps: list[float] = []
    with client(registry, sleeps=sleeps, clock=clock) as c:
        assert c.get_manifest(REF, "12").digest == digest
    assert sleeps == [9.0]


def test_retry_after_is_capped() -> None:
    registry, _ = seeded()
    registry.statuses = [(429, {"Retry-After": "100000"})]
    sleeps: list[float] = []
    with client(registry, sleeps=sleeps, max_retry_after=5.0) as c:
        c.get_manifest(REF, "12")
    assert sleeps == [5.0]


def token_requests(registry: FakeRegistry) -> int:
    return sum(1 for r in registry.requests if r.url.host == TOKEN_HOST)


def test_one_client_serves_several_pulls_with_one_token(tmp_path: Path) -> None:
    registry = FakeRegistry(auth="bearer")
    for tag, name in (("12", "twelve"), ("13", "thirteen")):
        registry.add_image("library/debian", tag, build_image([[file(f"etc/{name}", "x")]]))
    refs = [f"{HOST}/library/debian:{tag}" for tag in ("12", "13")]

    def pull_both(shared: RegistryClient | None) -> None:
        for ref in refs:
            source = RegistrySource(ref, options(registry, cache_dir=tmp_path), client=shared)
            with source.open() as image:
                for layer in image.info.layers:
                    with image.layer(layer) as reader:
                        list(reader.entries())

    pull_both(None)  # a client per pull: each asks for a token of its own
    assert token_requests(registry) == 2
    registry.requests.clear()
    with RegistryClient(options(registry, cache_dir=tmp_path)) as shared:
        pull_both(shared)
        assert token_requests(registry) == 1
        # the client outlives the pulls: still open, token still cached
        assert resolve(refs[0], client=shared).digest == registry.tags[("library/debian", "12")]
        assert token_requests(registry) == 1


def test_a_token_is_renewed_when_it_expires_by_the_injected_clock() -> None:
    registry, _ = seeded(auth="bearer")  # the fake's tokens live 300 s
    clock = FixedClock(datetime(2026, 1, 1, tzinfo=UTC))
    with client(registry, clock=clock) as c:
        c.get_manifest(REF, "12")
        clock.advance(280.0)
        c.get_manifest(REF, "12")
        assert token_requests(registry) == 1
        clock.advance(20.0)  # within 10 s of its expiry: renewed before it is used
        c.get_manifest(REF, "12")
        assert token_requests(registry) == 2


def test_without_credentials_or_a_docker_config_pulls_are_anonymous(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the library reads no environment: a Docker config named there is not used
    config = tmp_path / "docker"
    config.mkdir()
    (config / "config.json").write_text(
        json.dumps({"auths": {HOST: {"username": USER, "password": PASSWORD}}})
    )
    monkeypatch.setenv("DOCKER_CONFIG", str(config))
    registry, _ = seeded(auth="basic")
    transport = registry.transport()
    with RegistryClient(RegistryOptions(transport=transport)) as c, pytest.raises(RegistryError):
        c.get_manifest(REF, "12")
    with RegistryClient(RegistryOptions(transport=transport, docker_config=config)) as c:
        c.get_manifest(REF, "12")


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


def test_clients_share_one_tls_context_a_process_and_still_verify() -> None:
    """A client is made for every job of a worker: the CA bundle is loaded once, not each time."""

    def context(http: httpx.Client) -> ssl.SSLContext:
        transport = http._transport
        assert isinstance(transport, httpx.HTTPTransport)
        found = transport._pool._ssl_context  # what httpx's connection pool wraps sockets with
        assert isinstance(found, ssl.SSLContext)
        return found

    opts = RegistryOptions(insecure_registries=frozenset({"tls.lan:5000"}))
    with RegistryClient(opts) as first, RegistryClient(opts) as second:
        verified = context(first._http)
        assert context(second._http) is verified
        assert verified.verify_mode is ssl.CERT_REQUIRED and verified.check_hostname
        assert verified.cert_store_stats()["x509_ca"] > 0  # a CA bundle was loaded
        unverified = context(first._client_for("https://tls.lan:5000/v2/"))
        assert context(second._client_for("https://tls.lan:5000/v2/")) is unverified
        assert unverified.verify_mode is ssl.CERT_NONE and not unverified.check_hostname


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


# --- tag lists whose pagination does not end ------------------------------------------------


def paging_transport(next_link: Callable[[int], str], cap: int) -> httpx.MockTransport:
    """A tag list whose every page links to `next_link(page number)`; fails the test (instead
    of hanging it) after `cap` pages."""
    served: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        served.append(1)
        if len(served) > cap:
            raise AssertionError(f"the client asked for more than {cap} pages")
        link = f'<{next_link(len(served))}>; rel="next"'
        body = json.dumps({"tags": [f"t{len(served)}"]}).encode()
        return httpx.Response(200, headers={"Link": link}, stream=httpx.ByteStream(body))

    return httpx.MockTransport(handler)


def test_a_tag_list_linking_to_itself_stops_with_an_error() -> None:
    transport = paging_transport(lambda page: "/v2/library/debian/tags/list?n=1000", cap=10)
    opts = RegistryOptions(
        transport=transport, credentials=StaticCredentials(Credentials("a", "b"))
    )
    with RegistryClient(opts) as c, pytest.raises(RegistryError, match="pagination loops"):
        c.list_tags(REF)


def test_a_tag_list_that_loops_over_two_pages_stops_too() -> None:
    transport = paging_transport(
        lambda page: f"/v2/library/debian/tags/list?n=1000&last=t{page % 2}", cap=10
    )
    with RegistryClient(RegistryOptions(transport=transport)) as c, pytest.raises(RegistryError):
        c.list_tags(REF)


def test_a_tag_list_without_end_stops_at_a_page_cap() -> None:
    transport = paging_transport(
        lambda page: f"/v2/library/debian/tags/list?n=1&last=t{page}", cap=2000
    )
    with (
        RegistryClient(RegistryOptions(transport=transport)) as c,
        pytest.raises(RegistryError, match="does not end"),
    ):
        c.list_tags(REF, limit=10**9)


# --- errors that no retry can mend ----------------------------------------------------------


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])  # nothing listens once it is closed


@pytest.mark.parametrize(
    ("reference", "cause"),
    [
        ("127.0.0.1:{port}/app:1", "connection was refused"),
        ("basewatch-no-such-host.invalid/app:1", "cannot be resolved"),
    ],
)
def test_unreachable_hosts_fail_at_once_naming_host_and_cause(reference: str, cause: str) -> None:
    ref = parse_reference(reference.format(port=closed_port()))
    sleeps: list[float] = []
    opts = RegistryOptions(
        credentials=StaticCredentials(Credentials("a", "b")), sleep=sleeps.append
    )
    started = time.monotonic()
    with RegistryClient(opts) as c, pytest.raises(RegistryError) as info:
        c.get_manifest(ref, "1")
    assert sleeps == []  # not retried
    assert time.monotonic() - started < 5
    assert str(info.value).startswith(ref.host)
    assert cause in str(info.value)


def test_a_certificate_that_does_not_verify_is_not_worth_a_retry(tmp_path: Path) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj",
         "/CN=registry.test", "-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
    )  # fmt: skip
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        port = listener.getsockname()[1]

        def serve() -> None:
            conn, _ = listener.accept()
            with conn, contextlib.suppress(OSError), context.wrap_socket(conn, server_side=True):
                pass

        thread = threading.Thread(target=serve, daemon=True)
        thread.start()
        with httpx.Client(verify=True) as http, pytest.raises(httpx.ConnectError) as info:
            http.get(f"https://127.0.0.1:{port}/v2/")
        thread.join(5)
    reason, remedy = _fatal_cause(info.value)
    assert "does not verify" in reason
    assert remedy is Remedy.ALLOW_INSECURE


def test_dropped_connections_are_still_retried() -> None:
    registry, digest = seeded()
    calls: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        if len(calls) <= 2:
            raise httpx.ReadError("connection reset by peer", request=request)
        return registry.handle(request)

    sleeps: list[float] = []
    opts = RegistryOptions(transport=httpx.MockTransport(handler), sleep=sleeps.append)
    with RegistryClient(opts) as c:
        assert c.get_manifest(REF, "12").digest == digest
    assert len(sleeps) == 2


# --- credentials go to the registry's own token service only --------------------------------


def test_credentials_are_withheld_from_a_token_service_on_another_host(
    caplog: pytest.LogCaptureFixture,
) -> None:
    registry, digest = seeded(auth="bearer")  # the realm is auth.test, the registry not
    creds = StaticCredentials(Credentials(USER, PASSWORD))
    with client(registry, credentials=creds) as c:
        assert c.get_manifest(REF, "12").digest == digest  # an anonymous token served
    token_requests = [r for r in registry.requests if r.url.host == TOKEN_HOST]
    assert token_requests
    assert all("Authorization" not in r.headers for r in token_requests)
    assert f"if {TOKEN_HOST} is its token service, allow it to have them" in caplog.text


def test_withheld_credentials_are_explained_when_anonymous_access_is_refused() -> None:
    registry, _ = seeded(auth="bearer", anonymous_tokens=False)
    creds = StaticCredentials(Credentials(USER, PASSWORD))
    with client(registry, credentials=creds) as c, pytest.raises(RegistryError) as info:
        c.get_manifest(REF, "12")
    message = str(info.value)
    assert "withheld" in message
    assert TOKEN_HOST in message
    assert f"allow {TOKEN_HOST} to have them" in message
    assert info.value.remedy is Remedy.ALLOW_AUTH_HOST
    assert PASSWORD not in message
    assert all("Authorization" not in r.headers for r in registry.requests if r.url.host != HOST)


@pytest.mark.parametrize(
    ("reference", "token_host"),
    [
        (f"{HOST}/library/debian:12", HOST),  # the registry's own host
        (f"{HOST}:5000/library/debian:12", HOST),  # another port of it
        ("docker.io/library/debian:12", "auth.docker.io"),  # Docker Hub's token service
    ],
)
def test_credentials_go_to_the_registrys_own_token_service(reference: str, token_host: str) -> None:
    registry, _ = seeded(auth="bearer", anonymous_tokens=False, token_host=token_host)
    registry.tags[("library/debian", "12")] = next(iter(registry.manifests))
    creds = StaticCredentials(Credentials(USER, PASSWORD))
    with client(registry, credentials=creds) as c:
        c.get_manifest(parse_reference(reference), "12")
    token_request = next(r for r in registry.requests if r.url.path == "/token")
    assert token_request.url.host == token_host
    assert token_request.headers["Authorization"].startswith("Basic ")


# --- a registry token handed over as an Authorization value (Harbor's scanner API) ----------


def bearer(token: str) -> StaticCredentials:
    return StaticCredentials(credentials_from_authorization(f"Bearer {token}"), HOST)


def test_a_registry_token_answers_the_bearer_challenge_as_it_is(tmp_path: Path) -> None:
    registry, digest = seeded(auth="bearer")
    with client(registry, credentials=bearer(TOKEN), cache_dir=tmp_path) as c:
        assert c.get_manifest(REF, "12").digest == digest
        # known now to want a Bearer token: sent up front, one request
        registry.requests.clear()
        assert c.get_manifest(REF, digest).digest == digest
        assert len(registry.requests) == 1
        source = RegistrySource(str(REF), options(registry, cache_dir=tmp_path), client=c)
        with source.open() as image:
            for layer in image.info.layers:
                with image.layer(layer) as reader:
                    assert list(reader.entries())
    assert token_requests(registry) == 0  # never exchanged at the token service
    assert all(r.headers["Authorization"] == f"Bearer {TOKEN}" for r in registry.requests)


def test_a_refused_registry_token_fails_at_once_without_showing_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    registry, _ = seeded(auth="bearer")
    secret = "expired-registry-token-9f8e7d"
    with client(registry, credentials=bearer(secret)) as c:
        with pytest.raises(RegistryError, match="refused the bearer token") as info:
            c.get_manifest(REF, "12")
        # anonymous, then the token once: no loop, no token service
        assert [r.headers.get("Authorization", "") for r in registry.requests] == [
            "",
            f"Bearer {secret}",
        ]
        registry.requests.clear()
        with pytest.raises(RegistryError, match="refused the bearer token"):
            c.get_manifest(REF, "12")
        assert len(registry.requests) == 1  # sent up front, refused, not tried again
    assert token_requests(registry) == 0
    assert info.value.remedy is Remedy.GIVE_CREDENTIALS
    assert info.value.registry == HOST
    assert "library/debian" in str(info.value)
    assert secret not in str(info.value)
    assert secret not in repr(info.value)
    assert secret not in caplog.text


def test_a_registry_token_cannot_answer_a_basic_challenge() -> None:
    registry, _ = seeded(auth="basic")
    with (
        client(registry, credentials=bearer(TOKEN)) as c,
        pytest.raises(RegistryError, match="Basic authentication") as info,
    ):
        c.get_manifest(REF, "12")
    assert info.value.remedy is Remedy.GIVE_CREDENTIALS
    assert TOKEN not in str(info.value)
    assert len(registry.requests) == 1  # the token was offered to nobody
    assert "Authorization" not in registry.requests[0].headers


def test_a_registry_token_is_not_sent_along_a_redirect_to_storage() -> None:
    registry, _ = seeded(auth="bearer", redirect_blobs_to="storage.test")
    image_blob = next(d for d, b in registry.blobs.items() if b.startswith(b"\x1f\x8b"))
    with (
        client(registry, credentials=bearer(TOKEN)) as c,
        c.open_blob(REF, image_blob) as stream,
    ):
        assert sha256(b"".join(stream.chunks)) == image_blob
    storage = [r for r in registry.requests if r.url.host == "storage.test"]
    assert storage
    assert all("Authorization" not in r.headers for r in storage)
    assert token_requests(registry) == 0


def test_basic_credentials_from_an_authorization_value() -> None:
    registry, digest = seeded(auth="basic")
    value = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    creds = StaticCredentials(credentials_from_authorization(value), HOST)
    with client(registry, credentials=creds) as c:
        assert c.get_manifest(REF, "12").digest == digest
    assert registry.requests[-1].headers["Authorization"] == value
