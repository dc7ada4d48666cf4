"""comparator_for(): OSV ecosystem strings, with or without a release, to comparators."""

from __future__ import annotations

import pytest

from basewatch.errors import InvalidVersion
from basewatch.versions.apk import ApkComparator
from basewatch.versions.base import Comparator
from basewatch.versions.dpkg import DpkgComparator
from basewatch.versions.golang import GoComparator
from basewatch.versions.maven import MavenComparator
from basewatch.versions.pep440 import Pep440Comparator
from basewatch.versions.registry import Scheme, comparator_for, scheme_for
from basewatch.versions.rpm import RpmComparator
from basewatch.versions.semver import NpmComparator, NuGetComparator, SemverComparator


@pytest.mark.parametrize(
    ("ecosystem", "kind"),
    [
        ("Debian", DpkgComparator),
        ("Debian:12", DpkgComparator),
        ("Ubuntu:22.04:LTS", DpkgComparator),
        ("Ubuntu:Pro:18.04:LTS", DpkgComparator),
        ("Alpine:v3.20", ApkComparator),
        ("Wolfi", ApkComparator),
        ("Chainguard", ApkComparator),
        ("AlmaLinux:9", RpmComparator),
        ("Rocky Linux:9", RpmComparator),
        ("Red Hat:enterprise_linux:9::appstream", RpmComparator),
        ("Mariner:2.0", RpmComparator),
        ("Azure Linux:3.0", RpmComparator),
        ("SUSE:Linux Enterprise Server 15 SP5", RpmComparator),
        ("openSUSE:Leap 15.5", RpmComparator),
        ("Oracle Linux:8", RpmComparator),
        ("PyPI", Pep440Comparator),
        ("npm", NpmComparator),
        ("crates.io", SemverComparator),
        ("NuGet", NuGetComparator),
        ("Go", GoComparator),
        ("Maven", MavenComparator),
    ],
)
def test_ecosystems(ecosystem: str, kind: type[Comparator]) -> None:
    comparator = comparator_for(ecosystem)
    assert type(comparator) is kind
    assert comparator_for(ecosystem) is comparator  # one instance per ecosystem string


@pytest.mark.parametrize(
    "ecosystem", ["", "RubyGems", "Packagist", "debian:12", "PyPi", " Debian:12", "Linux"]
)
def test_unknown_ecosystems_have_no_comparator(ecosystem: str) -> None:
    assert comparator_for(ecosystem) is None
    assert scheme_for(ecosystem) is None


def test_every_scheme_is_reachable() -> None:
    reached = {
        scheme_for(e)
        for e in (
            "Debian",
            "Alpine",
            "AlmaLinux",
            "PyPI",
            "crates.io",
            "npm",
            "NuGet",
            "Go",
            "Maven",
        )
    }
    assert reached == set(Scheme)


def test_errors_name_the_ecosystem_and_version() -> None:
    comparator = comparator_for("Ubuntu:22.04:LTS")
    assert comparator is not None
    with pytest.raises(InvalidVersion) as err:
        comparator.key("1:")
    assert "'1:'" in str(err.value)
    assert "Ubuntu:22.04:LTS" in str(err.value)


@pytest.mark.parametrize(
    ("ecosystem", "low", "high"),
    [
        ("Debian:12", "1.0~rc1-1", "1.0-1"),
        ("Alpine:v3.20", "1.0_rc1-r0", "1.0-r0"),
        ("Rocky Linux:9", "1.0-1.el9", "1:0.9-1.el9"),
        ("PyPI", "1.0rc1", "1.0"),
        ("npm", "1.0.0-rc.1", "v1.0.0"),
        ("Go", "v1.0.0-rc.1", "1.0.0"),
        ("Maven", "1.0-RC1", "1.0"),
        ("NuGet", "1.0.0-rc.1", "1.0"),
        ("crates.io", "1.0.0-rc.1", "1.0.0"),
    ],
)
def test_comparators_order(ecosystem: str, low: str, high: str) -> None:
    comparator = comparator_for(ecosystem)
    assert comparator is not None
    assert comparator.compare(low, high) == -1
    assert comparator.compare(high, low) == 1
    assert comparator.key(low) < comparator.key(high)
    assert comparator.name == scheme_for(ecosystem)
