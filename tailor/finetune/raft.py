"""RAFT training data: every training question asked as rag asks it, the chunk with the answer among distractors.

RAFT (Zhang et al., "RAFT: Adapting Language Model to Domain Specific RAG", 2024) fine-tunes a model on
questions shown with retrieved documents. In a share P of them the document that holds the answer (the
oracle) sits among distractors, so the model learns to read the right one and pass over the rest; the
others show distractors only, so it must learn the fact itself too. A model fine-tuned on bare questions
(``finetune``, ``rag+finetune``) never sees a retrieved document while it learns, and RAFT reports that such
a model can read them worse behind RAG.

Here each training question (the train split's, and the documents' facts asked ``finetune.knowledge_qa``
ways) is rendered as rag renders it at test time: rag's instruction filled for the dataset, the chunks its
retrieval returns for the question and the asker's groups, no demonstrations. The oracle is the best
retrieved chunk that contains the answer. With it (``raft.oracle`` of the questions, drawn per question
from the seed) the context is the oracle and the ``rag.k − 1`` best distractors in a random order; without
it, the ``rag.k`` best chunks that do not contain the answer. A question whose answer no retrieved chunk
holds (a label, an abstention) keeps its retrieval as it is. The documents' text, the canaries, the steps
and every other setting are finetune's, so the two adapters differ only in how questions are shown. Dev
examples are shown with their retrieval as it is: the dev loss that picks the step kept is measured as
the model will be asked.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import replace
from pathlib import Path

from tailor.contract import User, asker
from tailor.data.examples import TaskDataset
from tailor.eval.metrics import normalize_answer
from tailor.finetune.checks import TrainRecord
from tailor.finetune.data import Sample, TrainingPlan, training_samples
from tailor.finetune.knowledge import qa_pairs
from tailor.prompt.builder import fill_instruction
from tailor.rag.index import ChunkIndex, Hit
from tailor.rag.pipeline import RagSpec, Retrieve, context_budget, rag_builder, retriever
from tailor.workspace import Workspace

OVERHEAD = 192  # tokens of a sequence kept for the instruction, question, answer and chat template


def raft_dir(ws: Workspace) -> Path:
    return ws.recipe.out_dir / "raft"


def raft_plan(ws: Workspace, index: ChunkIndex) -> TrainingPlan:
    """What raft's adapter learns from (see the module docstring), under OUT/raft."""
    cfg = ws.recipe.finetune
    dev = []
    if cfg.dev_every:
        dev = [s for d in ws.datasets for s in _shown(ws, index, d, "dev", oracle=None)]
    return TrainingPlan(raft_samples(ws, index), dev, raft_dir(ws), ws.recipe.raft.seq_tokens)


def raft_samples(ws: Workspace, index: ChunkIndex) -> list[Sample]:
    """finetune's training records (:func:`tailor.finetune.data.training_samples`), in the same order, with
    every question shown with retrieved chunks; the documents' text and canaries as they are."""
    plain = training_samples(ws)
    shown: dict[str, Sample] = {}
    for d in ws.datasets:
        shown |= {s.record.record_id: s for s in _shown(ws, index, d, "train", ws.recipe.raft.oracle)}
    shown |= {s.record.record_id: s for s in _knowledge(ws, index)}
    return [shown.get(s.record.record_id, s) for s in plain]


def _shown(ws: Workspace, index: ChunkIndex, dataset: TaskDataset, split: str, oracle: float | None) -> list[Sample]:
    """``split``'s examples as training records asked as rag asks them over ``index`` (``oracle``: see
    :func:`_render`)."""
    examples = dataset.split(split)
    instruction = fill_instruction(ws.recipe.rag.instruction, dataset)
    retrieve = retriever(index, ws.recipe.rag)
    out, shown = [], Counter()
    with ws.reporter.task(f"raft: retrieving for {dataset.name} {split}", len(examples)) as advance:
        for ex in examples:
            record = TrainRecord(f"{dataset.name}/{ex.id}", ex.question, ex.answer, "task", ex.label)
            show = oracle if dataset.kind == "qa" else None  # a label is in no chunk: nothing to place
            out.append(_render(ws, index, dataset, instruction, retrieve, record, asker(ex), show, shown))
            advance(1)
    _say(ws, f"{dataset.name}'s {len(examples)} {split} questions", shown)
    return out


