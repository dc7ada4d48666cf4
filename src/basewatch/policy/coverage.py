"""What a scan could not check, in the words a verdict's reason uses.

A finding policy passes only on what was checked: the packages the matcher looked up, less
those `ScanResult.unchecked` names (an ecosystem the database has no advisories for, or
"ecosystem name" of a package whose advisories were refused at import) and OS packages whose
release is unknown (the matcher never guesses one). OS packages no advisory ecosystem covers
(rpms of Fedora), which the scan names by distribution, count as looked up and not checked.
Counted the way the scan reports count.
"""

from __future__ import annotations

from dataclasses import dataclass

from basewatch.inventory.ownership import OS_PACKAGE_KEY
from basewatch.matching.evaluate import sourceless_entry
from basewatch.matching.matcher import query_of
from basewatch.models import Package, ScanResult, is_os_package
from basewatch.policy.outcome import plural

_SHOWN = 3  # unchecked ecosystems or packages named in a reason


@dataclass(frozen=True, slots=True)
class Coverage:
    # packages the matcher looks up on their own, and OS packages it had nothing to look up in
    looked_up: int
    unchecked: int  # of those, the ones that were not (fully) checked
    unchecked_names: tuple[str, ...]  # what ScanResult.unchecked said, and unknown releases
    inventory_warnings: int  # the inventory is partial: packages may be missing from it

    @property
    def checked(self) -> int:
        return self.looked_up - self.unchecked

    def notes(self) -> list[str]:
        """What a reason must add so a pass hides nothing that was not checked."""
        found: list[str] = []
        if self.unchecked:
            names = ", ".join(self.unchecked_names[:_SHOWN])
            more = len(self.unchecked_names) - _SHOWN
            if more > 0:
                names += f", +{more} more"
            verb = "was" if self.unchecked == 1 else "were"
            found.append(
                f"{plural(self.unchecked, 'package')} {verb} not (fully) checked ({names})"
            )
        if self.inventory_warnings:
            found.append(
                f"the inventory is partial ({plural(self.inventory_warnings, 'warning')}): "
                "packages may be missing from it"
            )
        return found

    def nothing_checked(self) -> str:
        """Why no package was checked ("" when some were)."""
        if not self.looked_up:
            return "no package that advisories name was found in the image: nothing to check"
        if not self.checked:
            names = ", ".join(self.unchecked_names[:_SHOWN])
            return f"none of the {plural(self.looked_up, 'package')} could be checked ({names})"
        return ""


def _looked_up(package: Package) -> bool:
    # Copies an OS package installed are matched through that package, never on their own.
    return bool(package.ecosystem) and not package.meta(OS_PACKAGE_KEY)


# the last scan's coverage: the finding policies each ask for it, of the same scan in a row
_LAST: list[tuple[ScanResult, Coverage]] = []


def coverage_of(scan: ScanResult) -> Coverage:
    last = _LAST[0] if _LAST else None  # read once: another thread may replace it
    if last is not None and last[0] is scan:
        return last[1]
    found = _coverage_of(scan)
    _LAST[:] = [(scan, found)]
    return found


def _coverage_of(scan: ScanResult) -> Coverage:
    entries = {e for e in scan.unchecked if e.strip()}
    looked_up = 0
    unchecked = 0
    names: dict[str, None] = {}
    os = scan.inventory.os
    for package in scan.inventory.packages:
        if not _looked_up(package):
            sourceless = sourceless_entry(package, os)
            if sourceless and sourceless in entries:
                looked_up += 1
                unchecked += 1
                names.setdefault(f"no advisory source for {sourceless}", None)
            continue
        looked_up += 1
        ecosystem = package.ecosystem
        by_name = f"{ecosystem} {query_of(package)[0]}"
        if ecosystem in entries:
            names.setdefault(f"no advisories for {ecosystem}", None)
        elif by_name in entries:
            names.setdefault(f"{by_name} not fully checked", None)
        elif is_os_package(package.type) and ":" not in ecosystem:
            names.setdefault(f"{ecosystem} release unknown", None)
        else:
            continue
        unchecked += 1
    return Coverage(
        looked_up=looked_up,
        unchecked=unchecked,
        unchecked_names=tuple(names),
        inventory_warnings=len(scan.inventory.warnings),
    )
