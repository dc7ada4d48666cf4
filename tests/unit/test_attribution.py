"""Base-image attribution: annotations, the local catalog, the history; base/app labels."""

from __future__ import annotations

from pathlib import Path

from basewatch.models import BaseImage, Origin
from basewatch.scan import Scanner
from tests.imagebuild import (
    DEBIAN_OS_RELEASE,
    build_image,
    dpkg_status,
    file,
    write_docker_archive,
    write_oci_layout,
)

STATUS = "var/lib/dpkg/status"
BASE_LAYER = [
    file("etc/os-release", DEBIAN_OS_RELEASE),
    file(STATUS, dpkg_status(("base-files", "12.4+deb12u5"), ("libc6", "2.36-9"))),
]
APP_LAYER = [
    file(
        STATUS,
        dpkg_status(("base-files", "12.4+deb12u5"), ("libc6", "2.36-9"), ("curl", "7.88.1-10")),
    )
]
BASE_HISTORY: list[str | tuple[str, bool]] = ["ADD rootfs.tar.xz /", ('CMD ["bash"]', True)]
APP_HISTORY: list[str | tuple[str, bool]] = [*BASE_HISTORY, "RUN apt-get install -y curl"]


def origins(reference: str, cache: Path) -> tuple[dict[str, Origin], BaseImage | None]:
    inventory = Scanner.default(cache_dir=cache).inventory(reference)
    return {p.name: p.origin for p in inventory.packages}, inventory.base


def test_catalog_prefix_match(tmp_path: Path) -> None:
    base = build_image([BASE_LAYER], history=["ADD rootfs.tar.xz /"])
    app = build_image([BASE_LAYER, APP_LAYER], history=["ADD rootfs.tar.xz /", "RUN install"])
    base_ref = f"oci:{write_oci_layout(tmp_path / 'base', [(base, 'bookworm')])}:bookworm"
    app_ref = f"oci:{write_oci_layout(tmp_path / 'app', [(app, '1.0')])}"
    cache = tmp_path / "cache"
    # before the base is known, nothing says where the base ends
    labels, found = origins(app_ref, cache)
    assert found is None
    assert set(labels.values()) == {Origin.UNKNOWN}
    origins(base_ref, cache)  # reading the base records it in the catalog
    labels, found = origins(app_ref, cache)
    assert labels == {"base-files": Origin.BASE, "libc6": Origin.BASE, "curl": Origin.APP}
    assert found is not None
    assert (found.method, found.confidence, found.layers, found.reference) == (
        "catalog",
        "high",
        1,
        base_ref,
    )


def test_annotation_labels_name_the_base(tmp_path: Path) -> None:
    app = build_image(
        [BASE_LAYER, APP_LAYER],
        labels={
            "org.opencontainers.image.base.name": "docker.io/library/debian:bookworm",
            "org.opencontainers.image.base.digest": "sha256:" + "ab" * 32,
        },
        history=APP_HISTORY,
    )
    archive = write_docker_archive(tmp_path / "app.tar", [(app, ["app:1"])])
    labels, found = origins(f"docker-archive:{archive}", tmp_path / "cache")
    assert found is not None
    assert (found.reference, found.method, found.confidence, found.layers) == (
        "docker.io/library/debian:bookworm",
        "annotation",
        "medium",
        1,  # the layer count comes from the history, as the catalog does not know that digest
    )
    assert labels["curl"] is Origin.APP
    assert labels["libc6"] is Origin.BASE


def test_history_fallback(tmp_path: Path) -> None:
    app = build_image([BASE_LAYER, APP_LAYER], history=APP_HISTORY)
    layout = write_oci_layout(tmp_path / "app", [(app, "")])
    labels, found = origins(f"oci:{layout}", tmp_path / "cache")
    assert found is not None
    assert (found.method, found.confidence, found.layers) == ("history", "low", 1)
    assert labels == {"base-files": Origin.BASE, "libc6": Origin.BASE, "curl": Origin.APP}


def test_no_cache_means_no_catalog(tmp_path: Path) -> None:
    base = build_image([BASE_LAYER])
    layout = write_oci_layout(tmp_path / "base", [(base, "")])
    Scanner.default(cache_dir=tmp_path / "cache", use_cache=False).inventory(f"oci:{layout}")
    assert not (tmp_path / "cache" / "catalog").exists()
