"""The search every strategy that builds a prompt shares: coordinate ascent on dev, confirmed on held-out dev.

A candidate is any hashable description of a prompt (the prompt strategy's ``PromptSpec``, rag's
``RagSpec``); the caller says how to turn one into a prompt builder and which variants each stage tries.
Stages run in order, each keeping the best so far, within ``budget`` × (search examples) generations: what
``budget`` candidates scored on every example would take, so two strategies given the same budget are
compared as equally tuned options. Each stage races its candidates (successive halving): the clearly
worse are dropped after a quarter and after half of the examples, so more variants fit the same calls.

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
from tailor.eval.scoring import example_scores
from tailor.models.base import GenerationSettings, Generator
from tailor.progress import Reporter

C = TypeVar("C", bound=Hashable)
Stage = Callable[[C], list[C]]  # the best candidate so far → the variants to score next
# (candidates, examples, progress) → per candidate: (its score on each example, mean prompt tokens)
Score = Callable[[Sequence[C], Sequence[Example], Callable[[int], None]], list[tuple[list[float], float]]]
RACE_FROM = 8  # fewer search examples than this: every candidate is scored on all of them (batches too small)


@dataclass(frozen=True)
class Outcome(Generic[C]):
    """What a search chose, and the evidence: its score where chosen and on held-out examples."""

    best: C
    dev_score: float  # on the search part, where it was chosen (optimistic)
    n_dev: int
    confirm_score: float | None  # on the confirm part, never seen by the search; None without one
    n_confirm: int
    confirmed: bool  # False: the winner lost to the start on the confirm part, and the start is kept
    leaderboard: tuple[dict[str, Any], ...]  # every scored candidate, those scored on every example first
    calls: int  # generations the search part took (at most budget × n_dev)


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
            values = [example_scores(g.text, e, dataset)[metric] for g, e in zip(chunk, examples, strict=True)]
            out.append((values, sum(g.prompt_tokens for g in chunk) / n))
        return out

    return score


BOOTSTRAP_PASS = 0.5  # a train example the model scores at least this on is one it demonstrably gets right


def bootstrap(score: Score, plain: C, train: Sequence[Example], reporter: Reporter, title: str) -> tuple[str, ...]:
    """Ids of the ``train`` examples the model answers right with the ``plain`` prompt (no demonstrations),
    each asked as its own asker: the pool bootstrapped demonstrations are drawn from, as DSPy's
    BootstrapFewShot does. It costs ``len(train)`` generations, which the caller takes from the budget."""
    if not train:
        return ()
    with reporter.task(title, len(train)) as advance:
        values = score([plain], train, advance)[0][0]
    return tuple(e.id for e, v in zip(train, values, strict=True) if v >= BOOTSTRAP_PASS)


def marks(n: int) -> list[int]:
    """How many search examples a stage's candidates have been scored on when the worse half is dropped:
    a quarter, a half, then all (successive halving); all at once below RACE_FROM examples."""
    return [n // 4, n // 2, n] if n >= RACE_FROM else [n]


def survivors(alive: int) -> int:
    return max(1, (alive + 1) // 2)


def race_calls(candidates: int, n: int) -> int:
    """Generations a stage of ``candidates`` takes, raced over ``n`` search examples."""
    calls, alive, done = 0, candidates, 0
    for mark in marks(n):
        calls, done, alive = calls + alive * (mark - done), mark, survivors(alive)
    return calls


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
    spent: int = 0,
) -> Outcome[C]:
    """Coordinate ascent from ``start`` through ``stages`` on ``search``, within ``budget`` × len(search)
    generations; the winner confirmed against ``start`` on ``confirm``. Best score wins; ties go to the
    shorter prompt.

    Each stage races its new candidates: all are scored on the first quarter of the search examples, the
    better half goes on to the first half, the better half of those to all of them, and only candidates
    scored on every example can win. Calls go where they decide, so more variants fit the same budget.
    ``spent``: generations already taken from the budget (bootstrapping demonstrations). ``start`` is always
    scored first on every example, so on the search part the winner never scores below it.
    """
    race = _Race(score, search, budget, spent)
    confirming = 2 * len(confirm) if confirm else 0
    with reporter.task(title, budget * race.n - spent + confirming) as advance:
        race.run([start], advance)
        best = start
        for stage in stages:
            race.run(stage(best), advance)
            best = race.best()
        best, confirm_score, confirmed = _confirm(best, start, score, confirm, advance)
    seen, mean, tokens = race.seen, race.mean, race.tokens
    leaderboard = tuple(
        {**describe(c), "score": round(mean(c), 6), "n": len(seen[c]), "prompt_tokens_mean": round(tokens[c], 1)}
        for c in sorted(seen, key=lambda c: (-len(seen[c]), -mean(c), tokens[c]))
    )
    n, spent = race.n, race.spent
    return Outcome(
        best=best,
        dev_score=round(mean(best), 6),
        n_dev=n,
        confirm_score=None if confirm_score is None else round(confirm_score, 6),
        n_confirm=len(confirm),
        confirmed=confirmed,
        leaderboard=leaderboard,
        calls=spent,
    )


class _Race(Generic[C]):
    """The candidates scored so far on the search examples, raced by successive halving within a budget."""

    def __init__(self, score: Score, search: Sequence[Example], budget: int, spent: int) -> None:
        self.score, self.search, self.budget, self.spent = score, search, budget, spent
        self.n = len(search)
        self.seen: dict[C, list[float]] = {}  # candidate → its score on search[0], search[1], ...
        self.tokens: dict[C, float] = {}

    def mean(self, c: C) -> float:
        return sum(self.seen[c]) / len(self.seen[c])

    def rank(self, c: C) -> tuple[float, float]:
        return self.mean(c), -self.tokens[c]

    def best(self) -> C:
        """The best candidate scored on every search example (ties: the shorter prompt)."""
        return max((c for c in self.seen if len(self.seen[c]) == self.n), key=self.rank)

    def run(self, candidates: list[C], advance: Callable[[int], None]) -> None:
        """Race the new ``candidates``: as many as the budget allows (the first one scored always is), each
        mark's better half going on to the next."""
        n, seen, tokens = self.n, self.seen, self.tokens
        alive = list(dict.fromkeys(c for c in candidates if c not in seen))
        while alive and seen and self.spent + race_calls(len(alive), n) > self.budget * n:
            alive.pop()
        done = 0
        for mark in marks(n):
            if not alive:
                return
            for c, (values, mean_tokens) in zip(alive, self.score(alive, self.search[done:mark], advance), strict=True):
                seen.setdefault(c, []).extend(values)
                tokens[c] = mean_tokens if c not in tokens else (tokens[c] * done + mean_tokens * (mark - done)) / mark
            self.spent += len(alive) * (mark - done)
            done = mark
            alive = sorted(alive, key=self.rank, reverse=True)[: survivors(len(alive))]


def _confirm(
    best: C, start: C, score: Score, confirm: Sequence[Example], advance: Callable[[int], None]
) -> tuple[C, float | None, bool]:
    """The winner checked against ``start`` on the held-out ``confirm`` examples: it stays unless ``start``
    scores higher there. Returns the chosen candidate, its confirm score and whether the winner held."""
    if not confirm:
        return best, None, True
    pair = [best] if best == start else [best, start]
    held = [sum(values) / len(values) for values, _ in score(pair, confirm, advance)]
    if len(held) == 2 and held[1] > held[0]:
        return start, held[1], False
    return best, held[0], True
