"""finetune: LoRA (or full) fine-tuning on the train split and the documents; asked as baseline is."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from tailor.contract import PromptedStrategy, Strategy
from tailor.data.examples import TaskDataset
from tailor.finetune.data import Sample, evaluation_examples, training_samples
from tailor.finetune.model import load_tuned_model
from tailor.finetune.train import (
    TUNED,
    TrainedModel,
    base_model_dir,
    continue_finetuned,
    ensure_finetuned,
    finetune_dir,
)
from tailor.models.base import Generator
from tailor.prompt.builder import baseline_builder
from tailor.records import Build, TrainingRecord
from tailor.strategies.base import BuiltStrategy, Cost, StrategySpec, Update, Updated
from tailor.workspace import Shared, Workspace


@dataclass(frozen=True)
class Adapter:
    """A trained model strategies answer with: how it is trained, and where a workspace keeps it."""

    trained: Shared[TrainedModel]
    generator: Shared[Generator]
    suffix: str  # after the base model's name: the tuned generator's name
    ensure: Callable[[Workspace], TrainedModel]  # trained (or reused) for the workspace's recipe
    # (what changed, as a workspace; the new version's whole workspace) → the records an update trains on
    samples: Callable[[Workspace, Workspace], list[Sample]]
    where: Callable[[Workspace], Path]  # its directory under OUT
    max_tokens: Callable[[Workspace], int]  # its longest training sequence


FINETUNE = Adapter(
    TUNED,
    Shared("finetune-generator"),
    "+ft",
    ensure_finetuned,
    lambda delta, _: training_samples(delta),
    finetune_dir,
    lambda ws: ws.recipe.finetune.max_seq_tokens,
)


def tuned(ws: Workspace, adapter: Adapter = FINETUNE) -> tuple[TrainedModel, Generator, TrainingRecord]:
    """The fine-tuned model (trained once per workspace), a generator over it, and what training reported."""
    trained = ws.shared(adapter.trained, lambda: adapter.ensure(ws))
    generator = ws.shared(
        adapter.generator,
        lambda: load_tuned_model(
            trained.model_dir,
            base_model_dir(ws),
            ws.generator.tokenizer,
            f"{ws.generator.name}{adapter.suffix}",
            ws.generator.dtype,
        ),
    )
    return trained, generator, TrainingRecord.from_manifest(trained.manifest)


def retrain(up: Update, adapter: Adapter = FINETUNE) -> Cost:
    """Train the old adapter further on what changed (once per update; the strategies sharing it share this)."""
    old = up.old.shared(adapter.trained, lambda: adapter.ensure(up.old))

    def train():
        delta = up.new.derive(corpus=up.changed_docs, datasets=(replace(up.dataset, examples=up.trained),))
        samples = adapter.samples(delta, up.new)
        never = [*evaluation_examples(up.old), *up.questions]
        return continue_finetuned(up.new, old, samples, adapter.where(up.new), never, adapter.max_tokens(up.new))

    trained = up.new.shared(adapter.trained, train)
    m = trained.manifest
    sequences = int(m.get("sequences") or 0)
    return Cost(
        trained.build_s,
        old.build_s,
        {"retrain_steps": (m["steps"], sequences), "retrain_tokens": (int(m.get("tokens_seen") or 0), sequences)},
    )


def build(ws: Workspace, dataset: TaskDataset) -> BuiltStrategy:
    trained, generator, training = tuned(ws)
    # Asked exactly as baseline is: what changed is the weights, not the prompt.
    strategy = PromptedStrategy("finetune", generator, baseline_builder(dataset), ws.settings_for(dataset))
    return BuiltStrategy(strategy, Build(trained.build_s, training=training))


def update(before: Strategy, up: Update) -> Updated:
    """The adapter trained further on the changed documents and train-split answers."""
    cost = retrain(up)
    return build(up.new, up.dataset).strategy, cost


STRATEGY = StrategySpec(
    name="finetune",
    build=build,
    summary="LoRA (or full) fine-tuning on the train split and the documents; opt-in (it trains)",
    simplicity=3,
    trains=True,
    update=update,
    sections=("finetune",),
    train=ensure_finetuned,
    settings="finetune",
)
