"""Alpine's apk database: /lib/apk/db/installed (also under /usr/lib/apk on newer apk-tools)."""

from __future__ import annotations

from typing import BinaryIO, ClassVar

from basewatch.inventory.detector import AnalysisContext, FileResult
from basewatch.inventory.ownership import is_evidence_path, ownership_facts
from basewatch.models import Package, PackageType, make_metadata

PATHS = ("/lib/apk/db/installed", "/usr/lib/apk/db/installed")
MAX_SIZE = 256 << 20


class ApkDetector:
    """One package per blank-line-separated record of single-letter fields."""

    name: ClassVar[str] = "apk"
    version: ClassVar[int] = 4

    def wants(self, path: str, size: int, mode: int) -> bool:
        return path in PATHS

    def analyze(
        self, path: str, stream: BinaryIO, size: int, ctx: AnalysisContext
    ) -> FileResult | None:
        if size > MAX_SIZE:
            return FileResult(path, self.name, warnings=(f"{path}: {size} bytes is too large",))
        text = stream.read(MAX_SIZE).decode("utf-8", errors="replace")
        warnings: list[str] = []
        if "\0" in text:
            return FileResult(
                path, self.name, warnings=(f"{path}: binary data, not an apk database",)
            )
        packages: list[Package] = []
        facts: list[tuple[str, str]] = []
        record: dict[str, str] = {}
        owned: list[str] = []  # the record's listed paths that can be language packages
        folder = ""
        start = 1
        # apk-tools reads the database as apk_db_index_read does: lines end at "\n" only
        # (`str.splitlines` would also split at "\x1c", "\x85", "\u2028"... inside a value and
        # invent records), and any line that is not "X:value" ends the record.
        for number, line in enumerate([*text.split("\n"), ""], start=1):
            if len(line) < 2 or line[1] != ":":
                if line:
                    warnings.append(
                        f"{path}: line {number}: not a 'X:value' field; it ends the record, as"
                        " for apk"
                    )
                if record:
                    package = _package(record, path, start, warnings)
                    if package is not None:
                        packages.append(package)
                        facts.extend(ownership_facts(package.name, owned))
                record, owned, folder, start = {}, [], "", number + 1
                continue
            key, value = line[0], line[2:]
            # File lists repeat: F: a folder, then R: each file in it (a:, Z: their details).
            if key == "F":
                folder = "/" + value.strip("/")
                if is_evidence_path(folder):
                    owned.append(folder)
            elif key == "R":
                listed = f"{folder.rstrip('/')}/{value}"
                if is_evidence_path(listed):
                    owned.append(listed)
            elif key in record and key in "PV":
                warnings.append(
                    f"{path}: line {number}: a second {key}: in one record; the last one counts,"
                    " as for apk"
                )
            # apk keeps the last value of a field.
            record[key] = value
        return FileResult(
            path,
            self.name,
            packages=tuple(packages),
            facts=tuple(facts),
            warnings=tuple(warnings),
            database=True,
        )


def _package(record: dict[str, str], path: str, line: int, warnings: list[str]) -> Package | None:
    name, version = record.get("P", ""), record.get("V", "")
    if not name or not version:
        warnings.append(f"{path}: record at line {line} has no P: or V: field; skipped")
        return None
    origin = record.get("o", "") or name
    return Package(
        name=name,
        version=version,
        type=PackageType.APK,
        arch=record.get("A", ""),
        source_name=origin,
        source_version=version,
        licenses=(record["L"],) if record.get("L") else (),
        evidence=(path,),
        metadata=make_metadata(
            maintainer=record.get("m"),
            commit=record.get("c"),
            url=record.get("U"),
            installed_size=record.get("I"),
            checksum=record.get("C"),
            build_time=record.get("t"),
        ),
    )
