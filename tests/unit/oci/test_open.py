from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from basewatch.errors import DigestMismatch, ImageError, ImageNotFound, UsageError
from basewatch.oci.archive import DockerArchiveSource
from basewatch.oci.layout import OciLayoutSource
from basewatch.oci.open import open_image, open_source
from basewatch.oci.reference import LocalKind, LocalRef, parse_image_ref, parse_reference
from basewatch.oci.registry.options import RegistryOptions
from basewatch.oci.registry.source import RegistrySource
from basewatch.oci.rootfs import DirSource, RootfsSource
from tests.imagebuild import (
    BuiltImage,
    build_image,
    compress,
    file,
    layer_tar,
    sha256,
    tar_directory,
    write_docker_archive,
    write_oci_layout,
)


def small_image(**kwargs: object) -> BuiltImage:
    return build_image(
        [[file("etc/os-release", "ID=debian\n")], [file("app/main.py", "print()\n")]],
        history=["ADD rootfs /", "COPY main.py /app/"],
        **kwargs,  # type: ignore[arg-type]
    )


def read_paths(reference: str, platform: str | None = None) -> list[list[str]]:
    source = open_source(reference)
    out = []
    with source.open(platform) as image:
        for layer in image.info.layers:
            with image.layer(layer) as reader:
                out.append([e.path for e, _ in reader.entries()])
    return out


def test_oci_layout_directory_and_tar(tmp_path: Path) -> None:
    image = small_image()
    layout = write_oci_layout(tmp_path / "layout", [(image, "1.0")])
    expected = [["/etc/os-release"], ["/app/main.py"]]
    assert read_paths(f"oci:{layout}") == expected
    assert read_paths(f"oci:{layout}:1.0") == expected
    archive = tar_directory(layout, tmp_path / "layout.tar")
    assert read_paths(f"oci:{archive}") == expected
    assert read_paths(str(archive)) == expected  # detected from the content
    source = open_source(f"oci:{layout}@{sha256(image.manifest_bytes)}")
    assert isinstance(source, OciLayoutSource)
    with source.open() as opened:
        info = opened.info
    assert info.manifest_digest == sha256(image.manifest_bytes)
    assert [layer.created_by for layer in info.layers] == ["ADD rootfs /", "COPY main.py /app/"]
    assert [layer.diff_id for layer in info.layers] == image.diff_ids


def test_oci_layout_with_several_images_needs_a_tag(tmp_path: Path) -> None:
    layout = write_oci_layout(
        tmp_path / "l", [(small_image(), "a"), (build_image([[file("x", "1")]]), "b")]
    )
    with pytest.raises(UsageError, match="holds 2 images"):
        read_paths(f"oci:{layout}")
    assert read_paths(f"oci:{layout}:b") == [["/x"]]
    with pytest.raises(ImageNotFound, match="no image tagged 'c'"):
        read_paths(f"oci:{layout}:c")


def test_platform_is_chosen_from_an_index(tmp_path: Path) -> None:
    amd = build_image([[file("amd", "1")]], arch="amd64")
    arm = build_image([[file("arm", "1")]], arch="arm64")
    layout = write_oci_layout(tmp_path / "l", [(amd, ""), (arm, "")], platforms=True)
    assert read_paths(f"oci:{layout}", "linux/arm64") == [["/arm"]]
    assert read_paths(f"oci:{layout}", "linux/amd64") == [["/amd"]]
    with pytest.raises(ImageNotFound, match=r"no image for platform linux/s390x.*linux/amd64"):
        read_paths(f"oci:{layout}", "linux/s390x")
    with pytest.raises(UsageError, match="OS/ARCH"):
        read_paths(f"oci:{layout}", "arm64")


def test_zstd_and_uncompressed_layers(tmp_path: Path) -> None:
    for how in ("zstd", "none"):
        layout = write_oci_layout(tmp_path / how, [(small_image(compression=how), "")])
        assert read_paths(f"oci:{layout}") == [["/etc/os-release"], ["/app/main.py"]]


