"""Task examples: the JSONL format users write, splits, and the datasets strategies are scored on.

One line per example::

    {"id": "q1", "question": "What does the Veltro X200 cost?", "answer": "$149",
     "split": "test", "user": "sales-user", "groups": ["everyone"], "sources": ["product-veltro-x200"]}

``label`` makes an example a classification example (``answer`` is then the label too).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from tailor.config import Recipe
from tailor.data.settings import ExampleSet, SplitConfig
from tailor.errors import DataError, Problem
from tailor.synth.settings import Kind

Split = Literal["train", "dev", "test"]
MAX_LINE_BYTES = 1_000_000


class Example(BaseModel):
    """One task example, validated strictly: a misspelt field is an error, not a silent drop."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(min_length=1)
    question: str = Field(min_length=1)
    answer: str = Field(min_length=1)
    label: str | None = None
    split: Split | None = None
    user: str | None = None
    groups: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()
    metadata: dict[str, Any] = Field(default_factory=dict)
    kind: Kind | None = None  # single | multi | unanswerable (tailor synth writes it; abstention metrics read it)
    synthetic: bool = False  # written by tailor synth, not by a person

    @field_validator("id", "question", "answer", "label")
    @classmethod
    def _not_blank(cls, v: str | None) -> str | None:
        if v is not None and not v.strip():
            raise ValueError("must not be blank")
        return v


@dataclass(frozen=True)
class TaskDataset:
    """The examples of one file, with every example's split decided."""

    name: str
    kind: Literal["qa", "classify"]
    examples: tuple[Example, ...]
    labels: tuple[str, ...] = ()
    instruction: str | None = None
    path: Path | None = None
    max_new_tokens: int | None = None
    strategies: tuple[str, ...] | None = None  # None: every strategy of the recipe
    metric: str | None = None  # the primary metric the recipe chose (None: by kind)

    def split(self, name: Split) -> list[Example]:
        return [e for e in self.examples if e.split == name]

    @property
    def abstention_answer(self) -> str | None:
        """What strategies are told to reply when they cannot know: None for a dataset with no unanswerable
        questions; else their expected answer if they share one (tailor synth's ``synth.abstention``), or
        "I don't know"."""
        answers = {e.answer for e in self.examples if e.kind == "unanswerable"}
        if not answers or self.kind != "qa":
            return None
        return answers.pop() if len(answers) == 1 else "I don't know."


ABSTAIN = "If the answer is not in what you know or were given, reply exactly: {answer}"


def abstention_instruction(instruction: str, dataset: TaskDataset) -> str:
    """``instruction`` and how to abstain, the same for every strategy, on a dataset with unanswerable
    questions (whose abstention rates are measured); unchanged otherwise."""
    answer = dataset.abstention_answer
    return instruction if answer is None else f"{instruction} {ABSTAIN.format(answer=answer)}"


