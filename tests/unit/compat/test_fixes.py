"""The fix data shipped in the package: it loads, every entry is well-formed, the texts built
from it are the ones reports have always carried, and malformed data is refused by type."""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

import pytest

from basewatch.compat.fixes import (
    FIXES_RESOURCE,
    FixTable,
    Packaging,
    fix_table,
    library_fix,
)
from basewatch.compat.model import LibcFamily, LibcInfo
from basewatch.errors import BundledDataError

GLIBC = LibcInfo(LibcFamily.GLIBC, "2.36", "/lib/x86_64-linux-gnu/libc.so.6", "")
MUSL = LibcInfo(LibcFamily.MUSL, "1.2.4", "/lib/ld-musl-x86_64.so.1", "apk")


def _shipped() -> Any:
    text = resources.files("basewatch.compat").joinpath(FIXES_RESOURCE).read_text("utf-8")
    return json.loads(text)


def test_the_shipped_table_loads_and_every_entry_is_well_formed() -> None:
    table = fix_table()
    assert fix_table() is table  # read once
    assert {p for p, _ in table.installers} == set(Packaging)
    assert all(command.strip() for _, command in table.installers)
    assert table.libraries
    sonames = [library.soname for library in table.libraries]
    assert len(sonames) == len(set(sonames))
    for library in table.libraries:
        assert ".so" in library.soname and "/" not in library.soname
        assert library.packages
        for packaging, package in library.packages:
            assert isinstance(packaging, Packaging)
            assert package.strip() == package and " " not in package


def test_texts_are_unchanged() -> None:
    assert library_fix("libstdc++.so.6", LibcFamily.MUSL, MUSL) == (
        "install libstdc++ (apk add libstdc++)"
    )
    assert library_fix("libstdc++.so.6", LibcFamily.GLIBC, GLIBC) == (
        "install libstdc++6 (apt-get install libstdc++6)"
    )
    assert library_fix("libcrypto.so.3", LibcFamily.GLIBC, GLIBC) == (
        "install libssl3 (apt-get install libssl3)"
    )
    assert library_fix("ld-linux-x86-64.so.2", LibcFamily.MUSL, MUSL) == (
        "a glibc library on musl: install gcompat, or use a musllinux/musl build"
    )
    assert library_fix("libfoo.so.1", LibcFamily.GLIBC, GLIBC) == (
        "install the package that provides libfoo.so.1, or ship it with the application"
    )


def test_a_library_known_for_one_packaging_only() -> None:
    document = _shipped()
    document["libraries"] = [{"soname": "libx.so.1", "packages": {"deb": "libx1"}}]
    table = FixTable.from_json(document)
    assert table.package("libx.so.1", Packaging.DEB) == "libx1"
    assert table.package("libx.so.1", Packaging.APK) == ""
    assert table.package("liby.so.1", Packaging.DEB) == ""
    assert table.installer(Packaging.APK) == "apk add"


def _broken(change: str) -> Any:
    document = _shipped()
    match change:
        case "not-an-object":
            return []
        case "schema":
            document["schema_version"] = 2
        case "installer-missing":
            del document["installers"]["apk"]
        case "installer-not-text":
            document["installers"]["deb"] = ["apt-get", "install"]
        case "libraries-not-a-list":
            document["libraries"] = {}
        case "row-not-an-object":
            document["libraries"].append("libz.so.1")
        case "soname-empty":
            document["libraries"][0]["soname"] = " "
        case "duplicate":
            document["libraries"].append(document["libraries"][0])
        case "unknown-packaging":
            document["libraries"][0]["packages"]["rpm"] = "libstdc++"
        case "package-not-text":
            document["libraries"][0]["packages"]["apk"] = 1
    return document


@pytest.mark.parametrize(
    "change",
    ["not-an-object", "schema", "installer-missing", "installer-not-text",
     "libraries-not-a-list", "row-not-an-object", "soname-empty", "duplicate",
     "unknown-packaging", "package-not-text"],
)  # fmt: skip
def test_malformed_data_is_refused(change: str) -> None:
    with pytest.raises(BundledDataError, match=r"compat/data/fixes\.json"):
        FixTable.from_json(_broken(change))
