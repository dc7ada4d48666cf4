"""Installed npm packages: `node_modules/<name>/package.json` and `node_modules/@scope/<name>/...`.

Only a package.json sitting directly in a package directory counts, at any nesting depth of
`node_modules` (this covers the global trees /usr/lib/node_modules and /usr/local/lib/node_modules
and pnpm's `.pnpm/<id>/node_modules/<name>` layout). package.json files deeper inside a package
(`lib/package.json`, test fixtures) describe no installed package and are not read.
"""

from __future__ import annotations

import json
from typing import Any, BinaryIO, ClassVar

from basewatch.inventory.detector import AnalysisContext, FileResult
from basewatch.models import Package, PackageType

__all__ = ["NpmDetector", "npm_licenses"]

_MARKER = "/node_modules/"
# Old npm versions embedded the whole README in package.json: a few MiB is plenty.
MAX_MANIFEST_BYTES = 8 << 20


def _package_dir(path: str) -> str:
    """The npm name implied by the directory of `path` ("" when it is no package directory)."""
    if not path.endswith("/package.json"):
        return ""
    _, sep, tail = path.rpartition(_MARKER)
    if not sep:
        return ""
    parts = tail.split("/")
    if len(parts) == 2 and parts[0] and parts[0][0] not in "@.":
        return parts[0]
    if len(parts) == 3 and len(parts[0]) > 1 and parts[0][0] == "@" and parts[1]:
        return f"{parts[0]}/{parts[1]}"
    return ""


def npm_licenses(manifest: dict[str, Any]) -> tuple[str, ...]:
    """Licenses from `license` (string, or the legacy `{type}` object) and legacy `licenses`."""
    found: list[str] = []

    def add(value: object) -> None:
        if isinstance(value, str):
            text = value.strip()
        elif isinstance(value, dict) and isinstance(value.get("type"), str):
            text = value["type"].strip()
        else:
            return
        if text and text not in found:
            found.append(text)

    for key in ("license", "licenses"):
        value = manifest.get(key)
        if isinstance(value, list):
            for item in value[:100]:
                add(item)
        else:
            add(value)
    return tuple(found)


class NpmDetector:
    """npm packages installed under any `node_modules` directory."""

    name: ClassVar[str] = "npm"
    version: ClassVar[int] = 1

    def wants(self, path: str, size: int, mode: int) -> bool:
        return _MARKER in path and bool(_package_dir(path))

    def analyze(
        self, path: str, stream: BinaryIO, size: int, ctx: AnalysisContext
    ) -> FileResult | None:
        if size > MAX_MANIFEST_BYTES:
            return self._warn(
                path, f"package.json is {size} bytes, over the {MAX_MANIFEST_BYTES} limit"
            )
        data = stream.read(MAX_MANIFEST_BYTES + 1)
        if len(data) > MAX_MANIFEST_BYTES:
            return self._warn(path, f"package.json is over the {MAX_MANIFEST_BYTES} byte limit")
        try:
            manifest = json.loads(data.decode("utf-8-sig", errors="replace"))
        except (ValueError, RecursionError) as exc:
            return self._warn(path, f"package.json is not valid JSON: {exc}")
        if not isinstance(manifest, dict):
            return self._warn(path, "package.json is not a JSON object")
        name = manifest.get("name")
        version = manifest.get("version")
        if not isinstance(name, str) or not isinstance(version, str):
            return None
        name, version = name.strip(), version.strip()
        if not name or not version:
            return None
        package = Package(
            name=name,
            version=version,
            type=PackageType.NPM,
            licenses=npm_licenses(manifest),
            evidence=(path,),
        )
        return FileResult(path=path, detector=self.name, packages=(package,))

    def _warn(self, path: str, message: str) -> FileResult:
        return FileResult(path=path, detector=self.name, warnings=(message,))
