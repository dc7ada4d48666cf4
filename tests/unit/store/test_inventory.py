from __future__ import annotations

import dataclasses
import json
import logging
import multiprocessing
from pathlib import Path

import pytest

from basewatch.codec import encode_inventory
from basewatch.errors import CacheError
from basewatch.jobs.inventory import Scanner
from basewatch.models import Inventory, Package, PackageType
from basewatch.store.inventory import FileInventoryStore, InventoryStore
from tests.imagebuild import (
    DEBIAN_OS_RELEASE,
    build_image,
    dpkg_status,
    file,
    write_docker_archive,
    write_oci_layout,
)
from tests.unit.report.conftest import make_inventory

D1 = "sha256:" + "1" * 64
D2 = "sha256:" + "2" * 64


def inventory_with(*packages: Package) -> Inventory:
    return dataclasses.replace(make_inventory(), packages=packages)


LIBCURL = Package(
    "libcurl4", "7.88.1-10", PackageType.DEB, source_name="curl", ecosystem="Debian:12"
)
REQUESTS = Package("requests", "2.31.0", PackageType.PYPI, ecosystem="PyPI")


def entry(root: Path, digest: str) -> Path:
    return root / "inventories" / "sha256" / digest.split(":")[1] / "inventory.json"


def test_put_then_get_round_trips(tmp_path: Path) -> None:
    store: InventoryStore = FileInventoryStore(tmp_path)
    inventory = make_inventory()
    assert store.get(D1) is None
    store.put(D1, inventory)
    assert store.get(D1) == inventory
    assert FileInventoryStore(tmp_path).get(D1) == inventory  # another process's view


def test_by_package_finds_binary_and_source_names(tmp_path: Path) -> None:
    store = FileInventoryStore(tmp_path)
    store.put(D1, inventory_with(LIBCURL, REQUESTS))
    store.put(D2, inventory_with(REQUESTS))
    assert list(store.by_package("Debian:12", "curl")) == [D1]  # advisories name the source
    assert list(store.by_package("Debian:12", "libcurl4")) == [D1]
    assert list(store.by_package("PyPI", "requests")) == [D1, D2]
    assert list(store.by_package("Debian:11", "curl")) == []
    assert list(store.by_package("PyPI", "flask")) == []


def test_by_package_matches_names_as_the_vulnerability_database_spells_them(
    tmp_path: Path,
) -> None:
    """The database's change log reports PEP 503 names (`zope-interface`): an image holding
    `Zope.Interface` is found by them, and by its own spelling too."""
    store = FileInventoryStore(tmp_path)
    zope = Package("Zope.Interface", "5.0", PackageType.PYPI, ecosystem="PyPI")
    store.put(D1, inventory_with(zope))
    assert list(store.by_package("PyPI", "zope-interface")) == [D1]
    assert list(store.by_package("PyPI", "Zope.Interface")) == [D1]


def test_by_package_forgets_a_package_the_image_no_longer_holds(tmp_path: Path) -> None:
    store = FileInventoryStore(tmp_path)
    store.put(D1, inventory_with(LIBCURL, REQUESTS))
    store.put(D1, inventory_with(REQUESTS))  # stored again (a newer detector) without curl
    assert list(store.by_package("Debian:12", "curl")) == []
    assert list(store.by_package("PyPI", "requests")) == [D1]


def test_an_unchanged_inventory_is_not_rewritten(tmp_path: Path) -> None:
    store = FileInventoryStore(tmp_path)
    inventory = inventory_with(REQUESTS)
    store.put(D1, inventory)
    before = entry(tmp_path, D1).stat().st_mtime_ns
    entry(tmp_path, D1).touch()
    touched = entry(tmp_path, D1).stat().st_mtime_ns
    store.put(D1, inventory)
    assert entry(tmp_path, D1).stat().st_mtime_ns == touched >= before


