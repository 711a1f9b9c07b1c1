"""The task suite: does the answer match the gold one, and does the strategy know when it cannot know?

QA datasets: exact match, token F1, answer-contained accuracy and ROUGE-L (SQuAD normalisation), and
``semantic``: the cosine of answer and reference sentence embeddings (:mod:`tailor.eval.semantic`), which
credits a correct answer given in a sentence where F1 punishes every extra word. Abstention
(:mod:`tailor.eval.abstain`): ``false_abstention_rate`` on the answerable questions and, where the split
holds unanswerable ones (``kind: unanswerable``, as tailor synth writes), ``hallucination_rate``: the share
of those a strategy answered with something instead of saying it cannot know.
Classification datasets: the answer is parsed to a label; accuracy and macro precision / recall / F1.

A strategy whose prompt was searched on dev (its build reports ``dev_score``) also gets ``dev_test_gap``:
its test score minus the dev score it was chosen with, on the primary metric.

The primary metric (paired tests, prompt search, the recommendation) is the dataset's ``metric`` in the
recipe, else token F1 for answers and accuracy for labels.
"""

from __future__ import annotations

from tailor.contract import strip_citations
from tailor.eval import metrics
from tailor.eval.abstain import abstains
from tailor.eval.base import Column, StrategyRun, SuiteInput, SuiteSpec
from tailor.eval.results import ResultRow, mean_row, paired_row
from tailor.eval.scoring import ABSTAINED, QA_METRICS, answer_scores, primary_metric
from tailor.eval.semantic import SEMANTIC
from tailor.records import Build


def task_suite(inp: SuiteInput) -> list[ResultRow]:
    rows: list[ResultRow] = []
    ds = inp.dataset
    primary = primary_metric(ds)
    per_run = {run.strategy: answer_scores([a.text for a in run.answers], inp.examples, ds) for run in inp.runs}
    scores = {name: [s[primary] for s in values] for name, values in per_run.items()}
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
            continue
        for name in (*QA_METRICS, SEMANTIC):
            values = [s[name] for s in per_run[run.strategy]]
            rows.append(mean_row(run.strategy, ds.name, "task", name, values, inp.seed))
        declined = [s[ABSTAINED] for s in per_run[run.strategy]]
        rows.append(mean_row(run.strategy, ds.name, "task", "false_abstention_rate", declined, inp.seed))
        if inp.unanswerable and run.unanswerable:
            made_up = [1.0 - float(abstains(strip_citations(a.text))) for a in run.unanswerable]
            rows.append(mean_row(run.strategy, ds.name, "task", "hallucination_rate", made_up, inp.seed))
    rows += [gap for run in inp.runs if (gap := _dev_test_gap(run, scores[run.strategy], ds.name, primary))]
    # Every pair of strategies on the primary metric: is the difference real at this n?
    names = [run.strategy for run in inp.runs]
    for i, a in enumerate(names):
        for b in names[:i]:
            rows.append(paired_row(a, ds.name, "task", f"{primary}_delta", scores[a], scores[b], inp.seed, vs=b))
    return rows


def _dev_test_gap(run: StrategyRun, test: list[float], dataset: str, primary: str) -> ResultRow | None:
    """Test score minus the dev score its prompt search chose it with, for a strategy that searched on dev
    (its build reports ``dev_score``): below 0 by how much the choice fit dev's noise (the winner's curse).
    No interval: the dev score is one figure of the search, not a sample of this test."""
    chosen = Build.from_json(run.info).prompt
    if chosen is None or chosen.dev_score is None or chosen.dev_metric != primary or not test:
        return None
    return ResultRow(
        run.strategy, dataset, "task", "dev_test_gap", round(sum(test) / len(test) - chosen.dev_score, 6), len(test)
    )


def _evidence(m, ds: str, s: str, c) -> list[str]:
    """A chosen strategy that makes up answers to questions nothing answers is flagged, with the rate."""
    row = m.row(ds, s, "hallucination_rate")
    if row is None or not row["value"]:
        return []
    interval = f" (95% CI {row['ci_low']:.0%}-{row['ci_high']:.0%})" if row.get("ci_low") is not None else ""
    return [
        f"Hallucination: it answered {row['value']:.0%} of {row['n']} unanswerable questions{interval} with "
        "something made up instead of saying it cannot know."
    ]


SUITE = SuiteSpec(
    name="task",
    run=task_suite,
    summary="exact match, token F1, answer contained, ROUGE-L, semantic similarity, abstention and "
    "hallucination rates; accuracy and macro P/R/F1 for classification",
    order=10,
    columns=(
        Column("exact_match", "EM"),
        Column("token_f1", "F1"),
        Column("contains", "contains"),
        Column("rouge_l", "ROUGE-L"),
        Column(SEMANTIC, "semantic"),
        Column("false_abstention_rate", "false abstain"),
        Column("hallucination_rate", "hallucinated"),
        Column("dev_test_gap", "test − dev"),
        Column("accuracy", "accuracy"),
        Column("macro_f1", "macro F1"),
    ),
    evidence=_evidence,
)
