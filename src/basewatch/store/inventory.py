"""The `InventoryStore` seam: inventories kept by manifest digest, found again by package.

A scan stores each inventory it assembles under the image's manifest digest; the service reads
them back to re-evaluate an image when its advisories change, and `by_package` tells it which
images to re-evaluate when the advisories of one (ecosystem, package) do. `FileInventoryStore`
keeps them beside the analysis cache; the service's database will be the second implementation.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Protocol

from basewatch.codec import decode_inventory, encode_inventory
from basewatch.errors import CacheError, CodecError
from basewatch.models import Inventory, Package
from basewatch.store.analysis import AnalysisCache
from basewatch.vulndb.names import normalize_name

log = logging.getLogger(__name__)

_KIND = "inventories"  # below the analysis cache's root, beside "layers" and "images"
_ENTRY = "inventory"  # the document's file name in its digest's folder
_INDEX = "by-package"


class InventoryStore(Protocol):
    """Where assembled inventories are kept, by the manifest digest of their image."""

    def put(self, manifest_digest: str, inventory: Inventory) -> None:
        """Keep `inventory` as the one of `manifest_digest` (replacing any earlier one).
        Raises CacheError when it cannot be kept."""
        ...

    def get(self, manifest_digest: str) -> Inventory | None:
        """The inventory kept for `manifest_digest`; None when there is none or it is
        unreadable (logged)."""
        ...

    def has(self, manifest_digest: str) -> bool:
        """Whether an inventory is kept for `manifest_digest`, without reading it."""
        ...

    def by_package(self, ecosystem: str, name: str) -> Iterable[str]:
        """The manifest digests of the stored images holding a package of that name (binary or
        source name, as advisories may list either) in that ecosystem ("Debian:12", "PyPI");
        names match as the vulnerability database normalises them (`Django` is `django`)."""
        ...


def package_keys(package: Package) -> set[tuple[str, str]]:
    """The (ecosystem, name) pairs under which `by_package` finds a package: Debian and Alpine
    advisories name the source package, other ecosystems the package itself. Names are
    normalised as the vulnerability database normalises them (PEP 503 for PyPI...), so the
    pairs its change log reports find the images."""
    if not package.ecosystem:
        return set()
    return {
        (package.ecosystem, normalize_name(package.ecosystem, n))
        for n in (package.name, package.source_name)
        if n
    }


class FileInventoryStore:
    """Inventories as versioned JSON documents (`basewatch.codec`) under
    `root/inventories/<algorithm>/<hex>/inventory.json`, the analysis cache's layout.

    The package index is one empty marker file per (package, image), in
    `root/inventories/by-package/<hash of ecosystem and name>/<algorithm>-<hex>`. Markers are only
    ever created, never rewritten, and each is created before the document that holds its
    package, so concurrent writers (processes, machines sharing the directory) cannot lose one:
    once `put` returns, `by_package` finds the image. A marker can outlive its package (the image
    was stored again without it): `by_package` reads the document behind each marker and skips
    those, so a lookup reads at most one document per image that ever held the package.
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self._documents = AnalysisCache(root)

    def put(self, manifest_digest: str, inventory: Inventory) -> None:
        document = encode_inventory(inventory)
        if self._documents.get(manifest_digest, _ENTRY, kind=_KIND) == document:
            return  # already kept, markers and all: a warm rescan writes nothing
        marker = _marker_name(manifest_digest)
        try:
            for key in sorted({k for p in inventory.packages for k in package_keys(p)}):
                folder = self._index_dir(*key)
                folder.mkdir(parents=True, exist_ok=True)
                (folder / marker).touch()
        except OSError as exc:
            raise CacheError(f"cannot write the inventory index at {self.root}: {exc}") from exc
        self._documents.put(manifest_digest, _ENTRY, document, kind=_KIND)

    def get(self, manifest_digest: str) -> Inventory | None:
        data = self._documents.get(manifest_digest, _ENTRY, kind=_KIND)
        if data is None:
            return None
        try:
            return decode_inventory(data, f"stored inventory {manifest_digest}")
        except CodecError as exc:
            log.warning("ignoring %s", exc)
            return None

    def has(self, manifest_digest: str) -> bool:
        return self._documents.path(manifest_digest, _ENTRY, kind=_KIND).is_file()

    def by_package(self, ecosystem: str, name: str) -> Iterator[str]:
        name = normalize_name(ecosystem, name)
        folder = self._index_dir(ecosystem, name)
        try:
            markers = sorted(os.listdir(folder))
        except FileNotFoundError:
            return
        except OSError as exc:
            raise CacheError(f"cannot read the inventory index at {folder}: {exc}") from exc
        for marker in markers:
            algorithm, sep, hexpart = marker.partition("-")
            if not sep:
                continue  # not a marker (a stray file)
            digest = f"{algorithm}:{hexpart}"
            try:
                inventory = self.get(digest)
            except CacheError:  # a name that cannot be a digest
                continue
            if inventory is not None and any(
                (ecosystem, name) in package_keys(p) for p in inventory.packages
            ):
                yield digest

    def _index_dir(self, ecosystem: str, name: str) -> Path:
        # hashed: names hold any character ("@types/node", "github.com/x/y")
        key = hashlib.sha256(f"{ecosystem}\n{name}".encode("utf-8", "surrogatepass")).hexdigest()
        return self.root / _KIND / _INDEX / key[:2] / key[2:32]


def _marker_name(manifest_digest: str) -> str:
    algorithm, _, hexpart = manifest_digest.partition(":")
    return f"{algorithm}-{hexpart}"
