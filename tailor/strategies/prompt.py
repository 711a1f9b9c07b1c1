"""prompt: prompt engineering as a measured search on the dev split (see tailor.prompt.search)."""

from __future__ import annotations

import time

from tailor.contract import Strategy
from tailor.data.examples import TaskDataset
from tailor.prompt.search import build_prompt_strategy, ensure_tuned, tune_prompts
from tailor.records import Build
from tailor.strategies.base import BuiltStrategy, Cost, StrategySpec, Update, Updated
from tailor.workspace import Workspace


def build(ws: Workspace, dataset: TaskDataset) -> BuiltStrategy:
    tuned = ensure_tuned(ws, dataset)
    strategy = build_prompt_strategy(ws, dataset, tuned.spec, tuned.bootstrapped)
    return BuiltStrategy(strategy, Build(tuned.tune_s, prompt=tuned.choice()))


def update(before: Strategy, up: Update) -> Updated:
    """The tuned prompt rebuilt with the same spec (no new search): its static block is chosen again."""
    tuned = ensure_tuned(up.old, up.old_dataset)  # the old version's search, saved when the strategy was built
    start = time.perf_counter()
    strategy = build_prompt_strategy(up.new, up.dataset, tuned.spec, tuned.bootstrapped)
    return strategy, Cost(time.perf_counter() - start, tuned.tune_s)


STRATEGY = StrategySpec(
    name="prompt",
    build=build,
    summary="instruction, few-shot examples and a static block of documents searched on the dev split",
    simplicity=1,
    default=True,
    update=update,
    sections=("prompt",),
    search=tune_prompts,
    settings="prompt",
)
