"""A synthetic fleet for benchmarking `basewatch serve`, built from real images and real advisories.

Templates are the inventories of real images, read by the sbom job: the Alpine fixtures and, when
they can be built or are cached, the mmdebstrap-built Debian images of tests/integration/images.py.
A fleet clones them into stored inventories (`SqlInventoryStore.put` plus an `Image` row, as the
watcher indexes an image), each clone with its own digest and bumped versions.

The templates fall in two groups. The *affected* ones (Alpine 3.20, Debian 13) hold the packages a
benchmark's database update changes; the others (Alpine 3.18, Debian 12) hold none of them, so
the same number of images is affected however large the fleet is.

Advisories are copies of real OSV records (the AlmaLinux dump in the shared fixtures): their ids,
aliases, summaries, severities and references kept, their `affected` rewritten to name packages
of the templates, with ranges that hit or miss the clones' versions on purpose.
"""

from __future__ import annotations

import hashlib
import json
import re
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from urllib.parse import quote

from sqlalchemy.orm import Session, sessionmaker
from tests.fixtures import shared_fixture
from tests.integration import images

from basewatch.clock import Clock
from basewatch.jobs.sbom import SbomRequest, sbom
from basewatch.jobs.seams import Seams
from basewatch.matching.matcher import query_of
from basewatch.models import Inventory, Package, PackageType
from basewatch.service.inventories import SqlInventoryStore
from basewatch.service.watcher import image_row
from basewatch.settings import Settings

ALPINE_320 = "images/alpine-minirootfs-3.20.3-x86_64.tar.gz"
ALPINE_318 = "images/alpine-minirootfs-3.18.9-x86_64.tar.gz"
ALMALINUX_OSV = "osv/AlmaLinux.zip"
# Debian recipes of tests/integration/images.py used as templates, and whether each is affected.
DEBIAN_RECIPES: dict[str, bool] = {
    "trixie-minbase": True,
    "bookworm-minbase": False,
    "bookworm-python": False,
    "bookworm-pip": False,
    "bookworm-large": False,
    "bookworm-layered": False,
    "app-on-v1": False,
}
REGISTRY = "registry.bench.invalid"  # the repositories the fleet's images claim to come from
VARIANTS = 10  # a clone's package carries one of this many versions (the first: the real one)
_APK_RELEASE = re.compile(r"-r(\d+)$")


@dataclass(frozen=True, slots=True)
class Template:
    name: str
    inventory: Inventory
    affected: bool  # holds packages the benchmark's database update changes


@dataclass(frozen=True, slots=True)
class PackageKey:
    """A package as advisories name it: its ecosystem, name and the template's real version."""

    ecosystem: str
    name: str
    version: str
    type: PackageType


@dataclass(frozen=True, slots=True)
class Fleet:
    digests: tuple[str, ...]  # every image, in the order stored
    affected: frozenset[str]  # the images cloned from affected templates
    by_template: dict[str, int]


def read_templates(core: Settings, debian: bool = True) -> tuple[list[Template], list[str]]:
    """The templates (Alpine fixtures always, Debian images when `debian` and they can be had),
    and why any Debian image is missing."""
    refs: list[tuple[str, str, bool]] = [
        ("alpine-3.20", f"rootfs:{shared_fixture(ALPINE_320)}", True),
        ("alpine-3.18", f"rootfs:{shared_fixture(ALPINE_318)}", False),
    ]
    missing: list[str] = []
    if debian:
        for name, affected in DEBIAN_RECIPES.items():
            try:
                built = images.build(images.RECIPES[name])
            except images.BuildError as exc:
                missing.append(f"{name}: {exc}")
                continue
            refs.append((name, built.ref("oci-dir"), affected))
    templates = []
    with Seams.default(core) as seams:
        for name, ref, affected in refs:
            templates.append(Template(name, sbom(SbomRequest(ref), seams), affected))
    return templates, missing


