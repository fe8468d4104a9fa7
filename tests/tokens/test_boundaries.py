"""Imports run one way, stores -> tokens: no cycle, not even a type-only one (issue 9.7).

The graph is read from the source with :mod:`ast`, so imports under
``if TYPE_CHECKING:`` count too. Importing ``a.b.c`` runs ``a.b`` first, so an edge to
a module is also an edge to its packages (except the importer's own, already running).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "bearerguard"


def _modules() -> dict[str, tuple[Path, bool]]:
    found = {}
    for file in PACKAGE.rglob("*.py"):
        parts = file.relative_to(PACKAGE.parent).with_suffix("").parts
        is_package = parts[-1] == "__init__"
        found[".".join(parts[:-1] if is_package else parts)] = (file, is_package)
    return found


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    graph: dict[str, set[str]] = {}
    for name, (file, is_package) in modules.items():
        here = name.split(".") if is_package else name.split(".")[:-1]
        targets: list[str] = []
        for node in ast.walk(ast.parse(file.read_text())):
            if isinstance(node, ast.Import):
                targets += [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = here[: len(here) - node.level + 1] if node.level else []
                target = ".".join([*base, *([node.module] if node.module else [])])
                targets.append(target)
                targets += [f"{target}.{alias.name}" for alias in node.names]
        edges = set()
        for target in targets:
            parts = target.split(".")
            for end in range(2, len(parts) + 1):
                prefix = ".".join(parts[:end])
                if prefix in modules and prefix != name and not name.startswith(prefix + "."):
                    edges.add(prefix)
        graph[name] = edges
    return graph


def _reachable(graph: dict[str, set[str]], start: str) -> set[str]:
    seen: set[str] = set()
    todo = list(graph[start])
    while todo:
        module = todo.pop()
        if module not in seen:
            seen.add(module)
            todo += graph.get(module, ())
    return seen


def _inside(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


@pytest.mark.parametrize("package", ["bearerguard.tokens", "bearerguard.stores"])
def test_no_import_cycle_through_the_token_packages(package: str) -> None:
    graph = _graph()
    for module in [name for name in graph if _inside(name, package)]:
        assert module not in _reachable(graph, module), f"{module} imports itself"


def test_tokens_import_no_store_and_no_core_module() -> None:
    graph = _graph()
    for module in [name for name in graph if _inside(name, "bearerguard.tokens")]:
        reached = _reachable(graph, module)
        assert not any(_inside(other, "bearerguard.stores") for other in reached), module
        assert "bearerguard.guard" not in reached, module


def test_the_store_port_is_one_set_of_objects_under_both_names() -> None:
    import bearerguard.stores as stores
    import bearerguard.tokens as tokens

    for name in ("SCHEMA_VERSION", "Row", "StoreError", "TokenStore"):
        assert getattr(stores, name) is getattr(tokens, name)
        assert name in stores.__all__
        assert name in tokens.__all__
