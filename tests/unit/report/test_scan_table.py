"""`basewatch scan --format table`.

Golden files live in tests/unit/report/golden/. After an intended change, regenerate them with
    .venv/bin/python -m tests.unit.report.regen
and review the diff.
"""

from __future__ import annotations

import dataclasses

import pytest

from basewatch.models import ScanResult
from basewatch.report.scan.table import ScanTableReporter
from tests.unit.report.regen import check_golden
from tests.unit.report.scan_fixtures import make_clean_scan_result, make_scan_result


def render(result: ScanResult) -> str:
    return ScanTableReporter().render(result).decode("utf-8")


@pytest.mark.parametrize("name", ["scan-table.txt", "scan-table-clean.txt"])
def test_matches_golden(name: str) -> None:
    check_golden(name)


def test_package_blocks_name_installed_and_fixed_versions() -> None:
    lines = render(make_scan_result()).splitlines()
    assert (
        "libc6 2.36-9+deb12u2 -> 2.36-9+deb12u3 (1 without a fix)  (deb, layer 0 1ff8e5656edf)"
        in lines
    )
    assert any(line.startswith("zlib1g 1:1.2.13.dfsg-1 -> no fix") for line in lines)
    row = next(line for line in lines if "CVE-2023-4911" in line)
    assert row.split() == [
        "high",
        "CVE-2023-4911",
        "DEBIAN-CVE-2023-4911,DSA-5514-1",
        "fixed",
        "2.36-9+deb12u3",
        "yes",
        "69.47%",
    ]
    unfixed = next(line for line in lines if "CVE-2019-1010022" in line)
    assert unfixed.split()[3:] == ["not-fixed", "-", "-", "0.53%"]


def test_columns_line_up_across_packages() -> None:
    lines = render(make_scan_result()).splitlines()
    headers = [line for line in lines if line.lstrip().startswith("SEVERITY  ")]
    rows = [line for line in lines if "CVE-" in line]
    assert len({h.index("EPSS") for h in headers[:-1]}) == 1  # the last is the summary's
    epss = headers[0].index("EPSS")
    assert all(row[epss - 2 : epss] == "  " and row[epss] != " " for row in rows)


def test_summary_and_suppressed() -> None:
    text = render(make_scan_result())
    summary = text[text.index("Summary:") :].splitlines()
    assert summary[1].split() == ["SEVERITY", "FINDINGS", "FIXABLE"]
    assert summary[2].split() == ["critical", "1", "0"]
    assert summary[3].split() == ["high", "2", "2"]
    assert "  total              8        6" in summary
    assert "  1 finding in CISA's Known Exploited Vulnerabilities" in summary
    assert any(line.strip().startswith("3 suppressed (") for line in summary)


def test_warnings_and_clean_result() -> None:
    text = render(make_scan_result())
    assert "WARNING: 2 problems during the scan:" in text
    assert text.rstrip().endswith("1 golang package was not checked")
    clean = render(make_clean_scan_result())
    # An empty root: nothing to check, so no verdict either.
    assert "No packages to check were found: nothing was checked." in clean
    assert "No vulnerabilities found" not in clean
    assert "WARNING" not in clean
    assert "suppressed" not in clean


def test_many_aliases_are_counted_not_listed() -> None:
    result = make_scan_result()
    finding = dataclasses.replace(result.findings[0], aliases=("A-1", "B-2", "C-3", "D-4", "E-5"))
    text = render(dataclasses.replace(result, findings=(finding,)))
    assert "A-1,B-2,C-3,+2" in text


def test_hostile_strings_cannot_drive_the_terminal() -> None:
    result = make_scan_result()
    finding = result.findings[0]
    evil_package = dataclasses.replace(finding.package, name="evil\x1b]0;pwned\x07", version="1\r2")
    evil = dataclasses.replace(
        finding,
        package=evil_package,
        id="CVE-\x1b[2J",
        aliases=("\x1b[31mred",),
        fixed_version="2\x1b[0m",
    )
    text = render(
        dataclasses.replace(
            result,
            findings=(evil,),
            suppressed=(dataclasses.replace(result.suppressed[0], source="\x1b[5mblink"),),
            warnings=("bad \x1b[31m warning",),
        )
    )
    assert "\x1b" not in text
    assert "\r" not in text
    assert "\x07" not in text
    assert "evil\\x1b]0;pwned\\x07 1\\r2" in text
