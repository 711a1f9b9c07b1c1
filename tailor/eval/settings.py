"""The recipe's ``eval:`` section (what every strategy is scored on, each suite's sizes, the documents' new
version for freshness, batched evaluation until decided) and ``cost:`` (the cost suite's prices)."""

from __future__ import annotations

import math
from typing import Annotated, Literal

from pydantic import ConfigDict, Field, TypeAdapter, ValidationError, model_validator
from pydantic_core import InitErrorDetails

from tailor import plugins
from tailor.eval.metrics import examples_to_separate
from tailor.models.settings import ModelConfig
from tailor.section import Section


class FreshnessConfig(Section):
    """The documents' new version and questions about what changed; without them (``corpus`` and
    ``examples`` unset), tailor simulates the change by editing copies of the documents."""

    corpus: list[str] | None = Field(
        None,
        min_length=1,
        description="document globs of the new version (resolved like data.corpus, same access rules); "
        "unset: simulated edits of the current documents",
    )
    examples: str | None = Field(
        None,
        description="JSONL of questions about the facts that changed, answered as of the new version "
        "(task-example schema; metadata.old_answer: the stale value); train-split ones update, the rest are asked",
    )
    dataset: str | None = Field(None, description="dataset the questions belong to (default: the first QA dataset)")
    retrain_steps: int = Field(
        10, ge=1, description="finetune: steps of continued training of the adapter on the changed documents"
    )

    @model_validator(mode="after")
    def _both_or_neither(self) -> FreshnessConfig:
        if (self.corpus is None) != (self.examples is None):
            given, missing = ("corpus", "examples") if self.examples is None else ("examples", "corpus")
            raise ValueError(
                f"{given} is set but {missing} is not: a new version needs both (neither: simulated edits)"
            )
        return self

    @property
    def simulated(self) -> bool:
        return self.corpus is None


class UntilDecidedConfig(Section):
    """`tailor eval --until-decided`: every strategy answers the task examples a batch at a time; after each
    batch an anytime-valid test (tailor.eval.sequential) asks whether one strategy is separated from every
    other on the primary metric, and answering stops as soon as one is, or when a limit below is reached.
    Limits are per dataset; the other suites then run on the examples answered."""

    batch: int = Field(16, ge=1, le=100_000, description="examples every strategy answers between two looks")
    max_examples: int | None = Field(None, ge=1, description="most examples answered per dataset (default: all)")
    max_seconds: float | None = Field(None, gt=0, description="stop once answering has taken this long per dataset")
    max_usd: float | None = Field(
        None, gt=0, description="stop once answering has cost this much per dataset, at the cost: prices"
    )


class CostConfig(Section):
    """Prices the cost suite turns measured time and tokens into; set them to your own."""

    cpu_hour_usd: float = Field(0.10, ge=0, description="price of an hour of the CPU machine tailor ran on")
    gpu_hour_usd: float = Field(2.50, ge=0, description="price of an hour of one GPU (used when a GPU ran the work)")
    input_usd_per_1k_tokens: float = Field(
        0.0, ge=0, description="an endpoint model's price per 1,000 prompt tokens (0 for local weights)"
    )
    output_usd_per_1k_tokens: float = Field(
        0.0, ge=0, description="an endpoint model's price per 1,000 generated tokens (0 for local weights)"
    )


_SIZE = TypeAdapter(Annotated[int, Field(ge=1)] | None)


class EvalConfig(Section):
    """What every strategy is scored on. Besides these fields, each suite's sizes (``eval.<size>``, see
    ``tailor plugins``) may be set here; unset, they follow ``mode``."""

    model_config = ConfigDict(extra="allow", frozen=True)  # only declared suite sizes: checked below

    split: Literal["dev", "test"] = Field("test", description="split every strategy is scored on")
    limit: int | None = Field(None, ge=1, description="score at most this many examples per dataset")
    mode: Literal["quick", "full"] = Field(
        "full", description="suite sizes: quick (the demo's, minutes on a CPU) or full (what a decision rests on)"
    )
    detect: float | None = Field(
        None,
        gt=0,
        lt=1,
        description="smallest difference in a 0-1 score every suite's comparisons should detect (p < 0.05, 80% "
        "power): sizes that count scored questions are raised to what it takes (0.3: 44; unset: the mode's)",
    )
    compress: list[Literal["bf16", "int8", "q8_0", "q4_k_m"]] = Field(
        default_factory=list,
        description="compress: variants every local-weights strategy is also scored with (q8_0, q4_k_m: llama.cpp)",
    )
    freshness: FreshnessConfig | None = Field(
        None, description="freshness: the documents' new version (none: simulated edits of the current documents)"
    )
    judge: ModelConfig | None = Field(
        None, description="judge: a model (same kinds as model:) grading answers against the reference (none: skipped)"
    )
    until_decided: UntilDecidedConfig | None = Field(
        None, description="answer in batches until one strategy is separated from every other (--until-decided)"
    )

    @model_validator(mode="after")
    def _suite_sizes(self) -> EvalConfig:
        """Every extra key must be a size some suite declares, with a positive whole value."""
        declared, errors = plugins.sizes(), []
        for key, value in (self.__pydantic_extra__ or {}).items():
            if key not in declared:
                errors.append(InitErrorDetails(type="extra_forbidden", loc=(key,), input=value))
                continue
            try:
                self.__pydantic_extra__[key] = _SIZE.validate_python(value)
            except ValidationError as e:
                errors += [
                    InitErrorDetails(type=err["type"], loc=(key,), input=value, ctx=err.get("ctx", {}))
                    for err in e.errors()
                ]
        if errors:
            raise ValidationError.from_exception_data(type(self).__name__, errors)
        return self

    def size(self, name: str) -> int:
        """A suite's size: the recipe's explicit value, else the mode's default for it, raised for ``detect``.

        Raises:
            KeyError: no suite declares a size ``name``.
        """
        value = (self.__pydantic_extra__ or {}).get(name)
        if value is not None:
            return value
        size = plugins.sizes()[name]
        default = size.quick if self.mode == "quick" else size.full
        if self.detect is not None and size.scored:  # scores of two strategies with unrelated errors: sd ≤ √½
            default = max(default, examples_to_separate(self.detect, math.sqrt(0.5)) or default)
        return default
