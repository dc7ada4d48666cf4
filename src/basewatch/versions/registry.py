"""Which comparator orders the versions of an OSV ecosystem.

OSV ecosystems may carry a release after a colon ("Debian:12", "Ubuntu:22.04:LTS",
"Alpine:v3.20", "Red Hat:enterprise_linux:9::appstream"); the part before the first colon names
the version scheme. Names are matched exactly as OSV spells them. An ecosystem basewatch has no
comparator for (RubyGems, Packagist, Hex...) gets None: the caller decides whether that is a
warning or an error, and never gets a guess.
"""

from __future__ import annotations

from enum import StrEnum
from functools import lru_cache
from typing import assert_never

from basewatch.versions.apk import ApkComparator
from basewatch.versions.base import Comparator
from basewatch.versions.dpkg import DpkgComparator
from basewatch.versions.golang import GoComparator
from basewatch.versions.maven import MavenComparator
from basewatch.versions.pep440 import Pep440Comparator
from basewatch.versions.rpm import RpmComparator
from basewatch.versions.semver import NpmComparator, NuGetComparator, SemverComparator

__all__ = ["Scheme", "comparator_for", "scheme_for"]


class Scheme(StrEnum):
    """A version ordering, shared by one or more ecosystems."""

    DPKG = "dpkg"
    APK = "apk"
    RPM = "rpm"
    PEP440 = "pep440"
    SEMVER = "semver"
    NPM = "npm"
    NUGET = "nuget"
    GO = "go"
    MAVEN = "maven"


_SCHEMES: dict[str, Scheme] = {
    "Debian": Scheme.DPKG,
    "Ubuntu": Scheme.DPKG,
    "Alpine": Scheme.APK,
    "Wolfi": Scheme.APK,
    "Chainguard": Scheme.APK,
    "MinimOS": Scheme.APK,
    "Alpaquita": Scheme.APK,
    "BellSoft Hardened Containers": Scheme.APK,
    "AlmaLinux": Scheme.RPM,
    "Rocky Linux": Scheme.RPM,
    "Red Hat": Scheme.RPM,
    "Mariner": Scheme.RPM,
    "Azure Linux": Scheme.RPM,
    "SUSE": Scheme.RPM,
    "openSUSE": Scheme.RPM,
    "Oracle Linux": Scheme.RPM,
    "Photon OS": Scheme.RPM,
    "Mageia": Scheme.RPM,
    "openEuler": Scheme.RPM,
    "PyPI": Scheme.PEP440,
    "crates.io": Scheme.SEMVER,
    "npm": Scheme.NPM,
    "NuGet": Scheme.NUGET,
    "Go": Scheme.GO,
    "Maven": Scheme.MAVEN,
}


def scheme_for(ecosystem: str) -> Scheme | None:
    """The version scheme of an OSV ecosystem (release suffix allowed), or None if unknown."""
    return _SCHEMES.get(ecosystem.split(":", 1)[0])


@lru_cache(maxsize=256)
def comparator_for(ecosystem: str) -> Comparator | None:
    """The comparator for an OSV ecosystem such as "Debian:12" or "PyPI"; None if unknown.

    Its InvalidVersion messages name `ecosystem` as given.
    """
    scheme = scheme_for(ecosystem)
    if scheme is None:
        return None
    match scheme:
        case Scheme.DPKG:
            return DpkgComparator(ecosystem)
        case Scheme.APK:
            return ApkComparator(ecosystem)
        case Scheme.RPM:
            return RpmComparator(ecosystem)
        case Scheme.PEP440:
            return Pep440Comparator(ecosystem)
        case Scheme.SEMVER:
            return SemverComparator(ecosystem)
        case Scheme.NPM:
            return NpmComparator(ecosystem)
        case Scheme.NUGET:
            return NuGetComparator(ecosystem)
        case Scheme.GO:
            return GoComparator(ecosystem)
        case Scheme.MAVEN:
            return MavenComparator(ecosystem)
        case _:
            assert_never(scheme)
