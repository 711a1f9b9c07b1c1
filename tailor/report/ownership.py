"""What a correct answer costs to own: a year of serving a candidate, its build, and every update the
documents' change rate asks for, spread over the answers it gives right.

The recommendation breaks ties between candidates of equal measured quality with it (a point estimate
the paired test could not separate is no reason). Every input is a figure results.json recorded: the
cost suite's $ per answer and build $, freshness's update time; where freshness did not run, a trained
candidate is assumed to retrain in full on each change, at what its build cost.
"""

from __future__ import annotations

from dataclasses import dataclass

from tailor.eval.settings import CostConfig
from tailor.records import Build
from tailor.report.field import cost_of_pass
from tailor.report.measured import Measured
from tailor.report.settings import ConstraintsConfig

CHANGES_PER_YEAR = {"never": 0, "yearly": 1, "monthly": 12, "weekly": 52, "daily": 365}


@dataclass(frozen=True)
class Ownership:
    """A year of owning a candidate, from measured figures: serving, its build, and updates."""

    serve_usd: float  # $ per answer × answers a year
    build_usd: float  # the one-off build (prompt search, index, training)
    update_usd: float  # one update when the documents change
    updates: int  # changes a year (constraints.data_change)
    estimated_update: bool  # freshness did not run: a trained candidate retrains in full each change
    answers: int  # answers a year
    score: float  # primary score: the share of an answer that is right

    @property
    def usd_per_correct(self) -> float:
        yearly = self.serve_usd + self.build_usd + self.updates * self.update_usd
        return cost_of_pass(yearly / self.answers, self.score)

    def explain(self) -> str:
        update = "a full retraining, estimated from its build" if self.estimated_update else "as measured"
        return (
            f"${self.serve_usd:.2f} serving {self.answers:,} answers, ${self.build_usd:.4f} to build, "
            f"{self.updates} update(s) at ${self.update_usd:.4f} ({update})"
        )


def cost_to_own(m: Measured, ds: str, s: str, c: ConstraintsConfig) -> Ownership:
    """What a correct answer of ``s`` costs over a year (``constraints.answers_per_month`` answers a month):
    serving, its build, and one update per document change — freshness's measured update time, or for a
    trained candidate where freshness did not run, its training again."""
    cost = CostConfig.model_validate((m.results.get("recipe") or {}).get("cost") or {})
    hour = cost.gpu_hour_usd if (m.results.get("environment") or {}).get("cuda") else cost.cpu_hour_usd
    build_usd = m.value(ds, s, "build_usd")
    if build_usd is None:
        build = Build.from_json(((m.results.get("builds") or {}).get(ds) or {}).get(s) or {})
        build_usd = build.build_s / 3600 * hour
    update_s = m.value(ds, s, "update_s")
    estimated = update_s is None and m.trains(s)
    update_usd = update_s / 3600 * hour if update_s is not None else (build_usd if estimated else 0.0)
    answers = c.answers_per_month * 12
    return Ownership(
        serve_usd=(m.value(ds, s, "usd_per_1k_answers") or 0.0) / 1000 * answers,
        build_usd=build_usd,
        update_usd=update_usd,
        updates=CHANGES_PER_YEAR[c.data_change],
        estimated_update=estimated,
        answers=answers,
        score=m.value(ds, s, m.primary(ds)) or 0.0,
    )
