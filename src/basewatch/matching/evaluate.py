"""Evaluate an inventory: match it against the advisories and apply the user's policy."""

from __future__ import annotations

from basewatch.inventory.ownership import OS_PACKAGE_KEY
from basewatch.matching.matcher import MatchCache, match_inventory, query_of
from basewatch.matching.policy import Policy
from basewatch.models import (
    DatabaseInfo,
    Inventory,
    OSInfo,
    Package,
    PackageType,
    ScanResult,
    is_os_package,
)
from basewatch.vulndb.store import VulnStore

_UNKNOWN_DISTRIBUTION = "unknown distribution"


def scan_inventory(
    inventory: Inventory,
    store: VulnStore,
    policy: Policy | None = None,
    database: DatabaseInfo | None = None,
    cache: MatchCache | None = None,
) -> ScanResult:
    """Match an inventory against the store and apply the user's policy; `cache` shares the
    lookups of a batch of scans against the same unchanging store."""
    policy = policy or Policy()
    cache = cache or MatchCache()
    base_warnings = policy.check_base(inventory)  # before matching: a refusal costs nothing
    outcome = match_inventory(inventory, store, cache)
    kept, suppressed, policy_warnings = policy.apply(outcome.findings)
    warnings = [*outcome.warnings, *base_warnings, *policy_warnings]
    sourceless = _sourceless(inventory)
    for entry, count in sorted(sourceless.items()):
        verb = "was" if count == 1 else "were"
        noun = "package" if count == 1 else "packages"
        warnings.append(f"no advisory source for {entry}: {count} {noun} {verb} not checked")
    if outcome.unmatched_ecosystems:
        warnings.append(
            "no advisories in the database for "
            + ", ".join(sorted(outcome.unmatched_ecosystems))
            + ": those packages were not checked"
        )
    refused = _refused_packages(inventory, store, outcome.unmatched_ecosystems, cache)
    for package, ids in refused.items():
        several = len(ids) > 1
        shown = ", ".join(ids[:3]) + (", ..." if len(ids) > 3 else "")
        warnings.append(
            f"{package}: {len(ids)} advisor{'ies' if several else 'y'} naming it "
            f"{'were' if several else 'was'} refused as malformed at import ({shown}): "
            "it was not fully checked"
        )
    return ScanResult(
        inventory=inventory,
        findings=tuple(kept),
        suppressed=tuple(suppressed),
        database=database,
        warnings=tuple(warnings),
        unchecked=tuple(
            dict.fromkeys(
                (
                    *sorted(outcome.unmatched_ecosystems | _releaseless(inventory) | {*sourceless}),
                    *refused,
                    *outcome.unchecked,
                )
            )
        ),
    )


def _releaseless(inventory: Inventory) -> set[str]:
    """Ecosystems of OS packages without a release (`Debian`): the matcher never guesses one,
    so none of those packages was checked and the scan must not look clean for them."""
    return {
        p.ecosystem
        for p in inventory.packages
        if p.ecosystem
        and ":" not in p.ecosystem
        and is_os_package(p.type)
        and not p.meta(OS_PACKAGE_KEY)
    }


def sourceless_entry(package: Package, os: OSInfo | None) -> str:
    """The `ScanResult.unchecked` entry of an OS package no advisory ecosystem covers (an rpm of
    Fedora): "fedora 39 (rpm)", "unknown distribution (rpm)"; "" for any other package.

    The parenthesised package type keeps it apart from every OSV ecosystem and "ecosystem name"
    entry, whatever the image's os-release says.
    """
    if package.ecosystem or not is_os_package(package.type) or package.meta(OS_PACKAGE_KEY):
        return ""
    distribution = " ".join(os.id.split() + os.version_id.split()) if os and os.id.strip() else ""
    return f"{distribution or _UNKNOWN_DISTRIBUTION} ({package.type.value})"


_SOURCELESS_SUFFIXES = tuple(f" ({t.value})" for t in PackageType if is_os_package(t))


def is_sourceless(entry: str) -> bool:
    """Whether an `unchecked` entry is a `sourceless_entry`: packages no database can check
    (a newer one will not either), unlike an ecosystem it has no advisories for yet."""
    return entry.endswith(_SOURCELESS_SUFFIXES)


def _sourceless(inventory: Inventory) -> dict[str, int]:
    """`sourceless_entry` -> how many packages of the inventory it names: the matcher skips
    them (there is nothing to look them up in), so the scan must not look clean for them."""
    found: dict[str, int] = {}
    for package in inventory.packages:
        if entry := sourceless_entry(package, inventory.os):
            found[entry] = found.get(entry, 0) + 1
    return found


def _refused_packages(
    inventory: Inventory, store: VulnStore, unmatched: set[str], cache: MatchCache
) -> dict[str, list[str]]:
    """`ecosystem name` -> ids of malformed records naming that package of the image.

    A malformed record makes a scan partial only for the image that has its package: one
    refused at import for some other package says nothing about this image.
    """
    wanted = [
        (package.ecosystem, query_of(package)[0])
        for package in inventory.packages
        if package.ecosystem
        and package.ecosystem not in unmatched
        and not package.meta(OS_PACKAGE_KEY)
    ]
    refused = cache.refused_many(store, wanted)  # one batch for the whole image
    found: dict[str, list[str]] = {}
    for ecosystem, name in wanted:
        if ids := refused[(ecosystem, name)]:
            found.setdefault(f"{ecosystem} {name}", list(ids))
    return found
