"""Typed records of what a build did: its prompt search, its training, and the build as a whole.

results.json keeps every build as JSON (``builds[dataset][candidate]``); the cost suite, the task suite
and the recommendation read it through these records instead of fishing keys out of dicts, so the one
convention of where a trained strategy keeps its training (``"finetune"`` inside rag+finetune's and
raft's build) is known here alone. Reading tolerates keys this version does not know (a newer writer's):
they stay in ``extra``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any


def _known(cls: type, data: dict[str, Any]) -> dict[str, Any]:
    names = {f.name for f in fields(cls)}
    return {k: v for k, v in data.items() if k in names}


@dataclass(frozen=True)
class SearchEffort:
    """What a prompt search spent: variants scored, answers generated on dev, seconds."""

    variants: int
    calls: int
    seconds: float

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SearchEffort:
        return cls(int(data.get("variants", 0)), int(data.get("calls", 0)), float(data.get("seconds", 0.0)))

    def to_json(self) -> dict[str, Any]:
        return {"variants": self.variants, "calls": self.calls, "seconds": self.seconds}


@dataclass(frozen=True)
class TrainingRecord:
    """How a strategy's weights were trained (the training manifest's figures the reports read)."""

    steps: int = 0
    method: str = "lora"
    epochs: float | None = None
    steps_per_epoch: float | None = None
    tokens_seen: int | None = None
    train_s: float | None = None
    dev: dict[str, Any] | None = None  # dev-loss watch: curve, best step, stopped early, still improving
    rate_search: dict[str, Any] | None = None  # the learning rates tried on dev loss, where searched

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TrainingRecord | None:
        """The record in a build's or manifest's JSON; None when it holds no training (no steps, no tokens)."""
        if not (data.get("steps") or data.get("tokens_seen")):
            return None
        return cls(**_known(cls, data))

    @property
    def learning_rates_tried(self) -> int:
        return len((self.rate_search or {}).get("learning_rates") or [])


@dataclass(frozen=True)
class Build:
    """One strategy built for one dataset: what it cost and what its tuning did."""

    build_s: float = 0.0
    model: str | None = None  # the base model, in a run over several (models:)
    search: SearchEffort | None = None
    training: TrainingRecord | None = None
    dev_metric: str | None = None  # the metric its prompt search chose by
    dev_score: float | None = None  # the chosen prompt's dev score
    n_dev: int | None = None
    n_confirm: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # everything else the build reported

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Build:
        """A build as results.json (or a strategy's build info) holds it. A trained strategy behind retrieval
        keeps its training under ``"finetune"``; a trained strategy alone, at the top level."""
        training = TrainingRecord.from_json(data.get("finetune") or data)
        search = SearchEffort.from_json(data["search"]) if data.get("search") else None
        plain = {k: data.get(k) for k in ("model", "dev_metric", "dev_score", "n_dev", "n_confirm")}
        known = {"build_s", "search", "finetune", *plain}
        return cls(
            build_s=float(data.get("build_s") or 0.0),
            search=search,
            training=training,
            extra={k: v for k, v in data.items() if k not in known},
            **plain,
        )
