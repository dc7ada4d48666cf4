"""Reading a CycloneDX or SPDX JSON SBOM back into an `Inventory`.

Supported: CycloneDX 1.4, 1.5 and 1.6 JSON; SPDX 2.2 and 2.3 JSON; as basewatch, Syft and Trivy
write them (other tools work as far as they give purls). What is read:

- Packages: every component (CycloneDX, nested ones included) or package (SPDX) with a purl of a
  type basewatch knows (deb, apk, rpm, pypi, npm, golang, maven); others are skipped (debug log).
  The purl gives name, version (rpm: `epoch` makes it `E:V-R`), arch, and the source package
  (`upstream=glibc`, `upstream=glibc@2.36-9` as Syft writes it, or an rpm's
  `upstream=openssl-3.0.7-27.el9.src.rpm`); Trivy's `aquasecurity:trivy:Src*` properties and
  SPDX `sourceInfo` ("built package from: NAME VERSION") give it too. A deb or apk package with
  no word of its source is its own source, as the purl convention (and dpkg/apk) have it.
- basewatch's own properties (`basewatch:package:*`, `basewatch:layer:diffID`,
  `basewatch:location:<I>:path`, `basewatch:metadata:*`, `basewatch:image:layer:*`,
  `basewatch:distro:*`, `basewatch:warning:<I>`) and the facts basewatch's SPDX writes in
  `comment`/`sourceInfo` restore layer, evidence, origin, ecosystem and warnings exactly.
  Syft's `syft:location:<I>:path`/`layerID` and Trivy's `LayerDiffID`/`FilePath` are read too.
- The OS: the `operating-system` component (or SPDX package of that purpose), with
  `basewatch:distro:*` / `syft:distro:*` properties; else the `distro` qualifier of the OS
  packages' purls ("debian-12" -> debian 12, "alpine-3.20.3", or Trivy's bare "3.20.3" with the
  purl namespace as the id).

The image is `ImageInfo(reference=<the SBOM path>, source_type="sbom")`, with the layers the SBOM
names. A file that is not JSON, JSON that is not a supported SBOM, or an SBOM whose structure is
broken raises `SbomError`; single malformed entries (a bad purl) are skipped and counted in the
inventory's warnings.
"""

from __future__ import annotations

import json
import logging
import re
from collections import Counter
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import TYPE_CHECKING, Any, assert_never

from packageurl import PackageURL

from basewatch.errors import SbomError
from basewatch.inventory.purl import ecosystem_for
from basewatch.inventory.rpm.package import split_source_rpm
from basewatch.models import (
    ImageInfo,
    Inventory,
    LayerInfo,
    Origin,
    OSInfo,
    Package,
    PackageType,
    SourceType,
    is_os_package,
)
from basewatch.untrusted import UntrustedInput, parse_json, read_regular_file

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator
    from pathlib import Path

log = logging.getLogger(__name__)

SOURCE_TYPE = SourceType.SBOM
CYCLONEDX_VERSIONS = ("1.4", "1.5", "1.6")
SPDX_VERSIONS = ("SPDX-2.2", "SPDX-2.3")

_NO_LICENSE = frozenset({"", "NOASSERTION", "NONE"})
_BW = "basewatch:"
_TRIVY = "aquasecurity:trivy:"
# Indexes are bounded: a property named `...:location:<5,000 digits>:path` is not ours.
_LOCATION = re.compile(r"^(?:basewatch|syft):location:(\d{1,9}):path$")
_SYFT_LAYER = re.compile(r"^syft:location:\d+:layerID$")
_IMAGE_LAYER = re.compile(r"^basewatch:image:layer:(\d{1,9}):(diffID|digest|createdBy)$")
_INDEXED = re.compile(r"^(.*):(\d{1,9})$")
_SPDX_LAYER = re.compile(r"added by layer (?:(\d{1,9}) )?\(([^)]*)\)")


class SbomFormat(StrEnum):
    CYCLONEDX_JSON = "cyclonedx-json"
    SPDX_JSON = "spdx-json"


def read_sbom(path: Path) -> Inventory:
    """The inventory an SBOM file describes. Raises `SbomError` when it cannot be read as one."""
    try:
        data = read_regular_file(path)
    except UntrustedInput as exc:
        raise SbomError(f"{exc}; give a CycloneDX or SPDX JSON SBOM file") from exc
    except FileNotFoundError as exc:
        raise SbomError(
            f"{path}: no such file; give the path of a CycloneDX or SPDX JSON SBOM"
        ) from exc
    except OSError as exc:
        raise SbomError(f"{path}: cannot read it ({exc.strerror or exc})") from exc
    return parse_sbom(data, str(path))


