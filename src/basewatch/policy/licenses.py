"""Whether a package can be used without a denied license: SPDX expressions, evaluated.

An expression is a formula over licenses: `A OR B` lets the user choose one, `A AND B` binds
them to both, `A WITH exception` is license A with an extra permission. A package fails when
no choice avoids every denied license; `MIT OR AGPL-3.0-only` passes (choose MIT),
`MIT AND AGPL-3.0-only` fails. Identifiers are read by the `license-expression` library with
the SPDX list, so deprecated and lowercase spellings count as what they mean (`AGPL-3.0` is
`AGPL-3.0-only`, `agpl-3.0+` is `AGPL-3.0-or-later`).

An identifier the SPDX list does not know (`GPLv2+`, `GNU Affero General Public License v3`)
is neither allowed nor denied: the expression is decided when its value does not matter
(`GPLv2+ OR MIT` passes, `GPLv2+ AND AGPL-3.0` fails) and is unknown otherwise, and so is an
expression that does not parse. A denied `LicenseRef-...` id is matched as written.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from basewatch.untrusted import read_regular_file

log = logging.getLogger(__name__)

# License strings that say nothing: packaging tools write them when the author gave no license.
_PLACEHOLDERS = frozenset({"", "unknown", "noassertion", "none", "n/a"})
MAX_EXPRESSION = 1_000  # characters: longer is a pasted license text, not an expression


class LicenseStatus(StrEnum):
    ALLOWED = "allowed"  # some choice of licenses avoids every denied one
    DENIED = "denied"  # every choice needs a denied license
    UNKNOWN = "unknown"  # it depends on ids basewatch cannot read, or it does not parse
    NONE = "none"  # the package declares no license


@dataclass(frozen=True, slots=True)
class LicenseCheck:
    status: LicenseStatus
    expression: str  # what was evaluated: the declared strings, normalised when they parse
    denied: tuple[str, ...] = ()  # the denied ids the expression names (for DENIED)
    unreadable: tuple[str, ...] = ()  # unknown ids or strings that do not parse (for UNKNOWN)


# SPDX ids known to be canonical: the `license` policy's default deny list
_CANONICAL = frozenset({"AGPL-3.0-only", "AGPL-3.0-or-later"})


@functools.cache
def _library() -> Any:
    # Imported on first use, with the SPDX list (`SpdxIds`) read only when a license is.
    import license_expression  # type: ignore[import-untyped]

    return license_expression


@functools.cache
def _parser() -> Any:
    """A `Licensing` without symbols: it reads the structure (AND, OR, WITH, parentheses) and
    leaves the ids as written; `SpdxIds` says what they mean. The library's SPDX `Licensing`
    reads the same but costs tens of milliseconds to build (an automaton over every id), which
    a `policy` run would pay each time."""
    return _library().Licensing()


@dataclass(frozen=True, slots=True, eq=False)
class SpdxIds:
    """The SPDX license list as expressions are read against it: every id and deprecated alias,
    lowercased -> the id (an id wins over another one's alias), and which ids are exceptions."""

    ids: Mapping[str, str]
    exceptions: frozenset[str]

    def find(self, key: str) -> str | None:
        return self.ids.get(key.lower())


@functools.cache
def library_spdx_ids() -> SpdxIds:
    """The table built from the license list `license-expression` ships (a few milliseconds:
    `cached_spdx_ids` keeps it for the next process)."""
    ids: dict[str, str] = {}
    aliases: dict[str, str] = {}
    exceptions: set[str] = set()
    for entry in _library().get_license_index():
        key = entry.get("spdx_license_key")
        if not key:
            continue
        key = str(key)
        if entry.get("is_exception", False):
            exceptions.add(key)
        ids.setdefault(key.lower(), key)
        for alias in entry.get("other_spdx_license_keys") or ():
            aliases.setdefault(str(alias).lower(), key)
    return SpdxIds(aliases | ids, frozenset(exceptions))


MAX_TABLE_BYTES = 4 * 1024 * 1024  # the kept table is ~100 KB; more is not one basewatch wrote


@functools.lru_cache(maxsize=4)
def cached_spdx_ids(path: Path) -> SpdxIds:
    """`library_spdx_ids()`, kept at `path` (in the cache dir) so that a new process reads a
    small table instead of the library's whole license index. The table names the index it was
    built from and is rebuilt when that changes (an upgraded library); one that cannot be read
    is rebuilt, one that cannot be written is only not kept."""
    source = _index_identity()
    try:
        data = json.loads(read_regular_file(path, max_bytes=MAX_TABLE_BYTES))
        ids, exceptions = data.get("ids"), data.get("exceptions")
        if (
            data.get("source") == source
            and isinstance(ids, dict)
            and isinstance(exceptions, list)
            and all(type(v) is str for v in ids.values())
            and all(type(v) is str for v in exceptions)
        ):
            return SpdxIds(ids, frozenset(exceptions))
    except (OSError, ValueError, AttributeError):
        pass  # missing, not a regular file, too large or not a table: built again below
    table = library_spdx_ids()
    _keep(
        path,
        {"source": source, "ids": dict(table.ids), "exceptions": sorted(table.exceptions)},
    )
    return table


def _index_identity() -> list[object]:
    location = Path(_library().vendored_scancode_licensedb_index_location)
    try:
        stat = location.stat()
    except OSError:
        return [str(location)]
    return [str(location), stat.st_size, stat.st_mtime_ns]


def _keep(path: Path, data: object) -> None:
    try:
        if path.is_symlink() or (path.exists() and not path.is_file()):
            log.debug("not keeping the SPDX table at %s: not a regular file", path)
            return  # something else is there: it stays what it is
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:
        log.debug("not keeping the SPDX table at %s: %s", path, exc)
        return
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(data, handle, separators=(",", ":"))
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        log.debug("not keeping the SPDX table at %s: %s", path, exc)


def _parse(text: str) -> Any:
    """The expression tree of `text`; None when it does not parse."""
    try:
        return _parser().parse(text, validate=False, strict=False)
    except Exception:  # ExpressionError, ParseError, and others on odd characters
        return None


@functools.lru_cache(maxsize=1024)  # every evaluation normalises the configured deny list
def normalize_license_id(text: str) -> str:
    """The SPDX id `text` names (`AGPL-3.0` -> `AGPL-3.0-only`); a `LicenseRef-` id as given.
    ValueError when it is not one license id of the SPDX list."""
    value = text.strip()
    if value.startswith(("LicenseRef-", "DocumentRef-")) and " " not in value:
        return value
    if value in _CANONICAL:  # the defaults: no need to load the SPDX list to know them
        return value
    parsed = _parse(value)
    known = (
        library_spdx_ids().find(str(parsed.key))
        if type(parsed) is _library().LicenseSymbol
        else None
    )
    if known is None or known in library_spdx_ids().exceptions:
        raise ValueError(f"holds {value!r}, which is not an SPDX license id")
    return known


@functools.lru_cache(maxsize=8192)  # the same packages recur across a fleet's images
def check_licenses(
    declared: tuple[str, ...], deny: frozenset[str], spdx: SpdxIds | None = None
) -> LicenseCheck:
    """The verdict on a package's declared license strings, every one of which applies (they
    are read as joined by AND); `deny` holds normalised ids (`normalize_license_id`); `spdx`
    is the license list (`cached_spdx_ids`), the library's when None."""
    spdx = spdx if spdx is not None else library_spdx_ids()
    strings = list(dict.fromkeys(" ".join(v.split()) for v in declared))
    strings = [s for s in strings if s.lower() not in _PLACEHOLDERS]
    if not strings:
        return LicenseCheck(LicenseStatus.NONE, "")
    folded = frozenset(d.lower() for d in deny)
    checks = [_check_one(s, folded, spdx) for s in strings]
    expression = " AND ".join(
        f"({c.expression})" if len(checks) > 1 and " " in c.expression else c.expression
        for c in checks
    )
    denied = tuple(dict.fromkeys(d for c in checks for d in c.denied))
    unreadable = tuple(dict.fromkeys(u for c in checks for u in c.unreadable))
    statuses = {c.status for c in checks}
    if LicenseStatus.DENIED in statuses:
        status = LicenseStatus.DENIED
    elif LicenseStatus.UNKNOWN in statuses:
        status = LicenseStatus.UNKNOWN
    else:
        status = LicenseStatus.ALLOWED
    return LicenseCheck(status, expression, denied, unreadable)


@functools.lru_cache(maxsize=4096)  # the same few strings recur across thousands of packages
def _check_one(text: str, deny: frozenset[str], spdx: SpdxIds) -> LicenseCheck:
    if len(text) > MAX_EXPRESSION:
        return LicenseCheck(LicenseStatus.UNKNOWN, text[:60] + "...", unreadable=("(too long)",))
    parsed = _parse(text)
    if parsed is None:
        return LicenseCheck(LicenseStatus.UNKNOWN, text, unreadable=(text,))
    evaluation = _Evaluation(deny, spdx)
    try:
        value = evaluation.value(parsed)
    except RecursionError:
        return LicenseCheck(LicenseStatus.UNKNOWN, text, unreadable=(text,))
    expression = evaluation.render(parsed)
    if value is False:
        return LicenseCheck(LicenseStatus.DENIED, expression, tuple(evaluation.denied))
    if value is None:
        return LicenseCheck(LicenseStatus.UNKNOWN, expression, (), tuple(evaluation.unknown))
    return LicenseCheck(LicenseStatus.ALLOWED, expression)


class _Evaluation:
    """Three-valued: True (allowed), False (denied), None (depends on unknown ids)."""

    def __init__(self, deny: frozenset[str], spdx: SpdxIds) -> None:
        self.deny = deny
        self.spdx = spdx
        self.denied: dict[str, None] = {}
        self.unknown: dict[str, None] = {}

    def value(self, node: Any) -> bool | None:
        library = _library()
        if isinstance(node, library.LicenseWithExceptionSymbol):
            # An exception adds permissions; the license it is attached to still applies.
            return self._symbol(node.license_symbol)
        if isinstance(node, library.LicenseSymbol):
            return self._symbol(node)
        values = [self.value(arg) for arg in node.args]
        if isinstance(node, _parser().AND):
            if False in values:
                return False
            return None if None in values else True
        if isinstance(node, _parser().OR):
            if True in values:
                return True
            return None if None in values else False
        return None  # not an expression the SPDX grammar has

    def _symbol(self, symbol: Any) -> bool | None:
        key = self.spelled(symbol)
        if key.lower() in self.deny:
            self.denied.setdefault(key, None)
            return False
        if self.spdx.find(key) is not None:
            return True
        self.unknown.setdefault(key, None)
        return None

    def render(self, node: Any) -> str:
        """`node` with every known id in its SPDX spelling (`mit and agpl-3.0` -> `MIT AND
        AGPL-3.0-only`); a nested AND or OR in parentheses."""
        library = _library()
        if isinstance(node, library.LicenseWithExceptionSymbol):
            return f"{self.spelled(node.license_symbol)} WITH {self.spelled(node.exception_symbol)}"
        if isinstance(node, library.LicenseSymbol):
            return self.spelled(node)
        operator = " AND " if isinstance(node, _parser().AND) else " OR "
        return operator.join(
            self.render(arg) if arg.isliteral else f"({self.render(arg)})" for arg in node.args
        )

    def spelled(self, symbol: Any) -> str:
        key = str(symbol.key)
        known = self.spdx.find(key)
        return known if known is not None else key
