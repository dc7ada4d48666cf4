"""The shape of `basewatch.report`: families import shared modules, never the reverse, never each
other; only the dispatcher (`report/formats.py`) reaches into the families, and nothing inside
report/ imports it back; no import cycle anywhere inside it (imports inside functions and
under TYPE_CHECKING count too: a lazy import back is a cycle all the same)."""

from __future__ import annotations

import ast
from collections.abc import Mapping, Set
from pathlib import Path

import pytest

import basewatch

SRC = Path(basewatch.__file__).parent
REPORT = SRC / "report"
PACKAGE = "basewatch.report"
DISPATCHER = "basewatch.report.formats"  # every format's renderer, imported when asked for
FAMILIES = frozenset({"sbom", "scan", "policy", "compat", "compare", "advise", "lint"})
# The layers above report/ (DESIGN.md): only they may render.
RENDERING_LAYERS = frozenset({"cli", "service", "jobs", "report"})


def module_name(path: Path) -> str:
    parts = path.relative_to(SRC.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path, known: Set[str]) -> set[str]:
    """Every module of `known` that `path` imports, wherever the import statement is."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            # `from basewatch.report import cyclonedx` imports a module, not a name
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return {name for name in found if name in known}


def report_graph() -> dict[str, set[str]]:
    paths = {module_name(p): p for p in REPORT.rglob("*.py")}
    known = set(paths)
    return {name: imported_modules(path, known) - {name} for name, path in paths.items()}


def find_cycle(graph: Mapping[str, Set[str]]) -> list[str]:
    """One import cycle of `graph` (module -> modules it imports), as a path whose last element
    is its first; [] when there is none."""
    done: set[str] = set()
    path: list[str] = []
    on_path: set[str] = set()

    def visit(node: str) -> list[str]:
        path.append(node)
        on_path.add(node)
        for target in sorted(graph.get(node, ())):
            if target in on_path:
                return [*path[path.index(target) :], target]
            if target not in done:
                cycle = visit(target)
                if cycle:
                    return cycle
        path.pop()
        on_path.discard(node)
        done.add(node)
        return []

    for start in sorted(graph):
        if start not in done:
            cycle = visit(start)
            if cycle:
                return cycle
    return []


def family_of(module: str) -> str:
    """The family a report module belongs to, or "" for a shared module (report/*.py)."""
    parts = module.split(".")
    return parts[2] if len(parts) > 3 else ""


def test_find_cycle_finds_one() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) == []
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"a"}}) == ["a", "a"]


def test_the_graph_sees_lazy_and_type_only_imports() -> None:
    graph = report_graph()
    # scan_renderer imports its renderers inside the function; the Renderer type under TYPE_CHECKING
    assert "basewatch.report.scan.table" in graph[DISPATCHER]
    assert "basewatch.report.renderer" in graph[DISPATCHER]


def test_every_family_has_its_folder() -> None:
    folders = {p.name for p in REPORT.iterdir() if p.is_dir() and p.name != "__pycache__"}
    assert folders == FAMILIES


def test_nothing_in_report_imports_the_dispatcher() -> None:
    graph = report_graph()
    assert {module for module, targets in graph.items() if DISPATCHER in targets} == set()


def test_no_cycle_inside_report() -> None:
    assert find_cycle(report_graph()) == []


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_families_import_only_shared_modules_and_their_own(family: str) -> None:
    graph = report_graph()
    wrong = {
        (module, target)
        for module, targets in graph.items()
        if family_of(module) == family
        for target in targets
        if family_of(target) not in ("", family)
    }
    assert wrong == set()


def test_shared_modules_import_no_family() -> None:
    graph = report_graph()
    wrong = {
        (module, target)
        for module, targets in graph.items()
        if not family_of(module) and module != DISPATCHER
        for target in targets
        if family_of(target)
    }
    assert wrong == set()


def test_only_the_layers_above_import_report() -> None:
    importers = set()
    for path in SRC.rglob("*.py"):
        layer = path.relative_to(SRC).parts[0].removesuffix(".py")
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else []
            )
            if any(n == PACKAGE or n.startswith(PACKAGE + ".") for n in names):
                importers.add(layer)
    assert importers <= RENDERING_LAYERS
