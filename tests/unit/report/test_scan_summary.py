"""`renderer_for` of `basewatch scan`, and the ordering and counting every scan report shares."""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import pytest

from basewatch.models import FixStatus, Severity
from basewatch.report.formats import ScanFormat, scan_renderer
from basewatch.report.scan.summary import (
    fixed_versions,
    group_by_package,
    natural_key,
    scan_warnings,
    sorted_findings,
    summarize,
)
from tests.unit.report.conftest import NOW, SERIAL
from tests.unit.report.scan_fixtures import make_clean_scan_result, make_scan_result


@pytest.mark.parametrize("fmt", list(ScanFormat))
def test_renderer_for_each_format(fmt: ScanFormat) -> None:
    reporter = scan_renderer(fmt, now=NOW, uuid=SERIAL)
    assert reporter.name == fmt.value
    assert reporter.media_type
    for result in (make_scan_result(), make_clean_scan_result()):
        output = reporter.render(result)
        assert output.endswith(b"\n")
        output.decode("utf-8")


@pytest.mark.parametrize("fmt", list(ScanFormat))
def test_output_does_not_depend_on_input_order(fmt: ScanFormat) -> None:
    result = make_scan_result()
    shuffled = dataclasses.replace(
        result,
        findings=result.findings[::-1],
        suppressed=result.suppressed[::-1],
        inventory=dataclasses.replace(result.inventory, packages=result.inventory.packages[::-1]),
    )
    reporter = scan_renderer(fmt, now=NOW, uuid=SERIAL)
    assert reporter.render(shuffled) == reporter.render(result)


def test_cli_choices_are_the_formats() -> None:
    assert [f.value for f in ScanFormat] == ["table", "json", "sarif", "cyclonedx-json", "markdown"]


def test_text_formats_do_not_import_sbom_libraries() -> None:
    code = (
        "import sys\n"
        "from basewatch.report.formats import ScanFormat, scan_renderer\n"
        "from basewatch.models import ImageInfo, Inventory, ScanResult, SourceType\n"
        "inv = Inventory(ImageInfo('x', SourceType.DIR), os=None, packages=())\n"
        "for fmt in (ScanFormat.JSON, ScanFormat.TABLE, ScanFormat.MARKDOWN):\n"
        "    scan_renderer(fmt).render(ScanResult(inventory=inv, findings=()))\n"
        "heavy = {'cyclonedx', 'rich', 'license_expression', 'packageurl', 'jsonschema'}\n"
        "print(sorted(m for m in sys.modules if m.partition('.')[0] in heavy))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


def test_findings_sort_worst_first() -> None:
    findings = sorted_findings(make_scan_result().findings)
    ranks = [f.severity.rank for f in findings]
    assert ranks == sorted(ranks, reverse=True)
    assert findings[0].id == "CVE-2023-45853"  # the only critical
    # Between the two highs, the one in CISA's KEV catalog comes first.
    assert [f.id for f in findings[1:3]] == ["CVE-2023-4911", "CVE-2025-26519"]


def test_group_by_package_ranks_packages_by_their_worst_finding() -> None:
    groups = group_by_package(make_scan_result().findings)
    names = [package.name for package, _ in groups]
    assert names[:3] == ["zlib1g", "libc6", "musl"]
    libc6 = dict((p.name, fs) for p, fs in groups)["libc6"]
    assert [f.severity for f in libc6] == [Severity.HIGH, Severity.NEGLIGIBLE]
    assert sum(len(fs) for _, fs in groups) == len(make_scan_result().findings)


def test_summary_counts() -> None:
    summary = summarize(make_scan_result())
    assert (summary.packages, summary.findings, summary.fixable, summary.kev) == (11, 8, 6, 1)
    assert [c.severity for c in summary.by_severity] == [
        Severity.CRITICAL,
        Severity.HIGH,
        Severity.MEDIUM,
        Severity.LOW,
        Severity.NEGLIGIBLE,
        Severity.UNKNOWN,
    ]
    critical = summary.count(Severity.CRITICAL)
    assert (critical.findings, critical.fixable) == (1, 0)  # wont-fix is not fixable
    assert summary.suppressed == 3
    assert {source for source, _ in summary.suppressed_by_source} == {
        ".basewatchignore",
        "vex:vex/app.openvex.json",
        "--only-fixed",
    }


def test_fixed_versions_are_distinct_and_in_natural_order() -> None:
    finding = make_scan_result().findings[0]
    variants = [
        dataclasses.replace(finding, fixed_version=v, status=FixStatus.FIXED)
        for v in ("1.10.0", "1.9.2", "1.10.0")
    ]
    variants.append(dataclasses.replace(finding, fixed_version="", status=FixStatus.NOT_FIXED))
    assert fixed_versions(variants) == ["1.9.2", "1.10.0"]
    assert natural_key("1.9") < natural_key("1.10")


def test_scan_warnings_keep_inventory_warnings_first_and_once() -> None:
    result = make_scan_result()
    doubled = dataclasses.replace(result, warnings=(*result.inventory.warnings, *result.warnings))
    assert scan_warnings(doubled) == [*result.inventory.warnings, *result.warnings]


def test_absurdly_long_fixed_versions_render() -> None:
    """A hostile advisory's 5,000-digit fixed version: int() refuses more than 4,300 digits,
    which used to crash every renderer of the scan."""
    result = make_scan_result()
    finding = result.findings[0]
    # No comparator for this ecosystem: the display order falls back to `natural_key`.
    package = dataclasses.replace(finding.package, ecosystem="Unknown:1", purl="")
    huge, bigger = "1." + "9" * 5000, "1.1" + "0" * 5000
    variants = tuple(
        dataclasses.replace(finding, package=package, fixed_version=v, status=FixStatus.FIXED)
        for v in (bigger, huge, "1.10", "01.9")
    )
    assert fixed_versions(variants) == ["01.9", "1.10", huge, bigger]
    assert natural_key("1.0009") == natural_key("1.9")
    hostile = dataclasses.replace(result, findings=variants)
    for fmt in ScanFormat:
        output = scan_renderer(fmt, now=NOW, uuid=SERIAL).render(hostile)
        assert bigger.encode() in output
