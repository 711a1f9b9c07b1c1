"""The package's shape: no import cycle (lazy and type-only imports count), no arrow from the layers
below into a plug-in, no module over 700 lines (a warning over 500), no function over 60 lines.

Imports are read from the source (every ``import`` statement, inside functions and under
``if TYPE_CHECKING:`` too: a type-only import still ties the two modules' meaning together). A cycle is a
strongly connected group of modules; the test names every module in it. The plug-in registry's
``importlib`` loads by name are not arrows: the registry is discovery, and depends on no plug-in.
"""

from __future__ import annotations

import ast
import warnings
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "tailor"
MAX_LINES = 700  # a module this long is a defect (STYLE.md 10)
WARN_LINES = 500  # a module this long is a question: is it still one idea?
MAX_FUNCTION_LINES = 60  # a function this long is steps that want names
# Plug-in modules (found by the registry, never imported by the layers they plug into).
PLUGIN_PACKAGES = ("tailor.eval.suites.", "tailor.strategies.", "tailor.rag.stores.")
PLUGIN_BASES = ("tailor.strategies.base",)  # a plug-in package's contract, importable by all


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


def import_graph(*, type_only: bool = True) -> dict[str, set[str]]:
    """Module → the tailor modules it imports (a ``from pkg import name`` counts ``pkg.name`` if a module);
    ``type_only=False`` leaves out the imports under ``if TYPE_CHECKING:`` (what runs)."""
    modules = _modules()

    def resolve(name: str) -> str | None:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, set[str]] = {m: set() for m in modules}
    for module, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        skip = set() if type_only else _type_only(tree)
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


def test_no_import_cycles_counting_type_only_imports():
    graph = import_graph()
    assert graph["tailor.eval.runner"] >= {"tailor.plugins", "tailor.eval.base"}  # the graph is real
    assert "tailor.report.html" in graph["tailor.scaffold"]  # type-only imports are in it
    assert cycles(graph) == []


def test_the_registry_imports_nothing_of_tailor():
    assert import_graph()["tailor.plugins"] == set()


def _plugin(module: str) -> bool:
    return module.startswith(PLUGIN_PACKAGES) and module not in PLUGIN_BASES


def test_no_layer_imports_a_plug_in():
    """Scoring, measuring, searching, training and serving are leaves or contracts: only a plug-in's own
    package, the CLI (which wires commands to them) and the package's face (`import tailor`, which names
    what the CLI wraps) may import a plug-in module by name."""
    arrows = {
        (module, target)
        for module, targets in import_graph().items()
        for target in targets
        if _plugin(target)
        and not module.startswith(target.rpartition(".")[0])
        and not module.startswith("tailor.cli")
        and module != "tailor"
    }
    assert arrows == set()


def test_no_module_over_700_lines():
    sizes = {str(p.relative_to(PACKAGE.parent)): len(p.read_text().splitlines()) for p in PACKAGE.rglob("*.py")}
    for path, n in sizes.items():
        if n > WARN_LINES:
            warnings.warn(f"{path} has {n} lines: is it still one idea?", stacklevel=1)
    assert {path: n for path, n in sizes.items() if n > MAX_LINES} == {}


def test_no_function_over_60_lines():
    long = {}
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                n = node.end_lineno - node.lineno + 1
                if n > MAX_FUNCTION_LINES:
                    long[f"{path.relative_to(PACKAGE.parent)}:{node.lineno} {node.name}"] = n
    assert long == {}
