"""The project's config file: `.basewatch.toml`, else `[tool.basewatch]` in `pyproject.toml`.

Found the way `basewatch lint` finds its `[lint]` settings (`lint/config.py`): in the working
directory, `.basewatch.toml` wins over `pyproject.toml`, whose settings live under
`[tool.basewatch]`. Each command reads its own section (`[lint]`, `[db]`) from the one file
found. Reading the file is the CLI's business (the library never looks for it).
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from basewatch.errors import UsageError

CONFIG_FILE = ".basewatch.toml"
PYPROJECT = "pyproject.toml"


@dataclass(frozen=True, slots=True)
class ConfigSection:
    """One section of the config file, and where it was read from (for messages)."""

    values: dict[str, Any]
    source: str  # ".basewatch.toml [db]", "pyproject.toml [tool.basewatch.db]"


def find_config(directory: Path | None = None) -> tuple[dict[str, Any], Path, str] | None:
    """The basewatch settings table of the config file in `directory` (default: the working
    directory), the file, and the prefix of its section names ("" or "tool.basewatch."); None
    when there is none. Raises `UsageError` when it is unreadable or not valid TOML."""
    where = directory or Path.cwd()
    candidate = where / CONFIG_FILE
    if candidate.is_file():
        return read_toml(candidate), candidate, ""
    candidate = where / PYPROJECT
    if candidate.is_file():
        tool = read_toml(candidate).get("tool")
        section = tool.get("basewatch") if isinstance(tool, dict) else None
        if section is None:
            return None
        if not isinstance(section, dict):
            raise UsageError(f"{candidate}: [tool.basewatch] must be a table")
        return section, candidate, "tool.basewatch."
    return None


def config_section(name: str, directory: Path | None = None) -> ConfigSection | None:
    """Section `name` (`[db]`) of the config file, or None when there is no file or section."""
    found = find_config(directory)
    if found is None:
        return None
    table, path, prefix = found
    label = f"{path} [{prefix}{name}]"
    section = table.get(name)
    if section is None:
        return None
    if not isinstance(section, dict):
        raise UsageError(f"{label} must be a table")
    return ConfigSection(section, label)


def read_toml(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise UsageError(f"{path}: not UTF-8 text ({exc.reason})") from exc
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"{path}: not valid TOML: {exc}; fix or remove it") from exc