def parse_sbom(data: bytes, reference: str) -> Inventory:
    """The inventory of an SBOM given as bytes; `reference` names it in messages and the result."""
    document = _load_json(data, reference)
    fmt = detect_format(document, reference)
    match fmt:
        case SbomFormat.CYCLONEDX_JSON:
            return _CycloneDXReader(document, reference).inventory()
        case SbomFormat.SPDX_JSON:
            return _SpdxReader(document, reference).inventory()
        case _:
            assert_never(fmt)


def detect_format(document: Any, reference: str) -> SbomFormat:
    """Which supported SBOM format a parsed JSON document is; `SbomError` if none."""
    if not isinstance(document, dict):
        kind = "an array" if isinstance(document, list) else "a single value"
        raise SbomError(
            f"{reference}: the JSON is {kind}, not an SBOM; give a CycloneDX or SPDX JSON SBOM"
        )
    if document.get("bomFormat") == "CycloneDX":
        version = document.get("specVersion")
        if version not in CYCLONEDX_VERSIONS:
            raise SbomError(
                f"{reference}: CycloneDX {version or '(no specVersion)'} is not supported; "
                f"basewatch reads CycloneDX {', '.join(CYCLONEDX_VERSIONS)} JSON"
            )
        return SbomFormat.CYCLONEDX_JSON
    spdx_version = document.get("spdxVersion")
    if isinstance(spdx_version, str):
        if spdx_version not in SPDX_VERSIONS:
            raise SbomError(
                f"{reference}: {spdx_version} is not supported; "
                "basewatch reads SPDX 2.2 and 2.3 JSON"
            )
        return SbomFormat.SPDX_JSON
    if "@context" in document and "spdx" in json.dumps(document.get("@context")).lower():
        raise SbomError(
            f"{reference}: SPDX 3 (JSON-LD) is not supported; export the SBOM as SPDX 2.3 JSON"
        )
    raise SbomError(
        f"{reference}: not a CycloneDX or SPDX document (no `bomFormat: CycloneDX` or "
        "`spdxVersion`); give a CycloneDX 1.4-1.6 or SPDX 2.2/2.3 JSON SBOM"
    )


def _load_json(data: bytes, reference: str) -> Any:
    stripped = data.lstrip(b"\xef\xbb\xbf \t\r\n")
    if not stripped:
        raise SbomError(f"{reference}: the file is empty; give a CycloneDX or SPDX JSON SBOM")
    if stripped.startswith(b"<"):
        raise SbomError(
            f"{reference}: looks like XML; basewatch reads SBOMs in JSON "
            "(CycloneDX: `--output-format json`, Syft: `-o cyclonedx-json`)"
        )
    try:
        return parse_json(stripped, reference)
    except UntrustedInput as exc:
        raise SbomError(str(exc)) from exc
    except UnicodeDecodeError as exc:
        raise SbomError(f"{reference}: not UTF-8 text, so not a JSON SBOM ({exc.reason})") from exc
    except json.JSONDecodeError as exc:
        hint = "the file looks truncated" if exc.pos >= len(stripped.rstrip()) else "malformed"
        raise SbomError(
            f"{reference}: not valid JSON ({hint}: {exc.msg} at line {exc.lineno} column "
            f"{exc.colno}); give a complete CycloneDX or SPDX JSON SBOM"
        ) from exc


@dataclass
class _Record:
    """One package as the document states it, before it becomes a `Package`."""

    purl: str
    name: str = ""
    version: str = ""
    group: str = ""
    licenses: tuple[str, ...] = ()
    # (name, value) in document order; CycloneDX properties, or SPDX facts under the same names.
    properties: list[tuple[str, str]] = field(default_factory=list)
    source_name: str = ""
    source_version: str = ""
    evidence: tuple[str, ...] = ()
    layer: str = ""

    def prop(self, name: str) -> str:
        return next((v for k, v in self.properties if k == name), "")


