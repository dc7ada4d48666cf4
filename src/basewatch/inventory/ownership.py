"""Language packages that an OS package installed.

Debian's python3-pip ships pip's `.dist-info`, Alpine's py3-setuptools ships setuptools',
Debian's libcommons-lang3-java ships a jar with its `pom.properties`, and Debian's golang or
docker packages ship Go binaries. Such a copy belongs to the
distribution: fixes are backported under the distribution's own version (bookworm's
python3-setuptools 66.1.1-1+deb12u1 carries the fix for CVE-2024-6345, which PyPI's advisory
says 66.1.1 lacks), and the distribution's advisories cover it through the OS package. The
package stays in the inventory, marked with the OS package that owns it (metadata
`os_package`, e.g. `deb:python3-pip`), and `scan` matches it only through that OS package, as
Trivy does; Grype reports both copies.

Ownership comes from the package managers' file lists: dpkg's `/var/lib/dpkg/info/*.list`, the
`F:`/`R:` lines of apk's installed database, and the file tables of rpm headers. Only listed
paths that can be the evidence of a language package are kept (package metadata directories,
archives, package.json files).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Iterator, Sequence

from basewatch.inventory.detector import FileResult
from basewatch.models import Package, PackageType, is_os_package

OS_PACKAGE_KEY = "os_package"  # metadata key on an owned language package
_FACT_PREFIX = "owns:"  # FileResult fact ("owns:<OS package name>", path)
_EVIDENCE_SUFFIXES = (".dist-info", ".egg-info", ".jar", ".war", ".ear", "/package.json")
# Executables (Go binaries) are kept where packages install them; the rest of a file list is not.
_PROGRAM_DIRS = ("/bin/", "/sbin/", "/libexec/")
# The detectors whose results carry ownership facts, and the type of the packages they own for.
_OWNER_TYPES = {"dpkg": PackageType.DEB, "apk": PackageType.APK, "rpm": PackageType.RPM}


def is_evidence_path(path: str) -> bool:
    """Whether a path a package manager lists can be the evidence of a language package: a
    metadata directory, an archive, a package.json, or a program (a Go binary)."""
    return path.endswith(_EVIDENCE_SUFFIXES) or any(d in path for d in _PROGRAM_DIRS)


def ownership_facts(package: str, paths: Iterable[str]) -> tuple[tuple[str, str], ...]:
    """Facts saying that OS package `package` installed these (evidence-like) paths."""
    return tuple((_FACT_PREFIX + package, path) for path in paths if is_evidence_path(path))


def mark_owned(packages: Sequence[Package], results: Iterable[FileResult]) -> list[Package]:
    """`packages`, each language package that an installed OS package lists marked with it."""
    installed = {(p.type, p.name) for p in packages}
    owners: dict[str, str] = {}
    for result in results:
        kind = _OWNER_TYPES.get(result.detector)
        if kind is None:
            continue
        for key, path in result.facts:
            name = key.removeprefix(_FACT_PREFIX)
            if key.startswith(_FACT_PREFIX) and (kind, name) in installed:
                owners.setdefault(path, f"{kind.value}:{name}")
    if not owners:
        return list(packages)
    marked = []
    for package in packages:
        owner = next(
            (owners[p] for e in package.evidence for p in _candidates(e) if p in owners), ""
        )
        if owner and not is_os_package(package.type):
            metadata = tuple(sorted((*package.metadata, (OS_PACKAGE_KEY, owner))))
            package = dataclasses.replace(package, metadata=metadata)
        marked.append(package)
    return marked


def _candidates(evidence: str) -> Iterator[str]:
    """The paths a package manager would list for this evidence: the file itself, its
    directory (`pip-23.0.1.dist-info/METADATA`), the outer archive of a nested one."""
    outer = evidence.split("!/", 1)[0]
    yield outer
    parent = outer.rpartition("/")[0]
    if parent:
        yield parent
