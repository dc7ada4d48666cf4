"""Every scan report says first what was not checked, and never looks clean because of it.

A Debian image scanned against a database without Debian advisories used to read "No
vulnerabilities found." with a footnote at the bottom.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest

from basewatch.matching.evaluate import scan_inventory
from basewatch.models import Inventory, ScanResult
from basewatch.report.formats import ScanFormat, scan_renderer
from basewatch.report.scan.json import load_schema
from basewatch.report.scan.summary import summarize
from basewatch.vulndb.sqlite import SqliteStore, rebuilding
from tests.unit.matching.test_evaluate import FEDORA, image_inventory, real_pypi_store
from tests.unit.report.conftest import NOW, SERIAL, make_inventory
from tests.unit.report.test_scan_sarif import validator as sarif_validator


def debian_inventory() -> Inventory:
    inventory = make_inventory()
    packages = tuple(p for p in inventory.packages if p.ecosystem == "Debian:12")
    assert len(packages) == 3
    return dataclasses.replace(inventory, packages=packages)


def unchecked_debian() -> ScanResult:
    """What `scan_inventory` returns for that image against a database without Debian."""
    return ScanResult(inventory=debian_inventory(), findings=(), unchecked=("Debian:12",))


def partly_checked() -> ScanResult:
    """The full image: Go has no advisories, one PyPI name and one Red Hat package had
    advisories that could not be evaluated."""
    return ScanResult(
        inventory=make_inventory(),
        findings=(),
        unchecked=("Go", "PyPI requests", "Red Hat openssl-libs"),
    )


def render(result: ScanResult, fmt: ScanFormat) -> str:
    return scan_renderer(fmt, now=NOW, uuid=SERIAL).render(result).decode()


@pytest.mark.parametrize("fmt", [ScanFormat.TABLE, ScanFormat.MARKDOWN])
def test_text_reports_say_first_what_was_not_checked(fmt: ScanFormat) -> None:
    text = render(unchecked_debian(), fmt)
    assert "No vulnerabilities found" not in text
    assert "Nothing was checked: 3 packages could not be checked." in text
    notice = text.index("not checked: Debian:12, 3 packages")
    assert notice < text.index("Packages:" if fmt is ScanFormat.TABLE else "**Packages:**")


@pytest.mark.parametrize("fmt", [ScanFormat.TABLE, ScanFormat.MARKDOWN])
def test_clean_verdict_is_limited_to_what_was_checked(fmt: ScanFormat) -> None:
    text = render(partly_checked(), fmt)
    assert "No vulnerabilities found." not in text
    # requests is installed twice (the app's venv and the base's dist-packages).
    assert "No vulnerabilities found in the 7 packages checked; 4 packages were not checked." in (
        text
    )
    head = text[: text.index("Digest")]
    assert "not checked: Go, 1 package" in head
    assert "not fully checked: PyPI, 2 packages (requests)" in head
    assert "not fully checked: Red Hat, 1 package (openssl" in head


def test_summary_counts_each_kind() -> None:
    summary = summarize(partly_checked())
    described = [(u.ecosystem, u.packages, u.names) for u in summary.unchecked]
    assert described == [
        ("Go", 1, ()),
        ("PyPI", 2, ("requests",)),
        ("Red Hat", 1, ("openssl-libs",)),
    ]
    assert summary.unchecked_packages == 4


def test_json_has_unchecked_near_the_top_and_valid() -> None:
    import jsonschema

    text = render(unchecked_debian(), ScanFormat.JSON)
    document: dict[str, Any] = json.loads(text)
    jsonschema.Draft202012Validator(load_schema()).validate(document)
    assert list(document)[:3] == ["schema_version", "tool", "unchecked"]
    assert document["unchecked"] == [{"ecosystem": "Debian:12", "packages": 3, "names": []}]
    assert document["summary"]["checked"] == 0
    assert document["summary"]["unchecked"] == 3
    assert document["partial"] is True


def test_sarif_run_is_not_successful_and_says_why_first() -> None:
    document: dict[str, Any] = json.loads(render(unchecked_debian(), ScanFormat.SARIF))
    sarif_validator().validate(document)
    invocation = document["runs"][0]["invocations"][0]
    assert invocation["executionSuccessful"] is False
    first = invocation["toolExecutionNotifications"][0]
    assert first["level"] == "warning"
    assert first["message"]["text"] == "not checked: Debian:12, 3 packages"


def test_cyclonedx_says_what_was_not_checked() -> None:
    document: dict[str, Any] = json.loads(render(unchecked_debian(), ScanFormat.CYCLONEDX_JSON))
    properties = {p["name"]: p["value"] for p in document["metadata"]["properties"]}
    assert properties["basewatch:scan:unchecked:0"] == "not checked: Debian:12, 3 packages"


def test_scan_against_a_database_without_debian(tmp_path: Path) -> None:
    """The real flow: an empty database leaves the Debian release unchecked."""
    path = tmp_path / "vuln.db"
    with rebuilding(path):
        pass
    with SqliteStore.open(path) as store:
        result = scan_inventory(debian_inventory(), store)
    assert result.unchecked == ("Debian:12",)
    text = render(result, ScanFormat.TABLE)
    assert text.startswith("WARNING: not checked: Debian:12, 3 packages\n")
    assert "No vulnerabilities found" not in text


def test_os_packages_without_a_release_are_unchecked(tmp_path: Path) -> None:
    """The matcher never guesses a release; those packages must not count as checked."""
    inventory = debian_inventory()
    inventory = dataclasses.replace(
        inventory,
        packages=tuple(dataclasses.replace(p, ecosystem="Debian") for p in inventory.packages),
    )
    path = tmp_path / "vuln.db"
    with rebuilding(path):
        pass
    with SqliteStore.open(path) as store:
        result = scan_inventory(inventory, store)
    assert result.unchecked == ("Debian",)
    assert "Nothing was checked" in render(result, ScanFormat.TABLE)


@pytest.mark.parametrize("fmt", [ScanFormat.TABLE, ScanFormat.MARKDOWN])
def test_a_fully_checked_clean_image_says_so(fmt: ScanFormat) -> None:
    inventory = dataclasses.replace(debian_inventory(), warnings=())
    result = ScanResult(inventory=inventory, findings=())
    text = render(result, fmt)
    assert "No vulnerabilities found." in text
    assert "not checked" not in text
    sarif: dict[str, Any] = json.loads(render(result, ScanFormat.SARIF))
    assert sarif["runs"][0]["invocations"][0]["executionSuccessful"] is True


def test_many_unchecked_packages_are_counted_in_linear_time() -> None:
    """Every package of a hostile 20,000-package image unchecked: no quadratic count."""
    import time

    template = debian_inventory().packages[0]
    packages = tuple(
        dataclasses.replace(template, name=f"p{i}", source_name=f"p{i}", evidence=(f"/x/{i}",))
        for i in range(20_000)
    )
    result = ScanResult(
        inventory=dataclasses.replace(debian_inventory(), packages=packages),
        findings=(),
        unchecked=tuple(f"Debian:12 p{i}" for i in range(20_000)),
    )
    started = time.monotonic()
    (unchecked,) = summarize(result).unchecked
    assert time.monotonic() - started < 5
    assert (unchecked.ecosystem, unchecked.packages) == ("Debian:12", 20_000)
    assert unchecked.describe().endswith("(p0, p1, p10, p100, p1000, +19995 more)")


# --- OS packages no advisory ecosystem covers (rpms of Fedora) ---------------------------------


@pytest.fixture(scope="module")
def pypi_store(tmp_path_factory: pytest.TempPathFactory) -> SqliteStore:
    return real_pypi_store(tmp_path_factory)


@pytest.fixture(scope="module")
def fedora_scan(pypi_store: SqliteStore) -> ScanResult:
    """129 real rpm records of a Fedora 39 image (no OSV ecosystem) beside 5 clean PyPI
    packages checked against the real PyPI advisories."""
    return scan_inventory(image_inventory(FEDORA), pypi_store)


FEDORA_NOTICE = "not checked: fedora 39 (rpm), 129 packages"
FEDORA_VERDICT = (
    "No vulnerabilities found in the 5 packages checked; 129 packages were not checked."
)


@pytest.mark.parametrize("fmt", [ScanFormat.TABLE, ScanFormat.MARKDOWN])
def test_fedora_rpms_are_said_first_and_limit_the_verdict(
    fedora_scan: ScanResult, fmt: ScanFormat
) -> None:
    text = render(fedora_scan, fmt)
    assert "No vulnerabilities found." not in text
    assert FEDORA_VERDICT in text
    assert text.index(FEDORA_NOTICE) < text.index("Image" if fmt is ScanFormat.TABLE else "**")
    if fmt is ScanFormat.TABLE:
        assert text.startswith(f"WARNING: {FEDORA_NOTICE}\n")
    assert "no advisory source for fedora 39 (rpm): 129 packages were not checked" in text


def test_fedora_rpms_in_json(fedora_scan: ScanResult) -> None:
    import jsonschema

    document: dict[str, Any] = json.loads(render(fedora_scan, ScanFormat.JSON))
    jsonschema.Draft202012Validator(load_schema()).validate(document)
    assert list(document)[:3] == ["schema_version", "tool", "unchecked"]
    assert document["unchecked"] == [{"ecosystem": "fedora 39 (rpm)", "packages": 129, "names": []}]
    assert (document["summary"]["checked"], document["summary"]["unchecked"]) == (5, 129)
    assert document["summary"]["packages"] == 134
    assert document["findings"] == []
    assert document["partial"] is True


def test_fedora_rpms_in_sarif(fedora_scan: ScanResult) -> None:
    document: dict[str, Any] = json.loads(render(fedora_scan, ScanFormat.SARIF))
    sarif_validator().validate(document)
    run = document["runs"][0]
    invocation = run["invocations"][0]
    assert invocation["executionSuccessful"] is False
    assert invocation["toolExecutionNotifications"][0]["message"]["text"] == FEDORA_NOTICE
    assert run["properties"]["unchecked"] == [
        {"ecosystem": "fedora 39 (rpm)", "packages": 129, "names": []}
    ]
    assert run["properties"]["partial"] is True


def test_fedora_rpms_in_cyclonedx(fedora_scan: ScanResult) -> None:
    document: dict[str, Any] = json.loads(render(fedora_scan, ScanFormat.CYCLONEDX_JSON))
    properties = {p["name"]: p["value"] for p in document["metadata"]["properties"]}
    assert properties["basewatch:scan:unchecked:0"] == FEDORA_NOTICE


@pytest.mark.parametrize("fmt", [ScanFormat.TABLE, ScanFormat.MARKDOWN])
def test_only_fedora_rpms_say_what_was_not_checked(
    pypi_store: SqliteStore, fmt: ScanFormat
) -> None:
    result = scan_inventory(image_inventory(FEDORA, pypi={}), pypi_store)
    text = render(result, fmt)
    assert "Nothing was checked: 129 packages could not be checked." in text
    assert "No packages to check were found" not in text
    assert text.index(FEDORA_NOTICE) < text.index("Nothing was checked")


def test_fedora_rpms_without_os_release(pypi_store: SqliteStore) -> None:
    result = scan_inventory(image_inventory(None), pypi_store)
    text = render(result, ScanFormat.TABLE)
    assert text.startswith("WARNING: not checked: unknown distribution (rpm), 129 packages\n")
    assert FEDORA_VERDICT in text
