"""A realistic `ScanResult`, built by hand, shared by the scan report tests.

It scans the image of `conftest.make_inventory()` with libc6 one Debian update older
(2.36-9+deb12u2, before the Looney Tunables fix), so that the findings are the ones a real scan
of such an image reports: a glibc CVE in CISA's KEV catalog with a high EPSS score, a Debian
"unimportant" glibc issue with no fix, a zlib CVE that Debian will not fix, OpenSSL issues in
the deb and the rpm, a musl CVE in the copied-in Alpine layer, and PyPI advisories on the two
copies of requests and on cryptography. Three findings are suppressed: by the ignore file, by a
VEX statement, and by `--only-fixed`. Ids, versions and scores follow the public records.

Tests call `make_scan_result()` / `make_clean_scan_result()` for a fresh copy; `regen.py` renders
the golden files from the same functions.
"""

from __future__ import annotations

import dataclasses

from basewatch.models import (
    DatabaseInfo,
    Finding,
    FixStatus,
    Inventory,
    Package,
    ScanResult,
    Severity,
    Suppression,
)
from tests.unit.report.conftest import make_inventory, make_minimal_inventory

LIBC6_OLD = "2.36-9+deb12u2"


def make_scan_inventory() -> Inventory:
    inventory = make_inventory()
    packages = tuple(
        dataclasses.replace(
            p,
            version=LIBC6_OLD,
            source_version=LIBC6_OLD,
            purl="pkg:deb/debian/libc6@2.36-9%2Bdeb12u2?arch=amd64&distro=debian-12",
        )
        if p.name == "libc6"
        else p
        for p in inventory.packages
    )
    return dataclasses.replace(inventory, packages=packages)


def _package(inventory: Inventory, name: str, path_part: str = "") -> Package:
    found = [p for p in inventory.packages if p.name == name and path_part in p.evidence[0]]
    assert len(found) == 1, (name, path_part)
    return found[0]


