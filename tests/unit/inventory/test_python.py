from __future__ import annotations

import importlib.metadata
import io
import sysconfig
from pathlib import Path

import pytest

from basewatch.inventory.detector import AnalysisContext, FileResult
from basewatch.inventory.python import PythonDetector, join_wheel_tags, parse_metadata_headers
from basewatch.models import PackageType

SITE = "/usr/local/lib/python3.11/site-packages"

METADATA = b"""\
Metadata-Version: 2.4
Name: zstandard
Version: 0.25.0
Summary: Zstandard bindings for Python
License-Expression: BSD-3-Clause
Classifier: Programming Language :: Python :: 3.11
Classifier: License :: OSI Approved :: BSD License
Requires-Dist: cffi~=1.17; extra == "cffi"

================
python-zstandard
================
Version: 9.9.9 (the body is prose, never headers)
"""

WHEEL = b"""\
Wheel-Version: 1.0
Generator: setuptools (80.9.0)
Root-Is-Purelib: false
Tag: cp311-cp311-manylinux_2_17_x86_64
Tag: cp311-cp311-manylinux2014_x86_64
"""


def run(path: str, data: bytes, tmp: Path) -> FileResult | None:
    detector = PythonDetector()
    assert detector.wants(path, len(data), 0o644)
    return detector.analyze(path, io.BytesIO(data), len(data), AnalysisContext(tmp))


def test_dist_info_metadata(tmp_path: Path) -> None:
    path = f"{SITE}/zstandard-0.25.0.dist-info/METADATA"
    result = run(path, METADATA, tmp_path)
    assert result is not None
    assert result.warnings == ()
    assert not result.database
    (pkg,) = result.packages
    assert (pkg.name, pkg.version, pkg.type) == ("zstandard", "0.25.0", PackageType.PYPI)
    assert pkg.licenses == ("BSD-3-Clause",)  # License-Expression wins over classifiers
    assert pkg.evidence == (path,)


def test_only_the_header_block_is_read(tmp_path: Path) -> None:
    body = b"x" * 1_000_000
    stream = io.BytesIO(METADATA + body)
    headers, warnings = parse_metadata_headers(stream)
    assert warnings == []
    assert ("Version", "0.25.0") in headers
    assert stream.tell() == METADATA.index(b"\n\n") + 2


@pytest.mark.parametrize(
    ("headers", "licenses"),
    [
        (b"License: MIT\nClassifier: License :: OSI Approved :: BSD License\n", ("MIT",)),
        (
            b"License: UNKNOWN\n"
            b"Classifier: License :: OSI Approved :: Apache Software License\n"
            b"Classifier: License :: OSI Approved :: MIT License\n",
            ("Apache Software License", "MIT License"),
        ),
        (
            b"License: Copyright (c) 2010 Someone\n        Permission is hereby granted\n"
            b"Classifier: License :: OSI Approved :: MIT License\n",
            ("MIT License",),  # a pasted license text is no license name
        ),
        (b"Summary: none\n", ()),
    ],
)
def test_license_fallbacks(tmp_path: Path, headers: bytes, licenses: tuple[str, ...]) -> None:
    data = b"Metadata-Version: 2.1\nName: pkg\nVersion: 1.0\n" + headers
    result = run(f"{SITE}/pkg-1.0.dist-info/METADATA", data, tmp_path)
    assert result is not None
    assert result.packages[0].licenses == licenses


@pytest.mark.parametrize(
    "path",
    [
        "/usr/lib/python3/dist-packages/six-1.16.0.egg-info",  # distutils: a single file
        "/usr/lib/python3/dist-packages/six-1.16.0.egg-info/PKG-INFO",
        "/opt/venv/lib/python3.12/site-packages/six-1.16.0-py3.12.egg/EGG-INFO/PKG-INFO",
    ],
)
def test_egg_info_forms(tmp_path: Path, path: str) -> None:
    data = b"Metadata-Version: 1.1\nName: six\nVersion: 1.16.0\nLicense: MIT\n"
    result = run(path, data, tmp_path)
    assert result is not None
    assert [(p.name, p.version, p.licenses) for p in result.packages] == [
        ("six", "1.16.0", ("MIT",))
    ]


def test_metadata_without_version_is_a_warning(tmp_path: Path) -> None:
    data = b"Metadata-Version: 2.1\nName: broken\nSummary: no version\n"
    result = run(f"{SITE}/broken.dist-info/METADATA", data, tmp_path)
    assert result is not None
    assert result.packages == ()
    assert result.warnings == ("no Version header: not a valid core-metadata file",)


