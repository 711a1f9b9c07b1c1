"""The retrieval suite: did the documents that hold the answer reach the model?

Scored on every strategy whose answers carry contexts (rag's retrieved chunks, prompt's static
block), over examples that name their ``sources``. Contexts are in the order the strategy ranked them.
- recall@1, recall@k: the share of examples with a source document among the first 1 / all k contexts
- mrr: mean reciprocal rank of the first context from a source document (0 when none)
- context_precision: the share of contexts that come from a source document
"""

from __future__ import annotations

from tailor.eval.base import SuiteInput
from tailor.eval.results import ResultRow, mean_row
from tailor.plugins import Column, Panel, SuiteSpec


def retrieval_scores(context_docs: list[str], sources: set[str]) -> dict[str, float]:
    hits = [d in sources for d in context_docs]
    first = next((i for i, h in enumerate(hits) if h), None)
    return {
        "recall_at_1": float(bool(hits) and hits[0]),
        "recall_at_k": float(first is not None),
        "mrr": 0.0 if first is None else 1.0 / (first + 1),
        "context_precision": sum(hits) / len(hits) if hits else 0.0,
    }


def retrieval_suite(inp: SuiteInput) -> list[ResultRow]:
    rows: list[ResultRow] = []
    for run in inp.runs:
        pairs = [(a, e) for a, e in zip(run.answers, inp.examples, strict=True) if e.sources]
        if not pairs or not any(a.contexts for a, _ in pairs):
            continue  # no contexts (baseline) or no ground truth: nothing to score
        per_example = [retrieval_scores([c.doc_id for c in a.contexts], set(e.sources)) for a, e in pairs]
        for metric in ("recall_at_1", "recall_at_k", "mrr", "context_precision"):
            values = [s[metric] for s in per_example]
            rows.append(mean_row(run.strategy, inp.dataset.name, "retrieval", metric, values, inp.seed))
        k = max(len(a.contexts) for a, _ in pairs)
        rows.append(ResultRow(run.strategy, inp.dataset.name, "retrieval", "k", float(k), len(pairs)))
    return rows


SUITE = SuiteSpec(
    name="retrieval",
    run=retrieval_suite,
    summary="recall@1, recall@k, MRR and context precision of what retrieving strategies put in the prompt",
    order=20,
    needs=("retrieval",),
    columns=(
        Column("recall_at_1", "recall@1"),
        Column("recall_at_k", "recall@k"),
        Column("mrr", "MRR"),
        Column("context_precision", "ctx precision"),
    ),
    panels=(Panel("retrieval", ("recall_at_1", "recall_at_k", "mrr", "context_precision")),),
)
