"""raft: rag+finetune trained the RAFT way: the fine-tuning questions shown with their retrieved chunks.

rag+finetune puts a model fine-tuned on bare questions behind rag's retrieval; raft trains its own adapter
on the same records with every question asked as rag asks it, the chunk holding the answer among
distractors (:mod:`tailor.finetune.raft`), and answers behind the same retrieval, prompt search and
citations. Scored beside rag+finetune, the difference between the two is what RAFT's training buys.
"""

from __future__ import annotations

from dataclasses import replace

from tailor.contract import Strategy
from tailor.data.examples import TaskDataset
from tailor.finetune.raft import raft_dir, raft_plan, raft_samples
from tailor.finetune.train import TrainedModel, ensure_finetuned
from tailor.rag.pipeline import INDEX, ensure_index
from tailor.strategies.base import BuiltStrategy, StrategySpec, Update, Updated
from tailor.strategies.finetune import Adapter, retrain, tuned
from tailor.strategies.rag import over_index, rag_with, reingest
from tailor.strategies.rag import search_prompts as rag_search_prompts
from tailor.workspace import Shared, Workspace

NAME = "raft"


def ensure_raft(ws: Workspace, *, strict: bool | None = None) -> TrainedModel:
    """raft's adapter for the recipe (the index ingested first): reused when current, else trained
    (``strict``: as :func:`tailor.finetune.train.ensure_finetuned`'s)."""
    index = ws.shared(INDEX, lambda: ensure_index(ws)).index
    ws.reporter.log(f"raft: training questions shown with their retrieved chunks → {raft_dir(ws)}")
    return ensure_finetuned(ws, strict=strict, plan=raft_plan(ws, index))


RAFT = Adapter(
    Shared("raft"),
    Shared("raft-generator"),
    "+raft",
    ensure_raft,
    # An update's questions are shown with the new version's chunks (its index, reingested first).
    lambda delta, new: raft_samples(delta, new.shared(INDEX, lambda: ensure_index(new)).index),
    raft_dir,
    lambda ws: ws.recipe.raft.seq_tokens,
)


def build(ws: Workspace, dataset: TaskDataset) -> BuiltStrategy:
    trained, generator, training = tuned(ws, RAFT)
    built = rag_with(ws, dataset, NAME, generator, trained.build_s)
    return BuiltStrategy(built.strategy, replace(built.build, training=training))


def search_prompts(ws: Workspace) -> list:
    """raft's prompt searched afresh on its adapter (trained first if missing or stale)."""
    return rag_search_prompts(ws, NAME, tuned(ws, RAFT)[1])


def update(before: Strategy, up: Update) -> Updated:
    """Reingested, then the adapter trained further on what changed, shown with the new chunks; the prompt
    stays the one searched on the old version."""
    cost = reingest(up) + retrain(up, RAFT)
    generator = tuned(up.new, RAFT)[1]
    return rag_with(up.new, up.dataset, NAME, generator, tuned_on=(up.old, up.old_dataset)).strategy, cost


STRATEGY = StrategySpec(
    name=NAME,
    build=build,
    summary="rag+finetune trained the RAFT way: questions shown with retrieved chunks, distractors "
    "included; opt-in (it trains)",
    simplicity=5,  # rag+finetune's parts, and its training depends on the index too
    retrieves=True,
    trains=True,
    update=update,
    sections=("rag", "finetune", "raft"),
    over_index=over_index,
    search=search_prompts,
    train=ensure_raft,
    settings="raft",
)
