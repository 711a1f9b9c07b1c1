"""Forgetting, the cheap model-agnostic signal: cross-entropy on held general text, per strategy vs the base model.

Fine-tuning on a narrow domain can erode what the model knew ("catastrophic forgetting"). Before
any task-specific test, the plainest symptom is that general text becomes less predictable: the
mean per-token cross-entropy of prose the training never saw goes up. The held text is the prose of
Python's own reference manual (``pydoc_data.topics``, shipped with every Python): general English
about a domain no recipe trains on. Rows: ``general_text_ce`` (nats per token, mean over passages
with a bootstrap interval) and ``general_text_ce_delta`` (paired, passage by passage, against the
base model; above 0 means the strategy's model forgot some). Strategies that answer with the base
weights (baseline, prompt, rag) score a delta of exactly 0: a long prompt cannot change the weights,
and what it does to answers is the task suite's to measure.
"""

from __future__ import annotations

import random

from tailor.eval.results import ResultRow, mean_row
from tailor.eval.suite import SuiteInput, local_weights

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
    cfg = ws.recipe.eval
    passages = general_passages(base[1], cfg.forgetting_passages, cfg.forgetting_tokens, inp.seed)
    if not passages:
        return []
    base_ce = passage_ce(base, passages)
    measured: dict[int, list[float]] = {id(base[0]): base_ce}
    rows = []
    for strategy in inp.strategies:
        model = local_weights(getattr(strategy, "generator", None))
        if model is None:
            continue
        if id(model[0]) not in measured:
            measured[id(model[0])] = passage_ce(model, passages)
        ce = measured[id(model[0])]
        delta = [a - b for a, b in zip(ce, base_ce, strict=True)]
        rows.append(mean_row(strategy.name, inp.dataset.name, "forgetting", "general_text_ce", ce, inp.seed))
        rows.append(mean_row(strategy.name, inp.dataset.name, "forgetting", "general_text_ce_delta", delta, inp.seed))
    return rows
