from __future__ import annotations

import io
from pathlib import Path

from basewatch.inventory.apk import ApkDetector
from basewatch.inventory.detector import AnalysisContext, FileResult
from basewatch.inventory.dpkg import DpkgDetector
from basewatch.models import PackageType
from tests.fixtures import shared_fixture


def run(detector: DpkgDetector | ApkDetector, path: str, data: bytes, tmp: Path) -> FileResult:
    assert detector.wants(path, len(data), 0o644)
    result = detector.analyze(path, io.BytesIO(data), len(data), AnalysisContext(tmp))
    assert result is not None
    return result


def test_real_dpkg_status_keeps_only_installed_stanzas(tmp_path: Path) -> None:
    data = shared_fixture("pkgdb/dpkg/status-debian-mixed").read_bytes()
    result = run(DpkgDetector(), "/var/lib/dpkg/status", data, tmp_path)
    assert result.database
    assert result.warnings == ()
    stanzas = data.decode().count("\nPackage: ") + data.decode().startswith("Package: ")
    assert stanzas == 91
    assert len(result.packages) == 90  # one stanza is deinstalled
    bash = next(p for p in result.packages if p.name == "bash")
    assert bash.version
    assert all(p.type is PackageType.DEB for p in result.packages)
    # every package has a source, defaulting to itself; versioned Source fields are split
    for p in result.packages:
        assert p.source_name
        assert p.source_version


def test_source_with_and_without_version_epochs_and_binnmu(tmp_path: Path) -> None:
    status = (
        "Package: libssl3\nStatus: install ok installed\nArchitecture: amd64\n"
        "Source: openssl\nVersion: 3.0.15-1~deb12u1\n\n"
        "Package: libgcc-s1\nStatus: install ok installed\nArchitecture: amd64\n"
        "Source: gcc-12 (12.2.0-14)\nVersion: 12.2.0-14\n\n"
        "Package: libpam0g\nStatus: install ok installed\nArchitecture: amd64\n"
        "Version: 1:1.5.2-6+deb12u1\n\n"
        "Package: libfoo1\nStatus: install ok installed\nArchitecture: i386\n"
        "Source: foo (1.0-1)\nVersion: 1.0-1+b2\n\n"
        "Package: gone\nStatus: deinstall ok config-files\nVersion: 1.0\n\n"
        "Package: half\nStatus: install reinstreq half-installed\nVersion: 1.0\n"
    )
    result = run(DpkgDetector(), "/var/lib/dpkg/status", status.encode(), tmp_path)
    got = {p.name: (p.version, p.source_name, p.source_version, p.arch) for p in result.packages}
    assert got == {
        "libssl3": ("3.0.15-1~deb12u1", "openssl", "3.0.15-1~deb12u1", "amd64"),
        "libgcc-s1": ("12.2.0-14", "gcc-12", "12.2.0-14", "amd64"),
        "libpam0g": ("1:1.5.2-6+deb12u1", "libpam0g", "1:1.5.2-6+deb12u1", "amd64"),
        "libfoo1": ("1.0-1+b2", "foo", "1.0-1", "i386"),
        # half-installed: its files are (partly) on disk, so it stays in the inventory
        "half": ("1.0", "half", "1.0", ""),
    }


def test_distroless_status_d_files_are_per_package(tmp_path: Path) -> None:
    detector = DpkgDetector()
    assert not detector.wants("/var/lib/dpkg/status.d/libc6.md5sums", 10, 0o644)
    stanza = b"Package: libc6\nVersion: 2.36-9+deb12u7\nArchitecture: amd64\nSource: glibc\n"
    result = run(detector, "/var/lib/dpkg/status.d/libc6", stanza, tmp_path)
    assert not result.database
    assert [(p.name, p.source_name) for p in result.packages] == [("libc6", "glibc")]


def test_corrupt_dpkg_status_gives_warnings_and_what_it_could_read(tmp_path: Path) -> None:
    status = (
        b"Package: good\nStatus: install ok installed\nVersion: 1\n\n"
        b"this line has no colon\nStatus: install ok installed\nVersion: 2\n\n"
        b"Package: \xff\xfe\nStatus: install ok installed\n"
    )
    result = run(DpkgDetector(), "/var/lib/dpkg/status", status, tmp_path)
    assert [p.name for p in result.packages] == ["good"]
    assert any("without 'Field:'" in w for w in result.warnings)
    assert any("no Package or Version" in w for w in result.warnings)
    assert any("UTF-8" in w for w in result.warnings)
    binary = run(DpkgDetector(), "/var/lib/dpkg/status", b"\0\1\2garbage", tmp_path)
    assert binary.packages == ()
    assert binary.warnings