def make_findings(inventory: Inventory) -> tuple[list[Finding], list[Suppression]]:
    libc6 = _package(inventory, "libc6")
    zlib = _package(inventory, "zlib1g")
    libssl = _package(inventory, "libssl3")
    musl = _package(inventory, "musl")
    openssl_rpm = _package(inventory, "openssl-libs")
    requests_app = _package(inventory, "requests", "/opt/venv/")
    requests_base = _package(inventory, "requests", "/usr/lib/python3/")
    cryptography = _package(inventory, "cryptography")

    looney_tunables = Finding(
        id="CVE-2023-4911",
        aliases=("DEBIAN-CVE-2023-4911", "DSA-5514-1"),
        package=libc6,
        installed_version=libc6.version,
        fixed_version="2.36-9+deb12u3",
        status=FixStatus.FIXED,
        severity=Severity.HIGH,
        severity_source="CVSS:3.1",
        cvss_score=7.8,
        cvss_vector="CVSS:3.1/AV:L/AC:L/PR:L/UI:N/S:U/C:H/I:H/A:H",
        summary="glibc: buffer overflow in ld.so leading to privilege escalation",
        kev=True,
        epss=0.69467,
        epss_percentile=0.98203,
        references=(
            "https://security-tracker.debian.org/tracker/CVE-2023-4911",
            "https://www.qualys.com/2023/10/03/cve-2023-4911/looney-tunables-local-privilege-escalation-glibc-ld-so.txt",
        ),
        advisories=("DEBIAN-CVE-2023-4911", "DSA-5514-1"),
        published="2023-10-03T18:15:10Z",
        modified="2024-11-21T08:36:14Z",
    )
    unimportant = Finding(
        id="CVE-2019-1010022",
        aliases=("DEBIAN-CVE-2019-1010022",),
        package=libc6,
        installed_version=libc6.version,
        fixed_version="",
        status=FixStatus.NOT_FIXED,
        severity=Severity.NEGLIGIBLE,
        severity_source="Debian urgency",
        cvss_score=9.8,
        cvss_vector="CVSS:3.0/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
        summary="GNU Libc: stack guard protection bypass",
        epss=0.00532,
        epss_percentile=0.77211,
        advisories=("DEBIAN-CVE-2019-1010022",),
        published="2019-07-15T04:15:13Z",
    )
    glob_unfixed = Finding(
        id="CVE-2010-4756",
        aliases=("DEBIAN-CVE-2010-4756",),
        package=libc6,
        installed_version=libc6.version,
        fixed_version="",
        status=FixStatus.NOT_FIXED,
        severity=Severity.NEGLIGIBLE,
        severity_source="Debian urgency",
        cvss_score=4.0,
        cvss_vector="AV:N/AC:L/Au:S/C:N/I:N/A:P",
        summary="glob implementation in GNU C Library allows resource exhaustion",
        advisories=("DEBIAN-CVE-2010-4756",),
    )
    minizip = Finding(
        id="CVE-2023-45853",
        aliases=("DEBIAN-CVE-2023-45853",),
        package=zlib,
        installed_version=zlib.version,
        fixed_version="",
        status=FixStatus.WONT_FIX,
        severity=Severity.CRITICAL,
        severity_source="CVSS:3.1",
        cvss_score=9.8,
        cvss_vector="CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
        summary="MiniZip in zlib through 1.3 has an integer overflow and resultant heap-based "
        "buffer overflow in zipOpenNewFileInZip4_64",
        epss=0.01513,
        advisories=("DEBIAN-CVE-2023-45853",),
    )
    pkcs12 = Finding(
        id="CVE-2024-0727",
        aliases=("DEBIAN-CVE-2024-0727", "GHSA-9v9h-cgj8-h64p"),
        package=libssl,
        installed_version=libssl.version,
        fixed_version="3.0.13-1~deb12u1",
        status=FixStatus.FIXED,
        severity=Severity.MEDIUM,
        severity_source="CVSS:3.1",
        cvss_score=5.5,
        cvss_vector="CVSS:3.1/AV:L/AC:L/PR:N/UI:R/S:U/C:N/I:N/A:H",
        summary="openssl: denial of service via null dereference in PKCS12 parsing",
        epss=0.00095,
        advisories=("DEBIAN-CVE-2024-0727",),
    )
    dh_check = Finding(
        id="CVE-2023-5678",
        aliases=("DEBIAN-CVE-2023-5678",),
        package=libssl,
        installed_version=libssl.version,
        fixed_version="3.0.13-1~deb12u1",
        status=FixStatus.FIXED,
        severity=Severity.MEDIUM,
        severity_source="CVSS:3.1",
        cvss_score=5.3,
        cvss_vector="CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:L",
        summary="openssl: Generating excessively long X9.42 DH keys or checking excessively "
        "long X9.42 DH keys or parameters may be very slow",
        epss=0.00238,
        advisories=("DEBIAN-CVE-2023-5678",),
    )
    euc_kr = Finding(
        id="CVE-2025-26519",
        aliases=("ALPINE-CVE-2025-26519",),
        package=musl,
        installed_version=musl.version,
        fixed_version="1.2.4_git20230717-r5",
        status=FixStatus.FIXED,
        severity=Severity.HIGH,
        severity_source="CVSS:3.1",
        cvss_score=8.1,
        cvss_vector="CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:U/C:H/I:H/A:H",
        summary="musl libc: out-of-bounds write in iconv EUC-KR to UTF-8 conversion",
        advisories=("ALPINE-CVE-2025-26519",),
    )
    npn = Finding(
        id="CVE-2024-5535",
        aliases=("RHSA-2024:9333",),
        package=openssl_rpm,
        installed_version=openssl_rpm.version,
        fixed_version="1:3.0.7-29.el9_4",
        status=FixStatus.FIXED,
        severity=Severity.LOW,
        severity_source="Red Hat",
        cvss_score=5.9,
        cvss_vector="CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:U/C:H/I:N/A:N",
        summary="openssl: SSL_select_next_proto buffer overread",
        epss=0.00356,
        advisories=("RHSA-2024:9333",),
    )

    def requests_cert(package: Package) -> Finding:
        return Finding(
            id="CVE-2024-35195",
            aliases=("GHSA-9wx4-h78v-vm56",),
            package=package,
            installed_version=package.version,
            fixed_version="2.32.0",
            status=FixStatus.FIXED,
            severity=Severity.MEDIUM,
            severity_source="CVSS:3.1",
            cvss_score=5.6,
            cvss_vector="CVSS:3.1/AV:L/AC:H/PR:H/UI:R/S:U/C:H/I:H/A:N",
            summary="Requests `Session` object does not verify requests after making first "
            "request with verify=False",
            epss=0.00044,
            epss_percentile=0.1243,
            references=("https://github.com/psf/requests/security/advisories/GHSA-9wx4-h78v-vm56",),
            advisories=("GHSA-9wx4-h78v-vm56",),
            published="2024-05-20T20:15:00Z",
        )

    openssl_wheel = Finding(
        id="CVE-2024-6119",
        aliases=("GHSA-h4gh-qq45-vh27",),
        package=cryptography,
        installed_version=cryptography.version,
        fixed_version="43.0.1",
        status=FixStatus.FIXED,
        severity=Severity.MEDIUM,
        severity_source="GHSA",
        summary="pyca/cryptography has a vulnerable OpenSSL included in cryptography wheels",
        references=(
            "https://github.com/pyca/cryptography/security/advisories/GHSA-h4gh-qq45-vh27",
        ),
        advisories=("GHSA-h4gh-qq45-vh27",),
    )

    findings = [
        looney_tunables,
        unimportant,
        minizip,
        dh_check,
        euc_kr,
        npn,
        requests_cert(requests_app),
        openssl_wheel,
    ]
    suppressed = [
        Suppression(pkcs12, "PKCS12 files are never parsed by this service", ".basewatchignore"),
        Suppression(
            requests_cert(requests_base),
            "VEX not_affected: vulnerable_code_not_in_execute_path",
            "vex:vex/app.openvex.json",
        ),
        Suppression(glob_unfixed, "no fixed version", "--only-fixed"),
    ]
    return findings, suppressed


def make_scan_result() -> ScanResult:
    inventory = make_scan_inventory()
    findings, suppressed = make_findings(inventory)
    return ScanResult(
        inventory=inventory,
        # Deliberately unsorted: every renderer must sort.
        findings=tuple(findings[::-1]),
        suppressed=tuple(suppressed),
        database=DatabaseInfo(
            path="/home/ci/.cache/basewatch/vuln.db",
            sources=(
                ("osv:Debian:12", "2024-05-01T06:00:00Z"),
                ("osv:Alpine:v3.19", "2024-05-01T06:00:00Z"),
                ("osv:Red Hat", "2024-05-01T06:00:00Z"),
                ("osv:PyPI", "2024-05-01T06:00:05Z"),
                ("kev", "2024-05-01T05:00:00Z"),
                ("epss", "2024-04-30T00:00:00Z"),
            ),
        ),
        warnings=("no advisories for ecosystem Go: 1 golang package was not checked",),
        unchecked=("Go",),
    )


def make_clean_scan_result() -> ScanResult:
    """A scan of an empty root: nothing found, nothing suppressed, no database facts."""
    return ScanResult(inventory=make_minimal_inventory(), findings=())
