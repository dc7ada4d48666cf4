"""Base-image attribution: annotations, the local catalog, the history; base/app labels."""

from __future__ import annotations

from pathlib import Path

import pytest

from basewatch.jobs.inventory import Scanner
from basewatch.models import BaseImage, Origin
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
    file(
        STATUS,
        dpkg_status(("base-files", "12.4+deb12u5"), ("libc6", "2.36-9", "Source: glibc\n")),
    ),
]
APP_LAYER = [
    file(
        STATUS,
        dpkg_status(
            ("base-files", "12.4+deb12u5"),
            ("libc6", "2.36-9", "Source: glibc\n"),
            ("curl", "7.88.1-10"),
        ),
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
    inventory = Scanner.default(cache_dir=tmp_path / "cache").inventory(f"oci:{layout}")
    instructions = {p.name: p.instruction for p in inventory.packages}
    assert instructions == {
        "base-files": "ADD rootfs.tar.xz /",
        "libc6": "ADD rootfs.tar.xz /",
        "curl": "RUN apt-get install -y curl",
    }
    labels, found = origins(f"oci:{layout}", tmp_path / "cache")
    assert found is not None
    assert (found.method, found.confidence, found.layers) == ("history", "low", 1)
    assert labels == {"base-files": Origin.BASE, "libc6": Origin.BASE, "curl": Origin.APP}


def test_no_cache_means_no_catalog(tmp_path: Path) -> None:
    base = build_image([BASE_LAYER])
    layout = write_oci_layout(tmp_path / "base", [(base, "")])
    Scanner.default(cache_dir=tmp_path / "cache", use_cache=False).inventory(f"oci:{layout}")
    assert not (tmp_path / "cache" / "catalog").exists()


def test_catalog_add_and_list_commands(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from basewatch.cli.main import main

    base = build_image([BASE_LAYER], history=["ADD rootfs.tar.xz /"])
    app = build_image([BASE_LAYER, APP_LAYER], history=["ADD rootfs.tar.xz /", "RUN install"])
    base_ref = f"oci:{write_oci_layout(tmp_path / 'base', [(base, 'bookworm')])}:bookworm"
    app_ref = f"oci:{write_oci_layout(tmp_path / 'app', [(app, '1.0')])}"
    cache = str(tmp_path / "cache")
    assert main(["catalog", "add", base_ref, "--cache-dir", cache]) == 0
    assert "recorded" in capsys.readouterr().out
    assert main(["catalog", "list", "--cache-dir", cache]) == 0
    assert base_ref in capsys.readouterr().out
    labels, found = origins(app_ref, tmp_path / "cache")
    assert found is not None
    assert found.reference == base_ref
    assert labels["curl"] is Origin.APP


def test_scan_only_base_and_ignore_base(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import json

    from basewatch.cli.main import main
    from basewatch.vulndb.importer import import_paths
    from basewatch.vulndb.sqlite import rebuilding

    app = build_image([BASE_LAYER, APP_LAYER], history=APP_HISTORY)
    layout = write_oci_layout(tmp_path / "app", [(app, "")])
    records = tmp_path / "records"
    records.mkdir()
    for name in ("glibc", "curl"):
        record = {
            "id": f"DEBIAN-CVE-2024-{name}",
            "modified": "2024-01-01T00:00:00Z",
            "affected": [
                {
                    "package": {"ecosystem": "Debian:12", "name": name},
                    "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}]}],
                }
            ],
        }
        (records / f"{name}.json").write_text(json.dumps(record))
    db = tmp_path / "vuln.db"
    with rebuilding(db) as store:
        import_paths(store, [records])
    common = ["scan", f"oci:{layout}", "--db", str(db), "--offline", "-f", "json", "-q"]
    common += ["--cache-dir", str(tmp_path / "cache")]
    assert main([*common, "--only-base"]) == 0
    only = json.loads(capsys.readouterr().out)
    assert [f["package"]["name"] for f in only["findings"]] == ["libc6"]
    assert main([*common, "--ignore-base"]) == 0
    ignored = json.loads(capsys.readouterr().out)
    assert [f["package"]["name"] for f in ignored["findings"]] == ["curl"]
