"""What a built-in policy is: an id, a title, typed parameters with defaults, and a check.

A `Parameter` parses what a policy file gives it (raising `ValueError` with the words to show)
and hands a check its typed value, the default when the configuration leaves it out. Checks
read parameters only through `Parameter.value`, so a `PolicyConfig` built in code with raw
values is validated the same way as one read from a file.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from basewatch.errors import UsageError
from basewatch.models import Severity

if TYPE_CHECKING:
    from basewatch.policy.facts import Facts
    from basewatch.policy.model import PolicyConfig, Verdict

T = TypeVar("T")

MAX_LIST_ITEMS = 10_000  # patterns or ids one list parameter may hold
MAX_TEXT = 1_000  # characters of one pattern, id or reason


@dataclass(frozen=True, slots=True)
class Parameter(Generic[T]):
    """One parameter of a policy: its name, how it is parsed, and its default."""

    name: str
    parse: Callable[[object], T]  # raises ValueError: "must be ..., not ..." (shown after name)
    default: T
    required: bool = False  # a policy file must give it (the default stands only in code)

    def value(self, config: PolicyConfig) -> T:
        """The configured value, parsed; the default when the configuration has none."""
        if self.name not in config.parameters:
            return self.default
        try:
            return self.parse(config.parameters[self.name])
        except ValueError as exc:
            raise UsageError(f"{config.id}: {self.name} {exc}") from exc


@dataclass(frozen=True, slots=True)
class PolicySpec:
    """A built-in policy: `evaluate(config, facts)` is its check."""

    id: str
    title: str
    parameters: Mapping[str, Parameter[Any]]
    evaluate: Callable[[PolicyConfig, Facts], Verdict]

    @property
    def doc_path(self) -> str:
        """Its documentation page, relative to the repository."""
        return f"docs/policies/{self.id}.md"

    def defaults(self) -> dict[str, object]:
        """Every parameter's default, except the required ones (they have none in a file)."""
        return {name: p.default for name, p in self.parameters.items() if not p.required}


def parameters(*items: Parameter[Any]) -> Mapping[str, Parameter[Any]]:
    return {p.name: p for p in items}


# --- parsers ----------------------------------------------------------------------------------


def shown(value: object) -> str:
    """A value as an error message quotes it, cut short."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


SEVERITY_NAMES = ", ".join(s.value for s in sorted(Severity, key=lambda s: -s.rank))


def parse_severity(value: object) -> Severity:
    if isinstance(value, Severity):
        return value
    if isinstance(value, str):
        try:
            return Severity(value.strip().lower())
        except ValueError:
            pass
    raise ValueError(f"{shown(value)} is not a severity (one of: {SEVERITY_NAMES})")


def parse_days(value: object) -> int:
    # YAML's `true` is a Python int: it is refused, not read as one day.
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 100_000:
        return value
    raise ValueError(f"must be a whole number of days, 0 or more, not {shown(value)}")


def parse_bool(value: object) -> bool:
    if isinstance(value, bool):
        return value
    raise ValueError(f"must be true or false, not {shown(value)}")


def parse_probability(value: object) -> float | None:
    """A number from 0 to 1, or None (off)."""
    if value is None:
        return None
    if isinstance(value, int | float) and not isinstance(value, bool) and 0 <= value <= 1:
        return float(value)
    raise ValueError(f"must be a number from 0 to 1 (or null: off), not {shown(value)}")


def text_list(
    value: object, *, what: str, empty_ok: bool = False, check: Callable[[str], str] | None = None
) -> tuple[str, ...]:
    """A list of non-empty texts (each through `check`, which may normalise it), duplicates
    dropped; a bare text is refused, so `allow: "docker.io/*"` is not read letter by letter."""
    if not isinstance(value, list | tuple):
        raise ValueError(f"must be a list of {what}, not {shown(value)}")
    if len(value) > MAX_LIST_ITEMS:
        raise ValueError(f"lists {len(value):,} {what}, more than {MAX_LIST_ITEMS:,}")
    found: list[str] = []
    for entry in value:
        if not isinstance(entry, str) or not entry.strip():
            raise ValueError(f"must be a list of {what}; {shown(entry)} is not one")
        if len(entry) > MAX_TEXT:
            raise ValueError(f"holds an entry of {len(entry):,} characters: {shown(entry)}")
        text = check(entry.strip()) if check else entry.strip()
        if text not in found:
            found.append(text)
    if not found and not empty_ok:
        raise ValueError(f"must list at least one of {what}")
    return tuple(found)


def parse_date(value: object) -> dt.date:
    """A YYYY-MM-DD date (YAML reads one unquoted as a date already)."""
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise ValueError(f"must be a YYYY-MM-DD date, not {shown(value)}")
