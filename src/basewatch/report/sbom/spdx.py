"""`--format spdx-json`: an SPDX 2.3 JSON document, written by hand from the inventory.

The image is the root package (the document DESCRIBES it) and CONTAINS the operating system and
every package. License strings that are valid SPDX expressions are written in canonical form;
any other string becomes a `LicenseRef-` with its text in `hasExtractedLicensingInfos`, so the
document stays valid without losing what the package declared.
"""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, ClassVar
from uuid import UUID, uuid4

from basewatch import __version__
from basewatch.models import is_os_package
from basewatch.report.common import (
    TOOL_NAME,
    display_name,
    layer_index,
    oci_purl,
    sorted_packages,
    split_contact,
    supplier,
)
from basewatch.report.jsondoc import dumps
from basewatch.report.licenses import declared_licenses, spdx_expression

if TYPE_CHECKING:
    from basewatch.models import ImageInfo, Inventory, OSInfo, Package

SPDX_VERSION = "SPDX-2.3"
DATA_LICENSE = "CC0-1.0"
DOCUMENT_ID = "SPDXRef-DOCUMENT"
NOASSERTION = "NOASSERTION"
# The SPDX specification's own pattern for tools without a namespace of their own:
# `<base><document name>-<uuid>`; the URI only has to be unique, never to resolve.
DEFAULT_NAMESPACE_BASE = "https://spdx.org/spdxdocs/"

_UNSAFE_ID_CHARS = re.compile(r"[^A-Za-z0-9.-]+")
_LICENSE_REF = re.compile(r"LicenseRef-[A-Za-z0-9.-]+")


class SpdxReporter:
    """Renders SPDX 2.3 JSON. `now` and `uuid` make the output reproducible (tests, caching)."""

    name: ClassVar[str] = "spdx-json"
    media_type: ClassVar[str] = "application/spdx+json"

    def __init__(
        self,
        *,
        now: datetime | None = None,
        uuid: UUID | None = None,
        namespace_base: str = DEFAULT_NAMESPACE_BASE,
    ) -> None:
        self._now = now
        self._uuid = uuid
        self._namespace_base = namespace_base

    def render(self, inventory: Inventory) -> bytes:
        document = spdx_document(
            inventory,
            now=self._now or datetime.now(UTC),
            uuid=self._uuid or uuid4(),
            namespace_base=self._namespace_base,
        )
        return dumps(document)


def spdx_document(
    inventory: Inventory,
    *,
    now: datetime,
    uuid: UUID,
    namespace_base: str = DEFAULT_NAMESPACE_BASE,
) -> dict[str, Any]:
    """The SPDX 2.3 document as plain JSON values. A naive `now` is taken as UTC."""
    image = inventory.image
    name = image.reference or image.manifest_digest or image.config_digest or "image"
    ids = _IdAllocator()
    licenses = _LicenseRefs()

    root_id = ids.allocate(f"SPDXRef-DocumentRoot-Image-{safe_id(name)}")
    packages = [_image_package(image, root_id, name)]
    relationships = [_relationship(DOCUMENT_ID, "DESCRIBES", root_id)]
    if inventory.os is not None:
        os_id = ids.allocate(f"SPDXRef-OperatingSystem-{_os_slug(inventory.os)}")
        packages.append(_os_package(inventory.os, os_id))
        relationships.append(_relationship(root_id, "CONTAINS", os_id))
    for package in sorted_packages(inventory.packages):
        spdx_id = ids.allocate(_package_id(package))
        packages.append(_package(package, spdx_id, image, licenses))
        relationships.append(_relationship(root_id, "CONTAINS", spdx_id))

    document: dict[str, Any] = {
        "spdxVersion": SPDX_VERSION,
        "dataLicense": DATA_LICENSE,
        "SPDXID": DOCUMENT_ID,
        "name": name,
        "documentNamespace": f"{namespace_base}{safe_id(name)}-{uuid}",
        "creationInfo": {
            "created": _timestamp(now),
            "creators": [f"Tool: {TOOL_NAME}-{__version__}"],
        },
    }
    if inventory.warnings:
        document["comment"] = "Partial result: " + "; ".join(inventory.warnings)
    document["packages"] = packages
    document["relationships"] = relationships
    extracted = licenses.extracted()
    if extracted:
        document["hasExtractedLicensingInfos"] = extracted
    return document


