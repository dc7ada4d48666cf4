"""`--format table`.

Golden files live in tests/unit/report/golden/. After an intended change, regenerate them with
    .venv/bin/python -m tests.unit.report.regen
and review the diff.
"""

from __future__ import annotations

import dataclasses

import pytest

from basewatch.models import Inventory, Package, PackageType
from basewatch.report.common import display_name
from basewatch.report.sbom.table import TableReporter
from basewatch.report.text import printable
from tests.unit.report.regen import check_golden


def render(inventory: Inventory) -> str:
    return TableReporter().render(inventory).decode("utf-8")


@pytest.mark.parametrize("name", ["table.txt", "table-minimal.txt"])
def test_matches_golden(name: str) -> None:
    check_golden(name)


def test_header_and_columns(inventory: Inventory) -> None:
    lines = render(inventory).splitlines()
    assert lines[0] == "Image:    localhost:5000/team/app:1.4.2"
    assert "Platform: linux/amd64" in lines
    assert "OS:       Debian GNU/Linux 12 (bookworm)" in lines
    assert "Packages: 11 (4 base, 7 app)" in lines
    header = next(line for line in lines if line.startswith("NAME"))
    assert header.split() == ["NAME", "VERSION", "TYPE", "SOURCE", "LAYER"]


def test_rows_are_aligned_and_complete(inventory: Inventory) -> None:
    lines = render(inventory).splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("NAME"))
    rows = lines[start : start + 1 + len(inventory.packages)]
    version_column = rows[0].index("VERSION")
    for row in rows[1:]:
        assert row[version_column - 2 : version_column] == "  "
        assert row[version_column] != " "
        assert len(row.split()) == 5
    names = [row.split()[0] for row in rows[1:]]
    assert "@babel/core" in names
    assert "org.apache.logging.log4j:log4j-core" in names
    assert "github.com/sirupsen/logrus" in names


def test_layer_is_short_diff_id_and_source_shows_differing_version(inventory: Inventory) -> None:
    text = render(inventory)
    row = next(line for line in text.splitlines() if line.startswith("openssl-libs"))
    assert row.split()[3] == "openssl@3.0.7-27.el9"
    assert len(row.split()[-1]) == 12
    diff_id = next(p.layer for p in inventory.packages if p.name == "openssl-libs")
    assert diff_id.removeprefix("sha256:").startswith(row.split()[-1])


def test_warnings_mark_a_partial_result(inventory: Inventory, minimal_inventory: Inventory) -> None:
    text = render(inventory)
    assert "WARNING: partial result, 1 problem while reading the image:" in text
    assert text.rstrip().endswith("rpm packages may be missing")
    assert "WARNING" not in render(minimal_inventory)


def test_empty_inventory(minimal_inventory: Inventory) -> None:
    text = render(minimal_inventory)
    assert "OS:       not detected" in text
    assert "No packages found." in text


def test_hostile_strings_cannot_drive_the_terminal(minimal_inventory: Inventory) -> None:
    evil = Package(name="evil\x1b]0;pwned\x07\x1b[2J", version="1\r2", type=PackageType.DEB)
    inventory = dataclasses.replace(
        minimal_inventory, packages=(evil,), warnings=("bad \x1b[31mred\x1b[0m file",)
    )
    text = render(inventory)
    assert "\x1b" not in text
    assert "\r" not in text
    assert "\x07" not in text
    assert "evil\\x1b]0;pwned\\x07\\x1b[2J" in text


def test_printable_keeps_unicode() -> None:
    assert printable("Timo Teräs") == "Timo Teräs"
    assert printable("a\tb") == "a\\tb"
    assert printable("bad\udcffname") == "bad\\udcffname"


def test_wide_characters_keep_columns_aligned(minimal_inventory: Inventory) -> None:
    packages = (
        Package(name="日本語", version="1.0", type=PackageType.NPM),
        Package(name="abcdefgh", version="2.0", type=PackageType.NPM),
    )
    lines = render(dataclasses.replace(minimal_inventory, packages=packages)).splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("NAME"))
    # "日本語" takes 6 terminal columns, "abcdefgh" 8: both versions start in column 10.
    assert lines[start + 1].startswith("abcdefgh  2.0")
    assert lines[start + 2].startswith("日本語    1.0")


@pytest.mark.parametrize(
    ("package", "expected"),
    [
        (Package(name="@babel/core", version="1", type=PackageType.NPM), "@babel/core"),
        (
            Package(name="core", namespace="@babel", version="1", type=PackageType.NPM),
            "@babel/core",
        ),
        (
            Package(
                name="logrus", namespace="github.com/sirupsen", version="1", type=PackageType.GOLANG
            ),
            "github.com/sirupsen/logrus",
        ),
        (
            Package(name="slf4j-api", namespace="org.slf4j", version="1", type=PackageType.MAVEN),
            "org.slf4j:slf4j-api",
        ),
        (Package(name="libc6", namespace="debian", version="1", type=PackageType.DEB), "libc6"),
    ],
)
def test_display_name(package: Package, expected: str) -> None:
    assert display_name(package) == expected
