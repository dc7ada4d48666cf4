"""The compat detectors: ELF headers and loader configuration, read once per layer and cached.

They plug into the `Detector` seam of the inventory scan, so each layer is streamed once and
its results are cached by diffID like any other analysis. Results travel as `FileResult.facts`
(their names and encoding are in `basewatch.compat.facts`).

Besides the per-layer cache, ELF facts are cached per file content (sha256 of the bytes and the
detector version, under the cache dir's "elf" kind): a file seen in any layer of any image
before is not parsed again.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
from collections.abc import Callable
from typing import Any, BinaryIO, ClassVar, Protocol, cast

from basewatch.compat.facts import ELF_FACT, GO_FACT, LDCACHE_FACT, TEXT_FACT, elf_to_dict
from basewatch.elf.ldcache import parse_ld_cache
from basewatch.elf.reader import ElfInfo, parse_elf
from basewatch.errors import CacheError, MalformedElf, MalformedLdCache, PackageDatabaseError
from basewatch.inventory.detector import AnalysisContext, FileResult
from basewatch.inventory.gobinary import parse_modinfo, read_raw_build_info

log = logging.getLogger(__name__)

FILE_CACHE_KIND = "elf"


class FactCache(Protocol):
    """Where ELF facts are kept by content digest (the analysis cache, `kind="elf"`)."""

    def get(
        self, layer_digest: str, detectors_key: str, kind: str = "layers"
    ) -> dict[str, Any] | None: ...

    def put(
        self, layer_digest: str, detectors_key: str, data: dict[str, Any], kind: str = "layers"
    ) -> None: ...


IN_MEMORY_BYTES = 16 << 20
MAX_ELF_BYTES = 2 << 30
MAX_TEXT_BYTES = 256 << 10
MAX_LDCACHE_BYTES = 16 << 20
_MIN_ELF_SIZE = 52

_SKIP_PREFIXES = (
    "/proc/",
    "/sys/",
    "/dev/",
    "/usr/include/",
    "/usr/share/",
    "/usr/lib/debug/",
    "/var/lib/dpkg/",
    "/var/cache/",
    "/lib/apk/db/",
)
_TEXT_SUFFIXES = (
    ".py", ".pyc", ".sh", ".pl", ".pm", ".rb", ".js", ".txt", ".md", ".json", ".h", ".c",
    ".conf", ".html", ".xml", ".yaml", ".yml", ".png", ".gz", ".jar", ".a", ".o",
)  # fmt: skip


def is_loader_config(path: str) -> bool:
    """Files the model reads as text: ld.so.conf(.d), ld.so.cache, ld-musl-*.path, wheels' WHEEL."""
    return (
        path.endswith(".dist-info/WHEEL")
        or path == "/etc/ld.so.conf"
        or (path.startswith("/etc/ld.so.conf.d/") and path.endswith(".conf"))
        or path == "/etc/ld.so.cache"
        or (path.startswith("/etc/ld-musl-") and path.endswith(".path"))
    )


def _may_be_elf(path: str, size: int, mode: int) -> bool:
    if size < _MIN_ELF_SIZE or path.startswith(_SKIP_PREFIXES) or path.endswith(_TEXT_SUFFIXES):
        return False
    name = path.rpartition("/")[2]
    return bool(mode & 0o111) or ".so" in name or name.endswith(".node")


ElfParser = Callable[[BinaryIO, bool], ElfInfo]


def _parse_with_symbols(f: BinaryIO, symbols: bool) -> ElfInfo:
    return parse_elf(f, symbols=symbols)


