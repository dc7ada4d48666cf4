"""dpkg databases: /var/lib/dpkg/status, the per-package files of status.d (distroless), and
the file lists in /var/lib/dpkg/info for the language packages dpkg installed (`ownership`)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import BinaryIO, ClassVar

from basewatch.inventory.detector import AnalysisContext, FileResult
from basewatch.inventory.ownership import ownership_facts
from basewatch.models import Package, PackageType, make_metadata

STATUS = "/var/lib/dpkg/status"
STATUS_D = "/var/lib/dpkg/status.d/"
INFO = "/var/lib/dpkg/info/"
MAX_SIZE = 256 << 20
MAX_LIST_SIZE = 64 << 20  # one package's file list
_MALFORMED = "\0malformed"  # key for "a line without a colon was seen", never a real field
_SOURCE = re.compile(r"^(\S+)(?:\s+\((\S+)\))?$")
_LIST_MARKERS = (
    *(b".dist-info", b".egg-info", b".jar", b".war", b".ear", b"package.json"),
    *(b"/bin/", b"/sbin/", b"/libexec/"),
)


def parse_stanzas(text: str) -> Iterator[tuple[int, dict[str, str]]]:
    """Yield (first line number, fields) for each RFC 822-style stanza; continuation lines join."""
    fields: dict[str, str] = {}
    start = 0
    key = ""
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            if fields:
                yield start, fields
            fields, key = {}, ""
            continue
        if line[0] in " \t":
            if key:
                fields[key] += "\n" + line[1:]
            continue
        if not fields:
            start = number
        name, sep, value = line.partition(":")
        if not sep:
            key = ""
            fields.setdefault(_MALFORMED, str(number))
            continue
        key = name.strip()
        fields[key] = value.strip()
    if fields:
        yield start, fields


def package_from_stanza(
    fields: dict[str, str], path: str, line: int, warnings: list[str]
) -> Package | None:
    """The installed package a stanza describes, or None (not installed, or unusable)."""
    name = fields.get("Package", "")
    version = fields.get("Version", "")
    status = fields.get("Status", "install ok installed").split()
    if _MALFORMED in fields:
        warnings.append(f"{path}: line {fields[_MALFORMED]}: a line without 'Field:' was ignored")
    if len(status) != 3 or status[2] not in ("installed",):
        # Only "installed" means the package is on disk and configured: half-installed,
        # config-files (removed, not purged) and not-installed stanzas are not inventory.
        return None
    if not name or not version:
        warnings.append(f"{path}: stanza at line {line} has no Package or Version; skipped")
        return None
    source_name, source_version = name, version
    if source := fields.get("Source"):
        match = _SOURCE.match(source.strip())
        if match:
            source_name = match.group(1)
            source_version = match.group(2) or version
        else:
            warnings.append(f"{path}: line {line}: unreadable Source {source!r} for {name}")
    arch = fields.get("Architecture", "")
    return Package(
        name=name,
        version=version,
        type=PackageType.DEB,
        arch=arch,
        source_name=source_name,
        source_version=source_version,
        evidence=(path,),
        metadata=make_metadata(
            maintainer=fields.get("Maintainer"),
            multi_arch=fields.get("Multi-Arch"),
            installed_size=fields.get("Installed-Size"),
            essential=fields.get("Essential"),
        ),
    )


class DpkgDetector:
    """Installed packages from dpkg's status database (and distroless status.d files)."""

    name: ClassVar[str] = "dpkg"
    version: ClassVar[int] = 3

    def wants(self, path: str, size: int, mode: int) -> bool:
        if path == STATUS:
            return True
        if path.startswith(INFO):
            return path.endswith(".list") and "/" not in path[len(INFO) :]
        return (
            path.startswith(STATUS_D)
            and "/" not in path[len(STATUS_D) :]
            and not path.endswith(".md5sums")
        )

    def analyze(
        self, path: str, stream: BinaryIO, size: int, ctx: AnalysisContext
    ) -> FileResult | None:
        if path.startswith(INFO):
            return self._file_list(path, stream, size)
        if size > MAX_SIZE:
            return FileResult(path, self.name, warnings=(f"{path}: {size} bytes is too large",))
        data = stream.read(MAX_SIZE)
        text = data.decode("utf-8", errors="replace")
        warnings: list[str] = []
        if "\ufffd" in text:
            warnings.append(f"{path}: not valid UTF-8; unreadable bytes were replaced")
        if "\0" in text:
            return FileResult(
                path, self.name, warnings=(f"{path}: binary data, not a dpkg database",)
            )
        packages = []
        for line, fields in parse_stanzas(text):
            package = package_from_stanza(fields, path, line, warnings)
            if package is not None:
                packages.append(package)
        if (
            data.strip()
            and not packages
            and not any("Package" in f for _, f in parse_stanzas(text))
        ):
            warnings.append(f"{path}: no package stanzas found; the file is not a dpkg database")
        return FileResult(
            path,
            self.name,
            packages=tuple(packages),
            warnings=tuple(warnings),
            database=path == STATUS,
        )

    def _file_list(self, path: str, stream: BinaryIO, size: int) -> FileResult | None:
        """The language-package paths that one package's file list (`<name>[:arch].list`) holds."""
        if size > MAX_LIST_SIZE:
            return FileResult(path, self.name, warnings=(f"{path}: {size} bytes is too large",))
        data = stream.read(MAX_LIST_SIZE)
        # Most lists name no language package: skip them without splitting.
        if not any(marker in data for marker in _LIST_MARKERS):
            return None
        package = path[len(INFO) : -len(".list")].partition(":")[0]
        lines = data.decode("utf-8", errors="replace").splitlines()
        facts = ownership_facts(package, lines)
        return FileResult(path, self.name, facts=facts) if facts else None