def safe_id(text: str) -> str:
    """`text` reduced to the characters an SPDX identifier may hold (letters, digits, `.`, `-`)."""
    return _UNSAFE_ID_CHARS.sub("-", text).strip("-") or "unnamed"


class _IdAllocator:
    """Hands out SPDX ids, suffixing `-2`, `-3`... should two elements ask for the same one."""

    def __init__(self) -> None:
        self._used: set[str] = {DOCUMENT_ID}

    def allocate(self, wanted: str) -> str:
        candidate, n = wanted, 1
        while candidate in self._used:
            n += 1
            candidate = f"{wanted}-{n}"
        self._used.add(candidate)
        return candidate


class _LicenseRefs:
    """Turns declared license strings into one SPDX expression, collecting `LicenseRef-`s."""

    def __init__(self) -> None:
        self._by_text: dict[str, str] = {}
        self._text_by_id: dict[str, str] = {}

    def declared(self, values: tuple[str, ...]) -> str:
        terms = []
        for text in declared_licenses(values):
            expression = spdx_expression(text)
            if expression is None or "LicenseRef-" in expression:
                terms.append(self._ref(text))
            else:
                terms.append(expression)
        if not terms:
            return NOASSERTION
        if len(terms) == 1:
            return terms[0]
        return " AND ".join(f"({t})" if " " in t else t for t in terms)

    def _ref(self, text: str) -> str:
        if text in self._by_text:
            return self._by_text[text]
        # A string that already is a LicenseRef keeps its name; it still needs its text entry.
        license_id = text if _LICENSE_REF.fullmatch(text) else f"LicenseRef-{safe_id(text)}"
        if license_id in self._text_by_id:  # two spellings that sanitise alike
            digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:8]
            license_id = f"{license_id}-{digest}"
        self._by_text[text] = license_id
        self._text_by_id[license_id] = text
        return license_id

    def extracted(self) -> list[dict[str, Any]]:
        return [
            {
                "licenseId": license_id,
                "extractedText": text,
                "name": text,
                "comment": "License as declared by the package; not an SPDX license expression.",
            }
            for license_id, text in sorted(self._text_by_id.items())
        ]


def _image_package(image: ImageInfo, spdx_id: str, name: str) -> dict[str, Any]:
    package: dict[str, Any] = {"SPDXID": spdx_id, "name": name}
    digest = image.manifest_digest or image.config_digest
    if digest:
        package["versionInfo"] = digest
    package["downloadLocation"] = NOASSERTION
    package["filesAnalyzed"] = False
    checksum = _checksum(image.manifest_digest)
    if checksum:
        package["checksums"] = [checksum]
    package["licenseConcluded"] = NOASSERTION
    package["licenseDeclared"] = NOASSERTION
    package["copyrightText"] = NOASSERTION
    facts = [
        ("source", image.source_type),
        ("platform", image.platform),
        ("config", image.config_digest),
        ("created", image.created),
        ("base image", image.base_name()),
        ("base digest", image.base_digest()),
        ("layers", str(len(image.layers)) if image.layers else ""),
    ]
    package["comment"] = "; ".join(f"{k}: {v}" for k, v in facts if v)
    purl = oci_purl(image)
    if purl:
        package["externalRefs"] = [_purl_ref(purl)]
    package["primaryPackagePurpose"] = "CONTAINER"
    return package


