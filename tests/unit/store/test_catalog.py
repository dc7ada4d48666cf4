"""The image catalog lives in the cache: a hostile or broken entry is skipped, never fatal."""

from __future__ import annotations

import json
import os
from pathlib import Path

from basewatch.store.catalog import Catalog

DIFF = "sha256:" + "1" * 64


def _entry_dir(root: Path) -> Path:
    folder = root / "catalog" / DIFF.replace(":", "-")
    folder.mkdir(parents=True)
    return folder


def test_hostile_entries_are_skipped(tmp_path: Path) -> None:
    folder = _entry_dir(tmp_path)
    good = {"reference": "base:1", "digest": "sha256:" + "2" * 64, "diff_ids": [DIFF]}
    (folder / "good.json").write_text(json.dumps(good))
    (folder / "deep.json").write_bytes(b"[" * 200_000)
    (folder / "list.json").write_text("[1, 2]")
    os.mkfifo(folder / "fifo.json")
    (folder / "zero.json").symlink_to("/dev/zero")
    entries = list(Catalog(tmp_path).candidates((DIFF,)))
    assert [e.reference for e in entries] == ["base:1"]
