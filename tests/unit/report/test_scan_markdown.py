"""`basewatch scan --format markdown`.

Golden files live in tests/unit/report/golden/. After an intended change, regenerate them with
    .venv/bin/python -m tests.unit.report.regen
and review the diff.
"""

from __future__ import annotations

import dataclasses

import pytest

from basewatch.models import ScanResult
from basewatch.report.scan.markdown import ScanMarkdownReporter
from basewatch.report.text import markdown_escape
from tests.unit.report.regen import check_golden
from tests.unit.report.scan_fixtures import make_clean_scan_result, make_scan_result


def render(result: ScanResult) -> str:
    return ScanMarkdownReporter().render(result).decode("utf-8")


def table_cells(line: str) -> list[str]:
    """The cells of a GFM table row, split on unescaped bars as GitHub does."""
    cells, current, escaped = [], "", False
    for char in line.strip()[1:-1]:
        if char == "|" and not escaped:
            cells.append(current.strip())
            current = ""
        else:
            current += char
        escaped = char == "\\" and not escaped
    cells.append(current.strip())
    return cells


@pytest.mark.parametrize("name", ["scan.md", "scan-clean.md"])
def test_matches_golden(name: str) -> None:
    check_golden(name)


def test_summary_table() -> None:
    lines = render(make_scan_result()).splitlines()
    start = lines.index("| Severity | Findings | Fixable |")
    assert lines[start + 1] == "|:--|--:|--:|"
    assert lines[start + 2] == "| critical | 1 | 0 |"
    assert lines[start + 8] == "| **total** | **8** | **6** |"
    assert "1 finding in CISA's Known Exploited Vulnerabilities catalog." in lines[start + 10]
    assert "3 suppressed (" in lines[start + 10]


def test_package_sections_worst_first() -> None:
    text = render(make_scan_result())
    headings = [line for line in text.splitlines() if line.startswith("#### ")]
    assert headings[0] == "#### zlib1g 1:1.2.13.dfsg-1 → no fix"
    assert headings[1] == "#### libc6 2.36-9+deb12u2 → 2.36-9+deb12u3 (1 without a fix)"
    # `~` strikes text through in GFM: Debian versions must keep theirs literal.
    assert "#### libssl3 3.0.11-1\\~deb12u2 → 3.0.13-1\\~deb12u1" in headings
    row = next(line for line in text.splitlines() if "[CVE-2023-4911]" in line)
    assert table_cells(row) == [
        "high",
        "[CVE-2023-4911](https://osv.dev/vulnerability/CVE-2023-4911)",
        "DEBIAN-CVE-2023-4911, DSA-5514-1",
        "fixed",
        "2.36-9+deb12u3",
        "**yes**",
        "69.47%",
    ]


def test_clean_result() -> None:
    text = render(make_clean_scan_result())
    assert "No packages to check were found: nothing was checked." in text
    assert "No vulnerabilities found" not in text
    assert "###  Findings" not in text
    assert "Warnings" not in text


def test_untrusted_strings_cannot_break_the_page() -> None:
    result = make_scan_result()
    finding = result.findings[0]
    package = dataclasses.replace(
        finding.package, name="a|b<img src=x onerror=alert(1)>", version="1~2\n# x"
    )
    hostile = dataclasses.replace(
        finding,
        package=package,
        aliases=("[click](javascript:alert(1))",),
        fixed_version="*3*|",
    )
    text = render(dataclasses.replace(result, findings=(hostile,), suppressed=()))
    heading = next(line for line in text.splitlines() if line.startswith("#### "))
    assert heading == "#### a\\|b\\<img src=x onerror=alert(1)\\> 1\\~2 \\# x → \\*3\\*\\|"
    row = next(line for line in text.splitlines() if line.startswith("| ") and "CVE-" in line)
    cells = table_cells(row)
    assert len(cells) == 7
    assert cells[2] == "\\[click\\](javascript:alert(1))"
    assert "\n# x" not in text


def test_markdown_escape() -> None:
    assert markdown_escape("plain 1.2.3-4 text") == "plain 1.2.3-4 text"
    assert markdown_escape("a|b") == "a\\|b"
    assert markdown_escape("x\x1b[31m") == "x\\\\x1b\\[31m"
    assert markdown_escape("two\nlines") == "two lines"
