"""Settings of `tailor eval` beyond suite sizes: the documents' new version (freshness) and batched
evaluation until decided. Recipe sections (strict, like every other); ``tailor.config`` puts them under ``eval:``."""

from __future__ import annotations

from pydantic import Field, model_validator

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
