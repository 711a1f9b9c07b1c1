"""baseline: the base model with a plain instruction."""

from __future__ import annotations

from tailor.contract import PromptedStrategy, Strategy
from tailor.data.examples import TaskDataset
from tailor.prompt.builder import baseline_builder
from tailor.strategies.base import BuiltStrategy, Cost, StrategySpec, Update, Updated
from tailor.workspace import Workspace


def build(ws: Workspace, dataset: TaskDataset) -> BuiltStrategy:
    return BuiltStrategy(
        PromptedStrategy("baseline", ws.generator, baseline_builder(dataset), ws.settings_for(dataset))
    )


def update(before: Strategy, up: Update) -> Updated:
    return before, Cost()  # it never read the documents: nothing to update


STRATEGY = StrategySpec(
    name="baseline",
    build=build,
    summary="the base model with a plain instruction",
    simplicity=0,
    default=True,
    update=update,
)