class _Reader:
    """What both formats share: turning records into packages, and finding the OS."""

    def __init__(self, document: dict[str, Any], reference: str) -> None:
        self.document = document
        self.reference = reference
        self.bad_purls: list[str] = []
        self.skipped_types: Counter[str] = Counter()

    def packages(self, records: Iterable[_Record]) -> list[Package]:
        packages = []
        for record in records:
            package = self.package(record)
            if package is not None:
                packages.append(package)
        if self.skipped_types:
            log.debug(
                "%s: skipped packages of purl types basewatch does not scan: %s",
                self.reference,
                dict(self.skipped_types),
            )
        return packages

    def package(self, record: _Record) -> Package | None:
        purl = _parse_purl(record.purl) if record.purl else None
        basewatch_type = record.prop(f"{_BW}package:type")
        if purl is None and record.purl and not basewatch_type:
            self.bad_purls.append(record.purl)
            return None
        if purl is not None:
            package = _from_purl(purl, record)
            if package is None:
                self.skipped_types[purl.type] += 1
                return None
        elif basewatch_type:
            # basewatch writes no purl when it cannot make a valid one; its properties still say
            # what the package is.
            try:
                package_type = PackageType(basewatch_type)
            except ValueError:
                self.skipped_types[basewatch_type] += 1
                return None
            package = Package(
                name=record.name,
                version=record.version,
                type=package_type,
                namespace=record.group,
            )
        else:
            return None  # a file, the image, a tool: not a package
        return _with_facts(package, record)

    def warnings(self) -> list[str]:
        if not self.bad_purls:
            return []
        count = len(self.bad_purls)
        return [
            f"{self.reference}: {count} package{'s' if count != 1 else ''} with an invalid purl "
            f"skipped (first: {self.bad_purls[0]!r})"
        ]

    def finish(
        self,
        packages: list[Package],
        os: OSInfo | None,
        image: ImageInfo,
        warnings: Iterable[str],
    ) -> Inventory:
        if os is None:
            os = _os_from_qualifiers(packages)
        packages = [
            p if p.ecosystem else replace(p, ecosystem=ecosystem_for(p, os)) for p in packages
        ]
        return Inventory(
            image=image,
            os=os,
            packages=tuple(packages),
            warnings=(*warnings, *self.warnings()),
        )


class _CycloneDXReader(_Reader):
    def inventory(self) -> Inventory:
        metadata = _object(self.document.get("metadata"), "metadata", self.reference)
        root = _object(metadata.get("component"), "metadata.component", self.reference)
        top = self.document.get("components", [])
        if not isinstance(top, list):
            raise SbomError(f"{self.reference}: `components` is not an array; the SBOM is broken")
        components = list(_walk([root, *top]))
        os = next((_cdx_os(c) for c in components if c.get("type") == "operating-system"), None)
        records = [_cdx_record(c) for c in components if c is not root]
        packages = self.packages(records)
        root_props = _properties(root)
        image = ImageInfo(
            reference=self.reference,
            source_type=SOURCE_TYPE,
            layers=_cdx_layers(root_props),
        )
        bom_props = _properties(metadata)
        warnings = _indexed(bom_props, f"{_BW}warning")
        return self.finish(packages, os, image, warnings)


class _SpdxReader(_Reader):
    def inventory(self) -> Inventory:
        items = self.document.get("packages", [])
        if not isinstance(items, list):
            raise SbomError(f"{self.reference}: `packages` is not an array; the SBOM is broken")
        spdx_packages = [p for p in items if isinstance(p, dict)]
        creators = _object(self.document.get("creationInfo"), "creationInfo", self.reference).get(
            "creators", []
        )
        ours = any(isinstance(c, str) and c.startswith("Tool: basewatch-") for c in creators)
        extracted = {
            _str(e.get("licenseId")): _str(e.get("extractedText"))
            for e in _objects(self.document.get("hasExtractedLicensingInfos"))
        }
        os = None
        records = []
        layers: dict[int, str] = {}
        for item in spdx_packages:
            purpose = _str(item.get("primaryPackagePurpose")).replace("-", "_")
            if purpose == "OPERATING_SYSTEM" and os is None:
                os = _spdx_os(item, ours)
                continue
            record = _spdx_record(item, ours, extracted)
            if record is not None:
                records.append(record)
                match = _SPDX_LAYER.search(_str(item.get("sourceInfo"))) if ours else None
                if match is not None and match.group(1) is not None:
                    layers.setdefault(int(match.group(1)), match.group(2))
        packages = self.packages(records)
        image = ImageInfo(
            reference=self.reference,
            source_type=SOURCE_TYPE,
            layers=tuple(LayerInfo(index=i, diff_id=d) for i, d in sorted(layers.items())),
        )
        warnings = []
        comment = _str(self.document.get("comment"))
        if ours and comment.startswith("Partial result: "):
            warnings.append(comment.removeprefix("Partial result: "))
        return self.finish(packages, os, image, warnings)


