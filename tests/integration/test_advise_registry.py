"""Refresh advice, attribution and compare against a real registry (docker-registry on
loopback): base v1 (bookworm as of its point release) is pushed as base:bookworm, an app is
built on it, then base v2 (bookworm with its security and stable updates) is pushed under the
same tag. The advisories are OSV records this test writes for the real package versions that
changed between v1 and v2."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures import shared_fixture
from tests.integration import images
from tests.integration import registry_server as rs
from tests.integration.images import BuildImage

pytestmark = pytest.mark.integration


def basewatch(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [sys.executable, "-m", "basewatch", *args], capture_output=True, text=True, check=False
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"basewatch {' '.join(args)} exited {proc.returncode}: {proc.stderr}")
    return proc


def sbom(reference: str, cache: Path, out: Path, *extra: str) -> dict[str, Any]:
    basewatch(
        "sbom", reference, "-f", "json", "-o", str(out), "--cache-dir", str(cache), "-q", *extra
    )
    document: dict[str, Any] = json.loads(out.read_text())
    return document


@pytest.fixture(scope="module")
def world(
    tmp_path_factory: pytest.TempPathFactory, build_image: BuildImage
) -> Iterator[dict[str, Any]]:
    missing = rs.missing_tools()
    if missing:
        pytest.skip(f"missing tools for a real registry: {', '.join(missing)}")
    v1 = build_image(images.BASE_V1)
    app = build_image(images.APP_ON_V1)
    v2 = build_image(images.BOOKWORM_MINBASE)
    assert app.diff_ids[0] == v1.diff_ids[0]
    work = tmp_path_factory.mktemp("advise")
    with rs.run_registry(work / "registry", "none") as registry:
        yield {"registry": registry, "v1": v1, "app": app, "v2": v2, "work": work}


def test_refresh_advice_attribution_and_compare(world: dict[str, Any]) -> None:
    registry, v1, app, v2, work = (world[k] for k in ("registry", "v1", "app", "v2", "work"))
    host = registry.host
    cache = work / "cache"
    base_ref = f"registry:{host}/base:bookworm"
    registry.push(f"oci:{v1.oci_dir}:{v1.recipe.tag}", "base:bookworm")
    first = sbom(base_ref, cache, work / "v1.json")  # basewatch now knows base v1
    v1_digest = first["image"]["manifest_digest"]
    registry.push(f"oci:{app.oci_dir}:{app.recipe.tag}", "app:1.0")
    registry.push(f"oci:{v2.oci_dir}:{v2.recipe.tag}", "base:bookworm")
    second = sbom(base_ref, work / "other-cache", work / "v2.json")

    # OSV records for every source package whose version changed from v1 to v2: v2 fixes them.
    old = {p["source_name"]: p["source_version"] for p in first["packages"]}
    new = {p["source_name"]: p["source_version"] for p in second["packages"]}
    changed = {
        name: (old[name], new[name]) for name in old.keys() & new.keys() if old[name] != new[name]
    }
    assert changed, "the updates of bookworm should change some package of minbase"
    records = work / "records"
    records.mkdir()
    for number, (source, (_, fixed)) in enumerate(sorted(changed.items()), start=1):
        record = {
            "id": f"DEBIAN-CVE-2099-{number:04d}",
            "upstream": [f"CVE-2099-{number:04d}"],
            "modified": "2026-01-01T00:00:00Z",
            "affected": [
                {
                    "package": {"ecosystem": "Debian:12", "name": source},
                    "ranges": [
                        {"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": fixed}]}
                    ],
                }
            ],
        }
        (records / f"{record['id']}.json").write_text(json.dumps(record))
    db = work / "vuln.db"
    basewatch("db", "import", "--db", str(db), str(records), "-q")

    # Attribution: the app's packages from v1 are base, those its own layer added are app.
    app_doc = sbom(f"registry:{host}/app:1.0", cache, work / "app.json")
    assert app_doc["base"]["method"] == "catalog"
    assert app_doc["base"]["digest"] == v1_digest
    v1_names = {p["name"] for p in first["packages"]}
    for package in app_doc["packages"]:
        assert package["origin"] == ("base" if package["name"] in v1_names else "app"), package[
            "name"
        ]
    assert any(p["origin"] == "app" for p in app_doc["packages"])
    app_layer = app_doc["image"]["layers"][1]
    assert "--include=curl" in app_layer["created_by"]
    for package in app_doc["packages"]:
        if package["origin"] == "app":
            assert package["instruction"] == app_layer["created_by"]

    # Advice: the tag moved; the refresh fixes exactly the findings of the changed packages.
    proc = basewatch(
        "advise",
        f"registry:{host}/app:1.0",
        "--db",
        str(db),
        "--cache-dir",
        str(cache),
        "-f",
        "json",
        "--fail-on",
        "rebuild",
        "-q",
        check=False,
    )
    assert proc.returncode == 1, proc.stderr
    advice = json.loads(proc.stdout)
    assert advice["rebuild"] is True
    assert advice["reasons"][0] == "the base image's tag now points to a newer digest"
    refresh = next(r for r in advice["recommendations"] if r["kind"] == "refresh")
    assert refresh["reference"] == f"{host}/base:bookworm"
    expected_fixes = {
        f"{p['name']}:CVE-2099-{sorted(changed).index(p['source_name']) + 1:04d}"
        for p in app_doc["packages"]
        if p["source_name"] in changed and p["origin"] == "base"
    }
    assert set(refresh["fixes"]) == expected_fixes
    assert refresh["arrives"] == []
    changed_binaries = {c["name"] for c in refresh["changed_packages"]}
    in_v2 = {q["name"]: q["version"] for q in second["packages"]}
    assert changed_binaries == {
        p["name"]
        for p in first["packages"]
        if p["name"] in in_v2 and in_v2[p["name"]] != p["version"]
    }

    # From a Dockerfile, the FROM image is the base advised on (a stage alias and scratch are
    # skipped): pinned to v1 while its tag moved to v2, it wants a refresh.
    dockerfile = work / "Dockerfile"
    dockerfile.write_text(
        f"FROM {host}/base:bookworm@{v1_digest} AS app\nFROM app AS again\nFROM scratch\n"
        "COPY --from=app / /\n"
    )
    proc = basewatch(
        "advise",
        "--dockerfile",
        str(dockerfile),
        "--db",
        str(db),
        "--cache-dir",
        str(cache),
        "-f",
        "json",
        "-q",
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    from_dockerfile = json.loads(proc.stdout)
    assert from_dockerfile["image"] == f"{dockerfile} (FROM {host}/base:bookworm@{v1_digest})"
    assert from_dockerfile["base"]["reference"] == f"{host}/base:bookworm"
    assert from_dockerfile["base"]["digest"] == v1_digest
    assert from_dockerfile["base"]["method"] == "dockerfile"
    refresh = from_dockerfile["recommendations"][0]
    assert (refresh["kind"], refresh["reference"]) == ("refresh", f"{host}/base:bookworm")
    assert refresh["fixes"]
    assert from_dockerfile["rebuild"] is True

    # Compare: v1 (by digest), v2 and the real Alpine image side by side.
    alpine = shared_fixture("images/alpine-minirootfs-3.20.3-x86_64.tar.gz")
    proc = basewatch(
        "compare",
        f"registry:{host}/base@{v1_digest}",
        base_ref,
        f"rootfs:{alpine}",
        "--db",
        str(db),
        "--cache-dir",
        str(cache),
        "-f",
        "json",
        "-q",
        check=False,
    )
    # the database has no Alpine advisories: the alpine candidate was not checked
    assert proc.returncode == 4, proc.stderr
    candidates = json.loads(proc.stdout)["candidates"]
    assert [c["checked"] for c in candidates] == ["all", "all", "none"]
    assert [c["distribution"] for c in candidates] == ["debian 12", "debian 12", "alpine 3.20.3"]
    # one record per changed source package: one finding per binary package built from it
    assert candidates[0]["findings"]["total"] == sum(
        1 for p in first["packages"] if p["source_name"] in changed
    )
    assert candidates[1]["findings"]["total"] == 0
    assert candidates[2]["libc"].startswith("musl 1.2.5")
    assert candidates[0]["packages"] == len(first["packages"])


def test_without_a_registry_what_needs_one_says_so(world: dict[str, Any]) -> None:
    app, work = world["app"], world["work"]
    proc = basewatch(
        "advise",
        app.ref("oci-dir"),
        "--offline",
        "--cache-dir",
        str(work / "offline-cache"),
        "-f",
        "json",
        "-q",
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    advice = json.loads(proc.stdout)
    assert advice["recommendations"] == []
    assert advice["warnings"]
    assert "registry" in advice["warnings"][0] or "base image is unknown" in advice["warnings"][0]
