"""`no-fixable-severe` and `no-kev` on hand-built scans."""

from __future__ import annotations

import pytest

from basewatch.models import DatabaseInfo, OSInfo, Package, PackageType, Severity, Suppression
from basewatch.policy import Action, Item, Status
from tests.unit.policy.build import deb, facts, finding, inventory, pypi, run, scan

OPENSSL = deb("libssl3", "3.0.11-1", source="openssl")
ZLIB = deb("zlib1g", "1.2.13-1", source="zlib")
PACKAGES = (OPENSSL, ZLIB)


def subjects(items: tuple[Item, ...]) -> list[str]:
    return [i.subject for i in items]


# --- no-fixable-severe --------------------------------------------------------------------------


def test_fixable_high_fails_with_one_item_per_finding() -> None:
    inv = inventory(PACKAGES)
    result = scan(
        inv,
        [
            finding("CVE-2024-2", ZLIB, Severity.CRITICAL, "1.2.13-2"),
            finding("CVE-2024-1", OPENSSL, Severity.HIGH, "3.0.13-1", aliases=("DSA-1",)),
            finding("CVE-2024-3", OPENSSL, Severity.MEDIUM, "3.0.13-1"),  # below the threshold
            finding("CVE-2024-4", OPENSSL, Severity.CRITICAL, ""),  # no fix
        ],
    )
    verdict = run("no-fixable-severe", facts(inv, result))
    assert verdict.status is Status.FAIL
    assert verdict.blocking
    assert verdict.reason == "2 fixable findings at or above high"
    assert subjects(verdict.items) == [
        "CVE-2024-2 in zlib1g 1.2.13-1 (fixed in 1.2.13-2)",
        "CVE-2024-1 in libssl3 3.0.11-1 (fixed in 3.0.13-1)",
    ]
    item = verdict.items[1]
    assert item.aliases == ("DSA-1",)
    assert item.data["id"] == "CVE-2024-1"
    assert item.data["package"] == "libssl3"
    assert item.data["source"] == "openssl"
    assert item.data["fixed_version"] == "3.0.13-1"
    assert item.data["severity"] == "high"
    assert verdict.parameters == {"severity": Severity.HIGH, "days": 0}


def test_passes_without_fixable_findings_at_the_severity() -> None:
    inv = inventory(PACKAGES)
    result = scan(
        inv,
        [
            finding("CVE-2024-3", OPENSSL, Severity.MEDIUM, "3.0.13-1"),
            finding("CVE-2024-4", OPENSSL, Severity.CRITICAL, ""),
        ],
    )
    verdict = run("no-fixable-severe", facts(inv, result))
    assert verdict.status is Status.PASS
    assert verdict.items == ()
    assert verdict.reason == "no fixable finding at or above high"


def test_the_severity_parameter_moves_the_threshold() -> None:
    inv = inventory(PACKAGES)
    result = scan(inv, [finding("CVE-2024-1", OPENSSL, Severity.HIGH)])
    assert run("no-fixable-severe", facts(inv, result), severity="critical").status is Status.PASS
    medium = run("no-fixable-severe", facts(inv, result), severity="MEDIUM")
    assert medium.status is Status.FAIL
    assert medium.reason == "1 fixable finding at or above medium"


def test_days_counts_only_fixes_published_long_enough_ago() -> None:
    inv = inventory(PACKAGES)
    result = scan(
        inv,
        [
            finding("CVE-2024-1", OPENSSL, published="2026-01-01T00:00:00Z"),  # 59 days
            finding("CVE-2024-2", ZLIB, published="2026-02-20T10:00:00Z"),  # 9 days
            finding("CVE-2024-5", ZLIB, modified="2025-12-01"),  # no published: modified
            finding("CVE-2024-6", ZLIB, published="not a date"),  # unknown: counts
        ],
    )
    verdict = run("no-fixable-severe", facts(inv, result), days=30)
    assert verdict.status is Status.FAIL
    assert verdict.reason == (
        "3 fixable findings at or above high with a fix published more than 30 days ago"
    )
    assert subjects(verdict.items) == [
        "CVE-2024-1 in libssl3 3.0.11-1 (fixed in 1.0-2; published 59 days ago)",
        "CVE-2024-5 in zlib1g 1.2.13-1 (fixed in 1.0-2; published 90 days ago)",
        "CVE-2024-6 in zlib1g 1.2.13-1 (fixed in 1.0-2; publication date unknown)",
    ]
    assert [i.data["days"] for i in verdict.items] == [59, 90, None]
    recent = scan(inv, [finding("CVE-2024-2", ZLIB, published="2026-02-20")])
    passed = run("no-fixable-severe", facts(inv, recent), days=30)
    assert passed.status is Status.PASS
    assert passed.reason == (
        "no fixable finding at or above high with a fix published more than 30 days ago"
    )


