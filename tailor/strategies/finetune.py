"""finetune: LoRA (or full) fine-tuning on the train split and the documents; asked as baseline is."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from tailor.contract import PromptedStrategy, Strategy
from tailor.data.examples import TaskDataset
from tailor.finetune.data import evaluation_examples, training_samples
from tailor.finetune.model import load_tuned_model
from tailor.finetune.train import TUNED, base_model_dir, continue_finetuned, ensure_finetuned, finetune_dir
from tailor.models.base import Generator
from tailor.plugins import StrategySpec
from tailor.prompt.builder import baseline_builder
from tailor.strategies.base import BuiltStrategy, Cost, Update, Updated
from tailor.workspace import Shared, Workspace

TUNED_GENERATOR: Shared[Generator] = Shared("finetune-generator")
MANIFEST_KEYS = (
    "method",
    "steps",
    "final_loss",
    "tokens_seen",
    "tokens_per_s",
    "sequences",
    "resumed_from_step",
    "train_s",
    "epochs",
    "steps_per_epoch",
    "dev",
    "rate_search",
)


def tuned(ws: Workspace) -> tuple[Any, Generator, dict[str, Any]]:
    """The fine-tuned model (trained once per workspace), a generator over it, and what training reported."""
    trained = ws.shared(TUNED, lambda: ensure_finetuned(ws))
    generator = ws.shared(
        TUNED_GENERATOR,
        lambda: load_tuned_model(
            trained.model_dir, base_model_dir(ws), ws.generator.tokenizer, f"{ws.generator.name}+ft", ws.generator.dtype
        ),
    )
    return trained, generator, {k: trained.manifest.get(k) for k in MANIFEST_KEYS}


def tuned_generator(ws: Workspace) -> Generator:
    """The generator over the fine-tuned model (trained first if it is missing or stale)."""
    return tuned(ws)[1]


def retrain(up: Update) -> Cost:
    """Train the old adapter further on what changed (once per update; finetune and rag+finetune share it)."""
    old = up.old.shared(TUNED, lambda: ensure_finetuned(up.old))

    def train():
        delta = up.new.derive(corpus=up.changed_docs, datasets=(replace(up.dataset, examples=up.trained),))
        samples = training_samples(delta)
        never = [*evaluation_examples(up.old), *up.questions]
        return continue_finetuned(up.new, old, samples, finetune_dir(up.new), never)

    trained = up.new.shared(TUNED, train)
    m = trained.manifest
    sequences = int(m.get("sequences") or 0)
    return Cost(
        trained.build_s,
        old.build_s,
        {"retrain_steps": (m["steps"], sequences), "retrain_tokens": (int(m.get("tokens_seen") or 0), sequences)},
    )


def build(ws: Workspace, dataset: TaskDataset) -> BuiltStrategy:
    trained, generator, info = tuned(ws)
    # Asked exactly as baseline is: what changed is the weights, not the prompt.
    strategy = PromptedStrategy("finetune", generator, baseline_builder(dataset), ws.settings_for(dataset))
    return BuiltStrategy(strategy, trained.build_s, info)


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
)
