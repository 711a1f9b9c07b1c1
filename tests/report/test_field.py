"""The whole field on constructed results: models × strategies, the cost–quality frontier, and cost per
correct answer, each read from rows the real row builders made."""

from __future__ import annotations

import math

from tailor.report.field import candidates, cost_of_pass, frontier, grid, usd
from tailor.report.html import field_table
from tailor.report.measured import Measured


def _field(make_results, correct):
    scores = {
        "baseline@small": correct(0),
        "rag@small": correct(8),
        "baseline@big": correct(4),
        "rag@big": correct(30),
    }
    extra = {
        "baseline@small": {"usd_per_1k_answers": 0.01, "latency_p95_s": 1.0},
        "rag@small": {"usd_per_1k_answers": 0.02, "latency_p95_s": 1.5},
        "baseline@big": {"usd_per_1k_answers": 0.04, "latency_p95_s": 3.0},
        "rag@big": {"usd_per_1k_answers": 0.08, "latency_p95_s": 6.0},
    }
    results = make_results(scores, extra=extra)
    results["models"] = {"small": {}, "big": {}}
    return Measured(results)


def test_cost_of_pass_is_cost_per_answer_over_accuracy_and_infinite_at_zero():
    assert cost_of_pass(0.02, 0.5) == 0.04
    assert math.isinf(cost_of_pass(0.02, 0.0))
    assert usd(math.inf) == "∞" and usd(0.004) == "$0.004" and usd(12.5) == "$12.50" and usd(None) == "–"


def test_candidates_know_their_model_strategy_and_costs(make_results, correct):
    m = _field(make_results, correct)
    found = {c.name: c for c in candidates(m, "qa")}
    assert set(found) == {"baseline@small", "rag@small", "baseline@big", "rag@big"}
    big = found["rag@big"]
    assert (big.model, big.strategy, big.score, big.usd_per_1k) == ("big", "rag", 0.75, 0.08)
    assert big.ci_low < 0.75 < big.ci_high
    assert math.isclose(big.usd_per_correct, 0.08 / 1000 / 0.75)
    assert math.isinf(found["baseline@small"].usd_per_correct)


def test_the_frontier_keeps_only_candidates_nothing_beats_on_both_axes(make_results, correct):
    field = candidates(_field(make_results, correct), "qa")
    # baseline@big costs more than rag@small and scores less: dominated on $ and on p95
    assert [c.name for c in frontier(field, "usd_per_1k")] == ["baseline@small", "rag@small", "rag@big"]
    assert [c.name for c in frontier(field, "p95_s")] == ["baseline@small", "rag@small", "rag@big"]


def test_the_grid_has_a_row_per_model_and_a_column_per_strategy(make_results, correct):
    m = _field(make_results, correct)
    models, strategies, cells = grid(candidates(m, "qa"))
    assert models == ["small", "big"] and strategies == ["baseline", "rag"]
    assert cells["big", "rag"].score == 0.75
    table = field_table(m, "qa", human_usd=0.5)
    assert table["grid"][1]["model"] == "big" and table["grid"][1]["cells"][1].startswith("0.750 (")
    assert table["candidates"][0]["name"] == "rag@big" and table["human"] == "$0.50"
    assert {c["name"]: c["frontier_usd"] for c in table["candidates"]}["baseline@big"] is False


def test_a_one_model_run_is_one_row_named_by_its_model(make_results, correct):
    m = Measured(make_results({"baseline": correct(4), "rag": correct(20)}))
    models, strategies, _ = grid(candidates(m, "qa"))
    assert models == ["scripted"] and strategies == ["baseline", "rag"]