# --- CycloneDX ---------------------------------------------------------------------------------


def _walk(components: Iterable[Any]) -> Iterator[dict[str, Any]]:
    """Every component, nested ones after their parent (Trivy nests language packages)."""
    for component in components:
        if isinstance(component, dict):
            yield component
            yield from _walk(_objects(component.get("components")))


def _properties(item: dict[str, Any]) -> list[tuple[str, str]]:
    return [
        (_str(p.get("name")), _str(p.get("value")))
        for p in _objects(item.get("properties"))
        if p.get("name")
    ]


def _cdx_record(component: dict[str, Any]) -> _Record:
    properties = _properties(component)
    record = _Record(
        purl=_str(component.get("purl")),
        name=_str(component.get("name")),
        version=_str(component.get("version")),
        group=_str(component.get("group")),
        licenses=_cdx_licenses(component.get("licenses")),
        properties=properties,
    )
    props = dict(reversed(properties))  # the first value of each name wins
    trivy_source = props.get(f"{_TRIVY}SrcName", "")
    if trivy_source:
        record.source_name = trivy_source
        record.source_version = _trivy_version(
            props.get(f"{_TRIVY}SrcEpoch", ""),
            props.get(f"{_TRIVY}SrcVersion", ""),
            props.get(f"{_TRIVY}SrcRelease", ""),
        )
    locations = sorted(
        (int(m.group(1)), value) for name, value in properties if (m := _LOCATION.match(name))
    )
    record.evidence = tuple(dict.fromkeys(value for _, value in locations if value))
    if not record.evidence and props.get(f"{_TRIVY}FilePath"):
        record.evidence = ("/" + props[f"{_TRIVY}FilePath"].lstrip("/"),)
    record.layer = props.get(f"{_TRIVY}LayerDiffID", "") or next(
        (v for n, v in properties if _SYFT_LAYER.match(n) and v), ""
    )
    return record


def _cdx_licenses(value: Any) -> tuple[str, ...]:
    licenses = []
    for entry in _objects(value):
        if isinstance(entry.get("expression"), str):
            licenses.append(entry["expression"])
            continue
        license_ = entry.get("license")
        if isinstance(license_, dict):
            text = _str(license_.get("id")) or _str(license_.get("name"))
            if text:
                licenses.append(text)
    return tuple(licenses)


def _cdx_os(component: dict[str, Any]) -> OSInfo | None:
    props = _properties(component)
    facts = {
        name.partition(":distro:")[2]: value
        for name, value in props
        if name.startswith(("basewatch:distro:", "syft:distro:"))
    }
    os_id = facts.get("id") or _str(component.get("name"))
    if not os_id:
        return None
    id_like = _indexed_facts(facts, "idLike")
    if not id_like and facts.get("idLike"):
        id_like = tuple(facts["idLike"].split())
    return OSInfo(
        id=os_id.lower(),
        version_id=facts.get("versionID") or _str(component.get("version")),
        version_codename=facts.get("versionCodename", ""),
        pretty_name=facts.get("prettyName") or _str(component.get("description")),
        id_like=id_like,
        evidence=_indexed_facts(facts, "evidence"),
        distroless=facts.get("distroless") == "true",
    )


def _cdx_layers(props: list[tuple[str, str]]) -> tuple[LayerInfo, ...]:
    fields: dict[int, dict[str, str]] = {}
    for name, value in props:
        if match := _IMAGE_LAYER.match(name):
            fields.setdefault(int(match.group(1)), {})[match.group(2)] = value
    if fields:
        return tuple(
            LayerInfo(
                index=index,
                diff_id=values.get("diffID", ""),
                digest=values.get("digest", ""),
                created_by=values.get("createdBy", ""),
            )
            for index, values in sorted(fields.items())
        )
    # Trivy lists an image's diffIDs, bottom layer first.
    diff_ids = [value for name, value in props if name == f"{_TRIVY}DiffID" and value]
    return tuple(LayerInfo(index=i, diff_id=d) for i, d in enumerate(diff_ids))


def _trivy_version(epoch: str, version: str, release: str) -> str:
    if not version:
        return ""
    text = f"{version}-{release}" if release else version
    return f"{epoch}:{text}" if epoch and epoch != "0" else text


# --- SPDX --------------------------------------------------------------------------------------