def test_tampered_layer_blob_is_named(tmp_path: Path) -> None:
    image = small_image()
    layout = write_oci_layout(tmp_path / "l", [(image, "")])
    digest = image.layer_digests[1]
    blob = layout / "blobs" / "sha256" / digest.split(":")[1]
    tampered = compress(layer_tar([file("app/main.py", "import evil\n")]), "gzip")
    blob.write_bytes(tampered)
    with pytest.raises(DigestMismatch, match=digest.split(":")[1]):
        read_paths(f"oci:{layout}")


def test_missing_layer_blob_is_named(tmp_path: Path) -> None:
    image = small_image()
    layout = write_oci_layout(tmp_path / "l", [(image, "")])
    (layout / "blobs" / "sha256" / image.layer_digests[0].split(":")[1]).unlink()
    with pytest.raises(ImageError, match=f"names layer blob {image.layer_digests[0]}"):
        read_paths(f"oci:{layout}")


def test_tampered_config_and_bad_digests(tmp_path: Path) -> None:
    image = small_image()
    layout = write_oci_layout(tmp_path / "l", [(image, "")])
    config = layout / "blobs" / "sha256" / sha256(image.config_bytes).split(":")[1]
    config.write_bytes(image.config_bytes.replace(b"amd64", b"arm64"))
    with pytest.raises(DigestMismatch, match="config blob"):
        read_paths(f"oci:{layout}")
    index = json.loads((layout / "index.json").read_text())
    index["manifests"][0]["digest"] = "sha256:not-hex"
    (layout / "index.json").write_text(json.dumps(index))
    with pytest.raises(ImageError, match="not a valid digest"):
        read_paths(f"oci:{layout}")


def test_empty_and_broken_layouts(tmp_path: Path) -> None:
    layout = write_oci_layout(tmp_path / "l", [])
    with pytest.raises(ImageError, match="lists no images"):
        read_paths(f"oci:{layout}")
    (layout / "index.json").write_text("{not json")
    with pytest.raises(ImageError, match="not valid JSON"):
        read_paths(f"oci:{layout}")
    (layout / "oci-layout").unlink()
    with pytest.raises(ImageError, match="not an OCI image layout"):
        read_paths(f"oci:{layout}")
    with pytest.raises(ImageNotFound):
        read_paths(f"oci:{tmp_path / 'nothing'}")


def test_docker_archive_with_two_images(tmp_path: Path) -> None:
    one = small_image()
    two = build_image([[file("two", "2")]])
    archive = write_docker_archive(tmp_path / "a.tar", [(one, ["app:1"]), (two, ["app:2"])])
    assert read_paths(f"docker-archive:{archive}:app:2") == [["/two"]]
    assert read_paths(f"docker-archive:{archive}:app:1") == [["/etc/os-release"], ["/app/main.py"]]
    with pytest.raises(UsageError, match=r"holds 2 images.*app:1, app:2"):
        read_paths(f"docker-archive:{archive}")
    with pytest.raises(ImageNotFound, match="no image tagged 'app:3'"):
        read_paths(f"docker-archive:{archive}:app:3")
    source = open_source(str(archive) + ":app:1")
    assert isinstance(source, DockerArchiveSource)


def test_docker_archive_layer_with_wrong_diff_id(tmp_path: Path) -> None:
    image = small_image()
    image.config["rootfs"]["diff_ids"][0] = "sha256:" + "1" * 64
    image.config_bytes = json.dumps(image.config).encode()
    archive = write_docker_archive(tmp_path / "a.tar", [(image, ["x:1"])])
    with pytest.raises(DigestMismatch, match="diffID"):
        read_paths(f"docker-archive:{archive}")


def test_truncated_docker_archive(tmp_path: Path) -> None:
    archive = write_docker_archive(tmp_path / "a.tar", [(small_image(), ["x:1"])])
    data = archive.read_bytes()
    archive.write_bytes(data[:3000])
    with pytest.raises(ImageError):
        read_paths(f"docker-archive:{archive}")


