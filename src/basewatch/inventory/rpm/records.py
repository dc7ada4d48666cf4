"""What the three rpmdb readers yield: header blobs, or the damage found instead of one."""

from __future__ import annotations

from dataclasses import dataclass

from basewatch.errors import PackageDatabaseError


@dataclass(frozen=True, slots=True)
class RawHeader:
    """One stored header blob, and where it was found ("record 12", "slot 3")."""

    where: str
    blob: bytes


@dataclass(frozen=True, slots=True)
class BadRecord:
    """A record that could not be read; the reader carries on with the next one."""

    where: str
    error: PackageDatabaseError

    def __str__(self) -> str:
        return f"{self.where}: {self.error}"


Record = RawHeader | BadRecord
