"""The package's module-level imports form no cycle, and nothing imports the oracle runner back."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "opendepin"


def _module_name(path: Path) -> str:
    rel = path.relative_to(SRC.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _top_level_imports(path: Path) -> set[str]:
    """Modules imported at module level (not inside functions or `if TYPE_CHECKING:`)."""
    tree = ast.parse(path.read_text())
    out: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names if a.name.startswith("opendepin"))
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("opendepin"):
            out.add(node.module)
            out.update(f"{node.module}.{a.name}" for a in node.names)
    return out


def _graph() -> dict[str, set[str]]:
    modules = {_module_name(p): p for p in SRC.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        deps = {d for d in _top_level_imports(path) if d in modules and d != name}
        # importing a.b.c runs a/__init__ and a/b/__init__ first
        parents = {".".join(d.split(".")[:i]) for d in deps for i in range(2, d.count(".") + 1)}
        # A submodule's own ancestors are already initialising when it runs: not an edge.
        graph[name] = {d for d in deps | parents if d != name and not name.startswith(d + ".")}
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for dep in sorted(graph.get(node, ())):
            if state.get(dep) == 1:
                return [*stack[stack.index(dep):], dep]
            if dep not in state and (found := visit(dep)) is not None:
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)) is not None:
            return found
    return None


def test_module_level_imports_have_no_cycle() -> None:
    assert _cycle(_graph()) is None


def _all_imports(path: Path) -> set[str]:
    """Every module named by an import anywhere in the file (type-checking ones included)."""
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            out.add(node.module)
        elif isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
    return out


def test_only_the_composition_root_imports_the_runner() -> None:
    importers = {_module_name(p) for p in SRC.rglob("*.py") if "opendepin.oracle.runner" in _all_imports(p)}
    assert importers <= {"opendepin.oracle", "opendepin.oracle.node", "opendepin.sim.network", "opendepin.cli.oracle_cmd", "opendepin.sim.demo", "opendepin.storage.devnet"}  # the devnet composes and drives its oracle like `depin oracle serve`
    assert "opendepin.oracle.api" not in importers and "opendepin.oracle.audit" not in importers
    assert "opendepin.oracle.sync" not in importers


def test_cycle_finder_finds_a_cycle() -> None:
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
