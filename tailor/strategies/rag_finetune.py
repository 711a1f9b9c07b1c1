"""rag+finetune: the fine-tuned model behind rag's retrieval, prompt and citations."""

from __future__ import annotations

from dataclasses import replace

from tailor.contract import Strategy
from tailor.data.examples import TaskDataset
from tailor.strategies.base import BuiltStrategy, StrategySpec, Update, Updated
from tailor.strategies.finetune import retrain, tuned
from tailor.strategies.rag import over_index, rag_with, reingest
from tailor.strategies.rag import search_prompts as rag_search_prompts
from tailor.workspace import Workspace

NAME = "rag+finetune"


def build(ws: Workspace, dataset: TaskDataset) -> BuiltStrategy:
    trained, generator, training = tuned(ws)
    # rag's retrieval and citations, and a prompt searched as rag's is but on the tuned weights, which
    # answer. Building costs training, indexing and the search.
    built = rag_with(ws, dataset, NAME, generator, trained.build_s)
    return BuiltStrategy(built.strategy, replace(built.build, training=training))


def search_prompts(ws: Workspace) -> list:
    """rag+finetune's prompt searched afresh on its tuned model (trained first if missing or stale)."""
    return rag_search_prompts(ws, NAME, tuned(ws)[1])


def update(before: Strategy, up: Update) -> Updated:
    """Reingested and retrained; the prompt stays the one searched on the old version."""
    cost = reingest(up) + retrain(up)
    generator = tuned(up.new)[1]
    return rag_with(up.new, up.dataset, NAME, generator, tuned_on=(up.old, up.old_dataset)).strategy, cost


STRATEGY = StrategySpec(
    name=NAME,
    build=build,
    summary="the fine-tuned model behind rag's retrieval, prompt and citations; opt-in (it trains)",
    simplicity=4,
    retrieves=True,
    trains=True,
    update=update,
    sections=("rag", "finetune"),
    over_index=over_index,
    search=search_prompts,
    # No training of its own: it answers with finetune's adapter (`tailor tune train --strategy finetune`),
    # and no settings of its own (rag's and finetune's).
)
