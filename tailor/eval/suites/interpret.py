"""Interpret: what fine-tuning changed in an answer, shown example by example.

A fine-tuned model's answers are harder to explain than a prompt's: nothing in the prompt says why
the model answers as it does. For every strategy whose generator is not the workspace's base model
(``finetune``, ``rag+finetune``), on ``eval.interpret_examples`` of the evaluated examples:

- **Base answer**: the base model's answer to the very prompt the tuned strategy built (same
  builder, same decoding), so a difference is the weights', not the prompt's. Where an evaluated
  strategy already asked the base weights those prompts (baseline for finetune, rag for
  rag+finetune), its answers are reused; otherwise they are generated in one batch.
- **Log-probability shift**: each token of the tuned answer, after the tuned strategy's prompt
  (chat template applied as generation applies it), scored by both models; the shift is
  log p_tuned − log p_base in nats. Above 0: fine-tuning made that token more likely.
- **Nearest training texts**: the ``NEAREST`` training records (:func:`tailor.finetune.data.training_samples`)
  closest to "question + tuned answer" by the rag embedder's cosine similarity, and whether each
  contains the tuned answer: an answer the nearest training text holds was likely learned from it.

Rows (suite ``interpret``), per tuned strategy, each a mean over the sampled examples with a
bootstrap 95% interval:

- ``base_agreement_rate``: the tuned and base answers are equal after SQuAD normalisation
  (citations stripped).
- ``answer_logprob_shift``: the mean over examples of the mean per-token shift (examples with an
  empty tuned answer have no tokens and are left out of ``n``).
- ``nearest_train_support_rate``: the top-1 nearest training text contains the tuned answer (an
  empty answer counts 0).

``OUT/interpret.jsonl``: one line per (strategy, dataset, example), for the report to show:

- ``strategy``, ``dataset``, ``id``, ``question``, ``gold``: which example, and its gold answer;
- ``tuned_answer``: the tuned strategy's answer as evaluated; ``base_answer``: the base model's;
- ``agree``: whether they are equal after normalisation;
- ``logprob_shift``: the mean of ``tokens[].shift`` (null for an empty answer);
- ``tokens``: ``[{token, logprob_tuned, logprob_base, shift}]``, one per token of the tuned answer
  (citations appended after generation excluded), ``token`` decoded alone;
- ``nearest``: ``[{id, kind, text, similarity, contains_answer}]``, most similar first; ``id`` is the
  training record's id, ``kind`` its source (``task``, ``knowledge``, ``qa``, ``canary``), ``text``
  cut to ``TEXT_CHARS`` characters.

The suite runs once per dataset; each run rewrites the file atomically with its own lines and
those of the datasets evaluated before it in the recipe, so a finished eval holds every dataset's
lines and nothing from an older run. Endpoint generators have no weights to score: such a strategy
is skipped with one log line.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from tailor.artifacts import write_jsonl_atomic
from tailor.contract import CITATION, BuiltPrompt, PromptedStrategy, asker, strip_citations
from tailor.data.examples import Example
from tailor.eval.base import Column, NoRows, Panel, Size, SuiteInput, SuiteSpec, local_weights, sample
from tailor.eval.metrics import contains_answer, normalize_answer
from tailor.eval.results import ResultRow, mean_row
from tailor.rag.embed import Embedder
from tailor.rag.pipeline import embedder_of
from tailor.workspace import Shared, Workspace

NEAREST = 3  # training texts recorded per example
TEXT_CHARS = 300  # of each training text, in interpret.jsonl
NAME = "interpret"
# Citations a ``finish`` step appended after generation (rag's ``cite``): not the model's tokens.
_APPENDED_CITATIONS = re.compile(rf"(?:{CITATION.pattern})+\s*$")


@dataclass(frozen=True)
class TrainingIndex:
    """The fine-tuning records, each distinct text once, and their (n, dim) L2-normalised embeddings."""

    ids: tuple[str, ...]
    kinds: tuple[str, ...]
    texts: tuple[str, ...]
    vectors: np.ndarray
    embedder: Embedder  # what embeds the queries, in the same space


def interpret_suite(inp: SuiteInput) -> list[ResultRow]:
    """Rows for every fine-tuned strategy of ``inp``; writes ``OUT/interpret.jsonl`` (none: nothing written)."""
    ws = inp.workspace
    if ws is None:
        return []
    answered = {r.strategy: r for r in inp.runs}
    tuned = [s for s in inp.strategies if s.name in answered and _tuned(s, ws)]
    if not tuned:
        return NoRows("no fine-tuned strategy answered this dataset")
    picked = sample(inp, "interpret_examples", NAME)
    if not picked:
        return NoRows("no evaluated example to explain")
    examples = [inp.examples[i] for i in picked]
    rows: list[ResultRow] = []
    lines: list[dict[str, Any]] = []
    for strategy in tuned:
        if not isinstance(strategy, PromptedStrategy):
            ws.reporter.log(f"interpret: {strategy.name} has no prompt builder to ask the base model with; skipped")
            continue
        if local_weights(strategy.generator) is None or local_weights(ws.generator) is None:
            ws.reporter.log(f"interpret: {strategy.name} or the base model has no local weights to score; skipped")
            continue
        built = [strategy.build(e.question, asker(e)) for e in examples]
        base_texts = _base_answers(inp, strategy, picked, built)
        tuned_texts = [answered[strategy.name].answers[i].text for i in picked]
        found = explain(strategy, ws, examples, built, tuned_texts, base_texts)
        lines += [{"strategy": strategy.name, "dataset": inp.dataset.name, **f} for f in found]
        rows += _rows(strategy.name, inp, found)
    if lines:
        _write(ws, inp.dataset.name, lines)
    return rows


def _base_answers(
    inp: SuiteInput, strategy: PromptedStrategy, picked: list[int], built: list[BuiltPrompt]
) -> list[str]:
    """The base model's answers to ``strategy``'s prompts ``built`` for the examples ``picked``.

    Where an evaluated strategy asked the base weights these very prompts with the same decoding and
    finish step (baseline for finetune, rag for rag+finetune), its evaluated answers are the base
    answers and nothing is generated; otherwise they are generated in one batch.
    """
    ws = inp.workspace
    answered = {r.strategy: r for r in inp.runs}
    for other in inp.strategies:
        if (
            isinstance(other, PromptedStrategy)
            and other.generator is ws.generator
            and other.name in answered
            and (other.settings, other.finish) == (strategy.settings, strategy.finish)
            and all(
                other.build(inp.examples[i].question, asker(inp.examples[i])).messages == b.messages
                for i, b in zip(picked, built, strict=True)
            )
        ):
            return [answered[other.name].answers[i].text for i in picked]
    examples = [inp.examples[i] for i in picked]
    base = replace(strategy, generator=ws.generator)
    return [a.text for a in base.answer_batch([e.question for e in examples], [asker(e) for e in examples])]


def explain(
    strategy: PromptedStrategy,
    ws: Workspace,
    examples: list[Example],
    built: list[BuiltPrompt],
    tuned_texts: list[str],
    base_texts: list[str],
) -> list[dict[str, Any]]:
    """One interpret.jsonl record (without strategy and dataset) per example.

    ``built``: the prompts ``strategy`` builds for ``examples``; ``tuned_texts``: what it answered
    (as evaluated, finish step included); ``base_texts``: what the base model answered to ``built``.
    """
    tuned_model, base_model = local_weights(strategy.generator), local_weights(ws.generator)
    tokenizer = tuned_model[1]  # a tuned generator shares the base tokenizer (load_tuned_model)
    index = ws.shared(TRAINING_INDEX, lambda: training_index(ws))
    answers = [strip_citations(t) for t in tuned_texts]
    queries = index.embedder.embed([f"{e.question}\n{a}" for e, a in zip(examples, answers, strict=True)])
    out = []
    for k, example in enumerate(examples):
        head = tokenizer(strategy.generator.render(built[k].messages), add_special_tokens=False)["input_ids"]
        tail = tokenizer(_generated(strategy, tuned_texts[k]), add_special_tokens=False)["input_ids"]
        tuned_lp, base_lp = token_logprobs(tuned_model[0], head, tail), token_logprobs(base_model[0], head, tail)
        shifts = [a - b for a, b in zip(tuned_lp, base_lp, strict=True)]
        out.append(
            {
                "id": example.id,
                "question": example.question,
                "gold": example.answer,
                "tuned_answer": tuned_texts[k],
                "base_answer": base_texts[k],
                "agree": _same(tuned_texts[k], base_texts[k]),
                "logprob_shift": round(float(np.mean(shifts)), 5) if shifts else None,
                "tokens": [
                    {"token": tokenizer.decode([t]), "logprob_tuned": _r(a), "logprob_base": _r(b), "shift": _r(d)}
                    for t, a, b, d in zip(tail, tuned_lp, base_lp, shifts, strict=True)
                ],
                "nearest": nearest(index, queries[k], answers[k]),
            }
        )
    return out


def token_logprobs(model, head: list[int], tail: list[int]) -> list[float]:
    """Log-probability (nats) of each token of ``tail`` after ``head``, in one forward pass."""
    if not tail:
        return []
    import torch

    ids = torch.tensor([head + tail[:-1]], device=next(model.parameters()).device)
    with torch.inference_mode():
        # (len(tail), vocab): the last len(tail) positions, where position j predicts tail[j]
        logits = model(input_ids=ids, logits_to_keep=len(tail)).logits[0].float()
    logp = logits.log_softmax(-1)
    return [float(logp[j, t]) for j, t in enumerate(tail)]


TRAINING_INDEX: Shared[TrainingIndex] = Shared("interpret/training")


def training_index(ws: Workspace) -> TrainingIndex:
    """Every distinct text the recipe fine-tunes on, embedded once with the recipe's rag embedder."""
    from tailor.finetune.data import training_samples

    records = {}
    for s in training_samples(ws):  # a canary repeated 16 times is one text
        text = f"{s.record.prompt}\n{s.record.completion}".strip()
        records.setdefault(text, s.record)
    embedder = embedder_of(ws, ws.recipe.rag.embedder)
    texts = tuple(records)
    ids, kinds = tuple(r.record_id for r in records.values()), tuple(r.source for r in records.values())
    return TrainingIndex(ids, kinds, texts, embedder.embed(list(texts)), embedder)