@pytest.mark.parametrize(
    "content",
    [
        "{ truncated",
        json.dumps({**encode_inventory(make_inventory()), "schema_version": 99}),
        json.dumps({**encode_inventory(make_inventory()), "packages": [{"name": 1}]}),
        json.dumps({**encode_inventory(make_inventory()), "image": "x"}),
        "[]",
        "[" * 100_000,
    ],
    ids=["truncated", "schema-version", "wrong-types", "wrong-shape", "not-an-object", "deep"],
)
def test_a_corrupt_entry_is_a_miss(
    tmp_path: Path, content: str, caplog: pytest.LogCaptureFixture
) -> None:
    store = FileInventoryStore(tmp_path)
    store.put(D1, inventory_with(REQUESTS))
    entry(tmp_path, D1).write_text(content)
    with caplog.at_level(logging.WARNING):
        assert store.get(D1) is None
        assert list(store.by_package("PyPI", "requests")) == []
    assert "Traceback" not in caplog.text
    store.put(D1, inventory_with(REQUESTS))  # and it is rewritten
    assert store.get(D1) == inventory_with(REQUESTS)


def test_a_digest_that_cannot_name_an_entry_is_refused(tmp_path: Path) -> None:
    store = FileInventoryStore(tmp_path)
    with pytest.raises(CacheError, match="cannot name a cache entry"):
        store.put("sha256:../../etc", make_inventory())
    assert not (tmp_path / "inventories").exists()


def _writer(root: str, digests: list[str], seed: int) -> None:
    store = FileInventoryStore(Path(root))
    for i, digest in enumerate(digests):
        own = Package(f"pkg-{seed}-{i}", "1", PackageType.PYPI, ecosystem="PyPI")
        store.put(digest, inventory_with(REQUESTS, own))


def test_concurrent_puts_from_two_processes(tmp_path: Path) -> None:
    digests = [f"sha256:{i:064x}" for i in range(40)]
    context = multiprocessing.get_context("spawn")
    # both write every digest, in opposite orders, so that they race on each entry
    workers = [
        context.Process(target=_writer, args=(str(tmp_path), digests, 0)),
        context.Process(target=_writer, args=(str(tmp_path), digests[::-1], 1)),
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
        assert worker.exitcode == 0
    store = FileInventoryStore(tmp_path)
    assert sorted(store.by_package("PyPI", "requests")) == digests
    for i, digest in enumerate(digests):
        stored = store.get(digest)
        assert stored is not None  # whole documents only: no torn writes
        (own,) = (p for p in stored.packages if p.name.startswith("pkg-"))
        # whichever process wrote last, the index finds its own package, and not the other's
        seed = int(own.name.split("-")[1])
        assert own.name == f"pkg-{seed}-{i if seed == 0 else len(digests) - 1 - i}"
        assert list(store.by_package("PyPI", own.name)) == [digest]
        # the loser's package left a marker, and is not listed
        other = 1 - seed
        lost = f"pkg-{other}-{i if other == 0 else len(digests) - 1 - i}"
        assert list(store.by_package("PyPI", lost)) == []
    assert not list((tmp_path / "inventories").rglob(".tmp-*"))


def test_the_scanner_keeps_each_inventory_by_manifest_digest(tmp_path: Path) -> None:
    status = file("var/lib/dpkg/status", dpkg_status(("libc6", "2.36-9")))
    image = build_image([[file("etc/os-release", DEBIAN_OS_RELEASE), status]])
    layout = write_oci_layout(tmp_path / "layout", [(image, "v1")])
    archive = write_docker_archive(tmp_path / "d.tar", [(image, ["app:1"])])
    cache = tmp_path / "cache"
    scanned = Scanner.default(cache_dir=cache).inventory(f"oci:{layout}")
    assert scanned.image.manifest_digest
    store = FileInventoryStore(cache)
    assert store.get(scanned.image.manifest_digest) == scanned
    assert list(store.by_package("Debian:12", "libc6")) == [scanned.image.manifest_digest]
    # a warm scan stores the digest again only when the store lost it
    kept = entry(cache, scanned.image.manifest_digest)
    kept.write_text("{}")
    assert Scanner.default(cache_dir=cache).inventory(f"oci:{layout}") == scanned
    assert kept.read_text() == "{}"
    kept.unlink()
    Scanner.default(cache_dir=cache).inventory(f"oci:{layout}")
    assert store.get(scanned.image.manifest_digest) == scanned
    # a docker archive has no manifest digest: nothing to key it by
    Scanner.default(cache_dir=cache).inventory(f"docker-archive:{archive}")
    stored = sorted(p.parent.name for p in (cache / "inventories" / "sha256").glob("*/*.json"))
    assert stored == [scanned.image.manifest_digest.split(":")[1]]
    Scanner.default(cache_dir=tmp_path / "other", use_cache=False).inventory(f"oci:{layout}")
    assert not (tmp_path / "other" / "inventories").exists()
