"""The recipe's ``synth:`` section: how `tailor synth` writes and checks questions.

It is generic in the model type: tailor.config fills in its ``ModelConfig`` (``SynthConfig[ModelConfig]``),
so ``synth.model`` accepts exactly what ``model:`` does.
"""

from __future__ import annotations

from typing import Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, field_validator

Kind = Literal["single", "multi", "unanswerable"]
KINDS: tuple[Kind, ...] = ("single", "multi", "unanswerable")
M = TypeVar("M")


class SynthConfig(BaseModel, Generic[M]):
    """`tailor synth`: questions the model writes for spans of the documents, kept only if every check passes."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    model: M | None = Field(
        None,
        description="model that writes the questions, same kinds as model: (a bigger local model or an "
        "OpenAI-compatible endpoint writes better ones; default: the recipe's model:, or the last of models:)",
    )
    questions: int = Field(60, ge=1, le=100_000, description="questions to keep (tailor synth --limit overrides)")
    seed: int | None = Field(None, description="seed for spans, order and splits (default: the recipe's seed:)")
    round_trip: float = Field(
        0.5,
        ge=0,
        le=1,
        description="round trip: the model, given only the source passage, answers the question; its token F1 "
        "against the span must reach this",
    )
    specificity_k: int = Field(
        5, ge=1, le=100, description="a search of the whole corpus must rank a source document in its top k"
    )
    kinds: dict[Kind, float] = Field(
        default_factory=lambda: {"single": 0.8, "multi": 0.1, "unanswerable": 0.1},
        description="share of each kind: single (one passage), multi (two related passages), unanswerable "
        "(about something the documents do not contain; the expected answer is synth.abstention)",
    )
    abstention: str = Field(
        "The documents do not say.", min_length=1, description="expected answer of an unanswerable question"
    )
    output: str | None = Field(None, description="JSONL file written (default: the first data.examples path)")

    @field_validator("kinds")
    @classmethod
    def _some_kind(cls, kinds: dict[Kind, float]) -> dict[Kind, float]:
        if any(v < 0 for v in kinds.values()) or kinds.get("single", 0) <= 0:
            raise ValueError(
                f"shares must be 0 or more, single above 0: the other kinds are made from it (got {kinds})"
            )
        return kinds

    def wanted(self, total: int) -> dict[Kind, int]:
        """``total`` questions shared among the kinds in proportion to their shares (largest remainder)."""
        weight = sum(self.kinds.values())
        exact = {k: total * self.kinds.get(k, 0.0) / weight for k in KINDS}
        counts = {k: int(v) for k, v in exact.items()}
        for k in sorted(KINDS, key=lambda k: counts[k] - exact[k])[: total - sum(counts.values())]:
            counts[k] += 1
        return counts
