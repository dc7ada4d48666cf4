from __future__ import annotations

import pytest

from basewatch.errors import UsageError
from basewatch.oci.reference import (
    DOCKER_HUB_HOST,
    looks_like_reference,
    parse_host,
    parse_reference,
)

DIGEST = "sha256:" + "ab" * 32


@pytest.mark.parametrize(
    ("text", "registry", "repository", "tag", "digest"),
    [
        ("debian", "docker.io", "library/debian", "", ""),
        ("debian:bookworm-slim", "docker.io", "library/debian", "bookworm-slim", ""),
        ("library/debian", "docker.io", "library/debian", "", ""),
        ("docker.io/debian:12", "docker.io", "library/debian", "12", ""),
        ("index.docker.io/library/nginx:1.27", "docker.io", "library/nginx", "1.27", ""),
        ("bitnami/redis:7", "docker.io", "bitnami/redis", "7", ""),
        ("ghcr.io/org/app:1.2", "ghcr.io", "org/app", "1.2", ""),
        ("localhost:5000/app@" + DIGEST, "localhost:5000", "app", "", DIGEST),
        ("localhost/app", "localhost", "app", "", ""),
        ("127.0.0.1:5000/a/b/c:v1@" + DIGEST, "127.0.0.1:5000", "a/b/c", "v1", DIGEST),
        ("[::1]:5000/app:x", "[::1]:5000", "app", "x", ""),
    ],
)
def test_parses_docker_references(
    text: str, registry: str, repository: str, tag: str, digest: str
) -> None:
    ref = parse_reference(text)
    assert (ref.registry, ref.repository, ref.tag, ref.digest) == (
        registry,
        repository,
        tag,
        digest,
    )


def test_docker_hub_is_served_from_registry_1() -> None:
    assert parse_reference("debian").host == DOCKER_HUB_HOST == "registry-1.docker.io"
    assert parse_reference("ghcr.io/org/app").host == "ghcr.io"
    assert str(parse_reference("debian")) == "docker.io/library/debian:latest"


def test_a_digest_wins_over_a_tag() -> None:
    ref = parse_reference(f"debian:bookworm@{DIGEST}")
    assert ref.target == DIGEST
    assert parse_reference("debian").target == "latest"
    assert parse_reference("debian:12").target == "12"


def test_loopback_hosts() -> None:
    assert parse_reference("localhost:5000/app").is_loopback
    assert parse_reference("127.0.0.1:5000/app").is_loopback
    assert parse_reference("[::1]:5000/app").is_loopback
    assert not parse_reference("ghcr.io/app").is_loopback


@pytest.mark.parametrize(
    "text",
    ["", "Debian", "debian:", "debian@sha256:1234", "/abs/path", "a//b", "debian:-bad", " x"],
)
def test_refuses_malformed_references(text: str) -> None:
    with pytest.raises(UsageError):
        parse_reference(text)
    assert not looks_like_reference(text)


@pytest.mark.parametrize(
    "text", ["127.0.0.1:99999/app:1", "localhost:0/app", "reg.lan:65536/a/b", "[::1]:70000/x"]
)
def test_a_port_outside_1_to_65535_is_refused_not_wrapped(text: str) -> None:
    with pytest.raises(UsageError, match="not between 1 and 65535"):
        parse_reference(text)
    # still recognised as meant for a registry, so the user hears about the port
    assert looks_like_reference(text)


def test_the_highest_port_is_fine() -> None:
    assert parse_reference("reg.lan:65535/app").registry == "reg.lan:65535"


@pytest.mark.parametrize("text", ["h:99999", "h:0", "h:", "bad host", "h/x"])
def test_parse_host_refuses_what_is_no_host(text: str) -> None:
    with pytest.raises(UsageError, match="--insecure-registry"):
        parse_host(text, "--insecure-registry")
    assert parse_host("Reg.LAN:5000") == "reg.lan:5000"
