"""`import tailor`: cheap to import, every exported name resolves, and docs/python-api.md runs as written."""

from __future__ import annotations

import ast
import importlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

import tailor

ROOT = Path(__file__).resolve().parent.parent
PAGE = ROOT / "docs" / "python-api.md"
HEAVY = ("torch", "transformers", "peft", "pydantic", "lancedb", "typer", "numpy")


def _imported_by(code: str) -> set[str]:
    """The modules a fresh interpreter holds after running ``code``."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    script = f"import sys, json\n{code}\nprint(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True)
    return set(json.loads(out.stdout.splitlines()[-1]))


def test_import_tailor_loads_no_heavy_dependency_and_no_plugin() -> None:
    loaded = _imported_by("import tailor\ntailor.__version__, dir(tailor), tailor.__all__")
    assert {m for m in loaded if m.split(".")[0] in HEAVY} == set()
    assert {m for m in loaded if m.startswith("tailor")} == {"tailor", "tailor.version"}


def test_a_name_is_imported_from_its_module_on_first_use() -> None:
    loaded = _imported_by("import tailor\ntailor.User")
    assert "tailor.contract" in loaded and "tailor.eval.runner" not in loaded


def _type_checking_imports() -> dict[str, str]:
    """name → module, from the ``if TYPE_CHECKING:`` block of tailor/__init__.py (what type checkers see)."""
    tree = ast.parse(Path(tailor.__file__).read_text(encoding="utf-8"))
    block = next(n for n in tree.body if isinstance(n, ast.If) and ast.unparse(n.test) == "TYPE_CHECKING")
    return {a.name: node.module for node in block.body if isinstance(node, ast.ImportFrom) for a in node.names}


def test_every_exported_name_resolves_to_the_object_its_module_defines() -> None:
    declared = _type_checking_imports()
    assert set(tailor.__all__) == {"__version__", *declared}  # type checkers and run time see the same names
    assert set(tailor.__all__) <= set(dir(tailor))
    for name, module in declared.items():
        assert getattr(tailor, name) is getattr(importlib.import_module(module), name), name
    namespace: dict[str, object] = {}
    exec("from tailor import *", namespace)
    assert {n for n in namespace if not n.startswith("__")} == set(declared)


def test_an_unknown_name_is_an_error_naming_it() -> None:
    with pytest.raises(AttributeError, match="'no_such_thing'"):
        tailor.no_such_thing  # noqa: B018
    with pytest.raises(ImportError, match="no_such_thing"):
        from tailor import no_such_thing  # noqa: F401
    from tailor import plugins  # submodules still import as before

    assert plugins.__name__ == "tailor.plugins"


def _python_blocks(page: Path) -> list[tuple[int, str]]:
    """(first line, code) of every ```python block on the page."""
    text = page.read_text(encoding="utf-8")
    return [
        (text[: m.start(1)].count("\n") + 1, m.group(1))
        for m in re.finditer(r"^```python\n(.*?)^```$", text, flags=re.S | re.M)
    ]


def _cheap_project(root: Path) -> Path:
    """`tailor init myproject --size tiny`, cut down to seconds: the qa dataset, four examples scored, one
    prompt variant on two dev examples, two training steps, the task suite. Every component is the real one."""
    path = tailor.init_project(root / "myproject", size="tiny")
    recipe = yaml.safe_load(path.read_text())
    recipe["data"]["examples"] = recipe["data"]["examples"][:1]  # qa
    recipe["strategies"] = ["baseline", "prompt", "rag"]
    recipe["suites"] = ["task"]
    recipe["generation"] = {"max_new_tokens": 8}
    recipe["prompt"] = {"candidates": 1, "dev_size": 2, "confirm_size": 0, "shots": [0], "context_tokens": 0}
    recipe["rag"] = {"k": 2, "shots": 0, "context_tokens": 192}
    recipe["finetune"] = {"max_steps": 2, "batch_size": 2, "dev_every": 0, "save_steps": 2, "max_seq_tokens": 64}
    recipe["finetune"] |= {"knowledge": False, "knowledge_qa": 0}
    recipe["eval"] = {"mode": "quick", "limit": 4}
    path.write_text(yaml.safe_dump(recipe))
    return path


@pytest.mark.slow
def test_the_python_api_page_runs_as_written(tmp_path: Path, monkeypatch, capsys) -> None:
    """Every ```python block of docs/python-api.md, in order, as one script, on the real model and index."""
    blocks = _python_blocks(PAGE)
    assert len(blocks) >= 5 and all("import tailor" in code or "tailor." in code for _, code in blocks[:1])
    _cheap_project(tmp_path)
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {"__name__": "__main__"}
    printed = []
    for line, code in blocks:
        exec(compile(code, f"{PAGE}:{line}", "exec"), namespace)
        printed.append(capsys.readouterr().out)
    assert all(printed), "every block prints what it shows"

    out = tmp_path / "myproject" / "runs" / "latest"
    results = json.loads((out / "results.json").read_text())
    assert {r["strategy"] for r in results["results"]} == {"baseline", "prompt", "rag"}
    recommendation = json.loads((out / "recommendation.json").read_text())
    assert namespace["report"].recommendation.headline == recommendation["headline"]
    assert (out / "report.html").is_file() and (out / "prompt" / "qa.json").is_file()
    assert namespace["trained"].model_dir.is_dir() and namespace["trained"].manifest["steps"] == 2
    assert namespace["what_if"].constraints["ml_expertise"] == "none"
    assert printed[-1].strip() == f"{Path('myproject/no-such-recipe.yaml')}: recipe not found"
