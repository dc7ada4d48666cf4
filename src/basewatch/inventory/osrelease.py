"""OS release files: os-release, lsb-release, debian_version, alpine-release, and the release
files of the rpm distributions (redhat-, centos-, oracle-, system-release)."""

from __future__ import annotations

import re
import shlex
from typing import BinaryIO, ClassVar

from basewatch.inventory.detector import AnalysisContext, FileResult

OS_FILES = (
    "/etc/os-release",
    "/usr/lib/os-release",
    "/etc/lsb-release",
    "/etc/debian_version",
    "/etc/alpine-release",
    "/etc/redhat-release",
    "/etc/centos-release",
    "/etc/oracle-release",
    "/etc/system-release",
)
# KEY=value files; every other one is a single line of text ("CentOS release 6.10 (Final)").
# Matched by exact path: "/etc/centos-release" also ends with "os-release".
KEY_VALUE_FILES = frozenset(("/etc/os-release", "/usr/lib/os-release", "/etc/lsb-release"))
MAX_SIZE = 64 << 10


def parse_os_release(text: str) -> list[tuple[str, str]]:
    """KEY=value pairs of an os-release (or lsb-release) file, shell quoting removed."""
    pairs = []
    # Newline-separated, as systemd reads it: splitlines() would also split inside a value.
    for line in text.split("\n"):
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, raw = line.partition("=")
        key = key.strip()
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key):
            continue
        try:
            words = shlex.split(raw, comments=False, posix=True)
        except ValueError:
            words = [raw.strip("\"'")]
        pairs.append((key, " ".join(words)))
    return pairs


class OsReleaseDetector:
    """Reads the small files that name the distribution; `inventory.osinfo` decides from them."""

    name: ClassVar[str] = "os-release"
    version: ClassVar[int] = 2

    def wants(self, path: str, size: int, mode: int) -> bool:
        return path in OS_FILES and size <= MAX_SIZE

    def analyze(
        self, path: str, stream: BinaryIO, size: int, ctx: AnalysisContext
    ) -> FileResult | None:
        text = stream.read(MAX_SIZE).decode("utf-8", errors="replace")
        if path in KEY_VALUE_FILES:
            facts = tuple(parse_os_release(text))
        else:
            first = text.strip().split("\n", 1)[0].strip()
            facts = (("CONTENT", first),)
        return FileResult(path, self.name, facts=facts)