def _spdx_record(item: dict[str, Any], ours: bool, extracted: dict[str, str]) -> _Record | None:
    purls = [
        _str(ref.get("referenceLocator"))
        for ref in _objects(item.get("externalRefs"))
        if ref.get("referenceType") == "purl"
    ]
    if not purls or not purls[0]:
        return None
    record = _Record(
        purl=purls[0],
        name=_str(item.get("name")),
        version=_str(item.get("versionInfo")),
        licenses=_spdx_licenses(_str(item.get("licenseDeclared")), extracted),
    )
    source_info = _str(item.get("sourceInfo"))
    if source_info.startswith("built package from: "):  # Trivy
        name, _, version = source_info.removeprefix("built package from: ").partition(" ")
        record.source_name, record.source_version = name.strip(), version.strip()
    for annotation in _objects(item.get("annotations")):  # Trivy: "LayerDiffID: sha256:..."
        key, _, value = _str(annotation.get("comment")).partition(": ")
        if key == "LayerDiffID":
            record.layer = value.strip()
    if ours:
        _read_our_spdx_facts(record, _str(item.get("comment")), source_info)
    return record


def _read_our_spdx_facts(record: _Record, comment: str, source_info: str) -> None:
    """What `report.spdx` writes in `comment` and `sourceInfo`, as basewatch properties."""
    facts = dict(part.partition(": ")[::2] for part in comment.split("; ") if ": " in part)
    source_name, _, source_version = facts.get("source package", "").partition(" ")
    record.properties += [
        (f"{_BW}package:origin", facts.get("origin", "")),
        (f"{_BW}package:ecosystem", facts.get("ecosystem", "")),
        (f"{_BW}package:arch", facts.get("arch", "")),
        (f"{_BW}package:sourceName", source_name),
        (f"{_BW}package:sourceVersion", source_version),
    ]
    for part in source_info.split("; "):
        if match := _SPDX_LAYER.fullmatch(part):
            record.properties.append((f"{_BW}layer:diffID", match.group(2)))
        elif part.startswith("found in "):
            paths = part.removeprefix("found in ").split(", ")
            record.properties += [(f"{_BW}location:{i}:path", p) for i, p in enumerate(paths)]


def _spdx_licenses(declared: str, extracted: dict[str, str]) -> tuple[str, ...]:
    if declared.upper() in _NO_LICENSE:
        return ()
    return (extracted.get(declared) or declared,)


def _spdx_os(item: dict[str, Any], ours: bool) -> OSInfo | None:
    os_id = _str(item.get("name")).lower()
    if not os_id:
        return None
    facts: dict[str, str] = {}
    if ours:
        comment = _str(item.get("comment"))
        facts = dict(part.partition(": ")[::2] for part in comment.split("; ") if ": " in part)
    evidence = facts.get("evidence", "")
    return OSInfo(
        id=os_id,
        version_id=_str(item.get("versionInfo")),
        version_codename=facts.get("codename", ""),
        pretty_name=_str(item.get("description")),
        id_like=tuple(facts.get("like", "").split()),
        evidence=tuple(evidence.split(", ")) if evidence else (),
        distroless=facts.get("distroless") == "yes",
    )


# --- purls and packages ------------------------------------------------------------------------


def _parse_purl(text: str) -> PackageURL | None:
    try:
        return PackageURL.from_string(text)
    except ValueError:
        return None


def _from_purl(purl: PackageURL, record: _Record) -> Package | None:
    """The package a purl names, or None for a purl type basewatch does not scan."""
    try:
        package_type = PackageType(purl.type)
    except ValueError:
        return None
    qualifiers = purl.qualifiers if isinstance(purl.qualifiers, dict) else {}
    name = purl.name
    namespace = ""
    version = purl.version or ""
    match package_type:
        case PackageType.DEB | PackageType.APK:
            pass
        case PackageType.RPM:
            epoch = qualifiers.get("epoch", "")
            if epoch and version and not re.match(r"^\d+:", version):
                version = f"{epoch}:{version}"
        case PackageType.PYPI:
            # The purl's name is normalised ("pyyaml"); keep the spelling the SBOM shows.
            if record.name and _pypi_normal(record.name) == _pypi_normal(name):
                name = record.name
        case PackageType.NPM | PackageType.GOLANG:
            if purl.namespace:
                name = f"{purl.namespace}/{name}"
        case PackageType.MAVEN:
            namespace = purl.namespace or ""
        case _:
            assert_never(package_type)
    source_name, source_version = "", ""
    upstream = qualifiers.get("upstream", "")
    if upstream:
        source_name, source_version = _upstream(upstream, package_type)
    return Package(
        name=name,
        version=version,
        type=package_type,
        arch=qualifiers.get("arch", ""),
        source_name=source_name,
        source_version=source_version,
        namespace=namespace,
        purl=record.purl,
    )


