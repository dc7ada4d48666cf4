"""The distribution from its release files, as its own package manager reads them."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from basewatch.inventory.detector import AnalysisContext
from basewatch.inventory.osinfo import detect_os
from basewatch.inventory.osrelease import OsReleaseDetector, parse_os_release
from basewatch.inventory.purl import ecosystem_for, purl_for
from basewatch.models import OSInfo, Package, PackageType

OPENSSL = Package(name="openssl", version="1:1.0.2k-26.el7_9", type=PackageType.RPM, arch="x86_64")


def os_of(files: dict[str, str], tmp: Path) -> OSInfo | None:
    detector = OsReleaseDetector()
    facts = {}
    for path, text in files.items():
        data = text.encode()
        assert detector.wants(path, len(data), 0o644)
        result = detector.analyze(path, io.BytesIO(data), len(data), AnalysisContext(tmp))
        assert result is not None
        facts[path] = result.facts
    return detect_os(facts.get, [], distroless=False)


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        # CentOS 6: no os-release; centos-release (and redhat-release, a symlink to it).
        ({"/etc/centos-release": "CentOS release 6.10 (Final)\n"}, ("centos", "6", "Final")),
        (
            {
                "/etc/centos-release": "CentOS Linux release 7.9.2009 (Core)\n",
                "/etc/redhat-release": "CentOS Linux release 7.9.2009 (Core)\n",
            },
            ("centos", "7", "Core"),
        ),
        # Oracle Linux ships a redhat-release that names Red Hat; oracle-release wins.
        (
            {
                "/etc/redhat-release": "Red Hat Enterprise Linux Server release 6.10 (Santiago)\n",
                "/etc/oracle-release": "Oracle Linux Server release 6.10\n",
            },
            ("ol", "6.10", ""),
        ),
        (
            {"/etc/redhat-release": "Red Hat Enterprise Linux Server release 7.9 (Maipo)\n"},
            ("rhel", "7.9", "Maipo"),
        ),
    ],
)
def test_rpm_release_files(
    tmp_path: Path, files: dict[str, str], expected: tuple[str, str, str]
) -> None:
    os = os_of(files, tmp_path)
    assert os is not None
    assert (os.id, os.version_id, os.version_codename) == expected


def test_oracle_linux_is_never_matched_as_red_hat(tmp_path: Path) -> None:
    os = os_of(
        {
            "/etc/redhat-release": "Red Hat Enterprise Linux Server release 7.9 (Maipo)\n",
            "/etc/oracle-release": "Oracle Linux Server release 7.9\n",
        },
        tmp_path,
    )
    # OSV publishes no Oracle Linux ecosystem: the package is unchecked, not checked as RHEL.
    assert ecosystem_for(OPENSSL, os) == ""
    assert purl_for(OPENSSL, os) == (
        "pkg:rpm/oracle/openssl@1.0.2k-26.el7_9?arch=x86_64&distro=ol-7.9&epoch=1"
    )


def test_centos_without_os_release_gets_distro_purls(tmp_path: Path) -> None:
    os = os_of({"/etc/centos-release": "CentOS release 6.10 (Final)\n"}, tmp_path)
    assert purl_for(OPENSSL, os) == (
        "pkg:rpm/centos/openssl@1.0.2k-26.el7_9?arch=x86_64&distro=centos-6&epoch=1"
    )


def test_os_release_wins_over_release_files(tmp_path: Path) -> None:
    os = os_of(
        {
            "/etc/os-release": 'ID="ol"\nVERSION_ID="8.9"\nID_LIKE="fedora"\n',
            "/etc/redhat-release": "Red Hat Enterprise Linux release 8.9 (Ootpa)\n",
        },
        tmp_path,
    )
    assert os is not None
    assert (os.id, os.version_id) == ("ol", "8.9")


def test_os_release_values_keep_other_line_breaks() -> None:
    # systemd splits os-release at "\n" only: "\x85" or "\u2028" inside a value is no new line.
    pairs = parse_os_release('PRETTY_NAME="a\x85ID=evil"\nID=debian\nNAME="x\u2028VERSION_ID=1"\n')
    assert dict(pairs) == {
        "PRETTY_NAME": "a\x85ID=evil",
        "ID": "debian",
        "NAME": "x\u2028VERSION_ID=1",
    }
