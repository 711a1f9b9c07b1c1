"""Strategy factories by recipe name. A new strategy (rag, finetune) is one more entry here."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tailor.contract import PromptedStrategy, Strategy
from tailor.data.examples import TaskDataset
from tailor.models.base import Generator
from tailor.prompt.builder import baseline_builder
from tailor.workspace import Workspace

if TYPE_CHECKING:
    from tailor.rag.index import ChunkIndex


@dataclass(frozen=True)
class BuiltStrategy:
    strategy: Strategy
    build_s: float = 0.0  # what building it cost (search, indexing, training), for the cost suite
    info: dict[str, Any] = field(default_factory=dict)


def _baseline(ws: Workspace, dataset: TaskDataset) -> BuiltStrategy:
    return BuiltStrategy(
        PromptedStrategy("baseline", ws.generator, baseline_builder(dataset), ws.settings_for(dataset))
    )


def _prompt(ws: Workspace, dataset: TaskDataset) -> BuiltStrategy:
    from tailor.prompt.search import build_prompt_strategy, ensure_tuned

    tuned = ensure_tuned(ws, dataset)
    info = {
        "spec": tuned.spec.describe(),
        "dev_metric": tuned.metric,
        "dev_score": tuned.dev_score,
        "n_dev": tuned.n_dev,
        "context_coverage": list(tuned.coverage),
    }
    return BuiltStrategy(build_prompt_strategy(ws, dataset, tuned.spec), tuned.tune_s, info)


def _rag(ws: Workspace, dataset: TaskDataset) -> BuiltStrategy:
    return _rag_with(ws, dataset, "rag", ws.generator)


def _rag_with(
    ws: Workspace,
    dataset: TaskDataset,
    name: str,
    generator: Generator,
    build_s: float = 0.0,
    index: ChunkIndex | None = None,
) -> BuiltStrategy:
    from tailor.prompt.builder import ShotPool
    from tailor.rag.pipeline import cite, context_budget, ensure_index, rag_builder

    if index is None:
        index = ws.shared("rag-index", lambda: ensure_index(ws)).index
    settings = ws.settings_for(dataset)
    budget = context_budget(ws, settings.max_new_tokens)
    pool = ShotPool(dataset.split("train"), ws.recipe.seed)
    builder = rag_builder(index, ws.recipe.rag, ws.generator.count_tokens, budget, pool)
    info = {"chunks": len(index), "embedder": index.settings.embedder, "index_version": index.version}
    strategy = PromptedStrategy(name, generator, builder, settings, finish=cite)
    return BuiltStrategy(strategy, index.build_s + build_s, info)


def over_index(ws: Workspace, dataset: TaskDataset, strategy: Strategy, index: ChunkIndex) -> Strategy | None:
    """``strategy`` retrieving from ``index`` instead of the recipe's (same model, prompt and
    citations); None for a strategy that does not retrieve. The robustness suite plants documents this way."""
    if strategy.name not in RETRIEVING:
        return None
    return _rag_with(ws, dataset, strategy.name, strategy.generator, index=index).strategy


def _tuned(ws: Workspace):
    """The fine-tuned model (trained once per workspace) and a generator over it, shared by its strategies."""
    from tailor.finetune.model import load_tuned_model
    from tailor.finetune.train import base_model_dir, ensure_finetuned

    trained = ws.shared("finetune", lambda: ensure_finetuned(ws))
    generator = ws.shared(
        "finetune-generator",
        lambda: load_tuned_model(trained.model_dir, base_model_dir(ws), ws.generator.tokenizer, f"{ws.generator.name}+ft"),
    )
    m = trained.manifest
    keys = ("method", "steps", "final_loss", "tokens_seen", "tokens_per_s", "sequences", "resumed_from_step")
    info = {k: m.get(k) for k in keys}
    return trained, generator, info


def tuned_generator(ws: Workspace):
    """The generator over the fine-tuned model (trained first if it is missing or stale)."""
    return _tuned(ws)[1]


def _finetune(ws: Workspace, dataset: TaskDataset) -> BuiltStrategy:
    trained, generator, info = _tuned(ws)
    # Asked exactly as baseline is: what changed is the weights, not the prompt.
    strategy = PromptedStrategy("finetune", generator, baseline_builder(dataset), ws.settings_for(dataset))
    return BuiltStrategy(strategy, trained.build_s, info)


def _rag_finetune(ws: Workspace, dataset: TaskDataset) -> BuiltStrategy:
    trained, generator, info = _tuned(ws)
    # The same retrieval, prompt and citations as rag; the tuned weights answer. Building costs both.
    built = _rag_with(ws, dataset, "rag+finetune", generator, trained.build_s)
    return BuiltStrategy(built.strategy, built.build_s, built.info | {"finetune": info})


RETRIEVING = ("rag", "rag+finetune")  # the strategies whose prompt holds retrieved chunks
FACTORIES: dict[str, Callable[[Workspace, TaskDataset], BuiltStrategy]] = {
    "baseline": _baseline,
    "prompt": _prompt,
    "rag": _rag,
    "finetune": _finetune,
    "rag+finetune": _rag_finetune,
}


def build_strategy(name: str, ws: Workspace, dataset: TaskDataset) -> BuiltStrategy:
    return FACTORIES[name](ws, dataset)
