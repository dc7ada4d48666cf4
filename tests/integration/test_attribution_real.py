"""Base attribution on real Debian images: the layered image is built on bookworm-minbase
(same first layer, byte for byte). Once basewatch has read the base, every package of the
base layer is `base` and every package a later layer brought is `app`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.integration import images
from tests.integration.images import BuildImage

pytestmark = pytest.mark.integration


def sbom(reference: str, cache: Path, out: Path) -> dict[str, Any]:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "basewatch",
            "sbom",
            reference,
            "-f",
            "json",
            "-o",
            str(out),
            "--cache-dir",
            str(cache),
            "-q",
        ],
        check=True,
        capture_output=True,
    )
    document: dict[str, Any] = json.loads(out.read_text())
    return document


def test_packages_of_the_base_layer_are_base_the_rest_app(
    build_image: BuildImage, tmp_path: Path
) -> None:
    base = build_image(images.BOOKWORM_MINBASE)
    app = build_image(images.BOOKWORM_LAYERED)
    assert app.diff_ids[0] == base.diff_ids[0]
    cache = tmp_path / "cache"
    sbom(base.ref("docker-archive"), cache, tmp_path / "base.json")
    document = sbom(app.ref("oci-dir"), cache, tmp_path / "app.json")
    assert document["base"] == {
        "reference": base.ref("docker-archive"),
        "digest": document["base"]["digest"],
        "method": "catalog",
        "confidence": "high",
        "layers": 1,
    }
    expected = {
        (pkg.name, pkg.version): ("base" if app.layer_of(pkg) == base.diff_ids[0] else "app")
        for pkg in app.packages
    }
    got = {
        (p["name"], p["version"]): p["origin"] for p in document["packages"] if p["type"] == "deb"
    }
    assert got == expected
    assert "app" in got.values()
    assert "base" in got.values()
