"""The `Reporter` seam, the `--format` choices of `basewatch sbom`, and facts every renderer shares.

Each renderer lives in its own module and is imported only when its format is asked for:
`basewatch sbom --format json` must not pay for importing cyclonedx-python-lib or rich.
"""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING, ClassVar, Protocol, assert_never

from basewatch.models import ImageInfo, Package, PackageType

if TYPE_CHECKING:
    from datetime import datetime
    from uuid import UUID

    from basewatch.models import Inventory

TOOL_NAME = "basewatch"
# The --format choices of `compare` and `advise`, here so that building the CLI's parser does
# not import their renderers.
COMPARE_FORMATS = ("table", "json", "markdown", "html")
ADVISE_FORMATS = ("table", "json", "markdown")

# Metadata keys that name who supplied a package, most specific first. Detectors fill them from
# the package database (dpkg/apk `Maintainer`, rpm `Vendor`).
SUPPLIER_KEYS = ("supplier", "vendor", "maintainer")


class Format(StrEnum):
    """An output format of `basewatch sbom`, spelled as its `--format` value."""

    TABLE = "table"
    JSON = "json"
    CYCLONEDX_JSON = "cyclonedx-json"
    SPDX_JSON = "spdx-json"


# Short names other tools take (`syft -o cyclonedx`, `trivy -f spdx`), for every command that
# offers the long ones; reports and help only ever show the canonical name.
FORMAT_ALIASES = {"cyclonedx": "cyclonedx-json", "spdx": "spdx-json"}


def canonical_format(text: str) -> str:
    """A `--format` value with its alias resolved (`cyclonedx` -> `cyclonedx-json`); any other
    value unchanged, so that the caller's list of choices decides (and says) what is valid.
    An argparse `type=` for `Format` and `ScanFormat` alike."""
    return FORMAT_ALIASES.get(text, text)


class Reporter(Protocol):
    """Turns an `Inventory` into the bytes of one document; never prints, never exits."""

    name: ClassVar[str]  # the `Format` value it renders
    media_type: ClassVar[str]  # for the HTTP service's Content-Type

    def render(self, inventory: Inventory) -> bytes:
        """The whole document, UTF-8 encoded, ending with a newline."""
        ...


def reporter_for(fmt: Format, *, now: datetime | None = None, uuid: UUID | None = None) -> Reporter:
    """The reporter for `fmt`. `now` and `uuid` pin the timestamp and the document identity
    (CycloneDX serialNumber, SPDX documentNamespace); by default they are the current time and a
    random UUID. Formats without them ignore both."""
    match fmt:
        case Format.TABLE:
            from basewatch.report.table import TableReporter

            return TableReporter()
        case Format.JSON:
            from basewatch.report.native_json import JsonReporter

            return JsonReporter()
        case Format.CYCLONEDX_JSON:
            from basewatch.report.cyclonedx import CycloneDXReporter

            return CycloneDXReporter(now=now, serial=uuid)
        case Format.SPDX_JSON:
            from basewatch.report.spdx import SpdxReporter

            return SpdxReporter(now=now, uuid=uuid)
        case _:
            assert_never(fmt)


def is_os_package(package_type: PackageType) -> bool:
    """True for packages installed by the distribution's package manager."""
    match package_type:
        case PackageType.DEB | PackageType.APK | PackageType.RPM:
            return True
        case PackageType.PYPI | PackageType.NPM | PackageType.GOLANG | PackageType.MAVEN:
            return False
        case _:
            assert_never(package_type)


def display_name(package: Package) -> str:
    """The name a user of the ecosystem would type: `@babel/core`, `org.slf4j:slf4j-api`."""
    if not package.namespace:
        return package.name
    match package.type:
        case PackageType.MAVEN:
            return f"{package.namespace}:{package.name}"
        case PackageType.NPM | PackageType.GOLANG:
            return f"{package.namespace}/{package.name}"
        case PackageType.DEB | PackageType.APK | PackageType.RPM | PackageType.PYPI:
            # A distro namespace ("debian") is not part of the name anyone types.
            return package.name
        case _:
            assert_never(package.type)


def package_sort_key(package: Package) -> tuple[str, ...]:
    """The order packages appear in every report: type, name, version, arch, then tie-breakers."""
    return (
        package.type.value,
        package.name,
        package.version,
        package.arch,
        package.namespace,
        package.purl,
        package.layer,
        *package.evidence,
    )


def sorted_packages(packages: tuple[Package, ...]) -> list[Package]:
    return sorted(packages, key=package_sort_key)


# License strings that say nothing: packaging tools write them when the author gave no license.
_LICENSE_PLACEHOLDERS = frozenset({"", "unknown", "noassertion", "none", "n/a"})


def declared_licenses(values: tuple[str, ...]) -> list[str]:
    """The package's license strings, stripped, deduplicated, without placeholders (UNKNOWN)."""
    stripped = (" ".join(v.split()) for v in values)
    return list(dict.fromkeys(v for v in stripped if v.lower() not in _LICENSE_PLACEHOLDERS))


def supplier(package: Package) -> tuple[str, str]:
    """Who supplied the package: `(metadata key, value)`, or `("", "")` when unknown."""
    for key in SUPPLIER_KEYS:
        value = " ".join(package.meta(key).split())
        if value:
            return key, value
    return "", ""


def split_contact(value: str) -> tuple[str, str]:
    """`"Jane Doe <jane@example.org>"` -> `("Jane Doe", "jane@example.org")`.

    Without an email address: `(value, "")`.
    """
    name, sep, rest = value.partition("<")
    email, closed, _ = rest.partition(">")
    if sep and closed and "@" in email:
        return name.strip(), email.strip()
    return value.strip(), ""


def layer_index(image: ImageInfo, diff_id: str) -> int | None:
    """The position of the layer with `diff_id` in the image (0 is the bottom layer)."""
    if not diff_id:
        return None
    for layer in image.layers:
        if layer.diff_id == diff_id:
            return layer.index
    return None


def short_digest(digest: str, length: int = 12) -> str:
    """`sha256:0123abcd...` -> its first `length` hex digits, as docker prints image ids."""
    _, _, encoded = digest.rpartition(":")
    return encoded[:length]


def oci_purl(image: ImageInfo) -> str:
    """A `pkg:oci` purl for the image when both its manifest digest and a repository are known.

    The repository comes from the reference of a registry image, else from the first repo tag.
    """
    if not image.manifest_digest:
        return ""
    candidates = [image.reference] if image.source_type == "registry" else []
    candidates.extend(image.repo_tags)
    for candidate in candidates:
        repository, tag = _split_reference(candidate)
        if repository:
            from packageurl import PackageURL

            qualifiers = {"repository_url": repository}
            if tag:
                qualifiers["tag"] = tag
            if image.architecture:
                qualifiers["arch"] = image.architecture
            name = repository.rsplit("/", 1)[-1].lower()
            purl = PackageURL(
                type="oci", name=name, version=image.manifest_digest, qualifiers=qualifiers
            )
            return str(purl.to_string())
    return ""


def _split_reference(reference: str) -> tuple[str, str]:
    """`host:5000/team/app:1.2@sha256:...` -> `("host:5000/team/app", "1.2")`.

    `("", "")` for what is not a registry reference (a path, a URL).
    """
    reference = reference.partition("@")[0]
    if not reference or "://" in reference or reference.startswith(("/", ".")) or " " in reference:
        return "", ""
    slash = reference.rfind("/")
    colon = reference.rfind(":")
    if colon > slash:
        return reference[:colon], reference[colon + 1 :]
    return reference, ""
