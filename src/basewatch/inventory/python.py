"""Installed Python distributions: `*.dist-info/METADATA` and `*.egg-info` in site/dist-packages.

Wheel tags live in the sibling `WHEEL` file, which is a different file of the same layer. Results
are per file (and cached per layer), so the detector reads both files on its own terms:

- `METADATA` / `PKG-INFO` -> a `FileResult` with one `Package` (no wheel tags yet);
- `WHEEL` -> a `FileResult` with no packages and one `("wheel_tag", TAG)` fact per `Tag:` line.

`join_wheel_tags` is the pure function that joins them, by dist-info directory, once the
results of the final filesystem are known: each METADATA package gains a `wheel_tags`
metadata entry (comma-separated, file order). Whoever assembles packages from `FileResult`s
calls it; it never reads files.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import BinaryIO, ClassVar

from basewatch.inventory.detector import AnalysisContext, FileResult
from basewatch.models import Package, PackageType

__all__ = ["PythonDetector", "join_wheel_tags", "parse_metadata_headers"]

_SITE_DIRS = ("/site-packages/", "/dist-packages/")
_METADATA_SUFFIXES = (
    ".dist-info/METADATA",
    ".egg-info/PKG-INFO",
    "/EGG-INFO/PKG-INFO",
    ".egg-info",  # distutils-style egg-info written as a single file
)
_WHEEL_SUFFIX = ".dist-info/WHEEL"

# Only the header block is read; the body (the long description) is never needed. Old
# metadata versions put the description in a folded header, hence the generous bound.
MAX_HEADER_BYTES = 4 << 20
MAX_LINE_BYTES = 1 << 20
# A `License:` value longer than this is a pasted license text, not a license name.
MAX_LICENSE_NAME = 200
_CLASSIFIER_PREFIX = "License :: "


def parse_metadata_headers(
    stream: BinaryIO, limit: int = MAX_HEADER_BYTES
) -> tuple[list[tuple[str, str]], list[str]]:
    """Parse the RFC 822 header block of a core-metadata file, reading at most `limit` bytes.

    Returns the (key, value) pairs in file order (folded lines joined with newlines) and
    the problems met. Stops at the first blank line.
    """
    headers: list[tuple[str, str]] = []
    warnings: list[str] = []
    consumed = 0
    lineno = 0
    while True:
        raw = stream.readline(MAX_LINE_BYTES)
        if not raw:
            break
        lineno += 1
        consumed += len(raw)
        if consumed > limit:
            warnings.append(f"header block larger than {limit} bytes: the rest is ignored")
            break
        if not raw.endswith(b"\n") and len(raw) >= MAX_LINE_BYTES:
            warnings.append(f"line {lineno}: longer than {MAX_LINE_BYTES} bytes, ignored")
            _skip_line(stream)
            continue
        line = raw.decode("utf-8", errors="replace").rstrip("\r\n")
        if not line.strip():
            break
        if line[0] in " \t":
            if headers:
                key, value = headers[-1]
                headers[-1] = (key, f"{value}\n{line.strip()}")
            else:
                warnings.append(f"line {lineno}: continuation line before any header")
            continue
        key, sep, value = line.partition(":")
        if not sep or not key.strip():
            warnings.append(f"line {lineno}: not a 'Key: value' header")
            continue
        headers.append((key.strip(), value.strip()))
    return headers, warnings


def _skip_line(stream: BinaryIO) -> None:
    while True:
        chunk = stream.readline(MAX_LINE_BYTES)
        if not chunk or chunk.endswith(b"\n"):
            return


def _licenses(headers: list[tuple[str, str]]) -> tuple[str, ...]:
    """License-Expression (PEP 639), else a short License field, else license classifiers."""
    for key, value in headers:
        if key.lower() == "license-expression" and value:
            return (value,)
    for key, value in headers:
        if key.lower() != "license":
            continue
        short = value and "\n" not in value and len(value) <= MAX_LICENSE_NAME
        if short and value.upper() not in ("UNKNOWN", "NONE"):
            return (value,)
    found: list[str] = []
    for key, value in headers:
        if key.lower() == "classifier" and value.startswith(_CLASSIFIER_PREFIX):
            name = value.rsplit("::", 1)[-1].strip()
            if name and name not in found and name != "OSI Approved":
                found.append(name)
    return tuple(found)


class PythonDetector:
    """Python distributions installed in any site-packages or dist-packages directory."""

    name: ClassVar[str] = "python"
    version: ClassVar[int] = 1

    def wants(self, path: str, size: int, mode: int) -> bool:
        if not path.endswith(_METADATA_SUFFIXES) and not path.endswith(_WHEEL_SUFFIX):
            return False
        return any(d in path for d in _SITE_DIRS)

    def analyze(
        self, path: str, stream: BinaryIO, size: int, ctx: AnalysisContext
    ) -> FileResult | None:
        if path.endswith(_WHEEL_SUFFIX):
            return self._analyze_wheel(path, stream)
        headers, warnings = parse_metadata_headers(stream)
        fields: dict[str, str] = {}
        for key, value in headers:
            fields.setdefault(key.lower(), value)
        name = fields.get("name", "")
        version = fields.get("version", "")
        if not name or not version:
            missing = " and ".join(k for k, v in (("Name", name), ("Version", version)) if not v)
            warnings.append(f"no {missing} header: not a valid core-metadata file")
            return FileResult(path=path, detector=self.name, warnings=tuple(warnings))
        package = Package(
            name=name,
            version=version,
            type=PackageType.PYPI,
            licenses=_licenses(headers),
            evidence=(path,),
        )
        return FileResult(
            path=path, detector=self.name, packages=(package,), warnings=tuple(warnings)
        )

    def _analyze_wheel(self, path: str, stream: BinaryIO) -> FileResult | None:
        headers, warnings = parse_metadata_headers(stream, limit=1 << 20)
        tags = tuple(("wheel_tag", v) for k, v in headers if k.lower() == "tag" and v)
        if not tags and not warnings:
            return None
        return FileResult(path=path, detector=self.name, facts=tags, warnings=tuple(warnings))


def join_wheel_tags(results: Iterable[FileResult]) -> tuple[FileResult, ...]:
    """Copy each `WHEEL` file's tags onto the package of its sibling `METADATA` result.

    Returns the results in the same order; METADATA packages gain `wheel_tags` ("a,b,c").
    """
    results = tuple(results)
    tags_by_dir: dict[str, str] = {}
    for result in results:
        if result.detector == PythonDetector.name and result.path.endswith(_WHEEL_SUFFIX):
            tags = [v for k, v in result.facts if k == "wheel_tag"]
            if tags:
                tags_by_dir[result.path[: -len("WHEEL")]] = ",".join(tags)
    if not tags_by_dir:
        return results
    joined: list[FileResult] = []
    for result in results:
        tags_value = ""
        if result.detector == PythonDetector.name and result.path.endswith(".dist-info/METADATA"):
            tags_value = tags_by_dir.get(result.path[: -len("METADATA")], "")
        if not tags_value or not result.packages:
            joined.append(result)
            continue
        packages = tuple(_with_meta(p, "wheel_tags", tags_value) for p in result.packages)
        joined.append(dataclasses.replace(result, packages=packages))
    return tuple(joined)


def _with_meta(package: Package, key: str, value: str) -> Package:
    pairs = dict(package.metadata)
    pairs[key] = value
    return dataclasses.replace(package, metadata=tuple(sorted(pairs.items())))
