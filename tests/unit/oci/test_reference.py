from __future__ import annotations

from pathlib import Path

import pytest

from basewatch.errors import ImageError, ImageNotFound, UsageError
from basewatch.oci.reference import (
    DOCKER_HUB_HOST,
    LocalKind,
    LocalRef,
    RegistryRef,
    looks_like_reference,
    parse_host,
    parse_image_ref,
    parse_reference,
)
from tests.imagebuild import (
    build_image,
    compress,
    file,
    layer_tar,
    write_docker_archive,
    write_oci_layout,
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


# --- parse_image_ref: every way of naming an image ----------------------------------------------


def test_registry_references_keep_the_text_as_given() -> None:
    ref = parse_image_ref("debian:12")
    assert ref == RegistryRef("docker.io", "library/debian", "12")
    assert ref.text == "debian:12"
    assert str(ref) == "docker.io/library/debian:12"
    forced = parse_image_ref("registry:localhost:5000/app")
    assert forced == RegistryRef("localhost:5000", "app")
    assert forced.text == "registry:localhost:5000/app"
    assert forced.with_digest(DIGEST).text == f"localhost:5000/app@{DIGEST}"
    with pytest.raises(UsageError, match="must follow 'registry:'"):
        parse_image_ref("registry:")
    with pytest.raises(UsageError, match="not between 1 and 65535"):
        parse_image_ref("127.0.0.1:99999/app:1")


def test_prefixes_say_the_kind_without_reading_the_path(tmp_path: Path) -> None:
    missing = tmp_path / "nothing"
    assert parse_image_ref(f"dir:{missing}") == LocalRef(LocalKind.DIR, missing)
    assert parse_image_ref(f"rootfs:{missing}") == LocalRef(LocalKind.ROOTFS, missing)
    # no prefix of it exists: all of it is the path, and opening it says it is missing
    whole = LocalRef(LocalKind.OCI, Path(f"{missing}:v1"))
    assert parse_image_ref(f"oci:{missing}:v1") == whole
    by_digest = parse_image_ref(f"oci:{missing}@{DIGEST}")
    assert by_digest == LocalRef(LocalKind.OCI, missing, digest=DIGEST)
    assert by_digest.text == f"oci:{missing}@{DIGEST}"
    with pytest.raises(ImageError, match="not a valid digest"):
        parse_image_ref(f"oci:{missing}@sha256:nope")
    with pytest.raises(UsageError, match="a path must follow 'oci:'"):
        parse_image_ref("oci:")


def test_paths_with_colons_take_the_longest_existing_prefix(tmp_path: Path) -> None:
    image = build_image([[file("x", "1")]])
    archive = write_docker_archive(tmp_path / "a:b.tar", [(image, ["app:1"])])
    ref = parse_image_ref(f"docker-archive:{archive}:app:1")
    assert ref == LocalRef(LocalKind.DOCKER_ARCHIVE, archive, tag="app:1")
    # a bare path: the kind is read from what the path holds
    assert parse_image_ref(f"{archive}:app:1") == ref
    assert parse_image_ref(str(archive)).text == str(archive)


def test_bare_paths_are_detected_from_their_content(tmp_path: Path) -> None:
    layout = write_oci_layout(tmp_path / "layout", [(build_image([[file("x", "1")]]), "v")])
    assert parse_image_ref(str(layout)) == LocalRef(LocalKind.OCI, layout)
    assert parse_image_ref(f"{layout}:v") == LocalRef(LocalKind.OCI, layout, tag="v")
    assert parse_image_ref(f"oci:{layout}:v") == LocalRef(LocalKind.OCI, layout, tag="v")
    root = tmp_path / "root"
    root.mkdir()
    assert parse_image_ref(str(root)) == LocalRef(LocalKind.DIR, root)
    raw = layer_tar([file("etc/os-release", "ID=alpine\n")])
    for how in ("gzip", "zstd", "none"):
        path = tmp_path / f"rootfs-{how}.tar"
        path.write_bytes(compress(raw, how))
        assert parse_image_ref(str(path)) == LocalRef(LocalKind.ROOTFS, path)


def test_what_looks_like_a_path_is_never_a_registry_reference(tmp_path: Path) -> None:
    for text in (str(tmp_path / "missing.tar"), "missing.tar", "./app", "sub/image.tar.gz"):
        with pytest.raises(ImageNotFound, match="prefix it with"):
            parse_image_ref(text)
    assert isinstance(parse_image_ref("ghcr.io/org/app:1.2"), RegistryRef)
