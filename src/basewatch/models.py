"""Frozen value objects shared by every layer of basewatch."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import assert_never


class PackageType(StrEnum):
    """The kind of package, spelled as its purl type."""

    DEB = "deb"
    APK = "apk"
    RPM = "rpm"
    PYPI = "pypi"
    NPM = "npm"
    GOLANG = "golang"
    MAVEN = "maven"


def is_os_package(package_type: PackageType) -> bool:
    """True for packages installed by the distribution's package manager (deb, apk, rpm)."""
    match package_type:
        case PackageType.DEB | PackageType.APK | PackageType.RPM:
            return True
        case PackageType.PYPI | PackageType.NPM | PackageType.GOLANG | PackageType.MAVEN:
            return False
        case _:
            assert_never(package_type)


class Origin(StrEnum):
    """Whether a package comes from the base image or from the layers built on it."""

    UNKNOWN = "unknown"
    BASE = "base"
    APP = "app"


class EntryKind(StrEnum):
    """What one tar entry (or directory entry) of a layer is."""

    FILE = "file"
    DIR = "dir"
    SYMLINK = "symlink"
    HARDLINK = "hardlink"
    WHITEOUT = "whiteout"  # `.wh.NAME`: NAME is deleted from lower layers
    OPAQUE = "opaque"  # `.wh..wh..opq`: the directory hides everything below it
    OTHER = "other"  # devices, fifos: kept in the index, never read


class SourceType(StrEnum):
    """What kind of source an image was read from (`ImageInfo.source_type`)."""

    DOCKER_ARCHIVE = "docker-archive"  # `docker save` tarball
    OCI = "oci"  # OCI image layout, as a directory or a tar
    REGISTRY = "registry"  # pulled from a registry
    DIR = "dir"  # a directory taken as the root filesystem
    ROOTFS = "rootfs"  # a root filesystem tarball
    SBOM = "sbom"  # no image at all: the packages an SBOM lists


class BaseMethod(StrEnum):
    """How the base of an image was found (`BaseImage.method`)."""

    ANNOTATION = "annotation"  # the image's base annotations or labels name it
    CATALOG = "catalog"  # a catalogued image's layers are a prefix of the image's
    HISTORY = "history"  # guessed from where the history's default command ends the base
    DOCKERFILE = "dockerfile"  # the FROM line of a Dockerfile names it (advise)


class Confidence(StrEnum):
    """How sure basewatch is of a base image (`BaseImage.confidence`)."""

    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"


@dataclass(frozen=True, slots=True)
class Package:
    """One installed package, with the evidence that proves it.

    Detectors fill name/version/type and what their database says; `ecosystem`, `purl`,
    `layer` and `origin` are filled in once the whole image is known (see `inventory.finalize`).
    """

    name: str
    version: str
    type: PackageType
    arch: str = ""
    source_name: str = ""
    source_version: str = ""
    licenses: tuple[str, ...] = ()
    evidence: tuple[str, ...] = ()
    # Type-specific facts (apk commit, rpm vendor, Go version, wheel tags...), sorted by key.
    metadata: tuple[tuple[str, str], ...] = ()
    # Maven's groupId. npm scopes and Go module paths stay whole in `name` ("@types/node",
    # "github.com/spf13/cobra"); the purl builder splits them.
    namespace: str = ""
    ecosystem: str = ""
    purl: str = ""
    layer: str = ""
    origin: Origin = Origin.UNKNOWN
    # The history instruction (`created_by`) of the layer that introduced the package.
    instruction: str = ""

    def meta(self, key: str) -> str:
        """The metadata value for `key`, or "" when absent."""
        for k, v in self.metadata:
            if k == key:
                return v
        return ""

    def identity(self) -> tuple[str, str, str, str, str]:
        """What makes two records the same package (used to follow a package across layers)."""
        return (self.type.value, self.namespace, self.name, self.version, self.arch)


def make_metadata(**values: str | None) -> tuple[tuple[str, str], ...]:
    """Metadata pairs from keyword arguments, dropping empty values, sorted by key."""
    return tuple(sorted((k, v) for k, v in values.items() if v))


@dataclass(frozen=True, slots=True)
class OSInfo:
    """The distribution an image is built from."""

    id: str  # os-release ID: debian, ubuntu, alpine, rhel, almalinux, sles, ...
    version_id: str = ""
    version_codename: str = ""
    pretty_name: str = ""
    id_like: tuple[str, ...] = ()
    # Which file(s) said so, or "inferred from package base-files" and the like.
    evidence: tuple[str, ...] = ()
    distroless: bool = False


@dataclass(frozen=True, slots=True)
class LayerInfo:
    """One layer of an image, as its manifest and config describe it."""

    index: int
    diff_id: str  # sha256 of the uncompressed tar; "" for a `dir:` source
    digest: str = ""  # digest of the blob as stored (compressed or not)
    size: int = 0  # stored size in bytes
    media_type: str = ""
    created_by: str = ""  # the history instruction that produced it, when known
    empty_history: tuple[str, ...] = field(default=())  # history lines with no layer before it


