"""A real Debian image whose upper layer holds old PyPI releases (`pip install --target`),
scanned with the real PyPI OSV records from ../shared/fixtures/osv/PyPI.zip.

The expected advisories are computed here independently of basewatch's matcher: every record
in the zip is read and its ranges evaluated with `packaging` for each installed release.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest
from packaging.version import InvalidVersion, Version

from tests.fixtures import shared_fixture
from tests.integration import images
from tests.integration.images import BuildImage

pytestmark = pytest.mark.integration


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def in_range(version: Version, events: list[dict[str, str]]) -> tuple[bool, str]:
    """OSV's rule, written out plainly: the last event at or below the version decides."""
    points = []
    for event in events:
        ((kind, value),) = event.items()
        if kind == "introduced" and value == "0":
            points.append((Version("0"), -1, kind, value))
            continue
        try:
            points.append(
                (
                    Version(value),
                    {"introduced": 0, "last_affected": 1, "fixed": 2, "limit": 3}[kind],
                    kind,
                    value,
                )
            )
        except InvalidVersion:
            return False, ""
    points.sort()
    affected, fix = False, ""
    for at, _, kind, value in points:
        if kind == "introduced" and version >= at:
            affected, fix = True, ""
        elif (kind in ("fixed", "limit") and version >= at) or (
            kind == "last_affected" and version > at
        ):
            affected = False
        elif kind == "fixed" and affected and not fix:
            fix = value
    return affected, fix if affected else ""


def expected_advisories(installed: dict[str, str]) -> dict[tuple[str, str], str]:
    """(package, record id) -> fixed version, for every record that affects an installed release."""
    expected = {}
    with zipfile.ZipFile(shared_fixture("osv/PyPI.zip")) as archive:
        for info in archive.infolist():
            if not info.filename.endswith(".json"):
                continue
            record: dict[str, Any] = json.loads(archive.read(info))
            if record.get("withdrawn"):
                continue
            for affected in record.get("affected", []):
                package = affected.get("package", {})
                if package.get("ecosystem") != "PyPI":
                    continue
                name = normalise(package.get("name", ""))
                if name not in installed:
                    continue
                version = Version(installed[name])
                hit, fix = installed[name] in affected.get("versions", []), ""
                for rng in affected.get("ranges", []):
                    if rng.get("type") in ("ECOSYSTEM", "SEMVER"):
                        in_it, rng_fix = in_range(version, rng.get("events", []))
                        if in_it:
                            hit, fix = True, fix or rng_fix
                if hit:
                    expected[(name, record["id"])] = fix
    return expected


def test_old_pypi_releases_get_exactly_the_advisories_their_records_define(
    build_image: BuildImage, tmp_path: Path
) -> None:
    pypi_zip = shared_fixture("osv/PyPI.zip")
    image = build_image(images.BOOKWORM_PIP)
    db = tmp_path / "vuln.db"
    subprocess.run(
        [sys.executable, "-m", "basewatch", "db", "import", "--db", str(db), str(pypi_zip)],
        check=True,
        capture_output=True,
    )
    out = tmp_path / "scan.json"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "basewatch",
            "scan",
            image.ref("docker-archive"),
            "--db",
            str(db),
            "--offline",
            "--format",
            "json",
            "-o",
            str(out),
            "--cache-dir",
            str(tmp_path / "cache"),
            "-q",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    # Only PyPI data is loaded: the Debian packages stay unchecked, so the result is partial (4)
    # and says so, rather than matching them against anything else.
    assert proc.returncode == 4, proc.stderr
    assert "no advisories in the database for Debian:12" in proc.stderr
    document = json.loads(out.read_text())
    inventory = tmp_path / "sbom.json"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "basewatch",
            "sbom",
            image.ref("docker-archive"),
            "-f",
            "json",
            "-o",
            str(inventory),
            "--cache-dir",
            str(tmp_path / "cache"),
            "-q",
        ],
        check=True,
        capture_output=True,
    )
    packages = json.loads(inventory.read_text())["packages"]
    pypi = {normalise(p["name"]): p for p in packages if p["type"] == "pypi"}
    wanted = {
        normalise(spec.split("==")[0]): spec.split("==")[1] for spec in images.OLD_PYPI_RELEASES
    }
    assert {n: pypi[n]["version"] for n in wanted} == wanted
    # the pip layer, not the base, brought them
    assert {pypi[n]["layer"] for n in wanted} == {image.diff_ids[1]}

    expected = expected_advisories({n: pypi[n]["version"] for n in wanted})
    assert len(expected) > 20  # these old releases carry many published advisories
    findings = document["findings"]
    got: dict[tuple[str, str], str] = {}
    for finding in findings:
        package = normalise(finding["package"]["name"])
        for record_id in finding["advisories"]:
            got[(package, record_id)] = finding["fixed_version"]
    assert set(got) == set(expected)
    # one problem is one finding: no two findings of a package share an id
    for name in wanted:
        ids = [
            i
            for f in findings
            if normalise(f["package"]["name"]) == name
            for i in [f["id"], *f["aliases"]]
        ]
        assert len(ids) == len(set(ids))
    # a merged finding reports the highest fix among its records; each record's own fix is
    # never above it
    for (package, record_id), fix in expected.items():
        if fix:
            assert Version(got[(package, record_id)]) >= Version(fix)
    # Debian's packages are matched only against Debian data, and there is none here
    assert all(f["package"]["type"] == "pypi" for f in findings)
    # pip, setuptools and wheel as python3-pip installed them are Debian's: listed, marked with
    # their owner, and left to Debian's advisories (the findings above are the PyPI releases').
    owned = {n: p["metadata"].get("os_package") for n, p in pypi.items() if n not in wanted}
    assert owned == {
        "pip": "deb:python3-pip",
        "setuptools": "deb:python3-setuptools",
        "wheel": "deb:python3-wheel",
    }
    assert {normalise(f["package"]["name"]) for f in findings} <= set(wanted)
    # So is every Go module of the fzf binary Debian built and installed.
    go = [p for p in packages if p["type"] == "golang"]
    assert go, "no Go build info found in /usr/bin/fzf"
    assert {(p["evidence"][0], p["metadata"].get("os_package")) for p in go} == {
        ("/usr/bin/fzf", "deb:fzf")
    }
    debs = [p for p in packages if p["type"] == "deb"]
    assert debs
    assert {p["ecosystem"] for p in debs} == {"Debian:12"}