def test_days_zero_counts_every_fix_whatever_its_date() -> None:
    inv = inventory(PACKAGES)
    result = scan(inv, [finding("CVE-2024-2", ZLIB, published="2026-02-28")])
    assert run("no-fixable-severe", facts(inv, result), days=0).status is Status.FAIL


@pytest.mark.parametrize("policy", ["no-fixable-severe", "no-kev"])
def test_without_a_database_findings_are_not_evaluated(policy: str) -> None:
    verdict = run(policy, facts(inventory(PACKAGES), None))
    assert verdict.status is Status.NOT_EVALUATED
    assert verdict.reason == "no vulnerability database: the image's packages were not matched"
    assert not verdict.blocking


@pytest.mark.parametrize("policy", ["no-fixable-severe", "no-kev"])
def test_nothing_checked_is_not_evaluated(policy: str) -> None:
    inv = inventory(PACKAGES)
    result = scan(inv, unchecked=("Debian:12",))
    verdict = run(policy, facts(inv, result))
    assert verdict.status is Status.NOT_EVALUATED
    assert verdict.reason == "none of the 2 packages could be checked (no advisories for Debian:12)"


def test_an_image_without_packages_is_not_evaluated() -> None:
    inv = inventory(())
    verdict = run("no-fixable-severe", facts(inv, scan(inv)))
    assert verdict.status is Status.NOT_EVALUATED
    assert verdict.reason == (
        "no package that advisories name was found in the image: nothing to check"
    )


def test_a_pass_says_what_was_not_checked() -> None:
    requests = pypi("requests", "2.31.0")
    urllib3 = pypi("urllib3", "2.0.0")
    inv = inventory((*PACKAGES, requests, urllib3), warnings=("var/lib/dpkg/status: truncated",))
    result = scan(inv, unchecked=("PyPI",))
    verdict = run("no-fixable-severe", facts(inv, result))
    assert verdict.status is Status.PASS
    assert verdict.reason == (
        "no fixable finding at or above high; 2 packages were not (fully) checked (no advisories "
        "for PyPI); the inventory is partial (1 warning): packages may be missing from it"
    )


def test_os_packages_without_an_advisory_source_are_not_checked() -> None:
    """Fedora's rpms have no OSV ecosystem: a pass on the PyPI packages beside them says so."""
    fedora = OSInfo(id="fedora", version_id="39")
    rpms = [Package(f"lib{i}", "1.0-1.fc39", PackageType.RPM) for i in range(3)]
    inv = inventory((*rpms, pypi("requests", "2.32.3")), os=fedora)
    verdict = run("no-fixable-severe", facts(inv, scan(inv, unchecked=("fedora 39 (rpm)",))))
    assert verdict.status is Status.PASS
    assert verdict.reason == (
        "no fixable finding at or above high; 3 packages were not (fully) checked "
        "(no advisory source for fedora 39 (rpm))"
    )
    only = inventory(rpms, os=fedora)
    verdict = run("no-kev", facts(only, scan(only, unchecked=("fedora 39 (rpm)",))))
    assert verdict.status is Status.NOT_EVALUATED
    assert verdict.reason == (
        "none of the 3 packages could be checked (no advisory source for fedora 39 (rpm))"
    )


def test_a_fail_says_what_was_not_checked_too() -> None:
    unknown = deb("libfoo", ecosystem="Debian")  # release unknown: never matched
    inv = inventory((*PACKAGES, unknown))
    result = scan(
        inv,
        [finding("CVE-2024-1", OPENSSL)],
        unchecked=("Debian", "Debian:12 zlib"),
    )
    verdict = run("no-fixable-severe", facts(inv, result))
    assert verdict.status is Status.FAIL
    assert verdict.reason == (
        "1 fixable finding at or above high; 2 packages were not (fully) checked "
        "(Debian:12 zlib not fully checked, no advisories for Debian)"
    )


