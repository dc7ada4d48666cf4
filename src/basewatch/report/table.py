"""`--format table`: the inventory as plain, aligned text for a person at a terminal.

Plain text on purpose: it starts fast, pipes into `grep`/`awk`, and diffs well in golden files.
Every string read from the image is made printable first, so a hostile package name cannot send
escape sequences to the user's terminal.
"""

from __future__ import annotations

import unicodedata
from collections import Counter
from typing import TYPE_CHECKING, ClassVar

from basewatch.models import Origin
from basewatch.report.base import display_name, short_digest, sorted_packages

if TYPE_CHECKING:
    from basewatch.models import Inventory, Package

COLUMNS = ("NAME", "VERSION", "TYPE", "SOURCE", "LAYER")
GAP = "  "
MISSING = "-"


class TableReporter:
    """Header lines, one row per package, then the warnings that make the result partial."""

    name: ClassVar[str] = "table"
    media_type: ClassVar[str] = "text/plain; charset=utf-8"

    def render(self, inventory: Inventory) -> bytes:
        lines = [*_header(inventory), ""]
        if inventory.packages:
            rows = [_row(package) for package in sorted_packages(inventory.packages)]
            lines.extend(_align([COLUMNS, *rows]))
        else:
            lines.append("No packages found.")
        if inventory.warnings:
            count = len(inventory.warnings)
            lines.append("")
            lines.append(
                f"WARNING: partial result, {count} problem{'s' if count != 1 else ''}"
                " while reading the image:"
            )
            lines.extend(f"  - {printable(w)}" for w in inventory.warnings)
        return ("\n".join(lines) + "\n").encode("utf-8", "backslashreplace")


def _header(inventory: Inventory) -> list[str]:
    image = inventory.image
    fields = [("Image", image.reference or MISSING)]
    digest = image.manifest_digest or image.config_digest
    if digest:
        fields.append(("Digest", digest))
    fields.append(("Platform", image.platform or MISSING))
    if image.base_name():
        fields.append(("Base", image.base_name()))
    os = inventory.os
    if os is None:
        fields.append(("OS", "not detected"))
    else:
        name = os.pretty_name or " ".join(p for p in (os.id, os.version_id) if p)
        fields.append(("OS", name + (" (distroless)" if os.distroless else "")))
    fields.append(("Packages", _package_count(inventory.packages)))
    width = max(len(label) for label, _ in fields) + 1
    return [f"{label + ':':<{width}} {printable(value)}" for label, value in fields]


def _package_count(packages: tuple[Package, ...]) -> str:
    origins = Counter(p.origin for p in packages)
    if not packages or set(origins) == {Origin.UNKNOWN}:
        return str(len(packages))
    parts = [
        f"{origins[o]} {o.value}" for o in (Origin.BASE, Origin.APP, Origin.UNKNOWN) if origins[o]
    ]
    return f"{len(packages)} ({', '.join(parts)})"


def _row(package: Package) -> tuple[str, ...]:
    source = package.source_name
    if source and package.source_version and package.source_version != package.version:
        source = f"{source}@{package.source_version}"  # one token: the columns stay awk-able
    return (
        display_name(package),
        package.version or MISSING,
        package.type.value,
        source or MISSING,
        short_digest(package.layer) if package.layer else MISSING,
    )


def _align(rows: list[tuple[str, ...]]) -> list[str]:
    cells = [[printable(cell) for cell in row] for row in rows]
    widths = [max(_width(row[i]) for row in cells) for i in range(len(COLUMNS))]
    lines = []
    for row in cells:
        padded = [cell + " " * (widths[i] - _width(cell)) for i, cell in enumerate(row)]
        lines.append(GAP.join(padded).rstrip())
    return lines


def printable(text: str) -> str:
    """`text` with every non-printable character (ESC, CR, lone surrogates...) escaped."""
    if text.isprintable():
        return text
    return "".join(
        c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text
    )


def _width(text: str) -> int:
    """Terminal columns taken by `text`: wide East Asian characters take two."""
    if text.isascii():
        return len(text)
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)
