"""rag+finetune: the fine-tuned model behind rag's retrieval, prompt and citations."""

from __future__ import annotations

from tailor.contract import Strategy
from tailor.data.examples import TaskDataset
from tailor.plugins import StrategySpec
from tailor.strategies.base import BuiltStrategy, Update, Updated
from tailor.strategies.finetune import retrain, tuned
from tailor.strategies.rag import over_index, rag_with, reingest
from tailor.workspace import Workspace

NAME = "rag+finetune"


def build(ws: Workspace, dataset: TaskDataset) -> BuiltStrategy:
    trained, generator, info = tuned(ws)
    # The same retrieval, prompt and citations as rag; the tuned weights answer. Building costs both.
    built = rag_with(ws, dataset, NAME, generator, trained.build_s)
    return BuiltStrategy(built.strategy, built.build_s, built.info | {"finetune": info})


def update(before: Strategy, up: Update) -> Updated:
    cost = reingest(up) + retrain(up)
    return build(up.new, up.dataset).strategy, cost


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
)
