"""The `Detector` seam: what a package or OS detector declares and returns.

Layers are streamed once. For every entry the analyzer asks each detector whether it `wants`
the path (decided from the tar header alone); only wanted files are read, and only by the
detectors that asked. A detector returns a `FileResult` per file; results are cached per layer
(keyed by the layer diffID and every detector's `name` and `version`), so bump `version`
whenever a detector's output changes.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, ClassVar, Protocol

from basewatch.models import Package


@dataclass(frozen=True, slots=True)
class FileResult:
    """What one detector found in one file of one layer."""

    path: str  # absolute, normalised path inside the image ("/var/lib/dpkg/status")
    detector: str
    packages: tuple[Package, ...] = ()
    # Plain facts read from the file (os-release keys, for instance), in file order.
    facts: tuple[tuple[str, str], ...] = ()
    # Problems with this file that make the result partial ("line 12: stanza without Version").
    warnings: tuple[str, ...] = ()
    # True when the file is a whole package database (dpkg status, apk installed, rpmdb): each
    # package is then attributed to the earliest layer from which it stays present, not simply
    # to the layer that last rewrote the database.
    database: bool = False


# Bytes that archive readers may inflate in one inventory run. Real images stay far below:
# nested jars are mostly stored, or deflated at about 1:1 since their entries are compressed.
MAX_IMAGE_INFLATED_BYTES = 2 << 30


class DecompressionBudget:
    """How many bytes archive readers may still inflate during one inventory run (one image).

    One budget is shared by every archive of every layer, so twenty small zip bombs cost what
    one does. Readers `take` a member's declared uncompressed size before inflating it.
    """

    __slots__ = ("_lock", "_used", "limit", "refusals")

    def __init__(self, limit: int = MAX_IMAGE_INFLATED_BYTES) -> None:
        self.limit = limit
        self._used = 0
        self.refusals = 0  # how many `take`s were refused: results since then are incomplete
        self._lock = threading.Lock()

    @property
    def remaining(self) -> int:
        return self.limit - self._used

    def take(self, size: int) -> bool:
        """Reserve `size` bytes; False, and nothing reserved, when fewer remain."""
        with self._lock:
            if size > self.limit - self._used:
                self.refusals += 1
                return False
            self._used += size
            return True


@dataclass(frozen=True, slots=True)
class AnalysisContext:
    """What a detector may use besides the file: a scratch directory inside basewatch's cache,
    and the decompression budget of the image (create one context per inventory run)."""

    tmp_dir: Path
    budget: DecompressionBudget = field(default_factory=DecompressionBudget, compare=False)

    @contextlib.contextmanager
    def spooled_file(self, stream: BinaryIO, suffix: str = "") -> Iterator[Path]:
        """Copy `stream` to a private temporary file (for parsers that need a path or seeking).

        The file is removed when the block exits. Never use the host's paths from the image.
        """
        self.tmp_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=self.tmp_dir, suffix=suffix, delete=False) as out:
            shutil.copyfileobj(stream, out, 1 << 20)
            name = out.name
        try:
            yield Path(name)
        finally:
            Path(name).unlink(missing_ok=True)


class Detector(Protocol):
    """Finds packages or OS facts in the files it asks for."""

    name: ClassVar[str]
    version: ClassVar[int]

    def wants(self, path: str, size: int, mode: int) -> bool:
        """Whether the regular file at `path` (absolute, normalised) must be read.

        Called for every regular file of every layer: keep it to string tests on `path`.
        """
        ...

    def analyze(
        self, path: str, stream: BinaryIO, size: int, ctx: AnalysisContext
    ) -> FileResult | None:
        """Read the file from `stream` (forward-only, `size` bytes) and report what it proves.

        Raise nothing for malformed content: return a `FileResult` with `warnings` instead
        (and whatever could still be read). Return None when the file proves nothing.
        """
        ...
