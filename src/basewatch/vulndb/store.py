"""The vulnerability-data seams: `VulnStore`, what matching reads, and `VulnWriter`, what the
importers and `db update` write. `SqliteStore` implements both; a PostgreSQL store can follow.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from basewatch.vulndb.epss import EpssScore
from basewatch.vulndb.kev import KevEntry
from basewatch.vulndb.model import Advisory, Affected, Enrichment, SourceStatus
from basewatch.vulndb.osv import Withdrawn

# (OSV ecosystem string, package name): as a caller passes it to a lookup, or, in what a writer
# reports as changed, as the store indexes it (`names.normalize_name`).
PackageKey = tuple[str, str]
# the "ecosystem" of change-log entries naming a CVE whose KEV membership changed
KEV_CHANGE = "@kev"
# what `changes_since` answers when entries after the reader's were dropped from the log
# (`sqlite.CHANGE_LOG_DAYS`): it cannot say what they named, so everything may have changed
EVERYTHING: PackageKey = ("@all", "*")


class VulnStore(Protocol):
    """What matching needs from a vulnerability database (read only)."""

    def affected(self, ecosystem: str, name: str) -> Sequence[tuple[Advisory, Affected]]:
        """Every (advisory, affected entry) for a package name in one exact ecosystem string.

        `name` is normalised by the store the same way it normalised at import (PEP 503 for
        PyPI, lower-case for npm...), so callers pass the name as the package reports it.
        Advisory objects may omit `affected` (only the matching entry is returned beside it).
        """
        ...

    def affected_many(
        self, ecosystem_names: Iterable[PackageKey]
    ) -> dict[PackageKey, Sequence[tuple[Advisory, Affected]]]:
        """`affected` for many packages at once, keyed by the pairs as passed (each one present,
        empty when no advisory names it). Stores backed by a database answer in one query per
        batch; this default asks once per package."""
        return {pair: self.affected(*pair) for pair in dict.fromkeys(ecosystem_names)}

    def enrichment(self, cves: Iterable[str]) -> dict[str, Enrichment]:
        """KEV and EPSS facts for those CVE ids that have any."""
        ...

    def sources(self) -> Sequence[SourceStatus]:
        """Every source imported so far, for `db status` and report metadata."""
        ...

    def ecosystems(self) -> Sequence[str]:
        """The OSV ecosystem strings present in the database."""
        ...

    def changes_since(self, seq: int) -> tuple[int, frozenset[PackageKey]]:
        """The newest entry of the store's change log, and the (ecosystem, name) pairs whose
        advisories changed after entry `seq`; a store that keeps no log says (0, nothing).
        A CVE that joined or left the KEV catalog is the pair (`KEV_CHANGE`, CVE id); entries
        dropped before the reader saw them make the answer `{EVERYTHING}`."""
        return 0, frozenset()

    def change_log(self) -> str:
        """The identity of the change log `changes_since` reads: another one at the same
        place (the database replaced by a new one) starts its entries again from 1."""
        return ""

    def refused(self, ecosystem: str, name: str) -> Sequence[str]:
        """The ids of records refused at import (malformed) that named this package: while
        there are any, the package cannot be called checked. Names as for `affected`."""
        ...

    def refused_many(
        self, ecosystem_names: Iterable[PackageKey]
    ) -> dict[PackageKey, Sequence[str]]:
        """`refused` for many packages at once, keyed as `affected_many` keys its answer."""
        return {pair: self.refused(*pair) for pair in dict.fromkeys(ecosystem_names)}


@dataclass(slots=True)
class WriteCounts:
    """What `VulnWriter.write_records` did."""

    withdrawn: int = 0  # withdrawn records seen (never stored; an older copy is removed)
    skipped: int = 0  # records older than the copy already stored for their source
    stored: set[tuple[str, str]] = field(default_factory=set)  # (source, id) written

    @property
    def written(self) -> int:
        """Distinct records written (a record repeated in the input counts once)."""
        return len(self.stored)

    @property
    def by_source(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for source, _ in self.stored:
            counts[source] = counts.get(source, 0) + 1
        return counts


class VulnWriter(Protocol):
    """What importing files and updating dumps write: records by source (an OSV dump, a secdb
    file, a directory of local records), the refusals of malformed ones, each source's status
    and the enrichment feeds. Writes become visible at `commit`, all or none."""

    def clear_source(self, source: str) -> None:
        """Forget every record and refusal of `source`, before writing its new snapshot."""
        ...

    def write_records(self, items: Iterable[tuple[str, Advisory | Withdrawn]]) -> WriteCounts:
        """Store (source, record) pairs; within a source the later `modified` wins, and a
        withdrawn record removes the source's older copy."""
        ...

    def set_refused(self, source: str, refusals: Iterable[tuple[str, str, str, str]]) -> None:
        """Record the (ecosystem, name, record id, reason) of records refused for `source`."""
        ...

    def set_source(self, status: SourceStatus) -> None:
        """Record what a source holds and where and when it came from."""
        ...

    def source_records(self, source: str) -> int:
        """How many records `source` holds (as written so far)."""
        ...

    def data_date(self, source: str) -> str:
        """The newest `modified` among the source's records (RFC 3339); "" when none."""
        ...

    def replace_kev(self, entries: Iterable[KevEntry]) -> int:
        """Replace the KEV catalog; returns the number of CVEs stored."""
        ...

    def replace_epss(self, scores: Iterable[EpssScore]) -> int:
        """Replace the EPSS scores; returns the number of CVEs stored."""
        ...

    def take_changed(self) -> frozenset[PackageKey]:
        """The (ecosystem, normalised name) pairs whose advisories or refusals differ from
        what they were at the previous call (or when the writer was opened): the packages
        whose inventories need re-evaluating. KEV and EPSS change no pair (their facts are
        per CVE)."""
        ...

    def commit(self) -> None:
        """Make everything written so far durable and visible."""
        ...
