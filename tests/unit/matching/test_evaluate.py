"""`scan_inventory` never looks clean for OS packages no advisory ecosystem covers.

OSV publishes no advisories for Fedora, CentOS, Amazon Linux...: their rpms get no ecosystem,
the matcher skips them, and a scan that checked five PyPI packages beside 129 Fedora rpms used
to read "No vulnerabilities found.". The rpms here are the real records of an rpmdb (a
CBL-Mariner sqlite one); the os-release beside them is what leaves them without an ecosystem.
The PyPI advisories are the real ones of the shared OSV export.
"""

from __future__ import annotations

import dataclasses
import json
import zipfile
from pathlib import Path

import pytest

from basewatch.inventory.purl import ecosystem_for, purl_for
from basewatch.inventory.rpm.database import read_database
from basewatch.matching.evaluate import scan_inventory, sourceless_entry
from basewatch.models import (
    ImageInfo,
    Inventory,
    OSInfo,
    Package,
    PackageType,
    ScanResult,
    SourceType,
)
from basewatch.report.scan.summary import summarize, unchecked_of
from basewatch.vulndb.importer import import_paths
from basewatch.vulndb.sqlite import SqliteStore, rebuilding
from tests.fixtures import shared_fixture

FEDORA = OSInfo(id="fedora", version_id="39", pretty_name="Fedora Linux 39 (Container Image)")
# Versions no advisory of the export affects: the five are checked and found clean.
CLEAN_PYPI = {
    "requests": "2.32.3",
    "urllib3": "2.2.3",
    "jinja2": "3.1.4",
    "idna": "3.10",
    "certifi": "2024.8.30",
}
RPMS = 129  # packages of the CBL-Mariner rpmdb fixture


def rpm_records() -> tuple[Package, ...]:
    path = shared_fixture("pkgdb/rpm/cbl-mariner-2.0-rpmdb.sqlite")
    contents = read_database(path, evidence="/var/lib/rpm/rpmdb.sqlite")
    assert len(contents.packages) == RPMS
    return contents.packages


def identified(packages: tuple[Package, ...], os: OSInfo | None) -> tuple[Package, ...]:
    """The packages as the inventory names them (what `assemble` does for each package)."""
    return tuple(
        dataclasses.replace(p, ecosystem=ecosystem_for(p, os), purl=purl_for(p, os))
        for p in packages
    )


def image_inventory(
    os: OSInfo | None, *, rpms: bool = True, pypi: dict[str, str] | None = None
) -> Inventory:
    python = tuple(
        Package(name, version, PackageType.PYPI, evidence=(f"/usr/lib/python3/{name}",))
        for name, version in (CLEAN_PYPI if pypi is None else pypi).items()
    )
    packages = (*(rpm_records() if rpms else ()), *python)
    return Inventory(
        image=ImageInfo("registry.example/team/api:1", SourceType.REGISTRY),
        os=os,
        packages=identified(packages, os),
    )


def real_pypi_store(tmp_path_factory: pytest.TempPathFactory) -> SqliteStore:
    """A database of the real PyPI records naming CLEAN_PYPI's packages, whatever version."""
    root = tmp_path_factory.mktemp("records")
    with zipfile.ZipFile(shared_fixture("osv/PyPI.zip")) as archive:
        for info in archive.infolist():
            record = json.loads(archive.read(info))
            names = {a.get("package", {}).get("name") for a in record.get("affected", [])}
            if names & set(CLEAN_PYPI):
                (root / Path(info.filename).name).write_bytes(archive.read(info))
    path = tmp_path_factory.mktemp("db") / "vuln.db"
    with rebuilding(path) as writable:
        import_paths(writable, sorted(root.iterdir()))
    store = SqliteStore.open(path)
    assert "PyPI" in store.ecosystems()
    return store


@pytest.fixture(scope="module")
def pypi_store(tmp_path_factory: pytest.TempPathFactory) -> SqliteStore:
    return real_pypi_store(tmp_path_factory)


def scan(inventory: Inventory, store: SqliteStore) -> ScanResult:
    return scan_inventory(inventory, store)


def test_fedora_rpms_have_no_ecosystem() -> None:
    """The premise: these rpms are skipped by the matcher."""
    assert {p.ecosystem for p in image_inventory(FEDORA, pypi={}).packages} == {""}