def test_findings_the_scan_suppressed_do_not_count_but_are_told() -> None:
    inv = inventory(PACKAGES)
    hidden = finding("CVE-2024-9", OPENSSL)
    result = scan(inv, suppressed=[Suppression(hidden, "not reachable", ".basewatchignore")])
    verdict = run("no-fixable-severe", facts(inv, result))
    assert verdict.status is Status.PASS
    assert verdict.reason == (
        "no fixable finding at or above high; 1 more finding was suppressed by the scan "
        "(.basewatchignore: 1)"
    )


# --- no-kev -----------------------------------------------------------------------------------


def test_kev_findings_fail_whatever_their_severity_or_fix() -> None:
    inv = inventory(PACKAGES)
    result = scan(
        inv,
        [
            finding("CVE-2024-1", OPENSSL, Severity.LOW, "", kev=True),
            finding("CVE-2024-2", ZLIB, Severity.CRITICAL),
        ],
    )
    verdict = run("no-kev", facts(inv, result))
    assert verdict.status is Status.FAIL
    assert verdict.action is Action.FAIL
    assert verdict.reason == "1 finding in CISA's KEV catalog"
    assert subjects(verdict.items) == ["CVE-2024-1 in libssl3 3.0.11-1 (known exploited: CISA KEV)"]
    assert verdict.items[0].data["kev"] is True


def test_no_kev_passes_without_known_exploited_findings() -> None:
    inv = inventory(PACKAGES)
    result = scan(inv, [finding("CVE-2024-2", ZLIB, Severity.CRITICAL, epss=0.97)])
    verdict = run("no-kev", facts(inv, result))
    assert verdict.status is Status.PASS
    assert verdict.reason == "no finding in CISA's KEV catalog"


def test_an_epss_threshold_fails_likely_exploited_findings_too() -> None:
    inv = inventory(PACKAGES)
    result = scan(
        inv,
        [
            finding("CVE-2024-1", OPENSSL, epss=0.5),
            finding("CVE-2024-2", ZLIB, epss=0.49),
            finding("CVE-2024-3", ZLIB, kev=True, epss=0.9),
        ],
    )
    verdict = run("no-kev", facts(inv, result), epss=0.5)
    assert verdict.status is Status.FAIL
    assert verdict.reason == "2 findings in CISA's KEV catalog or with EPSS >= 0.5"
    assert subjects(verdict.items) == [
        "CVE-2024-1 in libssl3 3.0.11-1 (EPSS 0.500 >= 0.5)",
        "CVE-2024-3 in zlib1g 1.2.13-1 (known exploited: CISA KEV; EPSS 0.900 >= 0.5)",
    ]


def test_a_database_without_the_kev_catalog_cannot_pass_no_kev() -> None:
    inv = inventory(PACKAGES)
    osv_only = DatabaseInfo("vulns.db", (("osv:Debian:12", "2026-02-28"),))
    verdict = run("no-kev", facts(inv, scan(inv, database=osv_only)))
    assert verdict.status is Status.NOT_EVALUATED
    assert verdict.reason == (
        "the vulnerability database holds no KEV catalog (CISA's feed was not imported)"
    )
    with_epss = DatabaseInfo("vulns.db", (("osv:Debian:12", "x"), ("epss", "x")))
    result = scan(inv, [finding("CVE-2024-1", OPENSSL, epss=0.7)], database=with_epss)
    verdict = run("no-kev", facts(inv, result), epss=0.5)
    assert verdict.status is Status.FAIL
    assert verdict.reason == (
        "1 finding with EPSS >= 0.5; the database holds no KEV catalog: only EPSS scores were "
        "checked"
    )


def test_an_epss_threshold_without_epss_data_is_told() -> None:
    inv = inventory(PACKAGES)
    kev_only = DatabaseInfo("vulns.db", (("osv:Debian:12", "x"), ("kev", "x")))
    result = scan(inv, [finding("CVE-2024-1", OPENSSL, epss=0.7)], database=kev_only)
    verdict = run("no-kev", facts(inv, result), epss=0.5)
    assert verdict.status is Status.PASS
    assert verdict.reason == (
        "no finding in CISA's KEV catalog; the database holds no EPSS scores: the EPSS "
        "threshold was not checked"
    )
