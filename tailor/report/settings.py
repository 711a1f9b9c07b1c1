"""The recipe's ``constraints:`` section: the limits and facts the recommendation weighs."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from tailor.section import Section


class ConstraintsConfig(Section):
    """What the recommendation must respect; each unset limit is not checked."""

    min_quality: float | None = Field(
        None, ge=0, le=1, description="lowest acceptable primary score (F1 or accuracy) on every dataset"
    )
    usd_per_1k_answers: float | None = Field(None, ge=0, description="serving budget: most $ per 1,000 answers")
    latency_p95_s: float | None = Field(None, gt=0, description="latency target: slowest acceptable p95 per answer")
    data_change: Literal["never", "yearly", "monthly", "weekly", "daily"] = Field(
        "monthly", description="how often the documents change (each change must reach the answers)"
    )
    privacy: Literal["public", "internal", "strict"] = Field(
        "internal",
        description="public: no limit; internal: no answer may leak another group's documents; "
        "strict: also no model weights trained on the documents",
    )
    ml_expertise: Literal["none", "some", "team"] = Field(
        "some",
        description="in-house ML skill to retrain and monitor a model; none rules out fine-tuning",
    )
    task_floor: float = Field(
        0.1,
        ge=0,
        le=1,
        description="primary score a candidate must be shown to clear (the low end of its 95% interval) to count "
        "as doing the task; where none does, the recommendation names none and says so, instead of the best of "
        "a useless field",
    )
    answers_per_month: int = Field(
        10_000,
        ge=1,
        description="answers a month in production: spreads training and each retraining over the answers, in "
        "what a correct answer costs to own (the tie-breaker between candidates of equal quality)",
    )
    human_usd_per_answer: float | None = Field(
        None, ge=0, description="what a person's answer costs you, shown beside each candidate's cost per correct one"
    )
