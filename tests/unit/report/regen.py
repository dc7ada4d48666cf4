"""The golden files of the report tests, and the one command that rewrites them.

    .venv/bin/python -m tests.unit.report.regen

Run it from the repository root after an intended change to a renderer, then review
`git diff tests/unit/report/golden/` before committing: the diff is the change users will see.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from basewatch.report.sbom.cyclonedx import CycloneDXReporter
from basewatch.report.sbom.json import JsonReporter
from basewatch.report.sbom.table import TableReporter
from basewatch.report.scan.cyclonedx import ScanCycloneDXReporter
from basewatch.report.scan.json import ScanJsonReporter
from basewatch.report.scan.markdown import ScanMarkdownReporter
from basewatch.report.scan.sarif import SarifReporter
from basewatch.report.scan.table import ScanTableReporter
from tests.unit.report.conftest import NOW, SERIAL, make_inventory, make_minimal_inventory
from tests.unit.report.scan_fixtures import make_clean_scan_result, make_scan_result

GOLDEN_DIR = Path(__file__).parent / "golden"

GOLDEN: dict[str, Callable[[], bytes]] = {
    "table.txt": lambda: TableReporter().render(make_inventory()),
    "table-minimal.txt": lambda: TableReporter().render(make_minimal_inventory()),
    "inventory.json": lambda: JsonReporter().render(make_inventory()),
    "inventory-minimal.json": lambda: JsonReporter().render(make_minimal_inventory()),
    "sbom.cdx.json": lambda: CycloneDXReporter(now=NOW, serial=SERIAL).render(make_inventory()),
    "sbom-minimal.cdx.json": lambda: CycloneDXReporter(now=NOW, serial=SERIAL).render(
        make_minimal_inventory()
    ),
    # `basewatch scan`
    "scan-table.txt": lambda: ScanTableReporter().render(make_scan_result()),
    "scan-table-clean.txt": lambda: ScanTableReporter().render(make_clean_scan_result()),
    "scan.md": lambda: ScanMarkdownReporter().render(make_scan_result()),
    "scan-clean.md": lambda: ScanMarkdownReporter().render(make_clean_scan_result()),
    "scan.sarif": lambda: SarifReporter().render(make_scan_result()),
    "scan.json": lambda: ScanJsonReporter().render(make_scan_result()),
    "scan-clean.json": lambda: ScanJsonReporter().render(make_clean_scan_result()),
    "scan.cdx.json": lambda: ScanCycloneDXReporter(now=NOW, serial=SERIAL).render(
        make_scan_result()
    ),
    "scan-clean.cdx.json": lambda: ScanCycloneDXReporter(now=NOW, serial=SERIAL).render(
        make_clean_scan_result()
    ),
}


def check_golden(name: str) -> None:
    """Assert that the renderer's current output is byte-for-byte the golden file `name`."""
    path = GOLDEN_DIR / name
    assert path.exists(), f"{path} is missing: run python -m tests.unit.report.regen"
    actual = GOLDEN[name]()
    assert actual.decode() == path.read_text(encoding="utf-8"), (
        f"{name} differs from its golden file; if intended, run "
        "python -m tests.unit.report.regen and review the diff"
    )


def check_golden_across_hash_seeds(name: str, seeds: tuple[str, ...] = ("1", "2", "3")) -> None:
    """`check_golden` in fresh interpreters with these PYTHONHASHSEEDs: nothing in the output
    may follow set or dict-of-set order, which changes from one process to the next."""
    expected = (GOLDEN_DIR / name).read_bytes()
    for seed in seeds:
        rendered = subprocess.run(
            [sys.executable, "-m", "tests.unit.report.regen", "--print", name],
            cwd=Path(__file__).parents[3],
            env={**os.environ, "PYTHONHASHSEED": seed},
            capture_output=True,
            check=True,
        ).stdout
        assert rendered == expected, f"{name} differs with PYTHONHASHSEED={seed}"


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["--print"]:
        sys.stdout.buffer.write(GOLDEN[args[1]]())
        return
    GOLDEN_DIR.mkdir(exist_ok=True)
    for name, render in GOLDEN.items():
        (GOLDEN_DIR / name).write_bytes(render())
        print(f"wrote {GOLDEN_DIR / name}")


if __name__ == "__main__":
    main()