def nearest(index: TrainingIndex, query: np.ndarray, answer: str, k: int = NEAREST) -> list[dict[str, Any]]:
    """The ``k`` training texts most similar to ``query`` (a normalised vector), most similar first."""
    if not index.texts:
        return []
    similarity = index.vectors @ query  # (n,): cosine, both sides normalised
    top = np.argsort(-similarity, kind="stable")[:k]
    return [
        {
            "id": index.ids[i],
            "kind": index.kinds[i],
            "text": index.texts[i][:TEXT_CHARS],
            "similarity": round(float(similarity[i]), 5),
            "contains_answer": bool(normalize_answer(answer)) and contains_answer(index.texts[i], answer) == 1.0,
        }
        for i in top
    ]


def _tuned(strategy, ws: Workspace) -> bool:
    """Whether ``strategy`` answers with other weights than the workspace's base model."""
    generator = getattr(strategy, "generator", None)
    return generator is not None and generator is not ws.generator


def _r(x: float) -> float:
    return round(x, 5)


def _generated(strategy: PromptedStrategy, text: str) -> str:
    """The text the model generated: an answer without the citations a finish step appended."""
    return _APPENDED_CITATIONS.sub("", text).strip() if strategy.finish is not None else text


def _same(a: str, b: str) -> bool:
    return normalize_answer(strip_citations(a)) == normalize_answer(strip_citations(b))


