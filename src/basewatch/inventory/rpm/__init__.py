"""The rpm package database detector: Berkeley DB, ndb and SQLite rpmdbs, read in pure Python."""

from __future__ import annotations

from typing import BinaryIO, ClassVar

from basewatch.inventory.detector import AnalysisContext, FileResult
from basewatch.inventory.rpm.database import DatabaseFormat, read_database

__all__ = ["DATABASE_PATHS", "DatabaseFormat", "RpmDetector"]

_DIRECTORIES = ("/var/lib/rpm", "/usr/lib/sysimage/rpm", "/usr/share/rpm")
_FILES = ("Packages", "Packages.db", "rpmdb.sqlite")
# Where rpm keeps its database: /var/lib/rpm traditionally, /usr/lib/sysimage/rpm on newer
# Fedora and SUSE (/var/lib/rpm is then often a symlink to it), /usr/share/rpm on older SUSE.
DATABASE_PATHS = frozenset(f"{d}/{f}" for d in _DIRECTORIES for f in _FILES)


class RpmDetector:
    """Finds the packages rpm has installed, from its package database."""

    name: ClassVar[str] = "rpm"
    version: ClassVar[int] = 3

    def wants(self, path: str, size: int, mode: int) -> bool:
        return path in DATABASE_PATHS

    def analyze(
        self, path: str, stream: BinaryIO, size: int, ctx: AnalysisContext
    ) -> FileResult | None:
        with ctx.spooled_file(stream) as local:
            contents = read_database(local, evidence=path)
        return FileResult(
            path=path,
            detector=self.name,
            packages=contents.packages,
            facts=contents.ownership,
            warnings=contents.warnings,
            database=True,
        )