class ElfDetector:
    """Loader facts of every ELF file and of the loader configuration files.

    `cache` (optional) keeps each ELF's facts by content digest; `parse` is the ELF parser
    (injectable, so tests can count parses).
    """

    name: ClassVar[str] = "compat-elf"
    version: ClassVar[int] = 4

    def __init__(
        self, cache: FactCache | None = None, parse: ElfParser = _parse_with_symbols
    ) -> None:
        self.cache = cache
        self.parse = parse

    def wants(self, path: str, size: int, mode: int) -> bool:
        return is_loader_config(path) or _may_be_elf(path, size, mode)

    def analyze(
        self, path: str, stream: BinaryIO, size: int, ctx: AnalysisContext
    ) -> FileResult | None:
        if is_loader_config(path):
            return self._config(path, stream)
        head = stream.read(64)
        if not head.startswith(b"\x7fELF"):
            return None
        if size > MAX_ELF_BYTES:
            return self._warn(path, f"ELF file of {size} bytes is over the {MAX_ELF_BYTES} limit")
        if size <= IN_MEMORY_BYTES:
            data = head + stream.read(IN_MEMORY_BYTES)
            digest = hashlib.sha256(data).hexdigest()
            cached = self._cached(path, digest)
            if cached is not None:
                return cached
            return self._store(digest, self._parse(path, io.BytesIO(data)))
        hashing = _Chain(head, stream)
        with (
            ctx.spooled_file(cast(BinaryIO, hashing), suffix=".elf") as tmp,
            tmp.open("rb") as f,
        ):
            digest = hashing.hexdigest()
            cached = self._cached(path, digest)
            if cached is not None:
                return cached
            return self._store(digest, self._parse(path, f))

    def _cached(self, path: str, digest: str) -> FileResult | None:
        if self.cache is None:
            return None
        data = self.cache.get(f"sha256:{digest}", self._cache_name, kind=FILE_CACHE_KIND)
        if data is None:
            return None
        try:
            facts = tuple((str(k), str(v)) for k, v in data["facts"])
        except (KeyError, TypeError, ValueError):
            log.warning("ignoring a malformed cached ELF analysis for sha256:%s", digest)
            return None
        return FileResult(path, self.name, facts=facts)

    def _store(self, digest: str, result: FileResult) -> FileResult:
        if self.cache is not None:
            try:
                self.cache.put(
                    f"sha256:{digest}",
                    self._cache_name,
                    {"facts": [list(f) for f in result.facts]},
                    kind=FILE_CACHE_KIND,
                )
            except CacheError as exc:
                log.warning("%s", exc)
        return result

    @property
    def _cache_name(self) -> str:
        return f"{self.name}-v{self.version}"

    def _parse(self, path: str, f: BinaryIO) -> FileResult:
        try:
            info = self.parse(f, True)
        except MalformedElf as exc:
            return FileResult(
                path, self.name, facts=((ELF_FACT, json.dumps({"malformed": str(exc)})),)
            )
        facts = [(ELF_FACT, json.dumps(elf_to_dict(info)))]
        if info.interpreter:
            go = _go_settings(f)
            if go is not None:
                facts.append((GO_FACT, json.dumps(go)))
        return FileResult(path, self.name, facts=tuple(facts))

    def _config(self, path: str, stream: BinaryIO) -> FileResult:
        if path == "/etc/ld.so.cache":
            data = stream.read(MAX_LDCACHE_BYTES)
            try:
                entries = parse_ld_cache(data)
            except MalformedLdCache as exc:
                return self._warn(path, f"{path}: {exc}")
            rows = [[e.name, e.path, e.flags] for e in entries]
            return FileResult(path, self.name, facts=((LDCACHE_FACT, json.dumps(rows)),))
        text = stream.read(MAX_TEXT_BYTES).decode("utf-8", errors="replace")
        return FileResult(path, self.name, facts=((TEXT_FACT, text),))

    def _warn(self, path: str, message: str) -> FileResult:
        return FileResult(path, self.name, warnings=(message,))


def _go_settings(f: BinaryIO) -> dict[str, str] | None:
    """The Go version and build settings of a Go program (None for other ELF files)."""

    try:
        raw = read_raw_build_info(f)
    except (PackageDatabaseError, MalformedElf):
        return None
    if raw is None:
        return None
    info, _ = parse_modinfo(*raw)
    settings = {k: v for k, v in info.settings if k in ("CGO_ENABLED", "GOOS", "GOARCH")}
    return {"go": info.go_version, **settings}


class _Chain(io.RawIOBase):
    """`head` then the rest of `stream`, as one readable stream, hashed as it is read."""

    def __init__(self, head: bytes, stream: BinaryIO) -> None:
        self._head = head
        self._stream = stream
        self._sha = hashlib.sha256()

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        if self._head:
            data, self._head = (self._head, b"") if n < 0 else (self._head[:n], self._head[n:])
        else:
            data = self._stream.read(n)
        self._sha.update(data)
        return data

    def hexdigest(self) -> str:
        return self._sha.hexdigest()
