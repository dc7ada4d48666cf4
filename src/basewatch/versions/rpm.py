"""RPM versions (Red Hat and its rebuilds, SUSE, Mariner/Azure Linux...), ordered as rpm does.

A version is `[epoch:]version[-release]`, split as rpm's parseEVR() splits it: the epoch is a
leading run of digits followed by ":", the release follows the last "-". Epochs compare as
numbers (missing is 0), then version, then release, each with rpmvercmp(): runs of ASCII
letters or digits compare in turn (digits numerically, letters by strcmp, a number newer than
letters) and every other character only separates them, so "1.0" = "1_0"; `~` sorts before
anything, even the end ("1.0~rc1" < "1.0"); `^` sorts after the end but before any further
segment ("1.0" < "1.0^git1" < "1.0.1"), as in rpm >= 4.15.

A missing release sorts before every release ("1.0" < "1.0-1"), as rpm.labelCompare() does.
(rpm's dependency matching instead lets a missing release match any release; that is not an
order, so it cannot be a sort key: callers who need "any release" should compare versions
without releases.)

rpm itself parses nearly anything. InvalidVersion is raised for what no rpm package can carry:
an empty version, an empty release after "-", characters that rpmbuild refuses in a
version or release (anything but ASCII letters, digits and `._+%{}~^`), or an epoch above
4294967295 (rpm keeps it in 32 bits). Runs of digits of any length compare as rpm compares
them.
"""

from __future__ import annotations

import re
from functools import lru_cache

from basewatch.errors import InvalidVersion
from basewatch.versions.base import KeyedComparator, NumberKey, bounded_int, number_key, quoted

__all__ = ["RpmComparator", "RpmKey", "parse_evr", "rpmvercmp"]

_TILDE, _END, _CARET, _ALPHA, _NUMBER = range(5)
_SEGMENT = re.compile(r"~|\^|[0-9]+|[A-Za-z]+")
_EPOCH = re.compile(r"([0-9]*):")
_ALLOWED = re.compile(r"[A-Za-z0-9._+%{}~^]+")
_EPOCH_MAX = 2**32 - 1

Segment = tuple[int] | tuple[int, NumberKey] | tuple[int, str]
SegmentsKey = tuple[Segment, ...]
RpmKey = tuple[int, SegmentsKey, SegmentsKey]


def _segments(text: str) -> SegmentsKey:
    out: list[Segment] = []
    for seg in _SEGMENT.findall(text):
        if seg == "~":
            out.append((_TILDE,))
        elif seg == "^":
            out.append((_CARET,))
        elif seg[0] <= "9":
            out.append((_NUMBER, number_key(seg)))  # as rpmvercmp: length, then digits
        else:
            out.append((_ALPHA, seg))
    out.append((_END,))
    return tuple(out)


def rpmvercmp(a: str, b: str) -> int:
    """rpm's rpmvercmp() on one version or release string: -1, 0 or 1."""
    ka, kb = _segments(a), _segments(b)
    return (ka > kb) - (ka < kb)


class _Malformed(ValueError):
    pass


def _split(evr: str) -> tuple[str | None, str, str | None]:
    match = _EPOCH.match(evr)
    if match:
        epoch: str | None = match.group(1) or "0"  # rpm reads ":1.0" as epoch 0
        rest = evr[match.end() :]
    else:
        epoch, rest = None, evr
    version, hyphen, release = rest.rpartition("-")
    if not hyphen:
        return epoch, rest, None
    return epoch, version, release


def parse_evr(evr: str) -> tuple[int, str, str | None]:
    """(epoch, version, release) as rpm splits them; a missing epoch is 0, a missing release
    None. Raises InvalidVersion where no rpm package could carry `evr`."""
    try:
        return _parse(evr)
    except _Malformed as exc:
        raise InvalidVersion(f"{quoted(evr)} is not a valid rpm version: {exc}") from None


def _parse(evr: str) -> tuple[int, str, str | None]:
    epoch, version, release = _split(evr)
    if not version:
        raise _Malformed("the version is empty")
    if not _ALLOWED.fullmatch(version):
        raise _Malformed(f"the version {quoted(version)} has characters rpm does not allow")
    if release is not None and not _ALLOWED.fullmatch(release):
        what = "is empty" if not release else f"{quoted(release)} has characters rpm does not allow"
        raise _Malformed(f"the release {what}")
    value = bounded_int(epoch or "0", _EPOCH_MAX)
    if value is None:
        raise _Malformed(f"the epoch is above {_EPOCH_MAX} (rpm keeps it in 32 bits)")
    return value, version, release


@lru_cache(maxsize=65536)
def _key(evr: str) -> RpmKey:
    epoch, version, release = _parse(evr)
    return epoch, _segments(version), () if release is None else _segments(release)


class RpmComparator(KeyedComparator):
    """The version order of rpm, as rpm.labelCompare() applies it to epoch, version, release."""

    __slots__ = ("ecosystem", "name")

    def __init__(self, ecosystem: str = "Red Hat") -> None:
        self.name = "rpm"
        self.ecosystem = ecosystem

    def key(self, version: str) -> RpmKey:
        """A tuple that sorts as rpm sorts `[epoch:]version[-release]`. Raises InvalidVersion."""
        try:
            return _key(version)
        except _Malformed as exc:
            raise InvalidVersion(
                f"{quoted(version)} is not a valid {self.ecosystem} version (rpm rules): {exc}"
            ) from None
