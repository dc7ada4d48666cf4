"""The service's `InventoryStore`: inventories in its database, found again by package.

The second implementation of `basewatch.store.inventory.InventoryStore` (the file cache is the
first): documents written by the versioned codec, and one row per (image, ecosystem, package)
so that re-evaluation after a database update reads only the inventories that hold a changed
package.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from basewatch.clock import SYSTEM_CLOCK, Clock
from basewatch.codec import decode_inventory, encode_inventory
from basewatch.errors import CodecError
from basewatch.models import Inventory
from basewatch.service.models import InventoryPackage, StoredInventory
from basewatch.store.inventory import package_keys
from basewatch.vulndb.names import normalize_name

log = logging.getLogger(__name__)


class SqlInventoryStore:
    def __init__(self, sessions: sessionmaker[Session], clock: Clock = SYSTEM_CLOCK) -> None:
        self._sessions = sessions
        self._clock = clock

    def put(self, manifest_digest: str, inventory: Inventory) -> None:
        with self._sessions.begin() as session:
            self.put_in(session, manifest_digest, inventory)

    def put_in(self, session: Session, manifest_digest: str, inventory: Inventory) -> None:
        """`put`, in the caller's transaction (the caller commits)."""
        document = encode_inventory(inventory)
        keys = {key for package in inventory.packages for key in package_keys(package)}
        row = session.get(StoredInventory, manifest_digest)
        if row is None:
            session.add(
                StoredInventory(
                    digest=manifest_digest, document=document, stored_at=self._clock.now()
                )
            )
        else:
            row.document = document
            row.stored_at = self._clock.now()
            session.execute(
                delete(InventoryPackage).where(InventoryPackage.digest == manifest_digest)
            )
        session.flush()
        session.add_all(
            InventoryPackage(digest=manifest_digest, ecosystem=eco, name=name)
            for eco, name in sorted(keys)
        )

    def get(self, manifest_digest: str) -> Inventory | None:
        with self._sessions() as session:
            row = session.get(StoredInventory, manifest_digest)
            if row is None:
                return None
            try:
                return decode_inventory(row.document)
            except CodecError as exc:
                log.warning("stored inventory %s is unreadable (%s): ignored", manifest_digest, exc)
                return None

    def get_many(self, session: Session, manifest_digests: Iterable[str]) -> dict[str, Inventory]:
        """`get` for many, in the caller's session: one query; unreadable ones left out."""
        found: dict[str, Inventory] = {}
        wanted = sorted(set(manifest_digests))
        for start in range(0, len(wanted), 500):
            rows = session.execute(
                select(StoredInventory.digest, StoredInventory.document).where(
                    StoredInventory.digest.in_(wanted[start : start + 500])
                )
            )
            for digest, document in rows:
                try:
                    found[str(digest)] = decode_inventory(document)
                except CodecError as exc:
                    log.warning("stored inventory %s is unreadable (%s): ignored", digest, exc)
        return found

    def has(self, manifest_digest: str) -> bool:
        with self._sessions() as session:
            found = session.scalar(
                select(StoredInventory.digest).where(StoredInventory.digest == manifest_digest)
            )
            return found is not None

    def by_package(self, ecosystem: str, name: str) -> Iterable[str]:
        name = normalize_name(ecosystem, name)
        with self._sessions() as session:
            return list(
                session.scalars(
                    select(InventoryPackage.digest)
                    .where(InventoryPackage.ecosystem == ecosystem, InventoryPackage.name == name)
                    .order_by(InventoryPackage.digest)
                )
            )

    def by_packages(self, keys: Iterable[tuple[str, str]]) -> set[str]:
        """The inventories holding any of the (ecosystem, name) `keys`: `by_package` for many
        at once, a query per ecosystem and few hundred names rather than one per package."""
        names: dict[str, set[str]] = {}
        for ecosystem, name in keys:
            names.setdefault(ecosystem, set()).add(normalize_name(ecosystem, name))
        found: set[str] = set()
        with self._sessions() as session:
            for ecosystem, wanted in sorted(names.items()):
                ordered = sorted(wanted)
                for start in range(0, len(ordered), 500):
                    found.update(
                        session.scalars(
                            select(InventoryPackage.digest)
                            .distinct()
                            .where(
                                InventoryPackage.ecosystem == ecosystem,
                                InventoryPackage.name.in_(ordered[start : start + 500]),
                            )
                        )
                    )
        return found
