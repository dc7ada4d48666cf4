"""The CLI's one `Settings`: the config file in the working directory, the environment, then
the parsed flags."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from basewatch.settings import Settings


def settings_from(args: argparse.Namespace) -> Settings:
    """Settings for this run: `.basewatch.toml` (or `[tool.basewatch]`), the `BASEWATCH_*`
    environment, then `--cache-dir`, `--db`, `--osv-url`, `--eol-base-url`, `--no-cache`."""
    # Imported when a command runs (TOML, URL parsing): building the parser needs none of it.
    from basewatch.settings import Settings

    return Settings.load(
        environ=os.environ,
        directory=Path.cwd(),
        cache_dir=getattr(args, "cache_dir", None),
        db=getattr(args, "db", None),
        osv_url=getattr(args, "osv_url", None),
        eol_url=getattr(args, "eol_base_url", None),
        use_cache=not getattr(args, "no_cache", False),
    )
