"""glibc's `/etc/ld.so.conf`: the directories `ldconfig` indexes, and what its cache misses.

`ld.so` itself never reads ld.so.conf: the directories it lists matter only through the cache
`ldconfig` builds from them. A library there that the image's cache lacks is found only after
`ldconfig` runs, which is worth a warning.
"""

from __future__ import annotations

import fnmatch
import re

from basewatch.compat.facts import ImageFiles
from basewatch.elf.ldcache import CacheEntry
from basewatch.models import EntryKind

LD_SO_CONF = "/etc/ld.so.conf"
MAX_INCLUDE_DEPTH = 8  # `include` files may include each other: stop this deep


def read_ld_so_conf(files: ImageFiles) -> list[str]:
    """The directories ld.so.conf lists, `include`s followed, in order and without repeats."""
    dirs: list[str] = []
    _conf_lines(files, LD_SO_CONF, dirs, depth=0)
    return dirs


def _conf_lines(files: ImageFiles, path: str, dirs: list[str], depth: int) -> None:
    text = files.text(path)
    if text is None or depth > MAX_INCLUDE_DEPTH:
        return
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if line.startswith("include"):
            pattern = line.split(None, 1)[1] if len(line.split(None, 1)) == 2 else ""
            for included in _glob(files, pattern):
                _conf_lines(files, included, dirs, depth + 1)
        elif line.startswith("hwcap"):
            continue
        else:
            for d in re.split(r"[:\s,]+", line):
                directory = d.rstrip("/") or "/"
                if d and directory not in dirs:  # "/opt/a/" repeats "/opt/a"
                    dirs.append(directory)


def _glob(files: ImageFiles, pattern: str) -> list[str]:
    directory, _, name = pattern.rpartition("/")
    return sorted(
        entry.path
        for entry, _ in files.list_dir(directory or "/")
        if fnmatch.fnmatchcase(entry.path.rpartition("/")[2], name)
    )


def uncached_warnings(
    files: ImageFiles, cache: tuple[CacheEntry, ...] | None, dirs: list[str]
) -> list[str]:
    """One warning per ld.so.conf directory holding libraries the cache has no entry for."""
    if cache is None or not dirs:
        return []
    cached = {e.name for e in cache}
    warnings = []
    for directory in dirs:
        missing = sorted(
            {
                soname
                for entry, _ in files.list_dir(directory)
                if entry.kind is EntryKind.FILE
                and (soname := files.soname(entry.path))
                and soname not in cached
            }
        )
        if missing:
            warnings.append(
                f"{directory} (listed in /etc/ld.so.conf) holds {len(missing)} "
                f"librar{'y' if len(missing) == 1 else 'ies'} that /etc/ld.so.cache lacks "
                f"({', '.join(missing[:3])}{'...' if len(missing) > 3 else ''}): glibc "
                "finds them there only after ldconfig runs in the image"
            )
    return warnings
