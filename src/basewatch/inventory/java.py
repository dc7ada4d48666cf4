"""Java archives (.jar .war .ear .jpi .hpi): Maven coordinates, including nested archives.

Every `META-INF/maven/<groupId>/<artifactId>/pom.properties` of an archive is one package
(shaded "uber" jars carry one per bundled library). When none of them is the archive itself
(matched by name or version), the archive is also reported as described by its
`META-INF/MANIFEST.MF` and its file name (`source=manifest`, namespace from
Implementation-Vendor-Id when present, `name_source` saying which field or the file name gave
the name). Archives inside archives (WEB-INF/lib in a
WAR, BOOT-INF/lib in a Spring Boot jar, modules of an EAR) are read the same way, down to
`MAX_DEPTH` levels; a package's evidence is the chain of archives that holds it
("/app/x.war!/WEB-INF/lib/y.jar").

Archives are untrusted: nothing is extracted by name, every read is capped, the central
directory is sized before `zipfile` loads it, nested archives compressed like zip bombs are not
inflated, and everything inflated counts against the image's `DecompressionBudget`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import re
import struct
import zipfile
import zlib
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, BinaryIO, ClassVar, cast

from basewatch.inventory.detector import AnalysisContext, FileResult
from basewatch.models import Package, PackageType, make_metadata

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

__all__ = ["JavaDetector", "parse_manifest", "parse_properties"]

ARCHIVE_SUFFIXES = (".jar", ".war", ".ear", ".jpi", ".hpi")
MAX_ARCHIVE_BYTES = 2 << 30  # the outer archive, spooled to disk
IN_MEMORY_BYTES = 16 << 20  # archives up to this size are read into memory instead
MAX_DEPTH = 3  # nested levels read below the archive found in the image
MAX_NESTED_BYTES = 256 << 20  # one nested archive, uncompressed
# A nested archive is compressed data already: stored, or deflated at about 1:1. One that
# inflates more than this (and past a size where the ratio means anything) is a zip bomb.
MAX_NESTED_RATIO = 100
RATIO_FLOOR_BYTES = 1 << 20
MAX_NESTED_ARCHIVES = 5000
MAX_ENTRIES = 200_000  # central directory entries of one archive
MAX_CENTRAL_DIRECTORY_BYTES = 64 << 20
MAX_TEXT_BYTES = 1 << 20  # MANIFEST.MF, pom.properties
MAX_POM_PROPERTIES = 2000  # per archive

_POM_PREFIX = "META-INF/maven/"
_POM_SUFFIX = "/pom.properties"
_MANIFEST = "META-INF/MANIFEST.MF"
_FILE_NAME_VERSION = re.compile(r"(?P<name>.+?)-(?P<version>\d[^/]*)")
_ARTIFACT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.+-]*")
# java.util.jar.Manifest and java.util.Properties end lines at CR LF, LF or CR only; the other
# breaks of str.splitlines ("\x85", "\u2028", "\x1c"...) stay inside a value.
_JAVA_LINES = re.compile(r"\r\n|\r|\n")
# Errors zipfile and zlib raise on corrupt, truncated, encrypted or exotic archives.
_ZIP_ERRORS = (
    zipfile.BadZipFile,
    zipfile.LargeZipFile,
    zlib.error,
    EOFError,
    OSError,
    ValueError,
    NotImplementedError,
    RuntimeError,
    struct.error,
)


def parse_manifest(text: str) -> dict[str, str]:
    """The main section of a JAR manifest: attribute (lower-cased) -> value, folds joined."""
    attributes: dict[str, str] = {}
    last = ""
    for line in _JAVA_LINES.split(text):
        if not line:
            break
        if line.startswith(" "):
            if last:
                attributes[last] += line[1:]
            continue
        key, sep, value = line.partition(":")
        if sep and key.strip():
            last = key.strip().lower()
            attributes[last] = value.strip()
        else:
            last = ""
    return attributes


def parse_properties(text: str) -> dict[str, str]:
    """A Java `.properties` file, simply: `key=value` or `key: value`, `#`/`!` comments."""
    values: dict[str, str] = {}
    pending = ""
    for raw in _JAVA_LINES.split(text):
        line = pending + raw.lstrip() if pending else raw.strip()
        pending = ""
        if line.endswith("\\") and not line.endswith("\\\\"):
            pending = line[:-1]
            continue
        if not line or line[0] in "#!":
            continue
        match = re.match(r"((?:[^=:\s\\]|\\.)+)\s*[=:\s]\s*(.*)", line)
        if match:
            key = match.group(1).replace("\\", "")
            values.setdefault(key, match.group(2).strip())
    return values


def _archive_count(f: BinaryIO, size: int) -> tuple[int, int] | None:
    """(entries, central directory bytes) from the end-of-central-directory records."""
    tail_size = min(size, 22 + 0xFFFF)
    f.seek(size - tail_size)
    tail = f.read(tail_size)
    pos = tail.rfind(b"PK\x05\x06")
    if pos < 0 or len(tail) - pos < 22:
        return None
    entries, cd_size = struct.unpack_from("<HI", tail, pos + 10)
    if entries == 0xFFFF or cd_size == 0xFFFFFFFF:
        locator = tail[pos - 20 : pos] if pos >= 20 else b""
        if len(locator) == 20 and locator.startswith(b"PK\x06\x07"):
            (offset,) = struct.unpack_from("<Q", locator, 8)
            if offset + 56 <= size:
                f.seek(offset)
                record = f.read(56)
                if record.startswith(b"PK\x06\x06"):
                    entries, cd_size = struct.unpack_from("<QQ", record, 32)
    return entries, cd_size


class _Limited(io.RawIOBase):
    """At most `limit` bytes of `inner`; `exceeded` tells whether there was more."""

    def __init__(self, inner: BinaryIO, limit: int) -> None:
        self._inner = inner
        self._left = limit
        self.exceeded = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: WriteableBuffer) -> int:
        view = memoryview(buffer).cast("B")
        if self._left <= 0:
            if self._inner.read(1):
                self.exceeded = True
            return 0
        data = self._inner.read(min(len(view), self._left))
        self._left -= len(data)
        view[: len(data)] = data
        return len(data)


@dataclass
class _Walk:
    """The state of reading one archive found in the image, nested archives included."""

    ctx: AnalysisContext
    packages: list[Package] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    nested_count: int = 0
    depth_warned: bool = False

    def archive(self, f: BinaryIO, size: int, chain: str, depth: int) -> None:
        counts = _archive_count(f, size)
        if counts is None:
            self.warnings.append(f"{chain}: not a zip archive, or truncated (no end record)")
            return
        entries, cd_size = counts
        if entries > MAX_ENTRIES or cd_size > MAX_CENTRAL_DIRECTORY_BYTES:
            self.warnings.append(
                f"{chain}: {entries} entries in a {cd_size}-byte central directory exceed the "
                f"limits ({MAX_ENTRIES}, {MAX_CENTRAL_DIRECTORY_BYTES}): not read"
            )
            return
        try:
            f.seek(0)
            with zipfile.ZipFile(f) as zf:
                self._members(zf, chain, depth)
        except _ZIP_ERRORS as exc:
            self.warnings.append(f"{chain}: unreadable zip archive: {exc}")

    def _members(self, zf: zipfile.ZipFile, chain: str, depth: int) -> None:
        infos = [i for i in zf.infolist() if not i.is_dir()]
        manifest: dict[str, str] = {}
        poms: list[zipfile.ZipInfo] = []
        nested: list[zipfile.ZipInfo] = []
        for info in infos:
            name = info.filename
            if name.upper() == _MANIFEST:
                text = self._text(zf, info, chain)
                manifest = parse_manifest(text) if text is not None else {}
            elif name.startswith(_POM_PREFIX) and name.endswith(_POM_SUFFIX):
                poms.append(info)
            elif name.lower().endswith(ARCHIVE_SUFFIXES):
                nested.append(info)
        if len(poms) > MAX_POM_PROPERTIES:
            self.warnings.append(f"{chain}: {len(poms)} pom.properties, only the first read")
            del poms[MAX_POM_PROPERTIES:]
        pom_packages: list[Package] = []
        for info in poms:
            package = self._pom_package(zf, info, chain)
            if package is not None:
                pom_packages.append(package)
        own = _ArchiveSelf.describe(manifest, chain.rsplit("/", 1)[-1], chain)
        self_pom = next((p for p in pom_packages if own.is_described_by(p)), None)
        for package in pom_packages:
            if package is self_pom and own.licenses:
                package = dataclasses.replace(package, licenses=own.licenses)
            self.packages.append(package)
        if self_pom is None and own.package is not None:
            # No pom.properties describes the archive itself (a shaded jar without its own,
            # or none at all): the manifest and the file name do.
            self.packages.append(own.package)
        for info in nested:
            self._nested(zf, info, chain, depth)

    def _spent(self, what: str) -> None:
        budget = self.ctx.budget
        self.warnings.append(
            f"{what}: not read: the {budget.limit}-byte decompression budget of this image is"
            " spent (many or large compressed archives); the inventory is partial"
        )

    def _text(self, zf: zipfile.ZipFile, info: zipfile.ZipInfo, chain: str) -> str | None:
        # zipfile never returns more than the declared size, so reserving it bounds the work.
        if not self.ctx.budget.take(min(info.file_size, MAX_TEXT_BYTES + 1)):
            self._spent(f"{chain}!/{info.filename}")
            return None
        try:
            with zf.open(info) as fh:
                data = fh.read(MAX_TEXT_BYTES + 1)
        except _ZIP_ERRORS as exc:
            self.warnings.append(f"{chain}!/{info.filename}: unreadable: {exc}")
            return None
        if len(data) > MAX_TEXT_BYTES:
            self.warnings.append(f"{chain}!/{info.filename}: over {MAX_TEXT_BYTES} bytes, ignored")
            return None
        return data.decode("utf-8", errors="replace")

    def _pom_package(
        self, zf: zipfile.ZipFile, info: zipfile.ZipInfo, chain: str
    ) -> Package | None:
        text = self._text(zf, info, chain)
        if text is None:
            return None
        props = parse_properties(text)
        group, artifact, version = (props.get(k, "") for k in ("groupId", "artifactId", "version"))
        if not artifact or not version:
            self.warnings.append(f"{chain}!/{info.filename}: no artifactId or version")
            return None
        return Package(
            name=artifact,
            version=version,
            type=PackageType.MAVEN,
            namespace=group,
            evidence=(chain,),
            metadata=make_metadata(archive=chain, pom_properties=info.filename),
        )

    def _nested(self, zf: zipfile.ZipFile, info: zipfile.ZipInfo, chain: str, depth: int) -> None:
        inner_chain = f"{chain}!/{info.filename}"
        if depth + 1 > MAX_DEPTH:
            if not self.depth_warned:
                self.warnings.append(
                    f"{inner_chain}: archives nested deeper than {MAX_DEPTH} levels are not read"
                )
                self.depth_warned = True
            return
        if self.nested_count >= MAX_NESTED_ARCHIVES:
            self.warnings.append(
                f"{inner_chain}: more than {MAX_NESTED_ARCHIVES} nested archives, not read"
            )
            return
        if info.file_size > MAX_NESTED_BYTES:
            self.warnings.append(
                f"{inner_chain}: {info.file_size} bytes uncompressed, over the "
                f"{MAX_NESTED_BYTES}-byte limit for a nested archive: not read"
            )
            return
        if info.file_size > RATIO_FLOOR_BYTES and info.file_size > MAX_NESTED_RATIO * max(
            info.compress_size, 1
        ):
            self.warnings.append(
                f"{inner_chain}: {info.compress_size} bytes inflating to {info.file_size}, a"
                f" ratio over {MAX_NESTED_RATIO}:1 that no real nested archive has (a zip"
                " bomb): not read"
            )
            return
        if not self.ctx.budget.take(info.file_size):
            self._spent(inner_chain)
            return
        self.nested_count += 1
        try:
            with ExitStack() as stack:
                member = cast(BinaryIO, stack.enter_context(zf.open(info)))
                limited = _Limited(member, info.file_size)
                reader = cast(BinaryIO, io.BufferedReader(limited))
                f: BinaryIO
                if info.file_size <= IN_MEMORY_BYTES:
                    data = reader.read()
                    f, actual = io.BytesIO(data), len(data)
                else:
                    path = stack.enter_context(self.ctx.spooled_file(reader, suffix=".zip"))
                    f = stack.enter_context(path.open("rb"))
                    actual = path.stat().st_size
                if limited.exceeded:
                    self.warnings.append(
                        f"{inner_chain}: more data than its declared {info.file_size} bytes"
                    )
                    return
                self.archive(f, actual, inner_chain, depth + 1)
        except _ZIP_ERRORS as exc:
            self.warnings.append(f"{inner_chain}: unreadable: {exc}")


def _archive_name(
    manifest: dict[str, str], symbolic: str, file_stem: str, file_version: str
) -> tuple[str, str]:
    """(name, where it came from) for an archive no pom.properties describes.

    Files get renamed (app.jar, test.jar), so the file name is trusted only in Maven's
    "<artifactId>-<version>.jar" shape; otherwise the manifest's identity fields are, as Syft
    (Bundle-SymbolicName from the Maven Bundle Plugin, Implementation-Title) and Trivy
    (Implementation-Title, Bundle-SymbolicName) read them.
    """
    vendor_id = manifest.get("implementation-vendor-id", "")
    last_segment = symbolic.rsplit(".", 1)[-1]
    # The Maven Bundle Plugin writes Bundle-SymbolicName as "<groupId>.<artifactId>"; it is
    # the group alone when it equals Implementation-Vendor-Id.
    if (
        "apache maven bundle plugin" in manifest.get("created-by", "").lower()
        and symbolic
        and symbolic != vendor_id
        and _ARTIFACT_ID.fullmatch(last_segment)
    ):
        return last_segment, "manifest Bundle-SymbolicName"
    if file_version and file_stem:
        return file_stem, "file name"
    title = manifest.get("implementation-title", "")
    if _ARTIFACT_ID.fullmatch(title):
        return title, "manifest Implementation-Title"
    if symbolic and symbolic != vendor_id and _ARTIFACT_ID.fullmatch(last_segment):
        return last_segment, "manifest Bundle-SymbolicName"
    return file_stem, "file name"


def _split_file_name(file_name: str) -> tuple[str, str]:
    """("commons-lang3", "3.12.0") from "commons-lang3-3.12.0.jar"; version "" when absent."""
    stem = file_name.rsplit(".", 1)[0] if "." in file_name else file_name
    match = _FILE_NAME_VERSION.fullmatch(stem)
    if match:
        return match.group("name"), match.group("version")
    return stem, ""


@dataclass(frozen=True, slots=True)
class _ArchiveSelf:
    """What an archive's manifest and file name say about the archive itself."""

    names: frozenset[str]
    version: str
    licenses: tuple[str, ...]
    package: Package | None

    @classmethod
    def describe(cls, manifest: dict[str, str], file_name: str, chain: str) -> _ArchiveSelf:
        file_stem, file_version = _split_file_name(file_name)
        symbolic = manifest.get("bundle-symbolicname", "").split(";", 1)[0].strip()
        title = manifest.get("implementation-title", "")
        licenses = (manifest["bundle-license"],) if manifest.get("bundle-license") else ()
        if manifest.get("short-name") and manifest.get("plugin-version"):
            # A Jenkins plugin (.hpi/.jpi) names itself.
            name, name_source = manifest["short-name"], "manifest Short-Name"
            version = manifest["plugin-version"]
            group = manifest.get("group-id", "")
        else:
            name, name_source = _archive_name(manifest, symbolic, file_stem, file_version)
            version = next(
                (
                    manifest[k]
                    for k in ("implementation-version", "bundle-version", "specification-version")
                    if manifest.get(k)
                ),
                file_version,
            )
            group = manifest.get("implementation-vendor-id", "")
        package = None
        if name and version:
            package = Package(
                name=name,
                version=version,
                type=PackageType.MAVEN,
                namespace=group,
                licenses=licenses,
                evidence=(chain,),
                metadata=make_metadata(
                    archive=chain,
                    source="manifest",
                    manifest_name=symbolic or title,
                    name_source=name_source,
                ),
            )
        names = {n for n in (name, file_stem, title, symbolic.rsplit(".", 1)[-1]) if n}
        return cls(frozenset(names), version, licenses, package)

    def is_described_by(self, pom: Package) -> bool:
        """Whether `pom` (from a pom.properties) is the archive itself, not a bundled library."""
        return pom.name in self.names or (bool(self.version) and pom.version == self.version)