def test_fedora_rpms_beside_checked_pypi_packages_are_unchecked(pypi_store: SqliteStore) -> None:
    result = scan(image_inventory(FEDORA), pypi_store)
    assert result.findings == ()
    assert result.unchecked == ("fedora 39 (rpm)",)
    assert "no advisory source for fedora 39 (rpm): 129 packages were not checked" in (
        result.warnings
    )
    summary = summarize(result)
    assert (summary.packages, summary.checked, summary.unchecked_packages) == (134, 5, 129)
    (unchecked,) = summary.unchecked
    assert (unchecked.ecosystem, unchecked.packages, unchecked.names) == (
        "fedora 39 (rpm)",
        129,
        (),
    )
    assert unchecked.notice() == "not checked: fedora 39 (rpm), 129 packages"
    assert summary.verdict() == (
        "No vulnerabilities found in the 5 packages checked; 129 packages were not checked."
    )


def test_findings_still_come_with_the_unchecked_rpms(pypi_store: SqliteStore) -> None:
    result = scan(image_inventory(FEDORA, pypi={**CLEAN_PYPI, "urllib3": "1.24.1"}), pypi_store)
    assert result.findings
    assert {f.package.name for f in result.findings} == {"urllib3"}
    assert result.unchecked == ("fedora 39 (rpm)",)
    assert summarize(result).checked == 5


def test_without_os_release(pypi_store: SqliteStore) -> None:
    result = scan(image_inventory(None), pypi_store)
    assert result.unchecked == ("unknown distribution (rpm)",)
    assert (
        "no advisory source for unknown distribution (rpm): 129 packages were not checked"
        in result.warnings
    )
    summary = summarize(result)
    assert (summary.checked, summary.unchecked_packages) == (5, 129)
    assert [u.notice() for u in summary.unchecked] == [
        "not checked: unknown distribution (rpm), 129 packages"
    ]


def test_only_such_packages(pypi_store: SqliteStore) -> None:
    """Nothing was checked, and the reports say what: not "no packages to check"."""
    result = scan(image_inventory(FEDORA, pypi={}), pypi_store)
    assert result.unchecked == ("fedora 39 (rpm)",)
    summary = summarize(result)
    assert (summary.checked, summary.unchecked_packages) == (0, 129)
    assert summary.verdict() == "Nothing was checked: 129 packages could not be checked."


def test_one_entry_per_package_type_and_a_single_package(pypi_store: SqliteStore) -> None:
    """A deb and an apk on Fedora get their own entries; one package reads in the singular."""
    extra = identified(
        (
            Package("busybox", "1.36.1-r15", PackageType.APK, evidence=("/lib/apk/db",)),
            Package("tzdata", "2024a-0+deb12u1", PackageType.DEB, evidence=("/var/lib/dpkg",)),
        ),
        FEDORA,
    )
    inventory = image_inventory(FEDORA)
    inventory = dataclasses.replace(inventory, packages=(*inventory.packages, *extra))
    result = scan(inventory, pypi_store)
    assert result.unchecked == ("fedora 39 (apk)", "fedora 39 (deb)", "fedora 39 (rpm)")
    assert "no advisory source for fedora 39 (apk): 1 package was not checked" in result.warnings
    assert [u.notice() for u in unchecked_of(result)] == [
        "not checked: fedora 39 (apk), 1 package",
        "not checked: fedora 39 (deb), 1 package",
        "not checked: fedora 39 (rpm), 129 packages",
    ]
    assert summarize(result).checked == 5


def test_covered_distributions_get_no_such_entry() -> None:
    """Only packages with no ecosystem: never a Debian deb, a PyPI package or a copy."""
    debian = OSInfo(id="debian", version_id="12")
    deb = Package("tzdata", "2024a-0+deb12u1", PackageType.DEB)
    assert sourceless_entry(dataclasses.replace(deb, ecosystem="Debian:12"), debian) == ""
    assert sourceless_entry(Package("requests", "2.32.3", PackageType.PYPI), None) == ""
    assert sourceless_entry(deb, OSInfo(id="  ")) == "unknown distribution (deb)"
    assert sourceless_entry(deb, OSInfo(id="amzn")) == "amzn (deb)"
