"""The import graph flows one way, as docs/architecture.md draws it.

Every `import` in src/basewatch (top-level, inside functions and under TYPE_CHECKING alike) is
read with `ast`, and checked against the layers: a package imports only from its own layer's
packages (without a cycle between them) or from layers below; no two packages import each other,
even through others; no module imports itself back through others; and no package reaches into
another's `_private` names.
"""

from __future__ import annotations

import ast
import itertools
from collections.abc import Iterator
from pathlib import Path

import basewatch

SRC = Path(basewatch.__file__).parent

# Highest first. A top-level module is a "package" of its own name.
LAYERS: tuple[frozenset[str], ...] = (
    frozenset({"cli", "service", "__main__"}),
    frozenset({"api"}),
    frozenset({"jobs"}),
    frozenset({"report"}),
    frozenset({"store"}),
    frozenset({"matching", "policy", "sbom", "lint", "compat", "advice"}),
    frozenset({"oci", "inventory", "vulndb", "elf"}),
    frozenset({"versions"}),
    frozenset(
        {
            "models",
            "defaults",
            "codec",
            "errors",
            "settings",
            "clock",
            "config_file",
            "progress",
            "arch",
            "untrusted",
            "scratch",
            "__init__",
        }
    ),
)


def _layer(package: str) -> int:
    for depth, layer in enumerate(LAYERS):
        if package in layer:
            return depth
    raise AssertionError(f"basewatch.{package} is in no layer: add it to LAYERS and the docs")


def _module_name(path: Path) -> str:
    parts = path.relative_to(SRC.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _package(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _imports(path: Path) -> Iterator[tuple[str, tuple[str, ...], int]]:
    """(imported module, names imported from it, line) for every import of basewatch code."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    here = _module_name(path)
    is_package = path.name == "__init__.py"
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "basewatch":
                    yield alias.name, (), node.lineno
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = here.split(".")
                base = base if is_package else base[:-1]
                base = base[: len(base) - (node.level - 1)]
                module = ".".join([*base, node.module] if node.module else base)
            else:
                module = node.module or ""
            if module.split(".")[0] != "basewatch":
                continue
            names = tuple(alias.name for alias in node.names)
            yield module, names, node.lineno


def _graph() -> dict[str, dict[str, list[tuple[tuple[str, ...], int]]]]:
    modules = {_module_name(p): p for p in SRC.rglob("*.py")}
    graph: dict[str, dict[str, list[tuple[tuple[str, ...], int]]]] = {}
    for name, path in modules.items():
        edges = graph.setdefault(name, {})
        for module, names, line in _imports(path):
            # `from basewatch.pkg import module` imports the module, not a name of pkg
            targets = [f"{module}.{n}" for n in names if f"{module}.{n}" in modules] or [module]
            for target in targets:
                edges.setdefault(target, []).append((names, line))
    return graph


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one node (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = itertools.count()

    def visit(node: str) -> None:
        index[node] = low[node] = next(counter)
        stack.append(node)
        on_stack.add(node)
        for succ in edges.get(node, ()):
            if succ not in index:
                visit(succ)
                low[node] = min(low[node], low[succ])
            elif succ in on_stack:
                low[node] = min(low[node], index[succ])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def test_every_import_runs_down_the_layers() -> None:
    upward = []
    for importer, targets in _graph().items():
        source = _package(importer)
        for target, uses in targets.items():
            dest = _package(target)
            if dest != source and _layer(dest) < _layer(source):
                upward.append(f"{importer} (line {uses[0][1]}) imports {target}, a layer up")
    assert not upward, "\n".join(upward)


def test_no_two_packages_import_each_other() -> None:
    edges: dict[str, set[str]] = {}
    for importer, targets in _graph().items():
        for target in targets:
            if _package(target) != _package(importer):
                edges.setdefault(_package(importer), set()).add(_package(target))
    cycles = _cycles(edges)
    assert not cycles, "\n".join(" <-> ".join(c) for c in cycles)


def test_no_module_imports_itself_back() -> None:
    graph = _graph()
    edges = {importer: {t for t in targets if t in graph} for importer, targets in graph.items()}
    # a package's __init__ re-exporting its own modules is not a cycle of the code's flow
    edges = {
        m: {
            t
            for t in ts
            if not (t.startswith(m + ".") and (SRC.parent / m.replace(".", "/")).is_dir())
        }
        for m, ts in edges.items()
    }
    cycles = _cycles(edges)
    assert not cycles, "\n".join(" <-> ".join(c) for c in cycles)


def test_no_package_reaches_into_another_s_private_names() -> None:
    reached = []
    for importer, targets in _graph().items():
        for target, uses in targets.items():
            if _package(target) == _package(importer):
                continue
            private_module = any(
                part.startswith("_") and part != "__init__" for part in target.split(".")[1:]
            )
            private_names = [
                n
                for names, _ in uses
                for n in names
                if n.startswith("_") and not n.startswith("__")
            ]
            if private_module or private_names:
                reached.append(f"{importer} imports {target} {private_names or ''}".strip())
    assert not reached, "\n".join(reached)


def test_the_layer_table_knows_every_package() -> None:
    packages = {_package(_module_name(p)) for p in SRC.rglob("*.py")}
    for package in packages:
        _layer(package)
