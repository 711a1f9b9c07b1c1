"""The task suite: does the answer match the gold one?

QA datasets: exact match, token F1, answer-contained accuracy and ROUGE-L (SQuAD normalisation).
Classification datasets: the answer is parsed to a label; accuracy and macro precision / recall / F1.
"""

from __future__ import annotations

from tailor.contract import strip_citations
from tailor.data.examples import Example, TaskDataset
from tailor.eval import metrics
from tailor.eval.base import SuiteInput
from tailor.eval.results import ResultRow, mean_row, paired_row
from tailor.plugins import Column, SuiteSpec

QA_METRICS = {
    "exact_match": metrics.exact_match,
    "token_f1": metrics.token_f1,
    "contains": metrics.contains_answer,
    "rouge_l": metrics.rouge_l,
}


def primary_metric(dataset: TaskDataset) -> str:
    """The metric prompt search maximises and reports lead with."""
    return "accuracy" if dataset.kind == "classify" else "token_f1"


def example_scores(prediction: str, example: Example, dataset: TaskDataset) -> dict[str, float]:
    """Per-example scores, citations removed; for classification ``accuracy`` is 1 when the parsed label is right."""
    prediction = strip_citations(prediction)
    if dataset.kind == "classify":
        label = metrics.parse_label(prediction, dataset.labels)
        return {"accuracy": float(label == example.label)}
    return {name: fn(prediction, example.answer) for name, fn in QA_METRICS.items()}


def task_suite(inp: SuiteInput) -> list[ResultRow]:
    rows: list[ResultRow] = []
    ds = inp.dataset
    primary = primary_metric(ds)
    scores = {
        run.strategy: [example_scores(a.text, e, ds)[primary] for a, e in zip(run.answers, inp.examples, strict=True)]
        for run in inp.runs
    }
    for run in inp.runs:
        texts = [strip_citations(a.text) for a in run.answers]
        if ds.kind == "classify":
            predicted = [metrics.parse_label(t, ds.labels) for t in texts]
            gold = [e.label or "" for e in inp.examples]
            correct = [float(p == g) for p, g in zip(predicted, gold, strict=True)]
            rows.append(mean_row(run.strategy, ds.name, "task", "accuracy", correct, inp.seed))
            macro = metrics.classification_scores(gold, predicted, ds.labels)
            for name in ("macro_precision", "macro_recall", "macro_f1"):
                rows.append(ResultRow(run.strategy, ds.name, "task", name, round(macro[name], 6), len(texts)))
            unparsed = [float(p is None) for p in predicted]
            rows.append(mean_row(run.strategy, ds.name, "task", "unparsed_rate", unparsed, inp.seed))
        else:
            for name, fn in QA_METRICS.items():
                values = [fn(t, e.answer) for t, e in zip(texts, inp.examples, strict=True)]
                rows.append(mean_row(run.strategy, ds.name, "task", name, values, inp.seed))
    # Every pair of strategies on the primary metric: is the difference real at this n?
    names = [run.strategy for run in inp.runs]
    for i, a in enumerate(names):
        for b in names[:i]:
            rows.append(paired_row(a, ds.name, "task", f"{primary}_delta", scores[a], scores[b], inp.seed, vs=b))
    return rows


SUITE = SuiteSpec(
    name="task",
    run=task_suite,
    summary="exact match, token F1, answer contained, ROUGE-L; accuracy and macro P/R/F1 for classification",
    order=10,
    columns=(
        Column("exact_match", "EM"),
        Column("token_f1", "F1"),
        Column("contains", "contains"),
        Column("rouge_l", "ROUGE-L"),
        Column("accuracy", "accuracy"),
        Column("macro_f1", "macro F1"),
    ),
)
