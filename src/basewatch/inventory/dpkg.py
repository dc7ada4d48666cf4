"""dpkg databases: /var/lib/dpkg/status, the per-package files of status.d (distroless), and
the file lists in /var/lib/dpkg/info for the language packages dpkg installed (`ownership`)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO, ClassVar

from basewatch.inventory.detector import AnalysisContext, FileResult
from basewatch.inventory.ownership import ownership_facts
from basewatch.models import Package, PackageType, make_metadata

STATUS = "/var/lib/dpkg/status"
STATUS_D = "/var/lib/dpkg/status.d/"
INFO = "/var/lib/dpkg/info/"
MAX_SIZE = 256 << 20
MAX_LIST_SIZE = 64 << 20  # one package's file list
# What dpkg keeps beside a package's stanza (the control members in /var/lib/dpkg/info/):
# distroless images write `status.d/<name>` and `status.d/<name>.md5sums`; none is a stanza.
CONTROL_FILE_SUFFIXES = tuple(
    f".{name}"
    for name in (
        "md5sums",
        "list",
        "conffiles",
        "preinst",
        "postinst",
        "prerm",
        "postrm",
        "config",
        "templates",
        "triggers",
        "shlibs",
        "symbols",
    )
)
_SOURCE = re.compile(r"^(\S+)(?:\s+\((\S+)\))?$")
_LIST_MARKERS = (
    *(b".dist-info", b".egg-info", b".jar", b".war", b".ear", b"package.json"),
    *(b"/bin/", b"/sbin/", b"/libexec/"),
)


# dpkg's c_isspace() without "\n": a line starting with one of these continues the field above.
_CONTINUATION = " \t\v\f\r"
# Status words (the third of "want flag status") for which the package's files are on disk:
# what `dpkg-query -W` lists, less config-files (only conffiles are left) and not-installed.
UNPACKED_STATES = frozenset(
    (
        "installed",
        "unpacked",
        "half-configured",
        "half-installed",
        "triggers-awaited",
        "triggers-pending",
    )
)
_ABSENT_STATES = frozenset(("not-installed", "config-files"))


@dataclass(frozen=True, slots=True)
class Stanza:
    """One RFC 822-style paragraph: its first line and its fields, names folded to lower case
    (dpkg matches field names case-insensitively), plus what dpkg would not have accepted."""

    line: int
    fields: dict[str, str]
    problems: tuple[str, ...] = ()


def parse_stanzas(text: str) -> Iterator[Stanza]:
    """The stanzas of a dpkg database, split the way dpkg's own parser splits them.

    Lines end at "\n" only (not at the other line breaks of `str.splitlines`, which dpkg
    keeps inside values); a line starting with whitespace continues the field above; an empty
    line ends the stanza.
    """
    fields: dict[str, str] = {}
    problems: list[str] = []
    start = 0
    key = ""
    for number, line in enumerate(text.split("\n"), start=1):
        if line and not line.strip(_CONTINUATION):
            # dpkg reads it as a blank line inside the field above, then usually refuses the
            # file; ending the stanza here keeps every package that follows in the inventory.
            problems.append(f"line {number}: a line of only whitespace (dpkg rejects it)")
            line = ""
        if not line:
            if fields:
                yield Stanza(start, fields, tuple(problems))
                problems = []  # else kept for the next stanza: they came between two
            fields, key = {}, ""
            continue
        if line[0] in _CONTINUATION:
            if key:
                fields[key] += "\n" + line[1:]
            else:
                problems.append(f"line {number}: a continuation line without a field")
            continue
        if not fields:
            start = number
        name, sep, value = line.partition(":")
        key = name.strip().lower()
        if not sep or not key:
            key = ""
            problems.append(f"line {number}: a line without 'Field:' was ignored")
            continue
        if key in fields:
            # dpkg refuses the whole file; the first value is kept, as the stanza was started.
            problems.append(f"line {number}: duplicate field {name.strip()!r} (dpkg rejects it)")
            key = ""
            continue
        fields[key] = value.strip()
    if fields or problems:
        yield Stanza(start, fields, tuple(problems))


def package_from_stanza(
    stanza: Stanza, path: str, warnings: list[str], default_status: str = ""
) -> Package | None:
    """The package a stanza describes if its files are on disk, else None.

    A stanza without Status is not installed for dpkg (`dpkg-query -W` does not list it);
    distroless status.d files carry none and pass `default_status`.
    """
    fields, line = stanza.fields, stanza.line
    warnings.extend(f"{path}: {problem}" for problem in stanza.problems)
    name = fields.get("package", "")
    version = fields.get("version", "")
    status_field = fields.get("status", default_status)
    status = status_field.split()
    if not status:
        return None
    if len(status) != 3 or not (status[2] in UNPACKED_STATES or status[2] in _ABSENT_STATES):
        warnings.append(f"{path}: stanza at line {line}: unknown Status {status_field!r}; skipped")
        return None
    if status[2] in _ABSENT_STATES:
        return None
    if not name or not version:
        warnings.append(f"{path}: stanza at line {line} has no Package or Version; skipped")
        return None
    source_name, source_version = name, version
    if source := fields.get("source"):
        match = _SOURCE.match(source.strip())
        if match:
            source_name = match.group(1)
            source_version = match.group(2) or version
        else:
            warnings.append(f"{path}: line {line}: unreadable Source {source!r} for {name}")
    arch = fields.get("architecture", "")
    return Package(
        name=name,
        version=version,
        type=PackageType.DEB,
        arch=arch,
        source_name=source_name,
        source_version=source_version,
        evidence=(path,),
        metadata=make_metadata(
            maintainer=fields.get("maintainer"),
            multi_arch=fields.get("multi-arch"),
            installed_size=fields.get("installed-size"),
            essential=fields.get("essential"),
            # Unpacked but not (or not fully) configured: on disk, so in the inventory.
            status=status_field if status[2] != "installed" else None,
        ),
    )


class DpkgDetector:
    """Installed packages from dpkg's status database (and distroless status.d files)."""

    name: ClassVar[str] = "dpkg"
    version: ClassVar[int] = 4

    def wants(self, path: str, size: int, mode: int) -> bool:
        if path == STATUS:
            return True
        if path.startswith(INFO):
            return path.endswith(".list") and "/" not in path[len(INFO) :]
        return (
            path.startswith(STATUS_D)
            and "/" not in path[len(STATUS_D) :]
            and not path.endswith(CONTROL_FILE_SUFFIXES)
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
        stanzas = list(parse_stanzas(text))
        # Distroless images write one stanza per file in status.d, without Status: there,
        # and only there, being listed means being installed.
        default_status = "" if path == STATUS else "install ok installed"
        for stanza in stanzas:
            package = package_from_stanza(stanza, path, warnings, default_status)
            if package is not None:
                packages.append(package)
        if data.strip() and not any("package" in stanza.fields for stanza in stanzas):
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
        # One path per line, "\n"-terminated as dpkg writes it (a file name may hold "\r").
        lines = data.decode("utf-8", errors="replace").split("\n")
        facts = ownership_facts(package, lines)
        return FileResult(path, self.name, facts=facts) if facts else None
