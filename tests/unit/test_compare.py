"""`basewatch compare` on small real-format images, with and without a database."""

from __future__ import annotations

import argparse
import datetime as dt
import json
from pathlib import Path

import pytest

from basewatch.cli.compare import add_compare_parser, run_compare
from basewatch.compare import candidate, libc_of
from basewatch.models import Package, PackageType
from basewatch.scan import Scanner, scan_inventory
from basewatch.vulndb.importer import import_paths
from basewatch.vulndb.sqlite import SqliteStore, rebuilding
from tests.imagebuild import DEBIAN_OS_RELEASE, build_image, dpkg_status, file, write_oci_layout

ALPINE_OS_RELEASE = 'ID=alpine\nVERSION_ID=3.15.11\nPRETTY_NAME="Alpine Linux v3.15"\n'
APK_DB = "P:musl\nV:1.2.2-r9\nA:x86_64\no:musl\n\nP:busybox\nV:1.34.1-r7\nA:x86_64\no:busybox\n\n"


@pytest.fixture
def images(tmp_path: Path) -> tuple[str, str]:
    debian = build_image(
        [
            [
                file("etc/os-release", DEBIAN_OS_RELEASE),
                file(
                    "var/lib/dpkg/status",
                    dpkg_status(
                        ("libc6", "2.36-9+deb12u7", "Source: glibc\n"), ("bash", "5.2.15-2+b2")
                    ),
                ),
                file("usr/bin/big", b"x" * 5000),
            ]
        ]
    )
    alpine = build_image(
        [[file("etc/os-release", ALPINE_OS_RELEASE), file("lib/apk/db/installed", APK_DB)]]
    )
    return (
        f"oci:{write_oci_layout(tmp_path / 'debian', [(debian, '')])}",
        f"oci:{write_oci_layout(tmp_path / 'alpine', [(alpine, '')])}",
    )


@pytest.fixture
def database(tmp_path: Path) -> Path:
    record = {
        "id": "DEBIAN-CVE-2024-2961",
        "upstream": ["CVE-2024-2961"],
        "modified": "2024-05-01T00:00:00Z",
        "severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}],
        "affected": [
            {
                "package": {"ecosystem": "Debian:12", "name": "glibc"},
                "ranges": [
                    {
                        "type": "ECOSYSTEM",
                        "events": [{"introduced": "0"}, {"fixed": "2.36-9+deb12u8"}],
                    }
                ],
            }
        ],
    }
    (tmp_path / "rec.json").write_text(json.dumps(record))
    path = tmp_path / "vuln.db"
    with rebuilding(path) as store:
        import_paths(store, [tmp_path / "rec.json"])
    return path


def test_candidates(images: tuple[str, str], database: Path, tmp_path: Path) -> None:
    scanner = Scanner.default(cache_dir=tmp_path / "cache")
    today = dt.date(2026, 11, 27)
    eol = {("debian", "12"): dt.date(2028, 6, 30), ("alpine", "3.15"): dt.date(2023, 11, 1)}
    with SqliteStore.open(database) as store:
        debian_inventory = scanner.inventory(images[0])
        debian = candidate(
            debian_inventory,
            scan_inventory(debian_inventory, store),
            lambda p, c: eol.get((p, c)),
            today,
        )
    alpine = candidate(scanner.inventory(images[1]), None, lambda p, c: eol.get((p, c)), today)
    assert (debian.libc, debian.distribution, debian.eol_status) == (
        "glibc 2.36",
        "debian 12",
        "supported",
    )
    assert (alpine.libc, alpine.distribution, alpine.eol, alpine.eol_status) == (
        "musl 1.2.2",
        "alpine 3.15.11",
        "2023-11-01",
        "end of life",
    )
    assert debian.findings["critical"] == (1, 1)
    assert (debian.findings_total, debian.fixable_total, debian.kev) == (1, 1, 0)
    assert alpine.findings_total is None
    assert debian.uncompressed_bytes >= 5000
    assert debian.compressed_bytes > 0
    assert (debian.packages, alpine.packages, debian.layers) == (2, 2, 1)
    assert debian.age_days == (today - dt.date(2024, 1, 1)).days


def test_libc_from_packages() -> None:
    rpm = Package("glibc", "2.28-236.el8", PackageType.RPM)
    assert libc_of([rpm]) == "glibc 2.28"
    assert libc_of([Package("bash", "5", PackageType.DEB)]) == ""


@pytest.mark.parametrize("fmt", ["table", "json", "markdown", "html"])
def test_cli_formats(
    fmt: str,
    images: tuple[str, str],
    database: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    parser = argparse.ArgumentParser()
    add_compare_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(
        [
            "compare",
            *images,
            "-f",
            fmt,
            "--db",
            str(database),
            "--cache-dir",
            str(tmp_path / "c"),
            "-q",
        ]
    )
    assert run_compare(args) == 0
    out = capsys.readouterr().out
    if fmt == "json":
        document = json.loads(out)
        assert [c["libc"] for c in document["candidates"]] == ["glibc 2.36", "musl 1.2.2"]
        assert document["candidates"][0]["findings"]["by_severity"]["critical"] == {
            "total": 1,
            "fixable": 1,
        }
    else:
        assert "musl 1.2.2" in out
    if fmt == "html":
        assert "<svg" in out
        assert "critical: 1" in out


def test_app_compat_column(
    images: tuple[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    busybox = (
        Path(__file__).resolve().parents[2].parent
        / "shared/fixtures/images/busybox-1.38.0-glibc-amd64.oci.tar"
    )
    if not busybox.exists():
        pytest.skip("needs ../shared/fixtures/images")
    parser = argparse.ArgumentParser()
    add_compare_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(
        [
            "compare",
            *images,
            "--app",
            f"oci:{busybox}",
            "-f",
            "json",
            "--cache-dir",
            str(tmp_path / "c"),
            "-q",
            "--db",
            str(tmp_path / "none.db"),
        ]
    )
    with pytest.raises(Exception, match="no such database"):
        run_compare(args)
    args.db = None
    args.cache_dir = tmp_path / "c"
    assert run_compare(args) == 0
    document = json.loads(capsys.readouterr().out)
    verdicts = [c["compat"] for c in document["candidates"]]
    # busybox's only layer brings its own glibc loader and libraries: put onto either
    # candidate, every one of its ELF files still loads
    assert len(set(verdicts)) == 1
    assert verdicts[0].startswith("loads (")
