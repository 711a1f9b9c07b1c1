"""The retrieval suite: did the documents that hold the answer reach the model, and is the answer theirs?

Scored on every strategy whose answers carry contexts (rag's retrieved chunks, prompt's static
block). Contexts are in the order the strategy ranked them. Over examples that name their ``sources``:
- recall@1, recall@k: the share of examples with a source document among the first 1 / all k contexts
- mrr: mean reciprocal rank of the first context from a source document (0 when none)
- context_precision: the share of contexts that come from a source document
Over every answer that commits to something (abstentions and answers of stop words only left out), with
no ground truth needed:
- answer_support: the share of the answer's content words found in the contexts it was given (1: all of
  it could have come from the documents; low: the model added what it was not shown)
- citation_precision: of the documents an answer cites, the share that were among its contexts and hold
  at least half of its content words (only where answers cite)
"""

from __future__ import annotations

from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

from tailor.contract import citations, strip_citations
from tailor.eval.abstain import abstains
from tailor.eval.base import Column, NoRows, Panel, SuiteInput, SuiteSpec
from tailor.eval.metrics import normalize_answer
from tailor.eval.results import ResultRow, mean_row

SUPPORTED = 0.5  # a cited document supports an answer that has at least this share of its content words


def support(answer: str, context: str) -> float | None:
    """The share of ``answer``'s content words that occur in ``context``; None when it has none."""
    words = [w for w in normalize_answer(strip_citations(answer)).split() if w not in ENGLISH_STOP_WORDS]
    if not words:
        return None
    present = set(normalize_answer(context).split())
    return sum(w in present for w in words) / len(words)


def _grounding_rows(inp: SuiteInput, strategy: str, answers) -> list[ResultRow]:
    shown = [a for a in answers if a.contexts and not abstains(strip_citations(a.text))]
    supports = [s for a in shown if (s := support(a.text, "\n".join(c.text for c in a.contexts))) is not None]
    rows = [mean_row(strategy, inp.dataset.name, "retrieval", "answer_support", supports, inp.seed)] if supports else []
    cited = []
    for a in shown:
        by_doc: dict[str, list[str]] = {}
        for c in a.contexts:
            by_doc.setdefault(c.doc_id, []).append(c.text)
        for doc in citations(a.text):
            held = support(a.text, "\n".join(by_doc.get(doc, ())))
            cited.append(float(doc in by_doc and held is not None and held >= SUPPORTED))
    if cited:
        rows.append(mean_row(strategy, inp.dataset.name, "retrieval", "citation_precision", cited, inp.seed))
    return rows


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
    if not any(a.contexts for run in inp.runs for a in run.answers):
        return NoRows("no strategy put documents in front of the model on this dataset")
    for run in inp.runs:
        rows += _grounding_rows(inp, run.strategy, run.answers)
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
    summary="recall@1, recall@k, MRR and context precision of what retrieving strategies put in the prompt; "
    "how much of each answer those documents support, and whether its citations do",
    order=20,
    needs=("retrieval",),
    columns=(
        Column("recall_at_1", "recall@1"),
        Column("recall_at_k", "recall@k"),
        Column("mrr", "MRR"),
        Column("context_precision", "ctx precision"),
        Column("answer_support", "answer support"),
        Column("citation_precision", "citation precision"),
    ),
    panels=(
        Panel("retrieval", ("recall_at_1", "recall_at_k", "mrr", "context_precision")),
        Panel("grounding: answers the documents support", ("answer_support", "citation_precision")),
    ),
)
