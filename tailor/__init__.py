"""tailor: measure prompt engineering, RAG and fine-tuning on your own data, then serve the winner.

What the ``tailor`` commands wrap, by the names below (docs/python-api.md shows them at work)::

    import tailor

    ws = tailor.open_workspace(tailor.load_recipe("myproject/tailor.yaml"))
    results = tailor.evaluate(ws)
    print(tailor.recommend(results).headline)

Each name is imported from its module when first used, so ``import tailor`` loads neither torch,
transformers nor the recipe's models: a script or the CLI pays only for what it touches.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from tailor.version import __version__

if TYPE_CHECKING:  # what type checkers and IDEs see; at run time __getattr__ imports each on first use
    from tailor.candidates import evaluate_models, workspaces
    from tailor.compress.variants import Compressed, compress_model
    from tailor.config import Recipe
    from tailor.contract import Answer, Context, Strategy, User
    from tailor.errors import DataError, ModelError, RecipeError, TailorError
    from tailor.eval.results import read_results
    from tailor.eval.runner import evaluate
    from tailor.finetune.train import TrainedModel, ensure_finetuned
    from tailor.prompt.search import TunedPrompt, tune_prompts
    from tailor.rag.pipeline import ReadyIndex, ensure_index
    from tailor.recipe_file import find_recipe, load_recipe
    from tailor.report.compare import Comparison, compare_runs
    from tailor.report.html import Report, write_report
    from tailor.report.recommend import DatasetDecision, Recommendation, recommend
    from tailor.report.settings import ConstraintsConfig
    from tailor.scaffold import DemoRun, init_from_dir, init_project, run_demo
    from tailor.strategies.base import BuiltStrategy, build_strategy
    from tailor.strategies.raft import ensure_raft
    from tailor.synth.pipeline import SynthRun, synthesize
    from tailor.workspace import Workspace, open_workspace

# name → the module that defines it; the same names as the block above (tests/test_python_api.py checks)
_EXPORTS: dict[str, str] = {
    # a project and its recipe (tailor init, tailor demo)
    "init_project": "tailor.scaffold",
    "init_from_dir": "tailor.scaffold",
    "run_demo": "tailor.scaffold",
    "DemoRun": "tailor.scaffold",
    "find_recipe": "tailor.recipe_file",
    "load_recipe": "tailor.recipe_file",
    "Recipe": "tailor.config",
    "ConstraintsConfig": "tailor.report.settings",
    # the recipe's data and model, loaded once (one workspace per model under models:)
    "open_workspace": "tailor.workspace",
    "Workspace": "tailor.workspace",
    "workspaces": "tailor.candidates",
    # examples from your documents (tailor synth)
    "synthesize": "tailor.synth.pipeline",
    "SynthRun": "tailor.synth.pipeline",
    # strategies: built by name, tuned ahead of eval (tailor ingest, tailor tune prompt|train)
    "build_strategy": "tailor.strategies.base",
    "BuiltStrategy": "tailor.strategies.base",
    "Strategy": "tailor.contract",
    "User": "tailor.contract",
    "Answer": "tailor.contract",
    "Context": "tailor.contract",
    "tune_prompts": "tailor.prompt.search",
    "TunedPrompt": "tailor.prompt.search",
    "ensure_index": "tailor.rag.pipeline",
    "ReadyIndex": "tailor.rag.pipeline",
    "ensure_finetuned": "tailor.finetune.train",
    "ensure_raft": "tailor.strategies.raft",
    "TrainedModel": "tailor.finetune.train",
    "compress_model": "tailor.compress.variants",
    "Compressed": "tailor.compress.variants",
    # measuring (tailor eval)
    "evaluate": "tailor.eval.runner",
    "evaluate_models": "tailor.candidates",
    "read_results": "tailor.eval.results",
    # reading it (tailor report)
    "write_report": "tailor.report.html",
    "Report": "tailor.report.html",
    "recommend": "tailor.report.recommend",
    "Recommendation": "tailor.report.recommend",
    "DatasetDecision": "tailor.report.recommend",
    "compare_runs": "tailor.report.compare",
    "Comparison": "tailor.report.compare",
    # what goes wrong, in one line per problem
    "TailorError": "tailor.errors",
    "RecipeError": "tailor.errors",
    "DataError": "tailor.errors",
    "ModelError": "tailor.errors",
}

__all__ = [  # the names above, spelled out so linters and `from tailor import *` see them
    "Answer",
    "BuiltStrategy",
    "Comparison",
    "Compressed",
    "ConstraintsConfig",
    "Context",
    "DataError",
    "DatasetDecision",
    "DemoRun",
    "ModelError",
    "ReadyIndex",
    "Recipe",
    "RecipeError",
    "Recommendation",
    "Report",
    "Strategy",
    "SynthRun",
    "TailorError",
    "TrainedModel",
    "TunedPrompt",
    "User",
    "Workspace",
    "__version__",
    "build_strategy",
    "compare_runs",
    "compress_model",
    "ensure_finetuned",
    "ensure_index",
    "ensure_raft",
    "evaluate",
    "evaluate_models",
    "find_recipe",
    "init_from_dir",
    "init_project",
    "load_recipe",
    "open_workspace",
    "read_results",
    "recommend",
    "run_demo",
    "synthesize",
    "tune_prompts",
    "workspaces",
    "write_report",
]


def __getattr__(name: str) -> Any:
    """``tailor.NAME``: imported from its module on first use, then kept here (PEP 562)."""
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'tailor' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups find it without coming back here
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