def test_real_apk_database(tmp_path: Path) -> None:
    data = shared_fixture("pkgdb/apk/installed-alpine-3.10").read_bytes()
    result = run(ApkDetector(), "/lib/apk/db/installed", data, tmp_path)
    names = [line[2:] for line in data.decode().splitlines() if line.startswith("P:")]
    # the fixture holds one deliberately broken record: reported, and the rest still read
    assert [p.name for p in result.packages] == [
        n for n in names if n != "invalidPackageWithoutAVersion"
    ]
    assert len(result.packages) == 15
    assert result.warnings == (
        "/lib/apk/db/installed: record at line 23 has no P: or V: field; skipped",
    )
    musl = next(p for p in result.packages if p.name == "musl")
    assert musl.source_name == "musl"
    assert musl.arch == "x86_64"
    assert musl.licenses == ("MIT",)
    assert musl.meta("commit")
    utils = next(p for p in result.packages if p.name == "musl-utils")
    assert utils.source_name == "musl"  # o: origin


def test_corrupt_apk_database(tmp_path: Path) -> None:
    data = b"P:musl\nV:1.2.5-r0\n\nP:broken\nnonsense line\n\nV:1.0\n"
    result = run(ApkDetector(), "/lib/apk/db/installed", data, tmp_path)
    assert [p.name for p in result.packages] == ["musl"]
    assert len(result.warnings) == 3


# --- language packages the package manager installed (inventory.ownership) --------------------


def test_dpkg_file_lists_name_the_language_packages_they_install(tmp_path: Path) -> None:
    detector = DpkgDetector()
    listing = (
        b"/.\n/usr\n/usr/lib/python3/dist-packages\n"
        b"/usr/lib/python3/dist-packages/pip\n/usr/lib/python3/dist-packages/pip/__init__.py\n"
        b"/usr/lib/python3/dist-packages/pip-23.0.1.dist-info\n"
        b"/usr/lib/python3/dist-packages/pip-23.0.1.dist-info/METADATA\n"
        b"/usr/share/java/commons-lang3.jar\n"
    )
    result = run(detector, "/var/lib/dpkg/info/python3-pip.list", listing, tmp_path)
    assert result.packages == ()
    assert result.facts == (
        ("owns:python3-pip", "/usr/lib/python3/dist-packages/pip-23.0.1.dist-info"),
        ("owns:python3-pip", "/usr/share/java/commons-lang3.jar"),
    )
    # multi-arch lists carry the architecture; lists without such paths give nothing
    arch = run(detector, "/var/lib/dpkg/info/libfoo:amd64.list", b"/x/a.jar\n", tmp_path)
    assert arch.facts == (("owns:libfoo", "/x/a.jar"),)
    # programs are kept (a Go binary's evidence); lists naming neither give nothing
    curl = run(detector, "/var/lib/dpkg/info/curl.list", b"/.\n/usr/bin/curl\n", tmp_path)
    assert curl.facts == (("owns:curl", "/usr/bin/curl"),)
    plain = b"/.\n/usr/share/doc/tzdata/copyright\n"
    context = AnalysisContext(tmp_path)
    path = "/var/lib/dpkg/info/tzdata.list"
    assert detector.analyze(path, io.BytesIO(plain), len(plain), context) is None
    for other in ("/var/lib/dpkg/info/curl.md5sums", "/var/lib/dpkg/info/sub/x.list"):
        assert not detector.wants(other, 10, 0o644)


def test_apk_file_lists_name_the_language_packages_they_install(tmp_path: Path) -> None:
    database = (
        b"P:py3-setuptools\nV:70.3.0-r0\nA:x86_64\n"
        b"F:usr/lib/python3.12/site-packages/setuptools-70.3.0.dist-info\nR:METADATA\n"
        b"F:usr/lib/python3.12/site-packages/setuptools\nR:__init__.py\n\n"
        b"P:node-thing\nV:1.0-r0\nF:usr/lib/node_modules/thing\nR:package.json\nR:index.js\n\n"
        b"P:musl\nV:1.2.5-r0\nF:lib\nR:ld-musl-x86_64.so.1\n"
    )
    result = run(ApkDetector(), "/lib/apk/db/installed", database, tmp_path)
    assert [p.name for p in result.packages] == ["py3-setuptools", "node-thing", "musl"]
    assert result.facts == (
        (
            "owns:py3-setuptools",
            "/usr/lib/python3.12/site-packages/setuptools-70.3.0.dist-info",
        ),
        ("owns:node-thing", "/usr/lib/node_modules/thing/package.json"),
    )
