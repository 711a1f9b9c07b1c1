"""The search every strategy that builds a prompt shares: coordinate ascent on dev, confirmed on held-out dev.

A candidate is any hashable description of a prompt (the prompt strategy's ``PromptSpec``, rag's
``RagSpec``); the caller says how to turn one into a prompt builder and which variants each stage tries.
Stages run in order, each keeping the best so far; at most ``budget`` candidates are scored, each on the
same search examples, so two strategies given the same budget are compared as equally tuned options.

The winner of many noisy comparisons scores higher on the examples it was chosen on than it will
anywhere else (the winner's curse). So the dev split is cut in two: the search part chooses, the
confirm part, never seen by the search, scores the winner and the starting candidate once more. The
winner is kept only if it scores at least as well as the start there; its confirm score is what the
search reports as the selected prompt's score on data it was not chosen on.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from tailor.contract import PromptBuilder, asker
from tailor.data.examples import Example, TaskDataset
from tailor.eval.suites.task import example_scores
from tailor.models.base import GenerationSettings, Generator
from tailor.progress import Reporter

C = TypeVar("C", bound=Hashable)
Stage = Callable[[C], list[C]]  # the best candidate so far → the variants to score next
# (candidates, examples, progress) → per candidate: (mean score, mean prompt tokens)
Score = Callable[[Sequence[C], Sequence[Example], Callable[[int], None]], list[tuple[float, float]]]


@dataclass(frozen=True)
class Outcome(Generic[C]):
    """What a search chose, and the evidence: its score where chosen and on held-out examples."""

    best: C
    dev_score: float  # on the search part, where it was chosen (optimistic)
    n_dev: int
    confirm_score: float | None  # on the confirm part, never seen by the search; None without one
    n_confirm: int
    confirmed: bool  # False: the winner lost to the start on the confirm part, and the start is kept
    leaderboard: tuple[dict[str, Any], ...]  # every scored candidate, best first


def split_dev(dev: Sequence[Example], search_size: int, confirm_size: int) -> tuple[list[Example], list[Example]]:
    """(search part, confirm part) of the dev examples: the confirm part from the end, at most a third of
    them (the search needs the rest), the search part the first ``search_size`` of what is left."""
    held = min(confirm_size, len(dev) // 3)
    kept = list(dev[: len(dev) - held])
    return kept[:search_size], list(dev[len(dev) - held :])


def scorer(
    generator: Generator,
    settings: GenerationSettings,
    dataset: TaskDataset,
    metric: str,
    builder_of: Callable[[C], PromptBuilder],
) -> Score:
    """Scores candidates by asking ``generator`` each example with each candidate's prompt, every one in
    one generate call, so batches stay full across candidates."""

    def score(
        candidates: Sequence[C], examples: Sequence[Example], advance: Callable[[int], None]
    ) -> list[tuple[float, float]]:
        builders = [builder_of(c) for c in candidates]
        built = [build(e.question, asker(e)) for build in builders for e in examples]
        gens = generator.generate([b.messages for b in built], settings, advance)
        n, out = len(examples), []
        for j in range(len(candidates)):
            chunk = gens[j * n : (j + 1) * n]
            total = sum(example_scores(g.text, e, dataset)[metric] for g, e in zip(chunk, examples, strict=True))
            out.append((total / n, sum(g.prompt_tokens for g in chunk) / n))
        return out

    return score


def planned(start: C, stages: Sequence[Stage[C]], budget: int) -> int:
    """How many candidates the search will score (for a progress bar): every stage's from the start, within budget."""
    distinct = {start} | {c for stage in stages for c in stage(start)}
    return min(budget, len(distinct))


def ascend(
    start: C,
    stages: Sequence[Stage[C]],
    score: Score,
    search: Sequence[Example],
    confirm: Sequence[Example],
    budget: int,
    describe: Callable[[C], dict[str, Any]],
    reporter: Reporter,
    title: str,
) -> Outcome[C]:
    """Coordinate ascent from ``start`` through ``stages`` on ``search``, at most ``budget`` candidates;
    the winner confirmed against ``start`` on ``confirm``. Best score wins; ties go to the shorter prompt.

    ``start`` is always scored first, so on the search part the winner never scores below it.
    """
    scored: dict[C, tuple[float, float]] = {}

    def evaluate(candidates: list[C], advance: Callable[[int], None]) -> None:
        fresh = list(dict.fromkeys(c for c in candidates if c not in scored))[: budget - len(scored)]
        if fresh:
            scored.update(zip(fresh, score(fresh, search, advance), strict=True))

    def rank(c: C) -> tuple[float, float]:
        return scored[c][0], -scored[c][1]

    confirming = 2 * len(confirm) if confirm else 0
    total = planned(start, stages, budget) * len(search) + confirming
    with reporter.task(title, total) as advance:
        evaluate([start], advance)
        best = start
        for stage in stages:
            evaluate(stage(best), advance)
            best = max(scored, key=rank)
        confirm_score, confirmed = None, True
        if confirm:
            pair = [best] if best == start else [best, start]
            held = score(pair, confirm, advance)
            confirm_score = held[0][0]
            if len(held) == 2 and held[1][0] > held[0][0]:
                best, confirm_score, confirmed = start, held[1][0], False
    leaderboard = tuple(
        {**describe(c), "score": round(s, 6), "prompt_tokens_mean": round(t, 1)}
        for c, (s, t) in sorted(scored.items(), key=lambda kv: (-kv[1][0], kv[1][1]))
    )
    return Outcome(
        best=best,
        dev_score=round(scored[best][0], 6),
        n_dev=len(search),
        confirm_score=None if confirm_score is None else round(confirm_score, 6),
        n_confirm=len(confirm),
        confirmed=confirmed,
        leaderboard=leaderboard,
    )
