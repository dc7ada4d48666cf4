"""OSV's affected-version semantics, exactly as the OSV schema defines them.

A version is affected by a range when, walking the range's events in version order, the last
event at or below it is an `introduced` (with `fixed` and `limit` exclusive and `last_affected`
inclusive upper bounds). `introduced: "0"` means from the very first version.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from basewatch.errors import InvalidVersion
from basewatch.versions.base import Comparator
from basewatch.vulndb.model import Affected, AffectedRange, EventKind, RangeEvent

_ORDERED_TYPES = ("ECOSYSTEM", "SEMVER")


@dataclass(frozen=True, slots=True)
class Verdict:
    affected: bool
    fixed: str = ""  # the version that fixes the installed one, when the record says
    unreadable: str = ""  # why a range could not be evaluated (an invalid version in it)
    unreadable_ranges: int = 0  # how many ranges that was


class _Bottom:
    """Sorts below every version key: the `introduced: "0"` of OSV."""

    def __lt__(self, other: object) -> bool:
        return not isinstance(other, _Bottom)

    def __gt__(self, other: object) -> bool:
        return False

    def __le__(self, other: object) -> bool:
        return True

    def __ge__(self, other: object) -> bool:
        return isinstance(other, _Bottom)


BOTTOM = _Bottom()


def evaluate(version: str, affected: Affected, comparator: Comparator) -> Verdict:
    """Whether `version` is affected by one `affected[]` entry, and its fixed version."""
    if version in affected.versions:
        return Verdict(True, _first_fix(version, affected.ranges, comparator))
    try:
        key = comparator.key(version)
    except InvalidVersion as exc:
        return Verdict(False, unreadable=str(exc), unreadable_ranges=len(affected.ranges))
    problems = []
    for rng in affected.ranges:
        if rng.type not in _ORDERED_TYPES:
            continue  # GIT ranges name commits, which an installed package does not have
        try:
            hit, fixed = _in_range(key, rng.events, comparator)
        except InvalidVersion as exc:
            problems.append(str(exc))
            continue
        if hit:
            return Verdict(True, fixed)
    return Verdict(False, unreadable="; ".join(problems), unreadable_ranges=len(problems))


def _event_key(event: RangeEvent, comparator: Comparator) -> Any:
    if event.kind is EventKind.INTRODUCED and event.version == "0":
        return BOTTOM
    return comparator.key(event.version)


def _in_range(key: Any, events: Sequence[RangeEvent], comparator: Comparator) -> tuple[bool, str]:
    keyed = sorted(
        ((_event_key(e, comparator), _ORDER[e.kind], e) for e in events),
        key=lambda item: (item[0], item[1]),
    )
    affected = False
    fixed = ""
    for event_key, _, event in keyed:
        match event.kind:
            case EventKind.INTRODUCED:
                if key >= event_key:
                    affected, fixed = True, ""
            case EventKind.FIXED:
                if key >= event_key:
                    affected = False
                elif affected and not fixed:
                    fixed = event.version
            case EventKind.LAST_AFFECTED:
                if key > event_key:
                    affected = False
            case EventKind.LIMIT:
                if key >= event_key:
                    affected = False
    return affected, fixed if affected else ""


# At one version, an introduction applies before the bounds that close a range there.
_ORDER = {
    EventKind.INTRODUCED: 0,
    EventKind.LAST_AFFECTED: 1,
    EventKind.FIXED: 2,
    EventKind.LIMIT: 3,
}


def _first_fix(version: str, ranges: Sequence[AffectedRange], comparator: Comparator) -> str:
    """For a version listed explicitly: the lowest readable `fixed` above it in any range."""
    try:
        key = comparator.key(version)
    except InvalidVersion:
        return ""
    fixes = []
    for event in (e for r in ranges for e in r.events if e.kind is EventKind.FIXED):
        try:
            fixes.append((comparator.key(event.version), event.version))
        except InvalidVersion:
            continue  # one unreadable fix does not hide the others
    above = sorted((f for f in fixes if f[0] > key), key=lambda f: f[0])
    return above[0][1] if above else ""
