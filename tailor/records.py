"""Typed records of what a build did: its index, its prompt search, its training, and the build as a whole.

Strategies return a :class:`Build`; results.json keeps it as JSON (``builds[dataset][candidate]``, after
``build_s``) and the answer cache's key digests that JSON, so :meth:`Build.to_json` writes exactly the keys,
order and values builds always had. The cost suite, the task suite and the recommendation read it back
through the same records instead of fishing keys out of dicts, so the one convention of where a trained
strategy keeps its training (``"finetune"`` inside rag+finetune's and raft's build) is known here alone.
Reading tolerates keys this version does not know (a newer writer's): they stay in ``extra``.
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
class IndexInfo:
    """The index a retrieving strategy answered from: its size, its embedder, the version it read."""

    chunks: int
    embedder: str
    index_version: int

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> IndexInfo | None:
        """The index a build's JSON names; None when it read none."""
        return cls(**_known(cls, data)) if "chunks" in data else None

    def to_json(self) -> dict[str, Any]:
        return {"chunks": self.chunks, "embedder": self.embedder, "index_version": self.index_version}


@dataclass(frozen=True)
class PromptChoice:
    """The prompt a search chose on dev: described, its dev and held-out scores, what the search spent;
    prompt's search adds how much of each reader's documents its static block holds. A search writes
    every figure; reading, one a build of another version lacks is None."""

    spec: str | None  # the chosen prompt, in words
    dev_metric: str | None  # the metric the search chose by
    dev_score: float | None
    n_dev: int
    confirm_score: float | None = None  # on held-out dev examples the search never saw
    n_confirm: int = 0
    search: SearchEffort | None = None
    context_coverage: tuple[dict[str, Any], ...] | None = None  # per asker group set (prompt's static block)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PromptChoice | None:
        """The choice in a build's JSON; None when the build searched no prompt."""
        if data.get("dev_metric") is None and not data.get("search"):
            return None
        coverage = data.get("context_coverage")
        return cls(
            spec=data.get("spec"),
            dev_metric=data.get("dev_metric"),
            dev_score=data.get("dev_score"),
            n_dev=data.get("n_dev") or 0,
            confirm_score=data.get("confirm_score"),
            n_confirm=data.get("n_confirm") or 0,
            search=SearchEffort.from_json(data["search"]) if data.get("search") else None,
            context_coverage=None if coverage is None else tuple(coverage),
        )

    def to_json(self) -> dict[str, Any]:
        coverage = {} if self.context_coverage is None else {"context_coverage": list(self.context_coverage)}
        return {
            "spec": self.spec,
            "dev_metric": self.dev_metric,
            "dev_score": self.dev_score,
            "n_dev": self.n_dev,
            "confirm_score": self.confirm_score,
            "n_confirm": self.n_confirm,
            **coverage,
            **({"search": self.search.to_json()} if self.search is not None else {}),
        }


@dataclass(frozen=True)
class TrainingRecord:
    """How a strategy's weights were trained: the training manifest's figures a build reports, in the
    order it reports them (None: the manifest has no such figure, as ``dev`` without a dev watch)."""

    method: str = "lora"
    steps: int = 0
    final_loss: float | None = None
    tokens_seen: int | None = None
    tokens_per_s: float | None = None
    sequences: int | None = None
    resumed_from_step: int | None = None
    train_s: float | None = None
    epochs: float | None = None
    steps_per_epoch: float | None = None
    dev: dict[str, Any] | None = None  # dev-loss watch: curve, best step, stopped early, still improving
    rate_search: dict[str, Any] | None = None  # the learning rates tried on dev loss, where searched

    @classmethod
    def from_manifest(cls, manifest: dict[str, Any]) -> TrainingRecord:
        """The figures of a training manifest (every manifest tailor writes has ``method`` and ``steps``);
        its other keys (fingerprint, settings, base model…) are the manifest's alone."""
        return cls(**_known(cls, manifest))

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TrainingRecord | None:
        """The record in a build's or manifest's JSON; None when it holds no training (no steps, no tokens)."""
        if not (data.get("steps") or data.get("tokens_seen")):
            return None
        return cls.from_manifest(data)

    def to_json(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @property
    def learning_rates_tried(self) -> int:
        return len((self.rate_search or {}).get("learning_rates") or [])


@dataclass(frozen=True)
class Build:
    """One strategy built for one dataset: what it cost and what its index, prompt search and training were."""

    build_s: float = 0.0  # what building it cost (search, indexing, training), for the cost suite
    index: IndexInfo | None = None
    prompt: PromptChoice | None = None
    training: TrainingRecord | None = None
    model: str | None = None  # the base model, in a run over several (models:)
    extra: dict[str, Any] = field(default_factory=dict)  # everything else the build reported (a plug-in's)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Build:
        """A build as results.json holds it. A trained strategy that also retrieves or searched a prompt
        keeps its training under ``"finetune"``; a trained strategy alone, at the top level."""
        nested = isinstance(data.get("finetune"), dict)
        index, prompt = IndexInfo.from_json(data), PromptChoice.from_json(data)
        training = TrainingRecord.from_json(data["finetune"] if nested else data)
        read = [r for r in (index, prompt, None if nested else training) if r is not None]
        known = {"build_s", "model", *(["finetune"] if nested else []), *(f.name for r in read for f in fields(r))}
        return cls(
            build_s=float(data.get("build_s") or 0.0),
            index=index,
            prompt=prompt,
            training=training,
            model=data.get("model"),
            extra={k: v for k, v in data.items() if k not in known},
        )

    def to_json(self) -> dict[str, Any]:
        """What the build reports, in order: its index, its prompt search, its training, the model, the rest.
        ``build_s`` apart: results.json writes it first, and the answer cache's key leaves it out (a timing)."""
        out = (self.index.to_json() if self.index else {}) | (self.prompt.to_json() if self.prompt else {})
        if self.training is not None:
            trained = self.training.to_json()
            out |= {"finetune": trained} if out else trained
        return out | ({"model": self.model} if self.model is not None else {}) | self.extra
