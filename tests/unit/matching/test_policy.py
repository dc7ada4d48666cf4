from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from basewatch.errors import UsageError
from basewatch.matching.policy import Policy, load_ignore_file, load_openvex
from basewatch.models import Finding, FixStatus, Package, PackageType, Severity


def finding(
    id_: str, name: str, severity: Severity, status: FixStatus, aliases: tuple[str, ...] = ()
) -> Finding:
    package = Package(
        name,
        "1.0-1",
        PackageType.DEB,
        purl=f"pkg:deb/debian/{name}@1.0-1?arch=amd64&distro=debian-12",
    )
    return Finding(
        id=id_,
        aliases=aliases,
        package=package,
        installed_version="1.0-1",
        fixed_version="1.0-2" if status is FixStatus.FIXED else "",
        status=status,
        severity=severity,
    )


FINDINGS = [
    finding("CVE-2024-1", "openssl", Severity.CRITICAL, FixStatus.FIXED, ("DEBIAN-CVE-2024-1",)),
    finding("CVE-2024-2", "openssl", Severity.LOW, FixStatus.NOT_FIXED),
    finding("CVE-2024-3", "zlib", Severity.HIGH, FixStatus.WONT_FIX),
]
TODAY = dt.date(2026, 11, 27)


def ids(findings: list[Finding]) -> list[str]:
    return [f.id for f in findings]


def test_filters() -> None:
    kept, suppressed, _ = Policy(only_fixed=True, today=TODAY).apply(FINDINGS)
    assert ids(kept) == ["CVE-2024-1"]
    assert {s.source for s in suppressed} == {"--only-fixed"}
    kept, _, _ = Policy(
        severities=frozenset({Severity.HIGH, Severity.CRITICAL}), today=TODAY
    ).apply(FINDINGS)
    assert ids(kept) == ["CVE-2024-1", "CVE-2024-3"]


def test_ignore_file_with_expiry(tmp_path: Path) -> None:
    path = tmp_path / ".basewatchignore"
    path.write_text(
        "ignore:\n"
        "  - id: DEBIAN-CVE-2024-1\n    package: openssl\n    reason: not reachable\n"
        "    expires: 2027-01-01\n"
        "  - id: CVE-2024-3\n    reason: old\n    expires: 2025-01-01\n"
        "  - id: CVE-2024-2\n    package: 'pkg:deb/debian/zlib*'\n"
    )
    rules = load_ignore_file(path)
    kept, suppressed, warnings = Policy(ignore_rules=rules, today=TODAY).apply(FINDINGS)
    assert ids(kept) == ["CVE-2024-2", "CVE-2024-3"]  # expired entry and wrong package
    assert [(s.finding.id, s.reason) for s in suppressed] == [("CVE-2024-1", "not reachable")]
    assert warnings == [
        ".basewatchignore: the entry for CVE-2024-3 expired on 2025-01-01; it no longer applies"
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("ignore: 3", "expected a list"),
        ("- package: x", "needs an `id`"),
        ("- id: X\n  expires: soon", "not a YYYY-MM-DD date"),
        ("ignore: [unclosed", "not a readable YAML"),
    ],
)
def test_bad_ignore_files(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "ignore.yaml"
    path.write_text(text)
    with pytest.raises(UsageError, match=message):
        load_ignore_file(path)


def test_openvex_not_affected_and_fixed_suppress(tmp_path: Path) -> None:
    document = {
        "@context": "https://openvex.dev/ns/v0.2.0",
        "@id": "https://example.invalid/vex/1",
        "author": "test",
        "timestamp": "2026-11-01T00:00:00Z",
        "version": 1,
        "statements": [
            {
                "vulnerability": {"name": "CVE-2024-1"},
                "products": [{"@id": "pkg:deb/debian/openssl"}],
                "status": "not_affected",
                "justification": "vulnerable_code_not_in_execute_path",
            },
            {"vulnerability": "CVE-2024-3", "products": [], "status": "fixed"},
            {"vulnerability": {"name": "CVE-2024-2"}, "status": "under_investigation"},
        ],
    }
    path = tmp_path / "vex.json"
    path.write_text(json.dumps(document))
    statements = load_openvex(path)
    kept, suppressed, _ = Policy(vex=statements, vex_source=str(path), today=TODAY).apply(FINDINGS)
    assert ids(kept) == ["CVE-2024-2"]
    assert sorted(s.reason for s in suppressed) == [
        "VEX fixed",
        "VEX not_affected: vulnerable_code_not_in_execute_path",
    ]


def test_vex_product_with_another_version_does_not_suppress(tmp_path: Path) -> None:
    path = tmp_path / "vex.json"
    path.write_text(
        json.dumps(
            {
                "statements": [
                    {
                        "vulnerability": "CVE-2024-1",
                        "products": ["pkg:deb/debian/openssl@9.9-1"],
                        "status": "not_affected",
                    }
                ]
            }
        )
    )
    kept, _, _ = Policy(vex=load_openvex(path), today=TODAY).apply(FINDINGS)
    assert "CVE-2024-1" in ids(kept)


def test_bad_vex(tmp_path: Path) -> None:
    path = tmp_path / "vex.json"
    path.write_text('{"no": "statements"}')
    with pytest.raises(UsageError, match="not an OpenVEX document"):
        load_openvex(path)


def test_base_and_app_filters() -> None:
    from dataclasses import replace

    from basewatch.models import Origin

    base = replace(FINDINGS[0], package=replace(FINDINGS[0].package, origin=Origin.BASE))
    app = replace(FINDINGS[2], package=replace(FINDINGS[2].package, origin=Origin.APP))
    unknown = FINDINGS[1]
    kept, suppressed, _ = Policy(only_base=True, today=TODAY).apply([base, app, unknown])
    assert ids(kept) == ["CVE-2024-1"]
    assert {s.source for s in suppressed} == {"--only-base"}
    kept, _, _ = Policy(ignore_base=True, today=TODAY).apply([base, app, unknown])
    assert ids(kept) == ["CVE-2024-3", "CVE-2024-2"]
