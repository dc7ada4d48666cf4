"""The wire format of basewatch's models, versioned: the one place that knows how each is written.

Two kinds of function:

- documents, `encode_inventory` / `decode_inventory` and `encode_scan_result` /
  `decode_scan_result`: what stores and caches keep (`store.inventory`, the analysis cache). Each
  carries `schema_version`; decoding one written by another version is a `CodecError`, so a
  reader treats it as a miss instead of guessing.
- parts, `encode_package`, `encode_finding`, `image_summary`...: what the JSON reports build
  their documents from, so a package or a finding is written the same way everywhere.

Decoders check everything they read (object shapes, types, enum values) and raise `CodecError`
naming the field: a stored document may be truncated, edited by hand or written by another
basewatch. They never `assert` on the data. Encoders write every field, decoders default the
optional ones that are missing. Standard library only: the warm scan path decodes here.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, TypeVar

from basewatch.errors import CodecError
from basewatch.models import (
    BaseImage,
    BaseMethod,
    Confidence,
    DatabaseInfo,
    Finding,
    FixStatus,
    ImageInfo,
    Inventory,
    LayerInfo,
    Origin,
    OSInfo,
    Package,
    PackageType,
    ScanResult,
    Severity,
    SourceType,
    Suppression,
)

# Bump a document's version whenever one of its fields (or a part it holds) changes meaning,
# moves or disappears; readers refuse other versions.
INVENTORY_SCHEMA = 1
SCAN_RESULT_SCHEMA = 1

JsonObject = dict[str, Any]
E = TypeVar("E", bound=StrEnum)

# --- validation helpers (public: `store` and `advice` decode their own envelopes with them) ---


def _kind(value: object) -> str:
    match value:
        case None:
            return "nothing"
        case bool():
            return "a boolean"
        case int() | float():
            return "a number"
        case str():
            return "a string"
        case list():
            return "a list"
        case dict():
            return "an object"
        case _:
            return type(value).__name__


def _wrong(where: str, key: str, expected: str, value: object) -> CodecError:
    return CodecError(f"{where}.{key}: expected {expected}, got {_kind(value)}")


def obj(value: object, where: str) -> dict[str, Any]:
    """`value` as a JSON object, else CodecError."""
    if type(value) is not dict:
        raise CodecError(f"{where}: expected an object, got {_kind(value)}")
    return value


def items(data: dict[str, Any], key: str, where: str) -> list[Any]:
    """The list under `key` (an empty one when missing)."""
    value = data.get(key, [])
    if type(value) is not list:
        raise _wrong(where, key, "a list", value)
    return value


def text(data: dict[str, Any], key: str, where: str, default: str | None = "") -> str:
    """The string under `key`; `default` None makes it required."""
    value = data.get(key, default)
    if type(value) is not str:
        raise _wrong(where, key, "a string", value)
    return value


def integer(data: dict[str, Any], key: str, where: str, default: int | None = 0) -> int:
    value = data.get(key, default)
    if type(value) is not int:  # not bool: `type(True) is bool`
        raise _wrong(where, key, "an integer", value)
    return value


def optional_integer(data: dict[str, Any], key: str, where: str) -> int | None:
    value = data.get(key)
    if value is None or type(value) is int:
        return value
    raise _wrong(where, key, "an integer or null", value)


def boolean(data: dict[str, Any], key: str, where: str, default: bool | None = False) -> bool:
    value = data.get(key, default)
    if type(value) is not bool:
        raise _wrong(where, key, "true or false", value)
    return value


def optional_number(data: dict[str, Any], key: str, where: str) -> float | None:
    value = data.get(key)
    if value is None:
        return None
    if type(value) is float or type(value) is int:
        return float(value)
    raise _wrong(where, key, "a number or null", value)


def texts(data: dict[str, Any], key: str, where: str) -> tuple[str, ...]:
    """The list of strings under `key`, as a tuple (empty when missing)."""
    value = data.get(key)
    if value is None and key not in data:
        return ()
    if type(value) is list and all(type(v) is str for v in value):
        return tuple(value)
    raise _wrong(where, key, "a list of strings", value)


def text_map(data: dict[str, Any], key: str, where: str) -> tuple[tuple[str, str], ...]:
    """The object of strings under `key`, as (key, value) pairs in document order."""
    value = data.get(key, {})
    if type(value) is dict and all(type(v) is str for v in value.values()):
        return tuple(value.items())
    raise _wrong(where, key, "an object of strings", value)


def member(
    enum: type[E], data: dict[str, Any], key: str, where: str, default: E | None = None
) -> E:
    """The enum member whose value is the string under `key`."""
    value = data.get(key, default)
    if isinstance(value, enum):
        return value
    if type(value) is str:
        try:
            return enum(value)
        except ValueError:
            pass
    choices = ", ".join(m.value for m in enum)
    raise _wrong(where, key, f"one of {choices}", value)


def check_version(data: dict[str, Any], expected: int, what: str) -> None:
    """Refuse a document of another schema version than `expected`."""
    found = data.get("schema_version")
    if found != expected or type(found) is not int:
        raise CodecError(
            f"{what}: schema version {found!r}, this basewatch reads version {expected}"
        )


# --- inventory parts ----------------------------------------------------------------------------


def encode_package(package: Package) -> JsonObject:
    """Every field, in declaration order; metadata as an object sorted by key."""
    return {
        "name": package.name,
        "version": package.version,
        "type": package.type.value,
        "arch": package.arch,
        "source_name": package.source_name,
        "source_version": package.source_version,
        "licenses": list(package.licenses),
        "evidence": list(package.evidence),
        "metadata": dict(sorted(package.metadata)),
        "namespace": package.namespace,
        "ecosystem": package.ecosystem,
        "purl": package.purl,
        "layer": package.layer,
        "origin": package.origin.value,
        "instruction": package.instruction,
    }


_PACKAGE_TYPES = {t.value: t for t in PackageType}
_ORIGINS = {o.value: o for o in Origin}


def decode_package(value: object, where: str = "package") -> Package:
    data = obj(value, where)
    # enum lookups through dicts: a warm scan decodes thousands of packages
    kind = _PACKAGE_TYPES.get(data.get("type"))  # type: ignore[arg-type]
    if kind is None:
        kind = member(PackageType, data, "type", where)
    origin = _ORIGINS.get(data.get("origin", "unknown"))
    if origin is None:
        origin = member(Origin, data, "origin", where)
    return Package(
        name=text(data, "name", where, None),
        version=text(data, "version", where, None),
        type=kind,
        arch=text(data, "arch", where),
        source_name=text(data, "source_name", where),
        source_version=text(data, "source_version", where),
        licenses=texts(data, "licenses", where),
        evidence=texts(data, "evidence", where),
        metadata=tuple(sorted(text_map(data, "metadata", where))),
        namespace=text(data, "namespace", where),
        ecosystem=text(data, "ecosystem", where),
        purl=text(data, "purl", where),
        layer=text(data, "layer", where),
        origin=origin,
        instruction=text(data, "instruction", where),
    )


def encode_os(os: OSInfo) -> JsonObject:
    return {
        "id": os.id,
        "version_id": os.version_id,
        "version_codename": os.version_codename,
        "pretty_name": os.pretty_name,
        "id_like": list(os.id_like),
        "evidence": list(os.evidence),
        "distroless": os.distroless,
    }


def decode_os(value: object, where: str = "os") -> OSInfo:
    data = obj(value, where)
    return OSInfo(
        id=text(data, "id", where, None),
        version_id=text(data, "version_id", where),
        version_codename=text(data, "version_codename", where),
        pretty_name=text(data, "pretty_name", where),
        id_like=texts(data, "id_like", where),
        evidence=texts(data, "evidence", where),
        distroless=boolean(data, "distroless", where),
    )


def encode_layer(layer: LayerInfo) -> JsonObject:
    return {
        "index": layer.index,
        "diff_id": layer.diff_id,
        "digest": layer.digest,
        "size": layer.size,
        "media_type": layer.media_type,
        "created_by": layer.created_by,
        "empty_history": list(layer.empty_history),
    }


def decode_layer(value: object, where: str = "layer") -> LayerInfo:
    data = obj(value, where)
    return LayerInfo(
        index=integer(data, "index", where, None),
        diff_id=text(data, "diff_id", where, None),
        digest=text(data, "digest", where),
        size=integer(data, "size", where),
        media_type=text(data, "media_type", where),
        created_by=text(data, "created_by", where),
        empty_history=texts(data, "empty_history", where),
    )


def encode_image(image: ImageInfo) -> JsonObject:
    """Everything known of the image, for a store: `decode_image` gives it back."""
    return {
        "reference": image.reference,
        "source_type": image.source_type.value,
        "manifest_digest": image.manifest_digest,
        "config_digest": image.config_digest,
        "os": image.os,
        "architecture": image.architecture,
        "variant": image.variant,
        "created": image.created,
        "layers": [encode_layer(layer) for layer in image.layers],
        "labels": dict(image.labels),
        "annotations": dict(image.annotations),
        "repo_tags": list(image.repo_tags),
        "env": list(image.env),
        "user": image.user,
    }


def decode_image(value: object, where: str = "image") -> ImageInfo:
    data = obj(value, where)
    return ImageInfo(
        reference=text(data, "reference", where, None),
        source_type=member(SourceType, data, "source_type", where),
        manifest_digest=text(data, "manifest_digest", where),
        config_digest=text(data, "config_digest", where),
        os=text(data, "os", where),
        architecture=text(data, "architecture", where),
        variant=text(data, "variant", where),
        created=text(data, "created", where),
        layers=tuple(
            decode_layer(layer, f"{where}.layers[{i}]")
            for i, layer in enumerate(items(data, "layers", where))
        ),
        labels=text_map(data, "labels", where),
        annotations=text_map(data, "annotations", where),
        repo_tags=texts(data, "repo_tags", where),
        env=texts(data, "env", where),
        user=None if data.get("user") is None else text(data, "user", where) or None,
    )


def image_summary(image: ImageInfo) -> JsonObject:
    """The image as reports show it: the platform in one string, the base annotations looked
    up, labels and annotations sorted, no environment. Not a document: nothing decodes it."""
    return {
        "reference": image.reference,
        "source_type": image.source_type.value,
        "manifest_digest": image.manifest_digest,
        "config_digest": image.config_digest,
        "platform": image.platform,
        "created": image.created,
        "repo_tags": list(image.repo_tags),
        "labels": dict(sorted(image.labels)),
        "annotations": dict(sorted(image.annotations)),
        "base_name": image.base_name(),
        "base_digest": image.base_digest(),
        "layers": [encode_layer(layer) for layer in image.layers],
    }


def encode_base(base: BaseImage) -> JsonObject:
    return {
        "reference": base.reference,
        "digest": base.digest,
        "method": base.method.value,
        "confidence": base.confidence.value,
        "layers": base.layers,
    }


def decode_base(value: object, where: str = "base") -> BaseImage:
    data = obj(value, where)
    return BaseImage(
        reference=text(data, "reference", where),
        digest=text(data, "digest", where),
        method=member(BaseMethod, data, "method", where),
        confidence=member(Confidence, data, "confidence", where),
        layers=integer(data, "layers", where, None),
    )


def _inventory_body(inventory: Inventory) -> JsonObject:
    return {
        "image": encode_image(inventory.image),
        "os": encode_os(inventory.os) if inventory.os is not None else None,
        "base": encode_base(inventory.base) if inventory.base is not None else None,
        "packages": [encode_package(p) for p in inventory.packages],
        "warnings": list(inventory.warnings),
        "filesystem_bytes": inventory.filesystem_bytes,
    }


def _decode_inventory_body(data: dict[str, Any], where: str) -> Inventory:
    os, base = data.get("os"), data.get("base")
    return Inventory(
        image=decode_image(data.get("image"), f"{where}.image"),
        os=decode_os(os, f"{where}.os") if os is not None else None,
        packages=tuple(
            decode_package(p, f"{where}.packages[{i}]")
            for i, p in enumerate(items(data, "packages", where))
        ),
        warnings=texts(data, "warnings", where),
        base=decode_base(base, f"{where}.base") if base is not None else None,
        filesystem_bytes=integer(data, "filesystem_bytes", where),
    )


def encode_inventory(inventory: Inventory) -> JsonObject:
    """The whole inventory as a versioned document; `decode_inventory` gives it back."""
    return {"schema_version": INVENTORY_SCHEMA, **_inventory_body(inventory)}


def decode_inventory(value: object, what: str = "inventory") -> Inventory:
    """The inventory `encode_inventory` wrote; CodecError when the document is not one (of
    this schema version), naming the first field that is wrong."""
    data = obj(value, what)
    check_version(data, INVENTORY_SCHEMA, what)
    return _decode_inventory_body(data, what)


# --- findings -----------------------------------------------------------------------------------


def encode_finding(finding: Finding) -> JsonObject:
    """Every field; the package as `encode_package` writes it, last."""
    return {
        "id": finding.id,
        "aliases": list(finding.aliases),
        "severity": finding.severity.value,
        "severity_source": finding.severity_source,
        "cvss_score": finding.cvss_score,
        "cvss_vector": finding.cvss_vector,
        "status": finding.status.value,
        "installed_version": finding.installed_version,
        "fixed_version": finding.fixed_version,
        "summary": finding.summary,
        "kev": finding.kev,
        "epss": finding.epss,
        "epss_percentile": finding.epss_percentile,
        "references": list(finding.references),
        "advisories": list(finding.advisories),
        "published": finding.published,
        "modified": finding.modified,
        "cwe_ids": list(finding.cwe_ids),
        "package": encode_package(finding.package),
    }


def decode_finding(value: object, where: str = "finding") -> Finding:
    data = obj(value, where)
    return Finding(
        id=text(data, "id", where, None),
        aliases=texts(data, "aliases", where),
        package=decode_package(data.get("package"), f"{where}.package"),
        installed_version=text(data, "installed_version", where),
        fixed_version=text(data, "fixed_version", where),
        status=member(FixStatus, data, "status", where),
        severity=member(Severity, data, "severity", where, Severity.UNKNOWN),
        severity_source=text(data, "severity_source", where),
        cvss_score=optional_number(data, "cvss_score", where),
        cvss_vector=text(data, "cvss_vector", where),
        summary=text(data, "summary", where),
        kev=boolean(data, "kev", where),
        epss=optional_number(data, "epss", where),
        epss_percentile=optional_number(data, "epss_percentile", where),
        references=texts(data, "references", where),
        advisories=texts(data, "advisories", where),
        published=text(data, "published", where),
        modified=text(data, "modified", where),
        # absent from documents written before findings carried weaknesses
        cwe_ids=texts(data, "cwe_ids", where),
    )


def encode_suppression(suppression: Suppression) -> JsonObject:
    return {
        "reason": suppression.reason,
        "source": suppression.source,
        "finding": encode_finding(suppression.finding),
    }


def decode_suppression(value: object, where: str = "suppressed") -> Suppression:
    data = obj(value, where)
    return Suppression(
        finding=decode_finding(data.get("finding"), f"{where}.finding"),
        reason=text(data, "reason", where),
        source=text(data, "source", where),
    )


def database_sources(database: DatabaseInfo) -> list[JsonObject]:
    """Each advisory source and when it was imported, as reports list them."""
    return [{"name": name, "updated_at": when} for name, when in database.sources]


def encode_database(database: DatabaseInfo) -> JsonObject:
    return {
        "path": database.path,
        "sources": database_sources(database),
        "data_dates": [{"name": name, "date": when} for name, when in database.data_dates],
    }


def _named_pairs(data: dict[str, Any], key: str, value_key: str, where: str) -> tuple[Any, ...]:
    pairs = []
    for i, entry in enumerate(items(data, key, where)):
        entry = obj(entry, f"{where}.{key}[{i}]")
        pairs.append(
            (
                text(entry, "name", f"{where}.{key}[{i}]", None),
                text(entry, value_key, f"{where}.{key}[{i}]"),
            )
        )
    return tuple(pairs)


def decode_database(value: object, where: str = "database") -> DatabaseInfo:
    data = obj(value, where)
    return DatabaseInfo(
        path=text(data, "path", where),
        sources=_named_pairs(data, "sources", "updated_at", where),
        data_dates=_named_pairs(data, "data_dates", "date", where),
    )


def encode_scan_result(result: ScanResult) -> JsonObject:
    """The whole scan result as a versioned document; `decode_scan_result` gives it back."""
    database = result.database
    return {
        "schema_version": SCAN_RESULT_SCHEMA,
        "inventory": _inventory_body(result.inventory),
        "findings": [encode_finding(f) for f in result.findings],
        "suppressed": [encode_suppression(s) for s in result.suppressed],
        "database": encode_database(database) if database is not None else None,
        "warnings": list(result.warnings),
        "unchecked": list(result.unchecked),
    }


def decode_scan_result(value: object, what: str = "scan result") -> ScanResult:
    data = obj(value, what)
    check_version(data, SCAN_RESULT_SCHEMA, what)
    database = data.get("database")
    return ScanResult(
        inventory=_decode_inventory_body(
            obj(data.get("inventory"), f"{what}.inventory"), f"{what}.inventory"
        ),
        findings=tuple(
            decode_finding(f, f"{what}.findings[{i}]")
            for i, f in enumerate(items(data, "findings", what))
        ),
        suppressed=tuple(
            decode_suppression(s, f"{what}.suppressed[{i}]")
            for i, s in enumerate(items(data, "suppressed", what))
        ),
        database=decode_database(database, f"{what}.database") if database is not None else None,
        warnings=texts(data, "warnings", what),
        unchecked=texts(data, "unchecked", what),
    )