def load_examples(path: Path) -> list[Example]:
    """Parse a JSONL examples file.

    Raises:
        DataError: missing file, bad JSON, unknown or invalid field, duplicate id; names file and line.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise DataError(Problem("examples file not found", file=path)) from None
    except IsADirectoryError:
        raise DataError(Problem("expected a JSONL file, found a directory", file=path)) from None
    examples: list[Example] = []
    seen: dict[str, int] = {}
    problems: list[Problem] = []
    for lineno, line in enumerate(raw.splitlines(), start=1):
        if not line.strip():
            continue
        problem = _parse_line(line, lineno, path, seen, examples)
        if problem is not None:
            problems.append(problem)
            if len(problems) >= 20:
                problems.append(Problem("stopping after 20 problems", file=path))
                break
    if problems:
        raise DataError(*problems)
    if not examples:
        raise DataError(Problem("no examples (the file is empty)", file=path))
    return examples


def _parse_line(line: bytes, lineno: int, path: Path, seen: dict[str, int], out: list[Example]) -> Problem | None:
    def problem(msg: str, field: str | None = None) -> Problem:
        return Problem(msg, file=path, line=lineno, field=field)

    if len(line) > MAX_LINE_BYTES:
        return problem(f"line is {len(line):,} bytes; examples are limited to {MAX_LINE_BYTES:,}")
    try:
        obj = json.loads(line.decode("utf-8"))
    except UnicodeDecodeError:
        return problem("not UTF-8 text")
    except json.JSONDecodeError as e:
        return problem(f"malformed JSON: {e.msg} at column {e.colno}")
    if not isinstance(obj, dict):
        return problem(f"each line must be a JSON object, got {type(obj).__name__}")
    try:
        ex = Example.model_validate(obj)
    except ValidationError as e:
        err = e.errors()[0]
        field = ".".join(str(p) for p in err["loc"]) or None
        msg = {"missing": "required field is missing", "extra_forbidden": "unknown field"}.get(err["type"], err["msg"])
        return problem(msg.removeprefix("Value error, "), field)
    if ex.id in seen:
        return problem(f"duplicate id {ex.id!r} (first on line {seen[ex.id]})", "id")
    seen[ex.id] = lineno
    out.append(ex)
    return None


def assign_splits(examples: Sequence[Example], split: SplitConfig, seed: int) -> list[Example]:
    """Give examples without a ``split`` one, by a stable hash of (seed, id): adding examples never reshuffles."""
    out = []
    for ex in examples:
        if ex.split is None:
            digest = hashlib.sha256(f"{seed}:{ex.id}".encode()).digest()
            u = int.from_bytes(digest[:8], "big") / 2**64
            name = "train" if u < split.train else "dev" if u < split.train + split.dev else "test"
            ex = ex.model_copy(update={"split": name})
        out.append(ex)
    return out


def load_dataset(spec: ExampleSet, recipe: Recipe) -> TaskDataset:
    """Load one example file of the recipe as a dataset.

    Raises:
        DataError: the file is invalid, mixes labelled and unlabelled examples, or has no test examples.
    """
    path = recipe.resolve(spec.path)
    examples = assign_splits(load_examples(path), recipe.data.split, recipe.seed)
    if recipe.data.default_groups:
        default = tuple(recipe.data.default_groups)
        examples = [e if e.groups else e.model_copy(update={"groups": default}) for e in examples]
    labelled = [e for e in examples if e.label is not None]
    if labelled and len(labelled) != len(examples):
        first = next(e for e in examples if e.label is None)
        raise DataError(
            Problem(
                f"mixes labelled and unlabelled examples (e.g. id {first.id!r}); give every example a label "
                "or none, or split them into two files",
                file=path,
                field="label",
            )
        )
    labels = tuple(sorted({e.label for e in labelled if e.label is not None}))
    if labelled and len(labels) < 2:
        raise DataError(Problem(f"classification needs at least 2 labels, found {list(labels)}", file=path))
    dataset = TaskDataset(
        name=spec.dataset_name,
        kind="classify" if labelled else "qa",
        examples=tuple(examples),
        labels=labels,
        instruction=spec.instruction,
        path=path,
        max_new_tokens=spec.max_new_tokens,
        strategies=tuple(spec.strategies) if spec.strategies is not None else None,
        metric=spec.metric,
    )
    if spec.metric is not None and (spec.metric == "accuracy") != (dataset.kind == "classify"):
        wanted = (
            "accuracy" if dataset.kind == "classify" else "one of token_f1, exact_match, contains, rouge_l, semantic"
        )
        raise DataError(
            Problem(
                f"metric {spec.metric!r} does not fit a {dataset.kind} dataset; use {wanted}",
                file=path,
                field="metric",
            )
        )
    if not dataset.split(recipe.eval.split):
        raise DataError(Problem(f"no examples in the {recipe.eval.split!r} split to evaluate on", file=path))
    return dataset


def load_datasets(recipe: Recipe) -> list[TaskDataset]:
    """Every dataset of the recipe, problems from all files reported together."""
    datasets, problems = [], []
    for spec in recipe.data.examples:
        try:
            datasets.append(load_dataset(spec, recipe))
        except DataError as e:
            problems.extend(e.problems)
    if problems:
        raise DataError(*problems)
    return datasets
