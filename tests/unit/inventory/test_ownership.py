"""Marking the language packages an OS package installed (inventory.ownership)."""

from __future__ import annotations

from basewatch.inventory.detector import FileResult
from basewatch.inventory.ownership import mark_owned, ownership_facts
from basewatch.models import Package, PackageType

DIST = "/usr/lib/python3/dist-packages"
PIP = Package(
    "pip", "23.0.1", PackageType.PYPI, evidence=(f"{DIST}/pip-23.0.1.dist-info/METADATA",)
)
LOCAL = Package(
    "pip",
    "24.0",
    PackageType.PYPI,
    evidence=("/usr/local/lib/python3.11/pip-24.0.dist-info/METADATA",),
)
JAR = Package(
    "commons-lang3",
    "3.12.0",
    PackageType.MAVEN,
    evidence=("/usr/share/java/commons-lang3.jar!/META-INF/maven/x/pom.properties",),
)
DEBS = [
    Package("python3-pip", "23.0.1+dfsg-1", PackageType.DEB),
    Package("libcommons-lang3-java", "3.12.0-2", PackageType.DEB),
]


def lists(*owned: tuple[str, str]) -> list[FileResult]:
    return [
        FileResult(f"/var/lib/dpkg/info/{name}.list", "dpkg", facts=ownership_facts(name, [path]))
        for name, path in owned
    ]


def test_marks_what_an_installed_os_package_lists() -> None:
    results = lists(
        ("python3-pip", f"{DIST}/pip-23.0.1.dist-info"),
        ("libcommons-lang3-java", "/usr/share/java/commons-lang3.jar"),
    )
    marked = {p.identity(): p for p in mark_owned([*DEBS, PIP, LOCAL, JAR], results)}
    assert marked[PIP.identity()].meta("os_package") == "deb:python3-pip"
    assert marked[JAR.identity()].meta("os_package") == "deb:libcommons-lang3-java"
    assert marked[LOCAL.identity()].meta("os_package") == ""  # pip-installed in /usr/local
    assert all(not p.meta("os_package") for p in marked.values() if p.type is PackageType.DEB)


def test_an_owner_that_is_no_longer_installed_owns_nothing() -> None:
    results = lists(("python3-pip", f"{DIST}/pip-23.0.1.dist-info"))
    assert mark_owned([PIP], results) == [PIP]
    # nor do facts from detectors that are no package manager
    other = [FileResult("/x", "python", facts=(("owns:python3-pip", PIP.evidence[0]),))]
    assert mark_owned([*DEBS, PIP], other) == [*DEBS, PIP]


def test_only_evidence_like_paths_are_kept() -> None:
    listed = ["/usr/bin", "/usr/bin/pip", f"{DIST}/pip", f"{DIST}/x.egg-info", "/a/package.json"]
    assert ownership_facts("p", listed) == (
        ("owns:p", "/usr/bin/pip"),  # a program: it could be a Go binary
        ("owns:p", f"{DIST}/x.egg-info"),
        ("owns:p", "/a/package.json"),
    )