def _upstream(value: str, package_type: PackageType) -> tuple[str, str]:
    """`glibc`, `glibc@2.36-9` or `openssl-3.0.7-27.el9.src.rpm` -> (name, version)."""
    if package_type is PackageType.RPM and value.endswith(".rpm"):
        return split_source_rpm(value)
    name, _, version = value.partition("@")
    return name, version


def _pypi_normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _with_facts(package: Package, record: _Record) -> Package:
    """`package` completed with what the document says beyond the purl."""
    props = dict(reversed(record.properties))
    ours = any(name.startswith(f"{_BW}package:") for name, _ in record.properties)
    source_name = package.source_name or record.source_name
    source_version = package.source_version or record.source_version
    if ours:
        source_name = props.get(f"{_BW}package:sourceName", "")
        source_version = props.get(f"{_BW}package:sourceVersion", "")
    elif package.type in (PackageType.DEB, PackageType.APK):
        # No upstream qualifier means the package is its own source (Syft and basewatch leave
        # the qualifier out then), and a source named without a version has the same version.
        source_name = source_name or package.name
        source_version = source_version or package.version
    metadata = sorted(
        (name.removeprefix(f"{_BW}metadata:"), value)
        for name, value in record.properties
        if name.startswith(f"{_BW}metadata:") and value
    )
    return replace(
        package,
        arch=package.arch or props.get(f"{_BW}package:arch", ""),
        source_name=source_name,
        source_version=source_version,
        licenses=record.licenses,
        evidence=record.evidence or _our_locations(record),
        metadata=tuple(metadata),
        ecosystem=props.get(f"{_BW}package:ecosystem", ""),
        purl=package.purl or props.get(f"{_BW}package:purl", ""),
        layer=props.get(f"{_BW}layer:diffID", "") or record.layer,
        origin=_origin(props.get(f"{_BW}package:origin", "")),
    )


def _origin(value: str) -> Origin:
    try:
        return Origin(value)
    except ValueError:
        return Origin.UNKNOWN


def _our_locations(record: _Record) -> tuple[str, ...]:
    locations = sorted(
        (int(m.group(1)), value)
        for name, value in record.properties
        if (m := _LOCATION.match(name)) and value
    )
    return tuple(value for _, value in locations)


def _os_from_qualifiers(packages: list[Package]) -> OSInfo | None:
    """The OS the `distro` qualifiers of the OS packages' purls name most often."""
    votes: Counter[tuple[str, str]] = Counter()
    for package in packages:
        if not is_os_package(package.type) or not package.purl:
            continue
        purl = _parse_purl(package.purl)
        if purl is None or not isinstance(purl.qualifiers, dict):
            continue
        distro = purl.qualifiers.get("distro", "")
        if distro:
            votes[_split_distro(distro, purl.namespace or "")] += 1
    if not votes:
        return None
    (os_id, version), _ = votes.most_common(1)[0]
    if not os_id:
        return None
    return OSInfo(id=os_id, version_id=version, evidence=("purl distro qualifiers",))


def _split_distro(distro: str, namespace: str) -> tuple[str, str]:
    """`debian-12` -> (debian, 12); `opensuse-leap-15.5` -> (opensuse-leap, 15.5);
    Trivy's bare `3.20.3` takes the purl namespace as the id."""
    head, sep, tail = distro.rpartition("-")
    if sep and tail[:1].isdigit():
        return head.lower(), tail
    if distro[:1].isdigit():
        return namespace.lower(), distro
    return distro.lower(), ""


# --- tolerant access to untrusted JSON ---------------------------------------------------------


def _object(value: Any, where: str, reference: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise SbomError(f"{reference}: `{where}` is not an object; the SBOM is broken")
    return value


def _objects(value: Any) -> list[dict[str, Any]]:
    if not isinstance(value, list):
        return []
    return [v for v in value if isinstance(v, dict)]


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _indexed(props: list[tuple[str, str]], prefix: str) -> list[str]:
    """The values of `<prefix>:<I>` properties, in index order."""
    found = []
    for name, value in props:
        match = _INDEXED.match(name)
        if match and match.group(1) == prefix and value:
            found.append((int(match.group(2)), value))
    return [value for _, value in sorted(found)]


def _indexed_facts(facts: dict[str, str], key: str) -> tuple[str, ...]:
    return tuple(_indexed(list(facts.items()), key))
