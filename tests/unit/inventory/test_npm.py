from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest

from basewatch.inventory import npm
from basewatch.inventory.detector import AnalysisContext, FileResult
from basewatch.inventory.npm import NpmDetector
from basewatch.models import PackageType

APP = "/app/node_modules"


def run(path: str, data: bytes, tmp: Path) -> FileResult | None:
    detector = NpmDetector()
    assert detector.wants(path, len(data), 0o644)
    return detector.analyze(path, io.BytesIO(data), len(data), AnalysisContext(tmp))


def manifest(**fields: Any) -> bytes:
    return json.dumps(fields, indent=2).encode()


def test_plain_package(tmp_path: Path) -> None:
    path = f"{APP}/express/package.json"
    data = manifest(name="express", version="4.19.2", license="MIT", main="index.js")
    result = run(path, data, tmp_path)
    assert result is not None
    assert result.warnings == ()
    assert not result.database
    (pkg,) = result.packages
    assert (pkg.name, pkg.version, pkg.type) == ("express", "4.19.2", PackageType.NPM)
    assert pkg.licenses == ("MIT",)
    assert pkg.evidence == (path,)


def test_scoped_package_nested_and_global(tmp_path: Path) -> None:
    paths_and_names = [
        (f"{APP}/@babel/core/package.json", "@babel/core", "7.24.7"),
        (f"{APP}/express/node_modules/debug/package.json", "debug", "2.6.9"),
        (f"{APP}/a/node_modules/@types/node/package.json", "@types/node", "20.14.2"),
        ("/usr/lib/node_modules/npm/package.json", "npm", "9.2.0"),
        ("/usr/local/lib/node_modules/corepack/package.json", "corepack", "0.28.1"),
        (f"{APP}/.pnpm/ms@2.1.3/node_modules/ms/package.json", "ms", "2.1.3"),
    ]
    for path, name, version in paths_and_names:
        result = run(path, manifest(name=name, version=version), tmp_path)
        assert result is not None
        assert [(p.name, p.version) for p in result.packages] == [(name, version)]


@pytest.mark.parametrize(
    ("fields", "licenses"),
    [
        ({"license": "(MIT OR Apache-2.0)"}, ("(MIT OR Apache-2.0)",)),
        ({"license": {"type": "BSD-3-Clause", "url": "http://x"}}, ("BSD-3-Clause",)),
        (
            {"licenses": [{"type": "MIT", "url": "u"}, {"type": "Apache-2.0", "url": "v"}]},
            ("MIT", "Apache-2.0"),
        ),
        ({"license": ["MIT", "GPL-2.0"]}, ("MIT", "GPL-2.0")),
        ({"license": "MIT", "licenses": [{"type": "MIT"}]}, ("MIT",)),
        ({"license": 42}, ()),
        ({}, ()),
    ],
)
def test_license_forms(tmp_path: Path, fields: dict[str, Any], licenses: tuple[str, ...]) -> None:
    data = manifest(name="pkg", version="1.0.0", **fields)
    result = run(f"{APP}/pkg/package.json", data, tmp_path)
    assert result is not None
    assert result.packages[0].licenses == licenses


@pytest.mark.parametrize(
    "data",
    [
        manifest(name="pkg"),
        manifest(version="1.0.0"),
        manifest(name="", version="1.0.0"),
        manifest(name="pkg", version={"not": "a string"}),
        manifest(type="module"),
    ],
)
def test_manifests_without_name_or_version_are_skipped(tmp_path: Path, data: bytes) -> None:
    assert run(f"{APP}/pkg/package.json", data, tmp_path) is None


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b'{"name": "pkg", "version": "1.0.0",', "package.json is not valid JSON: "),
        (b"\x89PNG\r\n\x1a\n\0\0", "package.json is not valid JSON: "),
        (b'["name", "version"]', "package.json is not a JSON object"),
        (b"[" * 100_000 + b"]" * 100_000, "package.json is not valid JSON: "),
    ],
)
def test_malformed_manifests_are_warnings(tmp_path: Path, data: bytes, message: str) -> None:
    result = run(f"{APP}/pkg/package.json", data, tmp_path)
    assert result is not None
    assert result.packages == ()
    assert len(result.warnings) == 1
    assert result.warnings[0].startswith(message)


def test_oversized_manifest_is_not_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(npm, "MAX_MANIFEST_BYTES", 100)
    data = manifest(name="pkg", version="1.0.0", readme="x" * 200)
    result = run(f"{APP}/pkg/package.json", data, tmp_path)
    assert result is not None
    assert result.packages == ()
    assert result.warnings == (f"package.json is {len(data)} bytes, over the 100 limit",)


def test_bom_is_tolerated(tmp_path: Path) -> None:
    data = b"\xef\xbb\xbf" + manifest(name="bom", version="0.1.0")
    result = run(f"{APP}/bom/package.json", data, tmp_path)
    assert result is not None
    assert [(p.name, p.version) for p in result.packages] == [("bom", "0.1.0")]


def test_wants_only_package_directories() -> None:
    d = NpmDetector()
    assert d.wants(f"{APP}/lodash/package.json", 10, 0o644)
    assert d.wants(f"{APP}/@scope/name/package.json", 10, 0o644)
    assert not d.wants("/app/package.json", 10, 0o644)  # the project, not an installed package
    assert not d.wants(f"{APP}/rxjs/ajax/package.json", 10, 0o644)  # a sub-entry point
    assert not d.wants(f"{APP}/pkg/test/fixtures/package.json", 10, 0o644)
    assert not d.wants(f"{APP}/@scope/package.json", 10, 0o644)
    assert not d.wants(f"{APP}/.bin/package.json", 10, 0o644)
    assert not d.wants(f"{APP}/lodash/package.json.bak", 10, 0o644)