def _knowledge(ws: Workspace, index: ChunkIndex) -> list[Sample]:
    """The documents' facts asked as the first QA dataset asks, by a reader of their document (none: no QA dataset)."""
    cfg = ws.recipe.finetune
    dataset = next((d for d in ws.datasets if d.kind == "qa"), None)
    if dataset is None or not cfg.knowledge or not cfg.knowledge_qa:
        return []
    instruction = fill_instruction(ws.recipe.rag.instruction, dataset)
    retrieve = retriever(index, ws.recipe.rag)
    pairs = [(doc, qa) for doc in ws.corpus for qa in qa_pairs(doc, cfg.knowledge_qa)]
    out, shown = [], Counter()
    with ws.reporter.task("raft: retrieving for the documents' facts", len(pairs)) as advance:
        for doc, qa in pairs:
            record = TrainRecord(qa.record_id, qa.question, qa.answer, "qa")
            reader = User("raft", doc.groups)
            out.append(_render(ws, index, dataset, instruction, retrieve, record, reader, ws.recipe.raft.oracle, shown))
            advance(1)
    _say(ws, f"{len(pairs)} questions about the documents' facts", shown)
    return out


def _say(ws: Workspace, what: str, shown: Counter) -> None:
    """How often the chunk with the answer was among a set of questions' chunks: training's evidence."""
    ws.reporter.log(f"raft: {what}: " + ", ".join(f"{n} {how}" for how, n in sorted(shown.items())))


def _render(
    ws: Workspace,
    index: ChunkIndex,
    dataset: TaskDataset,
    instruction: str,
    retrieve: Retrieve,
    record: TrainRecord,
    user: User,
    oracle: float | None,
    shown: Counter,
) -> Sample:
    """``record``'s question with its chunks, as rag's prompt with no demonstrations. ``oracle``: the chance
    that the chunk holding the answer is shown (drawn from the seed and the record); None: retrieval as it is.
    ``shown`` counts what :func:`context` did."""
    k = ws.recipe.rag.k
    budget = min(context_budget(ws, ws.settings_for(dataset).max_new_tokens), ws.recipe.raft.seq_tokens - OVERHEAD)
    spec = RagSpec(instruction, 0, "random", 0, k, max(budget, 64))
    draw = random.Random(f"{ws.recipe.seed}|raft|{record.record_id}")
    show = None if oracle is None else draw.random() < oracle

    def chosen(question: str, groups: frozenset[str]) -> list[Hit]:
        hits, how = context(retrieve(question, groups), record.completion, show, k, draw)
        shown[how] += 1
        return hits

    prompt = rag_builder(index, ws.recipe.rag, ws.generator.count_tokens, spec, instruction, None, chosen)
    return Sample(record, tuple(prompt(record.prompt, user).messages))


def context(hits: list[Hit], answer: str, oracle: bool | None, k: int, draw: random.Random) -> tuple[list[Hit], str]:
    """The chunks a training question is shown with, and which case it was: ``oracle`` True, the best chunk
    containing ``answer`` and the ``k − 1`` best others in a random order; False, the best others only;
    None, or no retrieved chunk contains the answer, ``hits`` as retrieved."""
    if oracle is None:
        return hits, "as retrieved"
    wanted = normalize_answer(answer)
    holds = [bool(wanted) and wanted in normalize_answer(h.chunk.text) for h in hits]
    if not any(holds):
        return hits, "with the answer in no retrieved chunk"
    others = [h for h, has in zip(hits, holds, strict=True) if not has]
    if not oracle:
        return others, "with distractors only"
    shown = [hits[holds.index(True)], *others[: k - 1]]
    draw.shuffle(shown)
    # One score: an mmr rerank keeps all k, and the chunk with the answer is not put first for its relevance.
    return [replace(h, score=1.0) for h in shown], "with the answer among distractors"
