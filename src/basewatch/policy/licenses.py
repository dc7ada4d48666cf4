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
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

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
    # Imported on first use: loading the SPDX license list costs a fraction of a second.
    import license_expression  # type: ignore[import-untyped]

    return license_expression


@functools.cache
def _licensing() -> Any:
    return _library().get_spdx_licensing()


@functools.lru_cache(maxsize=1024)  # every evaluation normalises the configured deny list
def normalize_license_id(text: str) -> str:
    """The SPDX id `text` names (`AGPL-3.0` -> `AGPL-3.0-only`); a `LicenseRef-` id as given.
    ValueError when it is not one license id of the SPDX list."""
    value = text.strip()
    if value.startswith(("LicenseRef-", "DocumentRef-")) and " " not in value:
        return value
    if value in _CANONICAL:  # the defaults: no need to load the SPDX list to know them
        return value
    try:
        parsed = _licensing().parse(value, validate=False, strict=False)
    except Exception as exc:  # its tokenizer raises assorted errors
        raise ValueError(f"holds {value!r}, which is not an SPDX license id") from exc
    if (
        type(parsed) is not _library().LicenseSymbol
        or parsed.is_exception
        or parsed.key not in _licensing().known_symbols
    ):
        raise ValueError(f"holds {value!r}, which is not an SPDX license id")
    return str(parsed.key)


@functools.lru_cache(maxsize=8192)  # the same packages recur across a fleet's images
def check_licenses(declared: tuple[str, ...], deny: frozenset[str]) -> LicenseCheck:
    """The verdict on a package's declared license strings, every one of which applies (they
    are read as joined by AND); `deny` holds normalised ids (`normalize_license_id`)."""
    strings = list(dict.fromkeys(" ".join(v.split()) for v in declared))
    strings = [s for s in strings if s.lower() not in _PLACEHOLDERS]
    if not strings:
        return LicenseCheck(LicenseStatus.NONE, "")
    folded = frozenset(d.lower() for d in deny)
    checks = [_check_one(s, folded) for s in strings]
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
def _check_one(text: str, deny: frozenset[str]) -> LicenseCheck:
    if len(text) > MAX_EXPRESSION:
        return LicenseCheck(LicenseStatus.UNKNOWN, text[:60] + "...", unreadable=("(too long)",))
    try:
        parsed = _licensing().parse(text, validate=False, strict=False)
    except Exception:  # ExpressionError, ExpressionParseError, and others on odd characters
        parsed = None
    if parsed is None:
        return LicenseCheck(LicenseStatus.UNKNOWN, text, unreadable=(text,))
    evaluation = _Evaluation(deny)
    try:
        value = evaluation.value(parsed)
    except RecursionError:
        return LicenseCheck(LicenseStatus.UNKNOWN, text, unreadable=(text,))
    expression = str(parsed)
    if value is False:
        return LicenseCheck(LicenseStatus.DENIED, expression, tuple(evaluation.denied))
    if value is None:
        return LicenseCheck(LicenseStatus.UNKNOWN, expression, (), tuple(evaluation.unknown))
    return LicenseCheck(LicenseStatus.ALLOWED, expression)


class _Evaluation:
    """Three-valued: True (allowed), False (denied), None (depends on unknown ids)."""

    def __init__(self, deny: frozenset[str]) -> None:
        self.deny = deny
        self.denied: dict[str, None] = {}
        self.unknown: dict[str, None] = {}

    def value(self, node: Any) -> bool | None:
        library = _library()
        licensing = _licensing()
        if isinstance(node, library.LicenseWithExceptionSymbol):
            # An exception adds permissions; the license it is attached to still applies.
            return self._symbol(node.license_symbol)
        if isinstance(node, library.LicenseSymbol):
            return self._symbol(node)
        values = [self.value(arg) for arg in node.args]
        if isinstance(node, licensing.AND):
            if False in values:
                return False
            return None if None in values else True
        if isinstance(node, licensing.OR):
            if True in values:
                return True
            return None if None in values else False
        return None  # not an expression the SPDX grammar has

    def _symbol(self, symbol: Any) -> bool | None:
        key = str(symbol.key)
        if key.lower() in self.deny:
            self.denied.setdefault(key, None)
            return False
        if key in _licensing().known_symbols:
            return True
        self.unknown.setdefault(key, None)
        return None
