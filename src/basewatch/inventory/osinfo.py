"""Deciding the distribution from the OS files of the final filesystem (or from packages)."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from basewatch.models import OSInfo, Package, PackageType

# Reads the facts the os-release detector kept for a path of the final filesystem (symlinks
# followed), or None when the path is absent.
FactsLookup = Callable[[str], tuple[tuple[str, str], ...] | None]

_RELEASE_LINE = re.compile(
    r"^(?P<name>.+?)\s+release\s+(?P<version>[0-9][0-9.]*)(?:\s+\((?P<codename>[^)]*)\))?",
    re.IGNORECASE,
)
RELEASE_FILES = (
    "/etc/oracle-release",
    "/etc/centos-release",
    "/etc/redhat-release",
    "/etc/system-release",
)
_RELEASE_IDS = (
    ("red hat enterprise linux", "rhel"),
    ("centos stream", "centos"),
    ("centos", "centos"),
    ("almalinux", "almalinux"),
    ("rocky", "rocky"),
    ("oracle linux", "ol"),
    ("fedora", "fedora"),
    ("amazon linux", "amzn"),
)


def detect_os(facts: FactsLookup, packages: Sequence[Package], distroless: bool) -> OSInfo | None:
    """os-release first (/etc, then /usr/lib), then the legacy files, then package evidence."""
    for path in ("/etc/os-release", "/usr/lib/os-release"):
        pairs = facts(path)
        if pairs:
            values = dict(pairs)
            if values.get("ID"):
                return _from_os_release(values, path, facts, distroless)
    if pairs := facts("/etc/lsb-release"):
        values = dict(pairs)
        if values.get("DISTRIB_ID"):
            return OSInfo(
                id=values["DISTRIB_ID"].lower(),
                version_id=values.get("DISTRIB_RELEASE", ""),
                version_codename=values.get("DISTRIB_CODENAME", ""),
                pretty_name=values.get("DISTRIB_DESCRIPTION", ""),
                evidence=("/etc/lsb-release",),
                distroless=distroless,
            )
    if content := _content(facts, "/etc/alpine-release"):
        return OSInfo("alpine", content, evidence=("/etc/alpine-release",), distroless=distroless)
    # The most specific file first, as rpm's and yum's release detection do: Oracle Linux
    # also ships a redhat-release that says "Red Hat Enterprise Linux".
    for path in RELEASE_FILES:
        if (content := _content(facts, path)) and (match := _RELEASE_LINE.match(content)):
            lowered = match.group("name").lower()
            os_id = next((i for key, i in _RELEASE_IDS if key in lowered), lowered.split()[0])
            version = match.group("version")
            if os_id == "centos":
                # CentOS's own os-release says VERSION_ID="7" for "7.9.2009": keep that view.
                version = version.split(".", 1)[0]
            return OSInfo(
                os_id,
                version,
                version_codename=match.group("codename") or "",
                pretty_name=content,
                evidence=(path,),
                distroless=distroless,
            )
    if content := _content(facts, "/etc/debian_version"):
        version, codename = _debian_version(content)
        return OSInfo(
            "debian", version, codename, evidence=("/etc/debian_version",), distroless=distroless
        )
    return _from_packages(packages, distroless)


def _content(facts: FactsLookup, path: str) -> str:
    pairs = facts(path)
    return dict(pairs).get("CONTENT", "").strip() if pairs else ""


def _debian_version(content: str) -> tuple[str, str]:
    if re.match(r"^\d+(\.\d+)*$", content):
        return content.split(".", maxsplit=1)[0], ""
    return "", content.split("/", maxsplit=1)[0]  # "trixie/sid": testing has a codename, no number


def _from_os_release(
    values: dict[str, str], path: str, facts: FactsLookup, distroless: bool
) -> OSInfo:
    os_id = values["ID"].lower()
    version_id = values.get("VERSION_ID", "")
    codename = values.get("VERSION_CODENAME", "")
    evidence = [path]
    if os_id == "debian" and not version_id and (content := _content(facts, "/etc/debian_version")):
        version_id, fallback = _debian_version(content)
        codename = codename or fallback
        evidence.append("/etc/debian_version")
    if os_id == "alpine" and (content := _content(facts, "/etc/alpine-release")):
        version_id = version_id or content
    return OSInfo(
        id=os_id,
        version_id=version_id,
        version_codename=codename,
        pretty_name=values.get("PRETTY_NAME", ""),
        id_like=tuple(values.get("ID_LIKE", "").split()),
        evidence=tuple(evidence),
        distroless=distroless,
    )


def _from_packages(packages: Sequence[Package], distroless: bool) -> OSInfo | None:
    """No release file at all: the release package still says which distribution this is."""
    for package in packages:
        if package.type is PackageType.DEB and package.name == "base-files":
            version = package.version.split(":")[-1]
            if "ubuntu" in version:
                return OSInfo("ubuntu", evidence=("package base-files",), distroless=distroless)
            major = re.match(r"^(\d+)", version)
            return OSInfo(
                "debian",
                major.group(1) if major else "",
                evidence=(f"package base-files {package.version}",),
                distroless=distroless,
            )
        if package.type is PackageType.APK and package.name == "alpine-release":
            return OSInfo(
                "alpine",
                package.version.split("-r")[0],
                evidence=(f"package alpine-release {package.version}",),
                distroless=distroless,
            )
    return None
