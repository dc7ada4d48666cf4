"""Package URLs and OSV ecosystem names, which depend on both the package and the distribution."""

from __future__ import annotations

import re
from typing import assert_never

from packageurl import PackageURL

from basewatch.models import OSInfo, Package, PackageType

# os-release ID -> purl namespace for rpm (the purl spec's examples use these vendor names)
_RPM_NAMESPACES = {
    "rhel": "redhat",
    "centos": "centos",
    "fedora": "fedora",
    "almalinux": "almalinux",
    "rocky": "rocky",
    "ol": "oracle",
    "amzn": "amazon",
    "sles": "opensuse",
    "sle_bci": "opensuse",
    "opensuse-leap": "opensuse",
    "opensuse-tumbleweed": "opensuse",
    "mariner": "mariner",
    "azurelinux": "azurelinux",
}

# os-release ID -> OSV ecosystem prefix for rpm-based distributions
_RPM_ECOSYSTEMS = {
    "almalinux": "AlmaLinux",
    "rocky": "Rocky Linux",
    "rhel": "Red Hat",
    "mariner": "Mariner",
    "azurelinux": "Azure Linux",
    "sles": "SUSE",
    "sle_bci": "SUSE",
    "opensuse-leap": "openSUSE",
    "opensuse-tumbleweed": "openSUSE",
}


def major(version: str) -> str:
    return version.split(".", maxsplit=1)[0] if version else ""


def major_minor(version: str) -> str:
    return ".".join(version.split(".")[:2]) if version else ""


def distro_qualifier(os: OSInfo | None) -> str:
    if os is None or not os.id:
        return ""
    return f"{os.id}-{os.version_id}" if os.version_id else os.id


def ecosystem_for(package: Package, os: OSInfo | None) -> str:
    """The OSV ecosystem this package's advisories are published under ("Debian:12", "PyPI")."""
    os_id = os.id if os else ""
    version = os.version_id if os else ""
    match package.type:
        case PackageType.DEB:
            if os_id == "ubuntu" and version:
                lts = version.endswith(".04") and int(version.split(".")[0]) % 2 == 0
                return f"Ubuntu:{version}:LTS" if lts else f"Ubuntu:{version}"
            if os_id == "debian" or "debian" in (os.id_like if os else ()):
                return f"Debian:{major(version)}" if version else "Debian"
            return ""
        case PackageType.APK:
            if os_id == "alpine":
                return f"Alpine:v{major_minor(version)}" if version else "Alpine"
            if os_id == "wolfi":
                return "Wolfi"
            if os_id == "chainguard":
                return "Chainguard"
            return ""
        case PackageType.RPM:
            prefix = _RPM_ECOSYSTEMS.get(os_id, "")
            if not prefix:
                return ""
            if prefix in ("AlmaLinux", "Rocky Linux"):
                return f"{prefix}:{major(version)}" if version else prefix
            if prefix == "Mariner":
                return f"Mariner:{version}" if version else prefix
            return prefix
        case PackageType.PYPI:
            return "PyPI"
        case PackageType.NPM:
            return "npm"
        case PackageType.GOLANG:
            return "Go"
        case PackageType.MAVEN:
            return "Maven"
        case _:
            assert_never(package.type)


def _pypi_name(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def purl_for(package: Package, os: OSInfo | None) -> str:
    """The package URL, with `distro` and `arch` qualifiers for OS packages."""
    qualifiers: dict[str, str] = {}
    namespace: str | None = None
    name = package.name
    version = package.version
    distro = distro_qualifier(os)
    match package.type:
        case PackageType.DEB | PackageType.APK | PackageType.RPM:
            namespace = os.id if os and os.id else None
            if package.type is PackageType.RPM:
                namespace = _RPM_NAMESPACES.get(namespace or "", namespace)
                epoch, sep, rest = version.partition(":")
                if sep and epoch.isdigit():
                    qualifiers["epoch"] = epoch
                    version = rest
            if package.arch:
                qualifiers["arch"] = package.arch
            if distro:
                qualifiers["distro"] = distro
            if package.source_name and package.source_name != package.name:
                qualifiers["upstream"] = package.source_name
        case PackageType.PYPI:
            name = _pypi_name(name)
        case PackageType.NPM:
            if name.startswith("@") and "/" in name:
                namespace, _, name = name.partition("/")
        case PackageType.GOLANG:
            if "/" in name:
                namespace, _, name = name.rpartition("/")
        case PackageType.MAVEN:
            namespace = package.namespace or None
        case _:
            assert_never(package.type)
    return PackageURL(
        type=package.type.value,
        namespace=namespace,
        name=name,
        version=version or None,
        qualifiers=qualifiers or None,
    ).to_string()