def _rows(name: str, inp: SuiteInput, found: list[dict[str, Any]]) -> list[ResultRow]:
    ds, seed = inp.dataset.name, inp.seed
    agree = [float(f["agree"]) for f in found]
    support = [float(bool(f["nearest"]) and f["nearest"][0]["contains_answer"]) for f in found]
    shifts = [f["logprob_shift"] for f in found if f["logprob_shift"] is not None]
    rows = [mean_row(name, ds, NAME, "base_agreement_rate", agree, seed)]
    if shifts:
        rows.append(mean_row(name, ds, NAME, "answer_logprob_shift", shifts, seed))
    rows.append(mean_row(name, ds, NAME, "nearest_train_support_rate", support, seed))
    return rows


def interpret_path(ws: Workspace) -> Path:
    """Where the per-example explanations are written (the report reads them)."""
    return ws.recipe.out_dir / "interpret.jsonl"


def _write(ws: Workspace, dataset: str, lines: list[dict[str, Any]]) -> None:
    """Write ``lines`` with those of the datasets evaluated before ``dataset`` in this run."""
    names = [d.name for d in ws.datasets]
    earlier = set(names[: names.index(dataset)] if dataset in names else names) - {dataset}
    path = interpret_path(ws)
    kept = []
    if path.is_file():
        try:
            kept = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        except json.JSONDecodeError:  # not ours, or damaged: rewritten whole
            kept = []
    write_jsonl_atomic(path, [line for line in kept if line.get("dataset") in earlier] + lines)


SUITE = SuiteSpec(
    name=NAME,
    run=interpret_suite,
    summary="for fine-tuned strategies: the base model's answer, log-prob shift, nearest training texts",
    order=80,
    needs=("trained", "local-weights"),
    sizes=(
        Size(
            "interpret_examples",
            "interpret: examples whose fine-tuned answer is explained (base answer, log-prob shift, "
            "nearest training text)",
            4,
            24,
            scored=True,
        ),
    ),
    columns=(
        Column("base_agreement_rate", "same as base"),
        Column("answer_logprob_shift", "log-prob shift"),
        Column("nearest_train_support_rate", "answer in nearest training text"),
    ),
    panels=(Panel("interpretability of fine-tuned answers", ("base_agreement_rate", "nearest_train_support_rate")),),
)
