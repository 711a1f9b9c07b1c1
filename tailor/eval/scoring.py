"""How answers are scored: the per-answer metrics and each dataset's primary metric.

A leaf that any layer may import: prompt and rag search maximise these scores on dev, the runner scores
every prediction with them, and the task, bias, robustness and compress suites report them. QA answers
get exact match, token F1, answer-contained accuracy and ROUGE-L (SQuAD normalisation), whether the answer
abstained, and ``semantic`` similarity (:mod:`tailor.eval.semantic`); classification answers are parsed
to a label and get accuracy.
"""

from __future__ import annotations

from collections.abc import Sequence

from tailor.contract import strip_citations
from tailor.data.examples import Example, TaskDataset
from tailor.eval import metrics
from tailor.eval.abstain import abstains
from tailor.eval.semantic import SEMANTIC, similarities

QA_METRICS = {
    "exact_match": metrics.exact_match,
    "token_f1": metrics.token_f1,
    "contains": metrics.contains_answer,
    "rouge_l": metrics.rouge_l,
}
ABSTAINED = "abstained"  # per-answer: 1 when it declined to answer


def primary_metric(dataset: TaskDataset) -> str:
    """The metric prompt search maximises and reports lead with: the recipe's choice, else by task kind."""
    return dataset.metric or ("accuracy" if dataset.kind == "classify" else "token_f1")


def answer_scores(
    predictions: Sequence[str], examples: Sequence[Example], dataset: TaskDataset, *, semantic: bool = True
) -> list[dict[str, float]]:
    """Per-example scores of many answers at once, citations removed (semantic similarity embeds them in
    one batch; ``semantic=False`` leaves it out unless it is the primary metric). For classification
    ``accuracy`` is 1 when the parsed label is right."""
    texts = [strip_citations(p) for p in predictions]
    if dataset.kind == "classify":
        return [
            {"accuracy": float(metrics.parse_label(t, dataset.labels) == e.label)}
            for t, e in zip(texts, examples, strict=True)
        ]
    scores = [
        {**{name: fn(t, e.answer) for name, fn in QA_METRICS.items()}, ABSTAINED: float(abstains(t))}
        for t, e in zip(texts, examples, strict=True)
    ]
    if semantic or primary_metric(dataset) == SEMANTIC:
        for row, value in zip(scores, similarities(texts, [e.answer for e in examples]), strict=True):
            row[SEMANTIC] = value
    return scores


def example_scores(prediction: str, example: Example, dataset: TaskDataset) -> dict[str, float]:
    """One answer's scores: every cheap metric, and semantic similarity when it is the primary metric."""
    return answer_scores([prediction], [example], dataset, semantic=False)[0]
