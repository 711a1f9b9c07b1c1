"""Constructed results.json payloads: per-example scores go through the real row builders (means,
bootstrap intervals, McNemar p-values), so tests state outcomes, never hard-coded statistics."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tailor.artifacts import write_json_atomic, write_jsonl_atomic
from tailor.eval.results import ResultRow, mean_row, paired_row


def build_results(
    scores: dict[str, list[float]],
    *,
    dataset: str = "qa",
    metric: str = "token_f1",
    extra: dict[str, dict[str, float]] | None = None,
    constraints: dict[str, Any] | None = None,
    n_extra: int = 8,
) -> dict[str, Any]:
    """A results.json payload: per-strategy per-example ``scores`` on ``metric`` (all pairs tested), plus
    ``extra`` plain figures by strategy ({"rag": {"latency_p95_s": 2.0}})."""
    rows: list[ResultRow] = []
    names = list(scores)
    for name in names:
        rows.append(mean_row(name, dataset, "task", metric, scores[name], seed=0))
    for i, a in enumerate(names):
        for b in names[:i]:
            rows.append(paired_row(a, dataset, "task", f"{metric}_delta", scores[a], scores[b], seed=0, vs=b))
    for name, figures in (extra or {}).items():
        for m, value in figures.items():
            rows.append(ResultRow(name, dataset, _suite(m), m, value, n_extra))
    recipe = {"constraints": constraints} if constraints is not None else {}
    return {
        "recipe": recipe,
        "started_at": "2026-11-28T00:00:00+00:00",
        "finished_at": "2026-11-28T00:01:00+00:00",
        "environment": {"python": "3.11", "model": "scripted"},
        "results": [r.to_json() for r in rows],
        "builds": {},
    }


def _suite(metric: str) -> str:
    for prefix, suite in (
        ("latency", "cost"),
        ("usd", "cost"),
        ("cross_user", "leakage"),
        ("canary", "leakage"),
        ("stale", "freshness"),
        ("changed_f1", "freshness"),
        ("update_s", "freshness"),
        ("full_rebuild", "freshness"),
        ("base_agreement", "interpret"),
    ):
        if metric.startswith(prefix):
            return suite
    return "other"


@pytest.fixture
def make_results():
    return build_results


def ones(k: int, n: int = 40) -> list[float]:
    """``k`` correct answers out of ``n`` (0/1 scores)."""
    return [1.0] * k + [0.0] * (n - k)


@pytest.fixture
def correct():
    return ones


def _prediction(strategy: str, example_id: str, prediction: str, f1: float, contexts=()) -> dict:
    return {
        "strategy": strategy,
        "dataset": "qa",
        "id": example_id,
        "question": f"Question {example_id}?",
        "gold": "Lisbon",
        "prediction": prediction,
        "scores": {"token_f1": f1},
        "contexts": [{"doc_id": d, "text": t} for d, t in contexts],
    }


def write_run(run: Path, results: dict) -> Path:
    """A run directory as `tailor eval` leaves it: results, predictions, interpretation and a loss curve."""
    write_json_atomic(run / "results.json", results)
    predictions = [
        _prediction("prompt", "e1", "Porto", 0.0),
        _prediction(
            "rag",
            "e1",
            "Lisbon [office-lisbon]",
            1.0,
            [("office-lisbon", "The office is in Lisbon."), ("office-porto", "Porto <b>hosts</b> support.")],
        ),
        _prediction("finetune", "e1", "Lisbon", 1.0),
    ]
    write_jsonl_atomic(run / "predictions.jsonl", predictions)
    tokens = [
        {"token": "Lis", "logprob_tuned": -0.5, "logprob_base": -4.0, "shift": 3.5},
        {"token": "bon", "logprob_tuned": -0.1, "logprob_base": -0.2, "shift": 0.1},
    ]
    interpret = {
        "strategy": "finetune",
        "dataset": "qa",
        "id": "e1",
        "question": "Question e1?",
        "gold": "Lisbon",
        "tuned_answer": "Lisbon",
        "base_answer": "Paris",
        "tokens": tokens,
        "logprob_shift": 1.8,
        "agree": False,
        "nearest": [
            {
                "id": "qa/t1",
                "kind": "qa",
                "text": "Ana works from the Lisbon office.",
                "similarity": 0.82,
                "contains_answer": True,
            }
        ],
    }
    write_jsonl_atomic(run / "interpret.jsonl", [interpret])
    curve = {"rows": [{"step": 1, "loss": 4.2}, {"step": 2, "loss": 3.1}, {"step": 3, "loss": 2.5}]}
    write_json_atomic(run / "finetune" / "loss_curve.json", curve)
    return run


@pytest.fixture
def run_dir(tmp_path, make_results, correct):
    extra = {
        "prompt": {"usd_per_1k_answers": 0.013, "latency_p95_s": 3.9, "cross_user_leak_rate": 0.0},
        "rag": {"usd_per_1k_answers": 0.027, "latency_p95_s": 9.7, "cross_user_leak_rate": 0.0},
        "finetune": {
            "usd_per_1k_answers": 0.004,
            "latency_p95_s": 1.4,
            "cross_user_leak_rate": 0.0,
            "base_agreement_rate": 0.0,
        },
    }
    results = make_results({"prompt": correct(10), "rag": correct(30), "finetune": correct(12)}, extra=extra)
    return write_run(tmp_path / "run", results)
