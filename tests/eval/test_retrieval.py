"""Retrieval metrics against hand-computed values."""

from __future__ import annotations

import pytest

from tailor.contract import Answer, Context
from tailor.data.examples import Example, TaskDataset
from tailor.eval.base import StrategyRun, SuiteInput
from tailor.eval.suites.retrieval import retrieval_scores, retrieval_suite


def test_retrieval_scores_by_hand() -> None:
    assert retrieval_scores(["a", "b", "c"], {"b"}) == {
        "recall_at_1": 0.0,
        "recall_at_k": 1.0,
        "mrr": 0.5,
        "context_precision": pytest.approx(1 / 3),
    }
    assert retrieval_scores(["b", "b", "x"], {"b"})["context_precision"] == pytest.approx(2 / 3)
    assert retrieval_scores([], {"b"}) == {"recall_at_1": 0.0, "recall_at_k": 0.0, "mrr": 0.0, "context_precision": 0.0}


def test_suite_skips_strategies_without_contexts_and_examples_without_sources() -> None:
    examples = (
        Example(id="1", question="q", answer="a", sources=("d1",)),
        Example(id="2", question="q", answer="a", sources=("d2",)),
        Example(id="3", question="q", answer="a"),
    )
    ds = TaskDataset("qa", "qa", examples)

    def answers(*ctx_lists):
        return tuple(Answer("x", tuple(Context(d, "t") for d in ctx)) for ctx in ctx_lists)

    rag = StrategyRun("rag", answers(["d1", "z"], ["z", "z", "d2"], ["d9"]), 1.0, 0)
    base = StrategyRun("baseline", answers([], [], []), 1.0, 0)
    rows = {(r.strategy, r.metric): r for r in retrieval_suite(SuiteInput(ds, examples, (rag, base)))}
    assert {s for s, _ in rows} == {"rag"}
    assert rows["rag", "recall_at_1"].value == pytest.approx(0.5) and rows["rag", "recall_at_1"].n == 2
    assert rows["rag", "mrr"].value == pytest.approx((1 + 1 / 3) / 2)
    assert rows["rag", "context_precision"].value == pytest.approx((1 / 2 + 1 / 3) / 2)
    assert rows["rag", "k"].value == 3
