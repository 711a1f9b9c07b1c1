"""Training data from the recipe: task examples in the model's chat format, corpus text as knowledge.

Task examples (train split only) are rendered exactly as the ``baseline`` strategy will ask them —
same instruction, same chat template — so the tuned model is scored on the prompt it learned.
Only the answer is learned (prompt tokens are masked out of the loss). Knowledge records are corpus
chunks learned whole, as continued pre-training. Dev and test examples never enter training:
:func:`tailor.finetune.checks.check_training_data` fails the run if one does.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from tailor.finetune.checks import TrainRecord
from tailor.models.base import Message
from tailor.prompt.builder import baseline_builder
from tailor.rag.chunking import chunk_text
from tailor.strategy import asker
from tailor.workspace import Workspace

IGNORE = -100  # label id the loss skips (prompt tokens, padding)


@dataclass(frozen=True)
class Sample:
    """A training record and what the model sees: chat messages (task) or plain text (knowledge)."""

    record: TrainRecord
    messages: tuple[Message, ...] = ()


def training_samples(ws: Workspace) -> list[Sample]:
    """Every record the recipe trains on, in a fixed order (datasets, then documents)."""
    samples = []
    for dataset in ws.datasets:
        build = baseline_builder(dataset)
        for ex in dataset.split("train"):
            record = TrainRecord(f"{dataset.name}/{ex.id}", ex.question, ex.answer, "task", ex.label)
            samples.append(Sample(record, tuple(build(ex.question, asker(ex)).messages)))
    if ws.recipe.finetune.knowledge:
        size = ws.recipe.finetune.knowledge_tokens
        for doc in ws.corpus:
            for piece in chunk_text(doc.title, doc.text, size, 0, ws.generator.count_tokens):
                samples.append(Sample(TrainRecord(f"doc:{doc.doc_id}#{piece.position}", "", piece.text, "knowledge")))
    return samples


def evaluation_examples(ws: Workspace) -> list:
    """The examples training must never see: every dev and test example of every dataset."""
    return [ex for d in ws.datasets for ex in d.examples if ex.split in ("dev", "test")]


def tokenize(samples: Sequence[Sample], tokenizer, max_tokens: int) -> list[dict[str, list[int]]]:
    """``input_ids`` and ``labels`` per sample, cut to ``max_tokens``; prompt tokens are labelled IGNORE.

    A task sample is the chat template applied to its messages plus the answer as the assistant
    turn (ending with the template's end-of-turn token, so the model learns to stop).
    """
    eos = tokenizer.eos_token_id
    out = []
    for s in samples:
        if s.messages:
            chat = [{"role": m["role"], "content": m["content"]} for m in s.messages]
            prompt = tokenizer.apply_chat_template(chat, add_generation_prompt=True, tokenize=False)
            full = tokenizer.apply_chat_template(
                [*chat, {"role": "assistant", "content": s.record.completion}], tokenize=False
            )
            prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
            ids = tokenizer(full, add_special_tokens=False)["input_ids"]
            # The template may add a trailing newline after the end-of-turn token: train up to it.
            if eos in ids[len(prompt_ids) :]:
                ids = ids[: len(prompt_ids) + ids[len(prompt_ids) :].index(eos) + 1]
            labels = [IGNORE] * len(prompt_ids) + ids[len(prompt_ids) :]
        else:
            ids = tokenizer(s.record.completion, add_special_tokens=False)["input_ids"] + [eos]
            labels = list(ids)
        out.append({"input_ids": ids[:max_tokens], "labels": labels[:max_tokens]})
    return [r for r in out if any(t != IGNORE for t in r["labels"])]  # a cut that left no answer teaches nothing


def pad_batch(rows: Sequence[dict[str, list[int]]], pad_id: int) -> dict:
    """Right-pad a batch to its longest row: (b, t) input_ids, attention_mask and labels tensors."""
    import torch

    width = max(len(r["input_ids"]) for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    labels = torch.full((len(rows), width), IGNORE, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, r in enumerate(rows):
        n = len(r["input_ids"])
        ids[i, :n] = torch.tensor(r["input_ids"])
        labels[i, :n] = torch.tensor(r["labels"])
        mask[i, :n] = 1
    return {"input_ids": ids, "attention_mask": mask, "labels": labels}
