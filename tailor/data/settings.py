"""The recipe's ``data:`` section: the documents, the task examples, access groups and the split.

``GROUP_PATTERN`` is what an access group's name must match wherever one is named: front matter, examples,
API keys.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, StringConstraints, model_validator

from tailor.section import Section, StrategyName

# An access group: what documents, examples and API keys name (also in front matter `groups:`).
GROUP_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$"
GroupName = Annotated[str, StringConstraints(pattern=GROUP_PATTERN)]


class ExampleSet(Section):
    path: str = Field(description="JSONL file: one {id, question, answer[, label, split, user, groups]} per line")
    name: str | None = Field(None, description="dataset name in reports (default: the file name without .jsonl)")
    instruction: str | None = Field(None, description="task instruction for the baseline (default: by task kind)")
    max_new_tokens: int | None = Field(
        None, ge=1, le=4096, description="answer length for this dataset (default: generation.max_new_tokens)"
    )
    strategies: list[StrategyName] | None = Field(None, description="strategies scored on it (default: all)")
    metric: Literal["token_f1", "exact_match", "contains", "rouge_l", "semantic", "accuracy"] | None = Field(
        None, description="what the decision and prompt search rank by (default: token_f1; accuracy for labels)"
    )

    @property
    def dataset_name(self) -> str:
        return self.name or Path(self.path).name.removesuffix(".jsonl")


class AccessRule(Section):
    glob: str = Field(description="corpus files this rule covers, relative to the recipe")
    groups: list[GroupName] = Field(min_length=1, description="access groups allowed to read them")


class SplitConfig(Section):
    train: float = Field(0.5, ge=0, le=1, description="share for few-shot pools and training")
    dev: float = Field(0.2, ge=0, le=1, description="share for prompt search and model selection")
    test: float = Field(0.3, gt=0, le=1, description="share held out for evaluation")

    @model_validator(mode="after")
    def _sums_to_one(self) -> SplitConfig:
        total = self.train + self.dev + self.test
        if abs(total - 1.0) > 1e-6:
            raise ValueError(f"train + dev + test must sum to 1 (got {total:g})")
        return self


class DataConfig(Section):
    corpus: list[str] = Field(
        default_factory=list, description="document globs (.md .txt .html .pdf .jsonl), relative to the recipe"
    )
    examples: list[ExampleSet] = Field(min_length=1, description="task example files; each is one dataset")
    access: list[AccessRule] = Field(
        default_factory=list, description="access groups by path; front matter `groups:` also works"
    )
    default_groups: list[GroupName] = Field(
        default_factory=list,
        description="groups of documents and examples that name none; empty: such documents are visible to nobody",
    )
    split: SplitConfig = Field(default_factory=SplitConfig, description="split for examples without `split`")

    @model_validator(mode="after")
    def _unique_dataset_names(self) -> DataConfig:
        names = [e.dataset_name for e in self.examples]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"dataset names must be unique (repeated: {', '.join(dupes)}); set `name:`")
        return self
