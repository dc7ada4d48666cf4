"""Facts every report family shares: the tool's name, package names, order and suppliers, digests.

No family module is imported from here: families import this module, never the reverse.
"""

from __future__ import annotations

from typing import assert_never

from basewatch.models import ImageInfo, Package, PackageType, SourceType

TOOL_NAME = "basewatch"

# Metadata keys that name who supplied a package, most specific first. Detectors fill them from
# the package database (dpkg/apk `Maintainer`, rpm `Vendor`).
SUPPLIER_KEYS = ("supplier", "vendor", "maintainer")


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
    candidates = [image.reference] if image.source_type is SourceType.REGISTRY else []
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
