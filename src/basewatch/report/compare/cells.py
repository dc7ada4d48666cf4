"""What the renderers of `basewatch compare` share: the rows, their cells, the column names.

A count is shown as far as the candidate was checked: never a bare 0 for what was not checked.
Every string from an image goes through `scrub` (non-printable characters become `?`).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Sequence
from typing import assert_never

from basewatch.advice.compare import ALL_SEVERITIES, SEVERITIES, Candidate, Coverage
from basewatch.models import Severity
from basewatch.report.text import scrub


def _size(n: int) -> str:
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{n} B"


def _covered(c: Candidate, value: str) -> str:
    """A count in a cell, as far as the candidate was checked: never a bare 0 for nothing."""
    match c.checked:
        case Coverage.NO_DATABASE:
            return "n/a"
        case Coverage.NONE:
            return "not checked"
        case Coverage.PARTIAL:
            return f"{value}, partial"
        case Coverage.ALL:
            return value
        case _:
            assert_never(c.checked)


def _count(c: Candidate, total: int | None, fixable: int | None) -> str:
    return _covered(c, f"{total} ({fixable} fixable)")


def _findings(c: Candidate, severity: str) -> str:
    total, fixable = c.findings.get(severity, (0, 0))
    return _count(c, total, fixable)


def _by_severity(severity: str, c: Candidate) -> str:
    return _findings(c, severity)


def _kev(c: Candidate) -> str:
    return _covered(c, str(c.kev))


def _checked(c: Candidate) -> str:
    shown = ", ".join(c.unchecked)
    match c.checked:
        case Coverage.NO_DATABASE:
            return "no database"
        case Coverage.ALL:
            return "all"
        case Coverage.NONE:
            return f"not checked: {shown}" if shown else "not checked"
        case Coverage.PARTIAL:
            return f"partial, not checked: {shown}" if shown else "partial (see warnings)"
        case _:
            assert_never(c.checked)


def severities_shown(candidates: Sequence[Candidate]) -> list[Severity]:
    """The four main severities always; negligible and unknown when some candidate has them."""
    return [
        s
        for s in ALL_SEVERITIES
        if s in SEVERITIES or any(c.findings.get(s.value, (0, 0))[0] for c in candidates)
    ]


def rows(candidates: Sequence[Candidate]) -> list[tuple[str, Callable[[Candidate], str]]]:
    """The report's rows, label and cell function, in order."""
    return [
        ("digest", lambda c: c.digest[:19] if c.digest else "-"),
        ("platform", lambda c: c.platform or "-"),
        ("compressed", lambda c: _size(c.compressed_bytes) if c.compressed_bytes else "-"),
        ("uncompressed", lambda c: _size(c.uncompressed_bytes)),
        ("layers", lambda c: str(c.layers)),
        ("packages", lambda c: str(c.packages)),
        ("libc", lambda c: c.libc or "none found"),
        ("distribution", lambda c: c.distribution or "unknown"),
        ("end of life", lambda c: f"{c.eol or '?'} ({c.eol_status})"),
        ("checked", _checked),
        *[
            (s.value, functools.partial(_by_severity, s.value))
            for s in severities_shown(candidates)
        ],
        ("findings", lambda c: _count(c, c.findings_total, c.fixable_total)),
        ("KEV", _kev),
        ("age", lambda c: "-" if c.age_days is None else f"{c.age_days} days"),
        ("app compat", lambda c: c.compat or "-"),
    ]


_TRANSPORT = re.compile(r"^(?:oci-archive|docker-archive|oci|registry|docker|dir|rootfs):")


def short_name(reference: str) -> str:
    """What a column is headed with: the image's `name:tag` or the file's name."""
    name = _TRANSPORT.sub("", reference).split("@", 1)[0].rstrip("/")
    return name.rsplit("/", 1)[-1] or reference


def short_names(candidates: Sequence[Candidate]) -> list[str]:
    """One distinct short name per candidate (a suffix tells equal ones apart)."""
    names: list[str] = []
    for c in candidates:
        name = scrub(short_name(c.reference))
        if len(name) > 40:
            name = name[:39] + "~"
        unique, n = name, 2
        while unique in names:
            unique, n = f"{name} #{n}", n + 1
        names.append(unique)
    return names


def legend(candidates: Sequence[Candidate]) -> list[tuple[str, str]]:
    """(short name, full reference) of each column whose name is not the whole reference."""
    return [
        (short, scrub(c.reference))
        for short, c in zip(short_names(candidates), candidates, strict=True)
        if short != scrub(c.reference)
    ]
