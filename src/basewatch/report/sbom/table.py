"""`--format table`: the inventory as plain, aligned text for a person at a terminal.

Plain text on purpose: it starts fast, pipes into `grep`/`awk`, and diffs well in golden files.
Every string read from the image is made printable first, so a hostile package name cannot send
escape sequences to the user's terminal.
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, ClassVar

from basewatch.models import Origin
from basewatch.report.common import display_name, short_digest, sorted_packages
from basewatch.report.text import MISSING, align_columns, printable

if TYPE_CHECKING:
    from basewatch.models import Inventory, Package

COLUMNS = ("NAME", "VERSION", "TYPE", "SOURCE", "LAYER")


class TableReporter:
    """Header lines, one row per package, then the warnings that make the result partial."""

    name: ClassVar[str] = "table"
    media_type: ClassVar[str] = "text/plain; charset=utf-8"

    def render(self, inventory: Inventory) -> bytes:
        lines = [*_header(inventory), ""]
        if inventory.packages:
            rows = [_row(package) for package in sorted_packages(inventory.packages)]
            lines.extend(align_columns([COLUMNS, *rows]))
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