def _os_package(os: OSInfo, spdx_id: str) -> dict[str, Any]:
    package: dict[str, Any] = {"SPDXID": spdx_id, "name": os.id}
    if os.version_id:
        package["versionInfo"] = os.version_id
    package["downloadLocation"] = NOASSERTION
    package["filesAnalyzed"] = False
    package["licenseConcluded"] = NOASSERTION
    package["licenseDeclared"] = NOASSERTION
    package["copyrightText"] = NOASSERTION
    if os.pretty_name:
        package["description"] = os.pretty_name
    facts = [
        ("codename", os.version_codename),
        ("like", " ".join(os.id_like)),
        ("distroless", "yes" if os.distroless else ""),
        ("evidence", ", ".join(os.evidence)),
    ]
    comment = "; ".join(f"{k}: {v}" for k, v in facts if v)
    if comment:
        package["comment"] = comment
    package["primaryPackagePurpose"] = "OPERATING_SYSTEM"
    return package


def _package(
    package: Package, spdx_id: str, image: ImageInfo, licenses: _LicenseRefs
) -> dict[str, Any]:
    data: dict[str, Any] = {"SPDXID": spdx_id, "name": display_name(package)}
    if package.version:
        data["versionInfo"] = package.version
    key, value = supplier(package)
    if value:
        data["supplier"] = _agent(key, value)
    data["downloadLocation"] = NOASSERTION
    data["filesAnalyzed"] = False
    source_info = _source_info(package, image)
    if source_info:
        data["sourceInfo"] = source_info
    data["licenseConcluded"] = NOASSERTION
    data["licenseDeclared"] = licenses.declared(package.licenses)
    data["copyrightText"] = NOASSERTION
    facts = [
        ("origin", package.origin.value),
        ("source package", " ".join(p for p in (package.source_name, package.source_version) if p)),
        ("ecosystem", package.ecosystem),
        ("arch", package.arch),
    ]
    data["comment"] = "; ".join(f"{k}: {v}" for k, v in facts if v)
    if package.purl:
        data["externalRefs"] = [_purl_ref(package.purl)]
    if not is_os_package(package.type):
        data["primaryPackagePurpose"] = "LIBRARY"
    return data


def _source_info(package: Package, image: ImageInfo) -> str:
    parts = []
    if package.layer:
        index = layer_index(image, package.layer)
        where = f"layer {index} " if index is not None else "layer "
        parts.append(f"added by {where}({package.layer})")
    if package.evidence:
        parts.append("found in " + ", ".join(package.evidence))
    return "; ".join(parts)


def _agent(key: str, value: str) -> str:
    """SPDX agent syntax: `Organization: Red Hat, Inc.` or `Person: Jane Doe (jane@example.org)`."""
    name, email = split_contact(value)
    kind = "Person" if key == "maintainer" else "Organization"
    return f"{kind}: {name} ({email})" if email else f"{kind}: {name}"


def _purl_ref(purl: str) -> dict[str, str]:
    return {
        "referenceCategory": "PACKAGE-MANAGER",
        "referenceType": "purl",
        "referenceLocator": purl,
    }


def _relationship(element: str, kind: str, related: str) -> dict[str, str]:
    return {"spdxElementId": element, "relationshipType": kind, "relatedSpdxElement": related}


def _checksum(digest: str) -> dict[str, str] | None:
    algorithm, _, value = digest.partition(":")
    names = {"sha256": ("SHA256", 64), "sha512": ("SHA512", 128)}
    if algorithm in names and re.fullmatch(r"[0-9a-f]+", value):
        name, length = names[algorithm]
        if len(value) == length:
            return {"algorithm": name, "checksumValue": value}
    return None


def _package_id(package: Package) -> str:
    """`SPDXRef-Package-deb-libc6-<hash>`: readable, and stable across runs for the same package."""
    key = "\0".join((*package.identity(), package.purl, package.layer, *package.evidence)).encode(
        "utf-8", "surrogatepass"
    )
    digest = hashlib.sha256(key).hexdigest()[:16]
    return f"SPDXRef-Package-{package.type.value}-{safe_id(display_name(package))}-{digest}"


def _os_slug(os: OSInfo) -> str:
    return safe_id("-".join(p for p in (os.id, os.version_id) if p))


def _timestamp(now: datetime) -> str:
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    return now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
