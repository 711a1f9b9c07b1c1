"""The whole field of candidates on one dataset: models × strategies, the cost–quality frontier, and
what a correct answer costs.

- **Models × strategies**: the primary score of every ``strategy@model`` with its 95% interval, one row
  per model (a one-model run is one row).
- **Frontier**: the Pareto set over quality and cost — no other candidate scores at least as well for
  less (``$ per 1,000 answers``) or as fast (``p95 latency``).
- **Cost per correct answer** (Cost-of-Pass; Erol et al., arXiv 2504.13359): $ per answer ÷ the primary
  score, infinite at 0. With token F1 as the score, a partly right answer counts as that part of one.
  ``constraints.human_usd_per_answer``, where set, is the same figure for a person (always right).

Every number is read from results.json through :class:`~tailor.report.measured.Measured`; the only
arithmetic is the division above and the dominance test.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from tailor.report.measured import Measured


@dataclass(frozen=True)
class Candidate:
    """One strategy on one model, as measured on a dataset."""

    name: str  # strategy@model, or the strategy alone in a one-model run
    strategy: str
    model: str
    score: float
    ci_low: float | None
    ci_high: float | None
    usd_per_1k: float | None
    p95_s: float | None

    @property
    def usd_per_correct(self) -> float | None:
        """$ per answer ÷ score: what one correct answer costs (inf when it answers nothing right)."""
        if self.usd_per_1k is None:
            return None
        return cost_of_pass(self.usd_per_1k / 1000, self.score)


def cost_of_pass(usd_per_answer: float, score: float) -> float:
    """Cost-of-Pass: the expected cost of one correct answer; infinite when none is correct."""
    return usd_per_answer / score if score > 0 else math.inf


def candidates(m: Measured, dataset: str) -> list[Candidate]:
    """Every candidate scored on ``dataset``'s primary metric (compressed variants aside), in run order."""
    metric = m.primary(dataset)
    out = []
    for name in m.strategies(dataset):
        row = m.row(dataset, name, metric) if metric else None
        if row is None or m.variant_of(name):
            continue
        out.append(
            Candidate(
                name,
                m.strategy_of(name),
                m.model_of(name),
                row["value"],
                row.get("ci_low"),
                row.get("ci_high"),
                m.value(dataset, name, "usd_per_1k_answers"),
                m.value(dataset, name, "latency_p95_s"),
            )
        )
    return out


def frontier(field: list[Candidate], cost: str = "usd_per_1k") -> list[Candidate]:
    """The Pareto set over (score: higher, ``cost``: lower; ``usd_per_1k`` or ``p95_s``), cheapest first.
    Candidates with no cost figure are left out."""
    priced = [c for c in field if getattr(c, cost) is not None]

    def dominated(c: Candidate) -> bool:
        return any(
            o.score >= c.score
            and getattr(o, cost) <= getattr(c, cost)
            and (o.score > c.score or getattr(o, cost) < getattr(c, cost))
            for o in priced
        )

    return sorted((c for c in priced if not dominated(c)), key=lambda c: getattr(c, cost))


def grid(field: list[Candidate]) -> tuple[list[str], list[str], dict[tuple[str, str], Candidate]]:
    """The models × strategies table: row names, column names, and the candidate in each cell."""
    models = list(dict.fromkeys(c.model for c in field))
    strategies = list(dict.fromkeys(c.strategy for c in field))
    return models, strategies, {(c.model, c.strategy): c for c in field}


def usd(value: float | None) -> str:
    """A $ figure as the report writes it: ∞ for a candidate that answers nothing right."""
    if value is None:
        return "–"
    if math.isinf(value):
        return "∞"
    return f"${value:.2g}" if value < 0.01 else f"${value:,.2f}"
