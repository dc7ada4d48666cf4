"""Linter configuration: `.basewatch.toml` (`[lint]`) or `[tool.basewatch.lint]` in pyproject.toml.

```toml
[lint]
disable = ["BW105"]                   # rule ids or names
severity = { BW103 = "low" }          # override a rule's severity
trusted-registries = ["registry.example.test/team"]   # default: Docker Hub only
pin-digests = "final"                 # all | final | none: which stages need a digest
eol-warning-days = 90
```
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from basewatch.config_file import find_config, read_toml
from basewatch.errors import ConfigError, UsageError
from basewatch.lint.reference import DOCKER_HUB
from basewatch.models import Severity


class PinPolicy(StrEnum):
    ALL = "all"  # every stage's base needs a digest
    FINAL = "final"  # only the final stage's (what ships)
    NONE = "none"


@dataclass(frozen=True, slots=True)
class LintConfig:
    disabled: frozenset[str] = frozenset()
    severities: Mapping[str, Severity] = field(default_factory=dict)
    trusted_registries: tuple[str, ...] = (DOCKER_HUB,)
    pin_digests: PinPolicy = PinPolicy.FINAL
    eol_warning_days: int = 90
    source: str = ""  # where it was read from


def parse_config(table: Mapping[str, Any], source: str) -> LintConfig:
    """Build a config from the `[lint]` table; raises ConfigError naming the bad key."""
    known = {"disable", "severity", "trusted-registries", "pin-digests", "eol-warning-days"}
    unknown = sorted(set(table) - known)
    if unknown:
        raise ConfigError(f"{source}: unknown lint setting(s): {', '.join(unknown)}")
    disabled = table.get("disable", [])
    if not isinstance(disabled, list) or not all(isinstance(x, str) for x in disabled):
        raise ConfigError(f"{source}: lint.disable must be a list of rule ids")
    severities: dict[str, Severity] = {}
    raw = table.get("severity", {})
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: lint.severity must be a table of rule = severity")
    for rule, value in raw.items():
        try:
            severities[str(rule).upper()] = Severity(str(value).lower())
        except ValueError as exc:
            choices = ", ".join(s.value for s in Severity)
            raise ConfigError(
                f"{source}: lint.severity.{rule}: unknown severity {value!r} ({choices})"
            ) from exc
    trusted = table.get("trusted-registries", [DOCKER_HUB])
    if not isinstance(trusted, list) or not all(isinstance(x, str) for x in trusted):
        raise ConfigError(f"{source}: lint.trusted-registries must be a list of strings")
    try:
        policy = PinPolicy(str(table.get("pin-digests", "final")).lower())
    except ValueError as exc:
        raise ConfigError(f"{source}: lint.pin-digests must be all, final or none") from exc
    days = table.get("eol-warning-days", 90)
    if not isinstance(days, int) or isinstance(days, bool) or days < 0:
        raise ConfigError(f"{source}: lint.eol-warning-days must be a whole number of days")
    return LintConfig(
        disabled=frozenset(d.upper() if d.upper().startswith("BW") else d for d in disabled),
        severities=severities,
        trusted_registries=tuple(trusted),
        pin_digests=policy,
        eol_warning_days=days,
        source=source,
    )


def load_config(path: Path | None = None, directory: Path | None = None) -> LintConfig:
    """Read `path`, else `.basewatch.toml`, else `pyproject.toml`'s `[tool.basewatch]`, in
    `directory` (default: the current one); the defaults when none of them exists."""

    try:
        if path is not None:
            return _from_document(read_toml(path), str(path))
        found = find_config(directory)
    except UsageError as exc:
        raise ConfigError(str(exc)) from exc
    if found is None:
        return LintConfig()
    table, file, prefix = found
    return _from_document(table, f"{file} [tool.basewatch]" if prefix else str(file))


def _from_document(document: Any, source: str) -> LintConfig:
    if not isinstance(document, dict):
        raise ConfigError(f"{source}: expected a table")
    lint = document.get("lint", {})
    if not isinstance(lint, dict):
        raise ConfigError(f"{source}: [lint] must be a table")
    return parse_config(lint, source)
