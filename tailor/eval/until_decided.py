"""`tailor eval --until-decided`: answer a dataset's examples a batch at a time and stop as soon as one strategy
is separated from every other on the primary metric, or when the examples, the time or the money run out.

The examples are taken in an order shuffled by the recipe's seed (the same order on every run), so any first
n of them are a random sample of the split, as the sequential test (:mod:`tailor.eval.sequential`) assumes.
After each batch (a *look*) every strategy has answered the same examples; the test's claims hold at every
look at once, so stopping early costs no validity. Each strategy's answers to each batch are saved as they
finish (``OUT/eval-cache/answers/DATASET/STRATEGY/batch-NNN.json``): a killed run resumes at the first
batch not saved. Time and dollars count what the saved batches recorded, so a resumed run stops where an
uninterrupted one would.

What happened is recorded per dataset in results.json under ``sequential``: the looks with every pair's
state, the examples answered (``n``) and why answering stopped (``stopped``: decided, examples, time or
budget). The other suites then run as usual, on the examples answered.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from tailor.data.examples import Example, TaskDataset
from tailor.eval.base import StrategyRun
from tailor.eval.measure import hour_price
from tailor.eval.results import SIGNIFICANCE
from tailor.eval.scoring import answer_scores, primary_metric
from tailor.eval.sequential import evaluate_looks, look_ends, record, sentence
from tailor.eval.settings import UntilDecidedConfig
from tailor.workspace import Workspace

# Asks one strategy (by name) one batch of examples, or returns the answers saved for it: (name, part, examples).
Ask = Callable[[str, str, list[Example]], StrategyRun]


@dataclass(frozen=True)
class Decided:
    examples: list[Example]  # the examples answered, in the order asked
    runs: dict[str, StrategyRun]  # strategy → its answers to them, batches joined
    record: dict[str, Any]  # results.json's sequential[dataset]


def ordered(ws: Workspace, dataset: TaskDataset, examples: list[Example]) -> list[Example]:
    """``examples`` in the seeded order they are asked in, at most ``eval.until_decided.max_examples`` of them."""
    cfg = ws.recipe.eval.until_decided
    shuffled = list(examples)
    random.Random(f"{ws.recipe.seed}/until-decided/{dataset.name}").shuffle(shuffled)
    return shuffled[: cfg.max_examples] if cfg.max_examples else shuffled


def run_until_decided(
    ws: Workspace, dataset: TaskDataset, examples: list[Example], names: list[str], ask: Ask
) -> Decided:
    """Ask ``names`` the ``examples`` batch by batch until decided or a limit is reached (see the module docstring)."""
    cfg = ws.recipe.eval.until_decided
    order = ordered(ws, dataset, examples)
    ends = look_ends(len(order), cfg.batch)
    primary = primary_metric(dataset)
    parts: dict[str, list[StrategyRun]] = {name: [] for name in names}
    scores: dict[str, list[float]] = {name: [] for name in names}
    seconds = usd = 0.0
    looks, stopped, start = [], "examples", 0
    per_hour = hour_price(ws.recipe.cost)
    for index, end in enumerate(ends):
        batch = order[start:end]
        for name in names:
            run = ask(name, f"batch-{index + 1:03d}", batch)
            parts[name].append(run)
            scores[name] += [
                s[primary] for s in answer_scores([a.text for a in run.answers], batch, dataset, semantic=False)
            ]
            seconds += run.wall_s
            usd += run.wall_s / 3600 * per_hour + _token_usd(ws, run)
        start, winner = end, None
        if len(names) >= 2:  # one strategy has nothing to be separated from: it answers until a limit
            looks.append(evaluate_looks(scores, ends[: index + 1], SIGNIFICANCE)[-1])
            winner = looks[-1].winner
            ws.reporter.log(f"until decided · {dataset.name} · {looks[-1].describe()}")
        reason = _stop(winner, seconds, usd, cfg)
        if reason is not None:
            stopped = reason
            break
    said = record(
        looks,
        strategies=len(names),
        batch=cfg.batch,
        available=len(order),
        n=start,
        stopped=stopped,
        seconds=seconds,
        usd=usd,
        alpha=SIGNIFICANCE,
    )
    ws.reporter.log(f"until decided · {dataset.name}: {sentence(said)}")
    return Decided(order[:start], {name: _joined(name, parts[name]) for name in names}, said)


def _stop(winner: str | None, seconds: float, usd: float, cfg: UntilDecidedConfig) -> str | None:
    """Why answering stops after this look (decided, time, budget), or None: it goes on while examples remain."""
    if winner is not None:
        return "decided"
    if cfg.max_seconds is not None and seconds >= cfg.max_seconds:
        return "time"
    if cfg.max_usd is not None and usd >= cfg.max_usd:
        return "budget"
    return None


def _token_usd(ws: Workspace, run: StrategyRun) -> float:
    cost = ws.recipe.cost
    prompt = sum(a.prompt_tokens for a in run.answers)
    completion = sum(a.completion_tokens for a in run.answers)
    return (prompt * cost.input_usd_per_1k_tokens + completion * cost.output_usd_per_1k_tokens) / 1000


def _joined(name: str, parts: list[StrategyRun]) -> StrategyRun:
    """One run from a strategy's batches: answers in order, time added up, the highest memory peak."""
    if not parts:
        return StrategyRun(name, (), 0.0, 0)
    return replace(
        parts[0],
        answers=tuple(a for part in parts for a in part.answers),
        wall_s=sum(part.wall_s for part in parts),
        peak_rss_bytes=max(part.peak_rss_bytes for part in parts),
    )