def test_garbage_lines_are_reported_and_skipped(tmp_path: Path) -> None:
    data = b"  leading continuation\nName: ok\nthis line has no colon\nVersion: 2.0\n\xff\xfe: x\n"
    result = run(f"{SITE}/ok-2.0.dist-info/METADATA", data, tmp_path)
    assert result is not None
    assert [(p.name, p.version) for p in result.packages] == [("ok", "2.0")]
    assert result.warnings == (
        "line 1: continuation line before any header",
        "line 3: not a 'Key: value' header",
    )


def test_huge_header_block_is_bounded(tmp_path: Path) -> None:
    data = b"Name: big\nVersion: 1\n" + b"Classifier: x\n" * 400_000  # 5.6 MB of headers
    result = run(f"{SITE}/big-1.dist-info/METADATA", data, tmp_path)
    assert result is not None
    assert [(p.name, p.version) for p in result.packages] == [("big", "1")]
    assert result.warnings == ("header block larger than 4194304 bytes: the rest is ignored",)


def test_binary_junk_gives_a_warning_not_an_exception(tmp_path: Path) -> None:
    result = run(f"{SITE}/junk.dist-info/METADATA", bytes(range(256)) * 100, tmp_path)
    assert result is not None
    assert result.packages == ()
    assert result.warnings[-1] == "no Name and Version header: not a valid core-metadata file"


def test_wheel_tags_are_facts_joined_onto_the_metadata_package(tmp_path: Path) -> None:
    dist = f"{SITE}/zstandard-0.25.0.dist-info"
    wheel = run(f"{dist}/WHEEL", WHEEL, tmp_path)
    assert wheel is not None
    assert wheel.packages == ()
    assert wheel.facts == (
        ("wheel_tag", "cp311-cp311-manylinux_2_17_x86_64"),
        ("wheel_tag", "cp311-cp311-manylinux2014_x86_64"),
    )
    metadata = run(f"{dist}/METADATA", METADATA, tmp_path)
    other = run(f"{SITE}/six-1.16.0.dist-info/METADATA", b"Name: six\nVersion: 1.16.0\n", tmp_path)
    assert metadata is not None
    assert other is not None

    joined = join_wheel_tags([metadata, wheel, other])
    assert [r.path for r in joined] == [metadata.path, wheel.path, other.path]
    pkg = joined[0].packages[0]
    assert pkg.meta("wheel_tags") == (
        "cp311-cp311-manylinux_2_17_x86_64,cp311-cp311-manylinux2014_x86_64"
    )
    assert joined[2] == other  # no WHEEL beside it: unchanged
    assert join_wheel_tags([other]) == (other,)


def test_wants_only_metadata_inside_site_or_dist_packages() -> None:
    d = PythonDetector()
    assert d.wants("/usr/lib/python3/dist-packages/attrs-23.2.0.dist-info/METADATA", 10, 0o644)
    assert d.wants("/app/.venv/lib/python3.12/site-packages/a-1.dist-info/WHEEL", 10, 0o644)
    assert d.wants(
        "/usr/lib/python3/dist-packages/setuptools/_vendor/packaging-24.0.dist-info/METADATA",
        10,
        0o644,
    )
    assert not d.wants("/src/pkg.egg-info/PKG-INFO", 10, 0o644)
    assert not d.wants("/usr/lib/python3/dist-packages/a-1.dist-info/RECORD", 10, 0o644)
    assert not d.wants("/usr/lib/python3/dist-packages/a/METADATA", 10, 0o644)


def test_every_distribution_of_this_venv(tmp_path: Path) -> None:
    """Real input: each dist-info of the running interpreter's site-packages."""
    site = Path(sysconfig.get_paths()["purelib"])
    expected = {
        (d.metadata["Name"], d.version)
        for d in importlib.metadata.distributions(path=[str(site)])
        if str(getattr(d, "_path", "")).endswith(".dist-info")
    }
    found = set()
    for metadata in site.glob("*.dist-info/METADATA"):
        image_path = f"{SITE}/{metadata.parent.name}/METADATA"
        result = run(image_path, metadata.read_bytes(), tmp_path)
        assert result is not None
        assert result.warnings == ()
        found |= {(p.name, p.version) for p in result.packages}
    assert ("pytest", importlib.metadata.version("pytest")) in found
    assert found == expected
