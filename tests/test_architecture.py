"""The package's shape: no import cycles between its modules, counting imports made inside
functions (a lazy import only hides a cycle) and leaving out ``TYPE_CHECKING`` blocks."""

from __future__ import annotations

import ast
import graphlib
from pathlib import Path

import tokenward

SRC = Path(tokenward.__file__).parent


def module_name(path: Path) -> str:
    parts = path.relative_to(SRC.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported(path: Path, modules: set[str]) -> set[str]:
    """The tokenward modules ``path`` imports at run time, anywhere in the file."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    skipped: set[int] = set()
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skipped.update(id(child) for child in ast.walk(node))
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                kept = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*kept, base] if base else kept)
            for alias in node.names:
                full = f"{base}.{alias.name}"
                found.add(full if full in modules else base)
    # A submodule importing its own package (for a re-exported name) is not a cycle of code.
    return {m for m in found if m in modules and m != name and not name.startswith(m + ".")}


def test_no_module_imports_one_that_imports_it_back() -> None:
    paths = list(SRC.rglob("*.py"))
    modules = {module_name(path) for path in paths}
    graph = {module_name(path): imported(path, modules) for path in paths}
    assert sum(len(edges) for edges in graph.values()) > 200  # the walk found the imports
    graphlib.TopologicalSorter(graph).prepare()  # raises CycleError, naming the cycle