class JavaDetector:
    """Maven packages in Java archives, nested archives included."""

    name: ClassVar[str] = "java"
    version: ClassVar[int] = 2

    def wants(self, path: str, size: int, mode: int) -> bool:
        return size > 0 and path.lower().endswith(ARCHIVE_SUFFIXES)

    def analyze(
        self, path: str, stream: BinaryIO, size: int, ctx: AnalysisContext
    ) -> FileResult | None:
        if size > MAX_ARCHIVE_BYTES:
            return FileResult(
                path=path,
                detector=self.name,
                warnings=(f"{path}: {size} bytes, over the {MAX_ARCHIVE_BYTES}-byte limit",),
            )
        walk = _Walk(ctx)
        with _seekable(stream, size, ctx) as (f, actual):
            walk.archive(f, actual, path, 0)
        if not walk.packages and not walk.warnings:
            return None
        return FileResult(
            path=path,
            detector=self.name,
            packages=tuple(walk.packages),
            warnings=tuple(walk.warnings),
        )


@contextlib.contextmanager
def _seekable(stream: BinaryIO, size: int, ctx: AnalysisContext) -> Iterator[tuple[BinaryIO, int]]:
    """The stream as one seekable file: itself when it is one (a file, a member of an
    uncompressed tar), in memory when small, else spooled to scratch."""
    if stream.seekable():
        actual = stream.seek(0, io.SEEK_END)
        stream.seek(0)
        yield stream, actual
        return
    if size <= IN_MEMORY_BYTES:
        data = stream.read(size)
        yield io.BytesIO(data), len(data)
        return
    limited = cast(BinaryIO, io.BufferedReader(_Limited(stream, size)))
    with ctx.spooled_file(limited, suffix=".zip") as path, path.open("rb") as f:
        yield f, path.stat().st_size