def digest_of(text: str) -> str:
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def bumped(package: Package, variant: int) -> str:
    """The version of `package` in variant `variant` (0: as the template has it); each variant
    orders after the one before, and all of them before `bumped(package, VARIANTS)`."""
    return _bump(package.type, package.version, variant)


def _bump(kind: PackageType, version: str, variant: int) -> str:
    if variant == 0 or not version:
        return version
    if kind is PackageType.APK:
        found = _APK_RELEASE.search(version)
        if found:
            return f"{version[: found.start()]}-r{int(found.group(1)) + variant * 100}"
        return f"{version}-r{variant * 100}"
    return f"{version}+bw{variant}"  # a Debian revision suffix, valid with or without one


def clone(inventory: Inventory, index: int, digest: str) -> Inventory:
    """`inventory` as another image (`digest`) whose packages carry varied versions: the
    packages of one source package share theirs, as a distribution builds them."""
    packages = []
    for package in inventory.packages:
        source = package.source_name or package.name
        variant = int(hashlib.sha256(f"{index}/{source}".encode()).hexdigest()[:4], 16) % VARIANTS
        version = bumped(package, variant)
        source_version = (
            _bump(package.type, package.source_version, variant) if package.source_version else ""
        )
        purl = package.purl.replace(f"@{quote(package.version, safe='')}", f"@{quote(version)}")
        packages.append(replace(package, version=version, source_version=source_version, purl=purl))
    image = replace(inventory.image, manifest_digest=digest)
    return replace(inventory, image=image, packages=tuple(packages))


def build_fleet(
    sessions: sessionmaker[Session],
    templates: Sequence[Template],
    size: int,
    affected: int,
    clock: Clock,
) -> Fleet:
    """Store `size` clones: `affected` of the affected templates, the rest of the others
    (round robin in each group)."""
    hit = [t for t in templates if t.affected]
    miss = [t for t in templates if not t.affected]
    if not hit or (size > affected and not miss):
        raise ValueError("the templates need an affected and an unaffected group")
    affected = min(affected, size)
    store = SqlInventoryStore(sessions, clock)
    digests: list[str] = []
    hits: set[str] = set()
    counts: dict[str, int] = {}
    for index in range(size):
        group = hit if index < affected else miss
        template = group[index % len(group)]
        digest = digest_of(f"bench/{template.name}/{index}")
        inventory = clone(template.inventory, index, digest)
        store.put(digest, inventory)
        with sessions.begin() as session:
            session.add(image_row(digest, digest, f"{REGISTRY}/{template.name}", inventory, clock))
        digests.append(digest)
        if template.affected:
            hits.add(digest)
        counts[template.name] = counts.get(template.name, 0) + 1
    return Fleet(tuple(digests), frozenset(hits), counts)


def package_keys(templates: Sequence[Template], affected: bool) -> list[PackageKey]:
    """The packages, as advisories name them, of the templates of one group (sorted)."""
    found: dict[tuple[str, str], PackageKey] = {}
    for template in templates:
        if template.affected != affected:
            continue
        for package in template.inventory.packages:
            if not package.ecosystem:
                continue
            name, version = query_of(package)
            if package.type not in (PackageType.APK, PackageType.DEB) or not version:
                continue  # ranges below are written in apk and dpkg versions
            found.setdefault(
                (package.ecosystem, name),
                PackageKey(package.ecosystem, name, version, package.type),
            )
    return [found[key] for key in sorted(found)]


def real_records(count: int) -> list[dict[str, Any]]:
    """`count` OSV records of the AlmaLinux dump (its ALSA security advisories, by name)."""
    records: list[dict[str, Any]] = []
    with zipfile.ZipFile(shared_fixture(ALMALINUX_OSV)) as archive:
        names = sorted(n for n in archive.namelist() if "/ALSA-" in n and n.endswith(".json"))
        for name in names:
            records.append(json.loads(archive.read(name)))
            if len(records) == count:
                break
    if len(records) < count:
        raise ValueError(f"the AlmaLinux fixture has only {len(records)} ALSA records")
    return records


