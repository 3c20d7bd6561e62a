"""The package's modules import in one direction: no cycle, counting imports inside
functions and under TYPE_CHECKING (found by walking each module's syntax tree)."""

from __future__ import annotations

import ast
from pathlib import Path

import pianogen

PACKAGE = Path(pianogen.__file__).parent


def imports_of(source: str) -> set[str]:
    """The ``pianogen`` modules a module's source imports, wherever the import stands."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        else:
            continue
        for name in names:
            parts = name.split(".")
            if parts[0] == "pianogen" and len(parts) >= 2:
                found.add(parts[1])
    return found


def graph() -> dict[str, set[str]]:
    modules = {p.stem for p in PACKAGE.glob("*.py") if p.stem != "__init__"}
    return {
        m: (imports_of((PACKAGE / f"{m}.py").read_text()) & modules) - {m} for m in sorted(modules)
    }


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a path ``[a, b, ..., a]``, or ``None``."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(edges):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_the_walker_sees_function_level_and_type_checking_imports():
    source = (
        "from typing import TYPE_CHECKING\n"
        "from pianogen.io import atomic_path\n"
        "if TYPE_CHECKING:\n    from pianogen.train import Run\n"
        "def f():\n    from pianogen import tokens as tok\n    import pianogen.cache\n"
    )
    assert imports_of(source) == {"io", "train", "tokens", "cache"}
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None


def test_no_import_cycle_among_pianogen_modules():
    edges = graph()
    assert len(edges) > 20  # the walker found the package
    assert find_cycle(edges) is None, f"import cycle: {' -> '.join(find_cycle(edges))}"


def test_every_module_declares_its_public_api():
    """Each module's ``__all__`` is its contract: present, and every name in it exists."""
    import importlib

    for module in sorted(graph()):
        mod = importlib.import_module(f"pianogen.{module}")
        assert hasattr(mod, "__all__"), f"pianogen.{module} has no __all__"
        missing = [name for name in mod.__all__ if not hasattr(mod, name)]
        assert not missing, f"pianogen.{module}.__all__ names missing {missing}"