def test_rootfs_and_dir_sources(tmp_path: Path) -> None:
    raw = layer_tar([file("etc/alpine-release", "3.20.3\n")])
    for how, suffix in (("gzip", ".tar.gz"), ("zstd", ".tar.zst"), ("none", ".tar")):
        path = tmp_path / f"rootfs{suffix}"
        path.write_bytes(compress(raw, how))
        assert read_paths(f"rootfs:{path}") == [["/etc/alpine-release"]]
        assert isinstance(open_source(str(path)), RootfsSource)
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "alpine-release").write_text("3.20.3\n")
    (root / "etc" / "passwd-link").symlink_to("/etc/passwd")  # must not be followed
    assert read_paths(f"dir:{root}") == [["/etc", "/etc/alpine-release", "/etc/passwd-link"]]
    assert isinstance(open_source(str(root)), DirSource)


def test_unknown_reference_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ImageNotFound, match="prefix it with"):
        open_source(str(tmp_path / "missing.tar"))
    with pytest.raises(UsageError, match="a path must follow"):
        open_source("oci:")


def test_real_busybox_oci_archives() -> None:
    fixtures = Path(__file__).parents[3] / ".." / "shared" / "fixtures" / "images"
    if not fixtures.is_dir():
        pytest.skip("../shared/fixtures is not present")
    for name in ("busybox-1.38.0-glibc-amd64.oci.tar", "busybox-1.38.0-musl-amd64.oci.tar"):
        paths = read_paths(f"oci:{fixtures / name}", "linux/amd64")
        assert len(paths) == 1
        assert "/bin/busybox" in paths[0]


def test_copying_a_layout_keeps_it_readable(tmp_path: Path) -> None:
    layout = write_oci_layout(tmp_path / "l", [(small_image(), "v")])
    shutil.copytree(layout, tmp_path / "copy")
    assert read_paths(f"oci:{tmp_path / 'copy'}:v")[0] == ["/etc/os-release"]


def test_uncompressed_blob_tampered_is_named(tmp_path: Path) -> None:
    image = small_image(compression="none")
    layout = write_oci_layout(tmp_path / "l", [(image, "")])
    digest = image.layer_digests[0]
    blob = layout / "blobs" / "sha256" / digest.split(":")[1]
    blob.write_bytes(layer_tar([file("etc/os-release", "ID=evil\n")]))
    with pytest.raises(DigestMismatch, match=rf"{digest}.*corrupt or was tampered"):
        read_paths(f"oci:{layout}")


def test_uncompressed_rootfs_gets_its_diff_id(tmp_path: Path) -> None:
    raw = layer_tar([file("etc/alpine-release", "3.20.3\n")])
    path = tmp_path / "rootfs.tar"
    path.write_bytes(raw)
    source = open_source(f"rootfs:{path}")
    with source.open() as image:
        (layer,) = image.info.layers
        with image.layer(layer) as reader:
            assert [e.path for e, _ in reader.entries()] == ["/etc/alpine-release"]
            assert reader.diff_id == sha256(raw)


def test_open_image_dispatches_on_the_kind(tmp_path: Path) -> None:
    path = tmp_path / "x"
    cases = {
        LocalKind.DOCKER_ARCHIVE: DockerArchiveSource,
        LocalKind.OCI: OciLayoutSource,
        LocalKind.DIR: DirSource,
        LocalKind.ROOTFS: RootfsSource,
    }
    for kind, expected in cases.items():
        source = open_image(LocalRef(kind, path, given=f"mine:{kind}"))
        assert type(source) is expected
        assert source.reference == f"mine:{kind}"  # what reports show is the user's text
    pulled = open_image(parse_image_ref("registry:localhost:5000/app:1"))
    assert isinstance(pulled, RegistrySource)
    assert pulled.ref == parse_reference("localhost:5000/app:1")
    assert pulled.reference == "registry:localhost:5000/app:1"


def test_registry_defaults_are_made_for_registry_images_only(tmp_path: Path) -> None:
    archive = write_docker_archive(tmp_path / "a.tar", [(small_image(), ["app:1"])])
    made: list[str] = []

    def defaults() -> RegistryOptions:
        made.append("called")
        return RegistryOptions()

    # a path with a selector is local although the whole text names no file
    source = open_source(f"{archive}:app:1", registry_defaults=defaults)
    assert isinstance(source, DockerArchiveSource)
    assert made == []
    assert isinstance(open_source("debian:12", registry_defaults=defaults), RegistrySource)
    assert made == ["called"]
