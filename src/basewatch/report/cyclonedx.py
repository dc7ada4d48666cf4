"""`--format cyclonedx-json`: a CycloneDX 1.6 JSON BOM built with cyclonedx-python-lib.

The image is `metadata.component` (type `container`, its manifest digest as version and hash),
the distribution a component of type `operating-system`, and every package a `library` with its
purl, licenses, and the files that prove it as `evidence.occurrences`. The dependency graph is
the minimal true one: image -> operating system -> its packages, image -> language packages.

What CycloneDX has no field for goes into properties under the `basewatch:` namespace, named the
way Syft (`syft:location:0:layerID`) and Trivy (`aquasecurity:trivy:LayerDiffID`) name theirs:
lowerCamelCase leaves, lists indexed from 0.

  on the image      basewatch:image:reference, :sourceType, :platform, :manifestDigest,
                    :configDigest, :created, :baseName, :baseDigest, :repoTag:<I>,
                    :labels:<KEY>, :annotations:<KEY>, :layer:<I>:diffID, :layer:<I>:digest,
                    :layer:<I>:createdBy
  on the OS         basewatch:distro:id, :versionID, :versionCodename, :prettyName,
                    :idLike:<I>, :evidence:<I>, :distroless
  on a package      basewatch:package:type, :arch, :ecosystem, :origin (base|app|unknown),
                    :sourceName, :sourceVersion, :purl (only when not a valid purl),
                    basewatch:layer:diffID, :index, :digest,
                    basewatch:location:<I>:path, basewatch:metadata:<KEY>
                    (evidence.occurrences[] carry bom-ref `<component bom-ref>:evidence:<I>`)
  on the BOM        basewatch:partial (true|false), basewatch:warning:<I>
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, ClassVar
from uuid import UUID, uuid4

from cyclonedx.contrib.bom.utils import BomDependencyGraphFlatMerger, BomRefDiscriminator
from cyclonedx.model import HashAlgorithm, HashType, Property
from cyclonedx.model.bom import Bom, BomMetaData
from cyclonedx.model.component import Component, ComponentType
from cyclonedx.model.component_evidence import ComponentEvidence, Occurrence
from cyclonedx.model.contact import OrganizationalContact, OrganizationalEntity
from cyclonedx.model.dependency import Dependency
from cyclonedx.model.license import DisjunctiveLicense, License, LicenseExpression
from cyclonedx.model.tool import ToolRepository
from cyclonedx.schema import SchemaVersion
from cyclonedx.schema.schema import SchemaVersion1Dot6
from cyclonedx.spdx import fixup_id
from packageurl import PackageURL

from basewatch import __version__
from basewatch.report.base import (
    TOOL_NAME,
    declared_licenses,
    is_os_package,
    layer_index,
    oci_purl,
    sorted_packages,
    split_contact,
    supplier,
)
from basewatch.report.native_json import dumps
from basewatch.report.spdx import spdx_expression

if TYPE_CHECKING:
    from basewatch.models import ImageInfo, Inventory, OSInfo, Package

SCHEMA_URI = "http://cyclonedx.org/schema/bom-1.6.schema.json"
PROPERTY_PREFIX = "basewatch:"
IMAGE_REF = "basewatch:image"
OS_REF = "basewatch:os"
TOOL_REF = "basewatch:tool"

_HASH_ALGORITHMS = {
    "sha256": (HashAlgorithm.SHA_256, 64),
    "sha384": (HashAlgorithm.SHA_384, 96),
    "sha512": (HashAlgorithm.SHA_512, 128),
}


class CycloneDXReporter:
    """Renders CycloneDX 1.6 JSON. `now` and `serial` make the output reproducible."""

    name: ClassVar[str] = "cyclonedx-json"
    media_type: ClassVar[str] = "application/vnd.cyclonedx+json; version=1.6"

    def __init__(self, *, now: datetime | None = None, serial: UUID | None = None) -> None:
        self._now = now
        self._serial = serial

    def render(self, inventory: Inventory) -> bytes:
        now = self._now or datetime.now(UTC).replace(microsecond=0)
        bom = build_bom(inventory, now=now, serial=self._serial or uuid4())
        return dumps(bom_document(bom))


def bom_document(bom: Bom) -> dict[str, Any]:
    """`bom` as CycloneDX 1.6 JSON values, the format header first.

    This is what `cyclonedx.output.json.JsonV1Dot6` does, less its `Bom.validate()`: that check
    is quadratic in the number of components (seconds for a 3000-package node image) and
    `build_bom` already guarantees what it checks (unique refs, a closed dependency graph, no
    license expression beside other licenses).
    """
    with BomRefDiscriminator.from_bom(bom), BomDependencyGraphFlatMerger(bom):
        body: dict[str, Any] = json.loads(bom.as_json(view_=SchemaVersion1Dot6))  # type: ignore[attr-defined]
    document: dict[str, Any] = {
        "$schema": SCHEMA_URI,
        "bomFormat": "CycloneDX",
        "specVersion": SchemaVersion.V1_6.to_version(),
    }
    for key in ("serialNumber", "version", "metadata", "components", "dependencies"):
        if key in body:
            document[key] = body.pop(key)
    document.update(body)
    return document


def build_bom(inventory: Inventory, *, now: datetime, serial: UUID) -> Bom:
    """The BOM for `inventory`, timestamped `now` (naive means UTC) with serial number `serial`."""
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    packages = sorted_packages(inventory.packages)
    purls = [_parse_purl(p.purl) for p in packages]
    refs = _bom_refs(packages, purls)
    root = _image_component(inventory.image)
    components = [
        _package_component(package, purl, ref, inventory.image)
        for package, purl, ref in zip(packages, purls, refs, strict=True)
    ]

    # The image contains the OS, which contains the packages its package manager installed;
    # everything else (and everything, when no OS was detected) hangs from the image itself.
    os_component = _os_component(inventory.os) if inventory.os is not None else None
    root_deps = [os_component.bom_ref] if os_component is not None else []
    os_deps = []
    for package, item in zip(packages, components, strict=True):
        if os_component is not None and is_os_package(package.type):
            os_deps.append(Dependency(ref=item.bom_ref))
        else:
            root_deps.append(item.bom_ref)
    dependencies = [
        Dependency(ref=root.bom_ref, dependencies=[Dependency(ref=r) for r in root_deps])
    ]
    if os_component is not None:
        dependencies.append(Dependency(ref=os_component.bom_ref, dependencies=os_deps))

    metadata = BomMetaData(
        timestamp=now,
        tools=ToolRepository(
            components=[
                Component(
                    type=ComponentType.APPLICATION,
                    name=TOOL_NAME,
                    version=__version__,
                    bom_ref=TOOL_REF,
                )
            ]
        ),
        component=root,
        properties=_bom_properties(inventory),
    )
    all_components = [os_component, *components] if os_component is not None else components
    return Bom(
        serial_number=serial,
        metadata=metadata,
        components=all_components,
        dependencies=dependencies,
    )


def cyclonedx_licenses(values: Iterable[str]) -> list[License]:
    """CycloneDX licenses for the strings a package declares.

    When every string is a valid SPDX expression and one is compound, they become one
    expression joined with AND (CycloneDX forbids an expression beside other licenses);
    otherwise each string is a license by SPDX id when it is one, else by name.
    """
    texts = declared_licenses(tuple(values))
    canonical = [spdx_expression(t) for t in texts]
    ids = [fixup_id(c) if c is not None else None for c in canonical]
    if texts and all(c is not None for c in canonical) and not all(ids):
        terms = [c for c in canonical if c is not None]
        if len(terms) == 1:
            return [LicenseExpression(terms[0])]
        return [LicenseExpression(" AND ".join(f"({t})" if " " in t else t for t in terms))]
    return [
        DisjunctiveLicense(id=spdx_id) if spdx_id else DisjunctiveLicense(name=text)
        for text, spdx_id in zip(texts, ids, strict=True)
    ]


def _bom_refs(packages: list[Package], purls: list[PackageURL | None]) -> list[str]:
    """The purl when it names one package only, else a stable hash of what makes it distinct."""
    canonical = [str(purl.to_string()) if purl is not None else "" for purl in purls]
    counts = Counter(canonical)
    refs = []
    for package, purl in zip(packages, canonical, strict=True):
        if purl and counts[purl] == 1:
            refs.append(purl)
        else:
            key = "\0".join((*package.identity(), package.purl, package.layer, *package.evidence))
            digest = hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:16]
            refs.append(f"{PROPERTY_PREFIX}package:{digest}")
    # Two records identical down to their evidence: keep the refs unique all the same.
    seen: Counter[str] = Counter()
    unique = []
    for ref in refs:
        seen[ref] += 1
        unique.append(ref if seen[ref] == 1 else f"{ref}-{seen[ref]}")
    return unique


def _parse_purl(purl: str) -> PackageURL | None:
    if not purl:
        return None
    try:
        return PackageURL.from_string(purl)
    except ValueError:
        return None


def _image_component(image: ImageInfo) -> Component:
    digest = image.manifest_digest or image.config_digest
    hashes = [h for h in (_hash(image.manifest_digest),) if h is not None]
    props: list[tuple[str, str]] = [
        ("image:reference", image.reference),
        ("image:sourceType", image.source_type),
        ("image:platform", image.platform),
        ("image:manifestDigest", image.manifest_digest),
        ("image:configDigest", image.config_digest),
        ("image:created", image.created),
        ("image:baseName", image.base_name()),
        ("image:baseDigest", image.base_digest()),
    ]
    props += [(f"image:repoTag:{i}", tag) for i, tag in enumerate(image.repo_tags)]
    props += [(f"image:labels:{k}", v) for k, v in image.labels]
    props += [(f"image:annotations:{k}", v) for k, v in image.annotations]
    for layer in image.layers:
        props += [
            (f"image:layer:{layer.index}:diffID", layer.diff_id),
            (f"image:layer:{layer.index}:digest", layer.digest),
            (f"image:layer:{layer.index}:createdBy", layer.created_by),
        ]
    purl = _parse_purl(oci_purl(image))
    return Component(
        type=ComponentType.CONTAINER,
        name=image.reference or digest or "image",
        version=digest or None,
        bom_ref=IMAGE_REF,
        hashes=hashes,
        purl=purl,
        properties=_properties(props),
    )


def _os_component(os: OSInfo) -> Component:
    props = [
        ("distro:id", os.id),
        ("distro:versionID", os.version_id),
        ("distro:versionCodename", os.version_codename),
        ("distro:prettyName", os.pretty_name),
        ("distro:distroless", "true" if os.distroless else ""),
    ]
    props += [(f"distro:idLike:{i}", v) for i, v in enumerate(os.id_like)]
    props += [(f"distro:evidence:{i}", v) for i, v in enumerate(os.evidence)]
    return Component(
        type=ComponentType.OPERATING_SYSTEM,
        name=os.id,
        version=os.version_id or None,
        description=os.pretty_name or None,
        bom_ref=OS_REF,
        properties=_properties(props),
    )


def _package_component(
    package: Package, purl: PackageURL | None, ref: str, image: ImageInfo
) -> Component:
    index = layer_index(image, package.layer)
    layer_digest = ""
    if package.layer:
        layer_digest = next((la.digest for la in image.layers if la.diff_id == package.layer), "")
    props = [
        ("package:type", package.type.value),
        ("package:arch", package.arch),
        ("package:ecosystem", package.ecosystem),
        ("package:origin", package.origin.value),
        ("package:sourceName", package.source_name),
        ("package:sourceVersion", package.source_version),
        ("package:purl", package.purl if purl is None else ""),
        ("layer:diffID", package.layer),
        ("layer:index", str(index) if index is not None else ""),
        ("layer:digest", layer_digest),
    ]
    props += [(f"location:{i}:path", path) for i, path in enumerate(package.evidence)]
    props += [(f"metadata:{k}", v) for k, v in package.metadata]
    _, value = supplier(package)
    entity = None
    if value:
        name, email = split_contact(value)
        contacts = [OrganizationalContact(email=email)] if email else None
        entity = OrganizationalEntity(name=name, contacts=contacts)
    # Occurrences are kept in a sorted set whose order starts with their bom-ref; without one
    # they compare neither less nor equal, and the output order would change from run to run.
    occurrences = [
        Occurrence(bom_ref=f"{ref}:evidence:{i}", location=path)
        for i, path in enumerate(package.evidence)
    ]
    evidence = ComponentEvidence(occurrences=occurrences) if occurrences else None
    return Component(
        type=ComponentType.LIBRARY,
        name=package.name,
        group=None if is_os_package(package.type) else (package.namespace or None),
        version=package.version or None,
        bom_ref=ref,
        supplier=entity,
        licenses=cyclonedx_licenses(package.licenses),
        purl=purl,
        properties=_properties(props),
        evidence=evidence,
    )


def _bom_properties(inventory: Inventory) -> list[Property]:
    props = [("partial", "true" if inventory.partial else "false")]
    props += [(f"warning:{i}", w) for i, w in enumerate(inventory.warnings)]
    return _properties(props)


def _properties(pairs: Iterable[tuple[str, str]]) -> list[Property]:
    return [Property(name=PROPERTY_PREFIX + name, value=value) for name, value in pairs if value]


def _hash(digest: str) -> HashType | None:
    algorithm, _, value = digest.partition(":")
    known = _HASH_ALGORITHMS.get(algorithm)
    if known is None or len(value) != known[1] or not re.fullmatch(r"[0-9a-f]+", value):
        return None
    return HashType(alg=known[0], content=value)