@dataclass(frozen=True, slots=True)
class ImageInfo:
    """What is known of an image before any layer is read."""

    reference: str  # as the user gave it
    source_type: SourceType
    manifest_digest: str = ""
    config_digest: str = ""
    os: str = ""
    architecture: str = ""
    variant: str = ""
    created: str = ""
    layers: tuple[LayerInfo, ...] = ()
    labels: tuple[tuple[str, str], ...] = ()
    annotations: tuple[tuple[str, str], ...] = ()
    repo_tags: tuple[str, ...] = ()
    env: tuple[str, ...] = ()  # the config's Env ("PATH=...", "LD_LIBRARY_PATH=..."), in order
    # the config's User ("app", "1000:1000", "root"); None when it sets none (it runs as root)
    user: str | None = None

    def env_value(self, name: str) -> str | None:
        """The value the image's config gives variable `name`, or None when unset."""
        for item in reversed(self.env):
            key, sep, value = item.partition("=")
            if sep and key == name:
                return value
        return None

    @property
    def platform(self) -> str:
        parts = [p for p in (self.os, self.architecture, self.variant) if p]
        return "/".join(parts)

    def base_name(self) -> str:
        """`org.opencontainers.image.base.name` from annotations, else from labels."""
        return _lookup(self.annotations, self.labels, "org.opencontainers.image.base.name")

    def base_digest(self) -> str:
        return _lookup(self.annotations, self.labels, "org.opencontainers.image.base.digest")


def _lookup(
    first: tuple[tuple[str, str], ...], second: tuple[tuple[str, str], ...], key: str
) -> str:
    for pairs in (first, second):
        for k, v in pairs:
            if k == key:
                return v
    return ""


@dataclass(frozen=True, slots=True)
class CatalogEntry:
    """An image known by its chain of layers (the local catalog's record): an image whose
    diffIDs start with these was built on it."""

    reference: str
    digest: str  # manifest digest when known, else config digest
    diff_ids: tuple[str, ...]
    created_by: tuple[str, ...] = ()  # history instruction of each layer


@dataclass(frozen=True, slots=True)
class BaseImage:
    """The image an image was built on, and how basewatch knows."""

    reference: str
    digest: str
    method: BaseMethod
    confidence: Confidence
    layers: int  # how many of the image's first layers belong to the base


@dataclass(frozen=True, slots=True)
class Inventory:
    """Everything basewatch found in one image: the result of `basewatch sbom`."""

    image: ImageInfo
    os: OSInfo | None
    packages: tuple[Package, ...]
    # Problems that make the result partial (corrupt database, unreadable file), one line each.
    warnings: tuple[str, ...] = ()
    base: BaseImage | None = None
    filesystem_bytes: int = 0  # regular files of the final filesystem (uncompressed size)

    @property
    def partial(self) -> bool:
        return bool(self.warnings)


class Severity(StrEnum):
    """Qualitative severity, lowest first (`Severity.rank` orders them)."""

    UNKNOWN = "unknown"
    NEGLIGIBLE = "negligible"
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        return _SEVERITY_RANK[self]


# looked up, not recomputed: matching and policies ask for ranks hundreds of thousands of times
_SEVERITY_RANK: dict[Severity, int] = {severity: n for n, severity in enumerate(Severity)}


class FixStatus(StrEnum):
    FIXED = "fixed"  # a fixed version exists: upgrade to it
    NOT_FIXED = "not-fixed"  # affected, no fix published yet
    WONT_FIX = "wont-fix"  # the distribution decided not to fix (or the release is end-of-life)


@dataclass(frozen=True, slots=True)
class Finding:
    """One vulnerability in one installed package: one problem, all its ids."""

    id: str  # the preferred id (a CVE when there is one)
    aliases: tuple[str, ...]  # every other id of the same problem (GHSA, DEBIAN-CVE, PYSEC...)
    package: Package
    installed_version: str
    fixed_version: str  # "" when there is no fix
    status: FixStatus
    severity: Severity
    severity_source: str = ""  # "CVSS:3.1", "Debian urgency", "GHSA"...
    cvss_score: float | None = None
    cvss_vector: str = ""
    summary: str = ""
    kev: bool = False
    epss: float | None = None
    epss_percentile: float | None = None
    references: tuple[str, ...] = ()
    advisories: tuple[str, ...] = ()  # the OSV record ids merged into this finding
    published: str = ""
    modified: str = ""
    # The weaknesses (CWE) the merged advisories name, "CWE-79" form, sorted by number.
    cwe_ids: tuple[str, ...] = ()

    @property
    def ids(self) -> tuple[str, ...]:
        return (self.id, *self.aliases)


def cwe_key(cwe_id: str) -> tuple[int, str]:
    """Sort key putting CWE ids in numeric order ("CWE-20" before "CWE-116"), others last."""
    digits = cwe_id.removeprefix("CWE-")
    # a length bound too: int() refuses strings of more than 4,300 digits
    if digits.isascii() and digits.isdigit() and len(digits) <= 18:
        return int(digits), ""
    return 1 << 63, cwe_id


@dataclass(frozen=True, slots=True)
class Suppression:
    """A finding left out of the report, and why (ignore file entry, VEX statement, filter)."""

    finding: Finding
    reason: str
    source: str  # ".basewatchignore", "vex:FILE", "--ignore-unfixed"...


@dataclass(frozen=True, slots=True)
class DatabaseInfo:
    """Where the advisories came from, for the report's metadata."""

    path: str
    sources: tuple[tuple[str, str], ...] = ()  # (source name, updated_at)
    # (source name, date of its newest data; "" when the data carries none): how old the
    # advisories are, which the import time does not say.
    data_dates: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class ScanResult:
    """The outcome of `basewatch scan`: the inventory and what is known to affect it."""

    inventory: Inventory
    findings: tuple[Finding, ...]
    suppressed: tuple[Suppression, ...] = ()
    database: DatabaseInfo | None = None
    warnings: tuple[str, ...] = ()
    # Ecosystems of the inventory the database has no advisories for, and "ecosystem name" of
    # its packages whose advisories were refused as malformed at import: those packages were
    # not (fully) checked, so the result is partial.
    unchecked: tuple[str, ...] = ()
