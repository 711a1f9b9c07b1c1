"""The package's shape: no import cycle (lazy imports count), no module over 700 lines (a warning over 500).

Imports are read from the source (every ``import`` statement, inside functions too); those under
``if TYPE_CHECKING:`` are left out, since they never run. A cycle is a strongly connected group of
modules; the test names every module in it.
"""

from __future__ import annotations

import ast
import warnings
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "tailor"
MAX_LINES = 700  # a module this long is a defect (STYLE.md 10)
WARN_LINES = 500  # a module this long is a question: is it still one idea?


def _modules() -> dict[str, Path]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def _type_only(tree: ast.AST) -> set[int]:
    skip = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and ast.unparse(node.test) in ("TYPE_CHECKING", "typing.TYPE_CHECKING"):
            for stmt in node.body:
                skip |= {id(n) for n in ast.walk(stmt)}
    return skip


def import_graph() -> dict[str, set[str]]:
    """Module → the tailor modules it imports (a ``from pkg import name`` counts ``pkg.name`` if a module)."""
    modules = _modules()

    def resolve(name: str) -> str | None:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, set[str]] = {m: set() for m in modules}
    for module, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        skip = _type_only(tree)
        for node in ast.walk(tree):
            if id(node) in skip:
                continue
            targets = []
            if isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").startswith("tailor"):
                targets = [resolve(f"{node.module}.{a.name}") or resolve(node.module) for a in node.names]
            elif isinstance(node, ast.Import):
                targets = [resolve(a.name) for a in node.names if a.name.startswith("tailor")]
            graph[module] |= {t for t in targets if t and t != module}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_checker_finds_a_cycle_through_a_lazy_import():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == [["a", "b", "c"]]
    lazy = ast.parse("def f():\n    from tailor.config import Recipe\n")
    assert any(isinstance(n, ast.ImportFrom) for n in ast.walk(lazy))  # walked, not only the top level


def test_no_import_cycles():
    graph = import_graph()
    assert graph["tailor.eval.runner"] >= {"tailor.plugins", "tailor.eval.base"}  # the graph is real
    assert cycles(graph) == []


def test_plugins_module_imports_nothing_of_tailor_at_run_time():
    assert import_graph()["tailor.plugins"] == set()


def test_no_module_over_700_lines():
    sizes = {str(p.relative_to(PACKAGE.parent)): len(p.read_text().splitlines()) for p in PACKAGE.rglob("*.py")}
    for path, n in sizes.items():
        if n > WARN_LINES:
            warnings.warn(f"{path} has {n} lines: is it still one idea?", stacklevel=1)
    assert {path: n for path, n in sizes.items() if n > MAX_LINES} == {}