def _events(key: PackageKey, affects: bool, wider: bool) -> list[dict[str, Any]]:
    """Ranges for `key`: `affects` every clone (fixed after the last variant) or none (fixed at
    the template's version); `wider` adds a second range, as a corrected record would."""
    top = _bump(key.type, key.version, VARIANTS)
    ranges = [[{"introduced": "0"}, {"fixed": top if affects and not wider else key.version}]]
    if wider:
        ranges.append([{"introduced": key.version}, {"fixed": top}])
    return [{"type": "ECOSYSTEM", "events": events} for events in ranges]


def retargeted(
    real: dict[str, Any], record_id: str, key: PackageKey, ranges: list[dict[str, Any]], when: str
) -> dict[str, Any]:
    """A copy of the real record `real` under `record_id`, naming `key` with `ranges`."""
    record = {k: v for k, v in real.items() if k not in ("affected", "id", "modified")}
    record["id"] = record_id
    record["modified"] = when
    record["affected"] = [
        {"package": {"ecosystem": key.ecosystem, "name": key.name}, "ranges": ranges}
    ]
    return record


@dataclass(frozen=True, slots=True)
class Advisories:
    """The records a benchmark imports: the baseline, then the update that changes `changed`
    records (`update`), `touching` of which name packages of the affected templates."""

    baseline: list[dict[str, Any]]
    update: list[dict[str, Any]]
    touching: int


def advisories(
    templates: Sequence[Template], changed: int, touching: int, background: int
) -> Advisories:
    """Baseline: `touching` records for the affected group (half hit every clone, half none),
    `changed - touching` real AlmaLinux records as they are, and `background` records for the
    unaffected group (every image gets a few findings). The update rewrites the first two
    kinds: the records that missed now hit (a wider range), those that hit are fixed at the
    template's version (a corrected fix), and the AlmaLinux ones get a new `modified` and a
    second range. No record of the update names a package of the unaffected group."""
    touching = min(touching, changed)
    hit = package_keys(templates, affected=True)
    miss = package_keys(templates, affected=False)
    reals = real_records(changed + background)
    before = "2026-11-01T00:00:00Z"
    after = "2026-11-02T00:00:00Z"
    baseline: list[dict[str, Any]] = []
    update: list[dict[str, Any]] = []
    for index in range(touching):
        key = hit[index % len(hit)]
        real = reals[index]
        record_id = f"BENCH-{real['id']}"
        missed_first = index % 2 == 0
        baseline.append(
            retargeted(real, record_id, key, _events(key, not missed_first, False), before)
        )
        later = _events(key, True, True) if missed_first else _events(key, False, False)
        update.append(retargeted(real, record_id, key, later, after))
    for real in reals[touching:changed]:
        baseline.append(real)
        modified = json.loads(json.dumps(real))
        modified["modified"] = after
        for affected in modified.get("affected", []):
            for range_ in affected.get("ranges", []):
                fixed = [e["fixed"] for e in range_.get("events", []) if "fixed" in e]
                if fixed:  # the fix was found to cover a later build too
                    range_["events"].append({"introduced": fixed[-1] + ".1"})
                    range_["events"].append({"fixed": fixed[-1] + ".2"})
        update.append(modified)
    for index in range(background):
        key = miss[index % len(miss)]
        real = reals[changed + index]
        baseline.append(
            retargeted(real, f"BENCH-BASE-{real['id']}", key, _events(key, True, False), before)
        )
    return Advisories(baseline, update, touching)


def write_records(directory: Path, records: Sequence[dict[str, Any]]) -> Path:
    """One `<id>.json` per record in `directory` (made), as `basewatch db import` reads them."""
    directory.mkdir(parents=True, exist_ok=True)
    for record in records:
        name = re.sub(r"[^A-Za-z0-9._-]", "_", str(record["id"]))
        (directory / f"{name}.json").write_text(json.dumps(record), encoding="utf-8")
    return directory
