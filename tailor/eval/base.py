"""What a suite is: one function of (strategies' answers on a dataset) → result rows.

Types only (a leaf of the eval package): a suite module ends with ``SUITE = SuiteSpec(...)``, declared
here beside the input it receives; ``tailor.plugins`` finds the declarations and the runner calls them.

The runner asks every strategy once per example and hands the answers to every suite, so adding a
suite never costs another pass of generation. Suites that need their own questions (robustness,
leakage) call the strategies in ``SuiteInput.strategies`` themselves.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from tailor.contract import Answer, Strategy
from tailor.data.examples import Example, TaskDataset
from tailor.eval.results import ResultRow
from tailor.workspace import Workspace

if TYPE_CHECKING:
    from tailor.report.settings import ConstraintsConfig


@dataclass(frozen=True)
class StrategyRun:
    """One strategy's answers to the evaluated examples, and what producing them cost."""

    strategy: str
    answers: tuple[Answer, ...]
    wall_s: float
    peak_rss_bytes: int
    build_s: float = 0.0  # one-off cost of building the strategy (prompt search, indexing, training)
    # What the build reported, as tailor.records.Build.to_json() writes it and a saved answer set keeps it
    # (read it with Build.from_json): training steps and tokens, index size, the prompt search.
    info: dict = field(default_factory=dict)
    unanswerable: tuple[Answer, ...] = ()  # its answers to SuiteInput.unanswerable, in that order


@dataclass(frozen=True)
class SuiteInput:
    dataset: TaskDataset
    examples: tuple[Example, ...]
    runs: tuple[StrategyRun, ...]
    strategies: Sequence[Strategy] = field(default_factory=tuple)
    seed: int = 0
    workspace: Workspace | None = None  # corpus, recipe and run directory, for suites that ask their own questions
    unanswerable: tuple[Example, ...] = ()  # evaluated questions nothing answers (kind: unanswerable): abstention


Suite = Callable[[SuiteInput], list[ResultRow]]


class NoRows(list):
    """What a suite returns when it does not apply to a dataset or run: no rows, and why, in words. The
    runner says the reason and records it in results.json, so a suite never comes back silently empty.
    It is an empty list, so a caller that only wants rows sees ``[]``."""

    def __init__(self, reason: str):
        super().__init__()
        self.reason = reason


class Noted(list):
    """A suite's rows with a note on what they were measured on (such as which held text), in words. The
    runner logs it and records it in results.json (``notes``), and the report shows it under the tables."""

    def __init__(self, rows: Sequence[ResultRow], note: str):
        super().__init__(rows)
        self.note = note


def local_weights(generator) -> tuple | None:
    """(model, tokenizer) of a generator with local weights, for suites that score likelihoods; None for an endpoint."""
    model, tokenizer = getattr(generator, "model", None), getattr(generator, "tokenizer", None)
    return (model, tokenizer) if model is not None and hasattr(model, "forward") and tokenizer is not None else None


def strategy_weights(strategy: Strategy) -> tuple | None:
    """(model, tokenizer) a strategy answers with, where it has local weights; None for an endpoint."""
    return local_weights(getattr(strategy, "generator", None))


def sample(inp: SuiteInput, size: str, salt: str) -> list[int]:
    """Indices (ascending) of the ``eval.size(size)`` evaluated examples a suite re-asks; the same for a seed."""
    rng = random.Random(f"{inp.seed}/{salt}/{inp.dataset.name}")
    count = min(inp.workspace.recipe.eval.size(size), len(inp.examples))
    return sorted(rng.sample(range(len(inp.examples)), count))


# What a suite may need from a strategy or a run; the runner says which when a suite finds none of it.
Need = Literal["local-weights", "retrieval", "trained", "judge"]
NEEDS: dict[str, str] = {
    "local-weights": "a strategy whose model has local weights (not an endpoint)",
    "retrieval": "a strategy that puts documents in front of the model",
    "trained": "a fine-tuned strategy in the recipe",
    "judge": "a model to grade answers (eval.judge)",
}


@dataclass(frozen=True)
class Size:
    """One of a suite's sizes: the recipe's ``eval.<name>``, defaulting by mode (quick / full)."""

    name: str
    description: str
    quick: int
    full: int
    scored: bool = False  # counts the questions the suite's scores (0 to 1) rest on: eval.detect sizes it


@dataclass(frozen=True)
class Column:
    """A result metric shown as a column of the suite's table. ``prefix``: every metric starting with
    ``metric`` (ordered by the number after it), labelled ``label`` with ``{}`` for that suffix."""

    metric: str
    label: str
    prefix: bool = False


@dataclass(frozen=True)
class Panel:
    """A plot of the report: one group of comparable metrics (same unit), a bar per strategy."""

    title: str
    metrics: tuple[str, ...]


# (measured view of results.json, dataset, chosen strategy, constraints, its strategy properties) → lines
Evidence = Callable[[Any, str, str, "ConstraintsConfig", dict[str, Any]], list[str]]


@dataclass(frozen=True)
class SuiteSpec:
    """An evaluation suite. ``run`` is one function of the strategies' answers → result rows."""

    name: str
    run: Callable[[SuiteInput], list[ResultRow]]
    summary: str  # one line: what it measures (shown in --help and the README's table)
    order: int  # where its table and panels sit in the report (lower first)
    needs: tuple[Need, ...] = ()
    sizes: tuple[Size, ...] = ()
    columns: tuple[Column, ...] = ()
    panels: tuple[Panel, ...] = ()
    note: str = "mean (95% CI); * paired difference with p < 0.05"  # under its table
    intervals: bool = True  # cells show the 95% interval
    evidence: Evidence | None = None  # what it adds to the recommendation's explanation of a choice
