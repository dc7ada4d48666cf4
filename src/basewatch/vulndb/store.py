"""The `VulnStore` seam: what matching needs from a vulnerability database."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Protocol

from basewatch.vulndb.model import Advisory, Affected, Enrichment, SourceStatus


class VulnStore(Protocol):
    def affected(self, ecosystem: str, name: str) -> Sequence[tuple[Advisory, Affected]]:
        """Every (advisory, affected entry) for a package name in one exact ecosystem string.

        `name` is normalised by the store the same way it normalised at import (PEP 503 for
        PyPI, lower-case for npm...), so callers pass the name as the package reports it.
        Advisory objects may omit `affected` (only the matching entry is returned beside it).
        """
        ...

    def enrichment(self, cves: Iterable[str]) -> dict[str, Enrichment]:
        """KEV and EPSS facts for those CVE ids that have any."""
        ...

    def sources(self) -> Sequence[SourceStatus]:
        """Every source imported so far, for `db status` and report metadata."""
        ...

    def ecosystems(self) -> Sequence[str]:
        """The OSV ecosystem strings present in the database."""
        ...

    def refused(self, ecosystem: str, name: str) -> Sequence[str]:
        """The ids of records refused at import (malformed) that named this package: while
        there are any, the package cannot be called checked. Names as for `affected`."""
        ...
