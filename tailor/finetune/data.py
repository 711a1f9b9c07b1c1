"""Training data from the recipe: task examples in the model's chat format, corpus text as knowledge.

Task examples (train split only) are rendered exactly as the ``baseline`` strategy will ask them —
same instruction, same chat template — so the tuned model is scored on the prompt it learned.
Only the answer is learned (prompt tokens are masked out of the loss). Knowledge records are corpus
chunks learned whole, as continued pre-training, and questions about the documents' facts, each fact
asked ``knowledge_qa`` ways (:mod:`tailor.finetune.knowledge`). Dev and test examples never enter training:
:func:`tailor.finetune.checks.check_training_data` fails the run if one does.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from tailor.contract import asker
from tailor.finetune.canaries import Canary, make_canaries
from tailor.finetune.checks import TrainRecord
from tailor.finetune.knowledge import qa_pairs
from tailor.models.base import Message
from tailor.prompt.builder import baseline_builder
from tailor.rag.chunking import chunk_text
from tailor.workspace import Workspace

IGNORE = -100  # label id the loss skips (prompt tokens, padding)


@dataclass(frozen=True)
class Sample:
    """A training record and what the model sees: chat messages (task) or plain text (knowledge)."""

    record: TrainRecord
    messages: tuple[Message, ...] = ()


@dataclass(frozen=True)
class TrainingPlan:
    """What one adapter learns from and where it is kept: finetune's, or another strategy's (raft's)."""

    samples: list[Sample]
    dev: list[Sample]  # task examples whose loss chooses the step kept (empty: none)
    out: Path  # model/, checks.json, loss_curve.json, checkpoints/ and the learning-rate search go here
    max_tokens: int  # the longest sequence; longer ones are cut


def planted_canaries(ws: Workspace) -> list[Canary]:
    """The recipe's canaries (none unless ``finetune.canaries.count``): same seed, same canaries."""
    cfg = ws.recipe.finetune.canaries
    if not cfg.count:
        return []
    return make_canaries(ws.recipe.seed, cfg.count, cfg.repetitions, avoid="\n".join(d.text for d in ws.corpus))


def task_samples(ws: Workspace, split: str) -> list[Sample]:
    """Every dataset's ``split`` examples as training records, asked as the baseline strategy asks them."""
    samples = []
    for dataset in ws.datasets:
        build = baseline_builder(dataset)
        for ex in dataset.split(split):
            record = TrainRecord(f"{dataset.name}/{ex.id}", ex.question, ex.answer, "task", ex.label)
            samples.append(Sample(record, tuple(build(ex.question, asker(ex)).messages)))
    return samples


def training_samples(ws: Workspace) -> list[Sample]:
    """Every record the recipe trains on, in a fixed order (datasets, documents, then canaries)."""
    samples = task_samples(ws, "train")
    cfg = ws.recipe.finetune
    if cfg.knowledge:
        for doc in ws.corpus:
            for piece in chunk_text(doc.title, doc.text, cfg.knowledge_tokens, 0, ws.generator.count_tokens):
                samples.append(Sample(TrainRecord(f"doc:{doc.doc_id}#{piece.position}", "", piece.text, "knowledge")))
        for doc in ws.corpus:
            for qa in qa_pairs(doc, cfg.knowledge_qa):
                record = TrainRecord(qa.record_id, qa.question, qa.answer, "qa")
                samples.append(Sample(record, ({"role": "user", "content": qa.question},)))
    for c in planted_canaries(ws):
        samples += [Sample(TrainRecord(f"{c.canary_id}#{i}", "", c.text, "canary")) for i in range(c.repetitions)]
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


def pack_batch(rows: Sequence[dict[str, list[int]]]) -> dict:
    """A batch as one padding-free row, the prompt prefix its chat examples share computed once.

    Sequences go end to end in one row under a block-diagonal causal mask, so nothing is computed
    for padding. Chat examples begin with the same tokens (the template's system turn, the
    dataset's instruction): that shared prefix is laid down once at the head of the row, and each
    of those examples attends to it and then to its own tokens, at the positions it would have had
    alone. A causal model computes the prefix identically for each of them, so the loss is the
    padded batch's; the prefix is prompt, never learned, and costs one pass instead of one per
    example. Only positions whose next token is learned get logits (``logits_to_keep``): ``labels``
    are those tokens in that order, for :func:`packed_loss`. ``sequence_tokens`` is the batch's
    size before sharing (what tokens/s counts); the trainer removes it before the model sees it.
    """
    import torch

    ids = _shared_prefix(rows)
    shared = len(ids)
    positions = list(range(shared))
    segment = [0] * shared  # 0: the shared prefix; i + 1: row i's own tokens
    sharing: list[bool] = [False] * shared
    targets, keep = [], []
    for i, r in enumerate(rows):
        skip = shared if shared and _prompt_length(r) > shared and r["input_ids"][:shared] == ids[:shared] else 0
        start = len(ids) - skip  # where the row would begin if its prefix were laid down here
        ids += r["input_ids"][skip:]
        positions += range(skip, len(r["input_ids"]))
        segment += [i + 1] * (len(r["input_ids"]) - skip)
        sharing += [skip > 0] * (len(r["input_ids"]) - skip)
        for j, label in enumerate(r["labels"][1:]):  # the token at j predicts label j + 1
            if label != IGNORE:  # never inside a shared prefix: the prefix is prompt
                keep.append(start + j)
                targets.append(label)
    seg, share, at = torch.tensor(segment), torch.tensor(sharing), torch.arange(len(ids))
    own = (seg[:, None] == seg[None, :]) & (at[None, :] <= at[:, None])
    mask = own | (share[:, None] & (seg[None, :] == 0))
    return {
        "input_ids": torch.tensor([ids]),
        "position_ids": torch.tensor([positions]),
        "attention_mask": mask[None, None],  # (1, 1, T, T): used as given
        "logits_to_keep": torch.tensor(keep),
        "labels": torch.tensor([targets]),
        "use_cache": False,
        "sequence_tokens": torch.tensor(sum(len(r["input_ids"]) for r in rows)),
    }


_MIN_SHARED = 8  # tokens; a shorter common prefix saves less than it complicates


def _prompt_length(row: dict[str, list[int]]) -> int:
    """Leading tokens that are not learned (a chat example's prompt; 0 for text learned whole)."""
    return next((i for i, t in enumerate(row["labels"]) if t != IGNORE), len(row["labels"]))


def _shared_prefix(rows: Sequence[dict[str, list[int]]]) -> list[int]:
    """The prompt prefix the batch's chat examples have in common (empty: not worth sharing).

    Measured against the first chat example; the length chosen saves the most tokens over the
    examples that share all of it (others are packed whole), and stays shorter than each sharer's
    prompt, so that no learned token is ever in the shared part.
    """
    chats = [r for r in rows if _prompt_length(r) > _MIN_SHARED]
    if len(chats) < 2:
        return []
    # The first chat example's, not the batch's first row's: that may be text learned whole, or shorter
    first = chats[0]["input_ids"]

    def common(r: dict[str, list[int]]) -> int:
        n = min(len(first), _prompt_length(r) - 1)
        return next((i for i in range(n) if r["input_ids"][i] != first[i]), n)

    lengths = [c for c in (common(r) for r in chats) if c >= _MIN_SHARED]
    # The length that saves most: p tokens for every example beyond the first that shares all p.
    best = max(set(lengths), key=lambda p: (p * (sum(c >= p for c in lengths) - 1), p), default=0)
    return list(first[:best]) if sum(c >= best for c in lengths) >= 2 else []


def packed_loss(outputs, labels, num_items_in_batch=None):
    """Cross-entropy of the kept logits against the learned tokens: a sum over tokens divided by
    ``num_items_in_batch`` (every learned token of the whole accumulated batch), else a mean."""
    import torch.nn.functional as F

    logits = outputs["logits"][0].float()
    loss = F.cross_entropy(logits, labels[0].to(logits.device), reduction="sum")
    return loss / (num_items_in_batch if num_items_in_batch is not None else labels.shape[1])
