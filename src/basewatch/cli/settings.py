"""The CLI's one `Settings`, from the environment and the parsed flags."""

from __future__ import annotations

import argparse
import os

from basewatch.settings import Settings


def settings_from(args: argparse.Namespace) -> Settings:
    """Settings for this run: the environment, then `--cache-dir`, `--db`, `--no-cache`."""
    return Settings.load(
        environ=os.environ,
        cache_dir=getattr(args, "cache_dir", None),
        db=getattr(args, "db", None),
        use_cache=not getattr(args, "no_cache", False),
        read_config=False,  # the [db] section is read by `resolve_osv_url` (cli/db.py)
    )
