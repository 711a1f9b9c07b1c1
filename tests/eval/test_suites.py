"""Task and cost suites on constructed answers: fixed expected values, not re-implementations."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace

import pytest

from tailor.contract import Answer
from tailor.data.examples import Example, TaskDataset
from tailor.eval.base import StrategyRun, SuiteInput
from tailor.eval.suites.cost import cost_suite
from tailor.eval.suites.task import task_suite

QA = TaskDataset(
    "qa",
    "qa",
    (
        Example(id="1", question="Price?", answer="$149"),
        Example(id="2", question="Who?", answer="Lina Okafor"),
        Example(id="3", question="When?", answer="12 March 2023"),
        Example(id="4", question="Where?", answer="Porto"),
    ),
)
ROUTING = TaskDataset(
    "routing",
    "classify",
    tuple(
        Example(id=str(i), question="m", answer=lab, label=lab) for i, lab in enumerate(["sales", "hr", "hr", "legal"])
    ),
    labels=("hr", "legal", "sales"),
)


def _run(name: str, texts: list[str], latencies: list[float] | None = None) -> StrategyRun:
    lat = latencies or [1.0] * len(texts)
    answers = tuple(Answer(t, (), 10 * (i + 1), 2, lat[i]) for i, t in enumerate(texts))
    return StrategyRun(name, answers, wall_s=3.0, peak_rss_bytes=200 * 2**20, build_s=1.5)


def _by_metric(rows, strategy: str) -> dict[str, float]:
    return {r.metric: r.value for r in rows if r.strategy == strategy}


def test_task_suite_qa_scores() -> None:
    texts = ["$149", "It is Lina Okafor.", "March 2023", "Lisbon"]
    rows = task_suite(SuiteInput(QA, QA.examples, (_run("s", texts),)))
    got = _by_metric(rows, "s")
    assert got["exact_match"] == pytest.approx(1 / 4)
    # F1 per example: 1, 2*(2/4*2/2)/(2/4+2/2)=2/3, 2*(2/2*2/3)/(2/2+2/3)=4/5, 0
    assert got["token_f1"] == pytest.approx((1 + 2 / 3 + 4 / 5 + 0) / 4, abs=1e-6)
    assert got["contains"] == pytest.approx(2 / 4)
    assert all(r.n == 4 for r in rows)
    f1 = next(r for r in rows if r.metric == "token_f1")
    assert f1.ci_low <= f1.value <= f1.ci_high


def test_a_strategy_searched_on_dev_reports_its_dev_to_test_gap() -> None:
    """Test score minus the dev score its search chose it with, on the primary metric; none for a strategy
    that did not search, or whose dev score is on another metric."""
    texts = ["$149", "Lina Okafor", "nothing", "nothing"]  # contains 2/4; accuracy 1/2
    searched = replace(_run("rag", texts), info={"dev_score": 0.75, "dev_metric": "token_f1", "n_dev": 6})
    other_metric = replace(_run("prompt", texts), info={"dev_score": 0.75, "dev_metric": "contains"})
    rows = task_suite(SuiteInput(QA, QA.examples, (searched, other_metric, _run("baseline", texts))))
    gaps = {r.strategy: r for r in rows if r.metric == "dev_test_gap"}
    assert list(gaps) == ["rag"]
    assert gaps["rag"].value == pytest.approx(0.5 - 0.75) and gaps["rag"].n == 4 and gaps["rag"].ci_low is None
    routed = replace(
        _run("prompt", ["sales", "hr", "legal", "legal"]), info={"dev_score": 1.0, "dev_metric": "accuracy"}
    )
    rows = task_suite(SuiteInput(ROUTING, ROUTING.examples, (routed,)))
    assert _by_metric(rows, "prompt")["dev_test_gap"] == pytest.approx(0.75 - 1.0)


def test_task_suite_classification_scores() -> None:
    texts = ["sales", "The answer is hr.", "legal", "no idea"]
    rows = task_suite(SuiteInput(ROUTING, ROUTING.examples, (_run("s", texts),)))
    got = _by_metric(rows, "s")
    assert got["accuracy"] == pytest.approx(2 / 4)
    assert got["unparsed_rate"] == pytest.approx(1 / 4)
    # per label precision: hr 1/1, legal 0/1, sales 1/1 → macro 2/3; recall: hr 1/2, legal 0/1, sales 1/1 → 1/2
    assert got["macro_precision"] == pytest.approx(2 / 3, abs=1e-6)
    assert got["macro_recall"] == pytest.approx(1 / 2, abs=1e-6)


def test_cost_suite_percentiles_tokens_and_memory() -> None:
    run = _run("s", ["a", "b", "c", "d"], latencies=[1.0, 2.0, 3.0, 10.0])
    got = _by_metric(cost_suite(SuiteInput(QA, QA.examples, (run,))), "s")
    assert got["latency_p50_s"] == pytest.approx(2.5)
    assert got["latency_p95_s"] == pytest.approx(3.0 + 0.85 * 7.0)  # numpy linear interpolation
    assert got["prompt_tokens"] == pytest.approx(25.0)
    assert got["tokens_total"] == 10 + 20 + 30 + 40 + 4 * 2
    assert got["peak_rss_mb"] == pytest.approx(200.0)
    assert got["wall_s"] == 3.0 and got["build_s"] == 1.5


MEASURE_SCRIPT = """
import time
import numpy as np
from tailor.eval.measure import measure
with measure() as before:
    pass
with measure() as m:
    block = np.ones(300 * 2**20, dtype=np.uint8)  # written, so every page is resident
    time.sleep(0.2)  # the sampler runs between bytecodes; real work (torch) releases the GIL often
    del block
print(m.peak_rss_bytes - before.peak_rss_bytes, m.wall_s)
"""


@pytest.mark.slow
def test_measure_sees_memory_the_block_allocates() -> None:
    # A fresh process: in a long-lived one the allocator may hand back pages that are already
    # resident from earlier work, and RSS would not move however much the block allocates.
    done = subprocess.run([sys.executable, "-c", MEASURE_SCRIPT], capture_output=True, text=True, check=True)
    grown, wall_s = done.stdout.split()
    assert int(grown) > 200 * 2**20
    assert float(wall_s) > 0


def test_task_suite_compares_every_pair_of_strategies_with_a_paired_test() -> None:
    right = ["$149", "Lina Okafor", "12 March 2023", "Porto"]
    wrong = ["$1", "Bob", "May", "Lisbon"]
    rows = task_suite(SuiteInput(QA, QA.examples, (_run("a", wrong), _run("b", right), _run("c", right))))
    pairs = {(r.strategy, r.vs): r for r in rows if r.vs is not None}
    assert set(pairs) == {("b", "a"), ("c", "a"), ("c", "b")}  # each pair once, against the earlier strategy
    b_vs_a = pairs[("b", "a")]
    assert b_vs_a.metric == "token_f1_delta" and b_vs_a.value == 1.0 and b_vs_a.n == 4
    # 0/1 scores on both sides: exact McNemar, 4 discordant pairs all one way → p = 2 / 2**4
    assert b_vs_a.p == pytest.approx(0.125) and not b_vs_a.significant
    assert pairs[("c", "b")].value == 0.0 and pairs[("c", "b")].p == 1.0
    assert b_vs_a.to_json()["vs"] == "a" and "vs" not in rows[0].to_json()


def test_cost_suite_prices_machine_time_and_endpoint_tokens_and_estimates_flops(scripted) -> None:
    import torch

    from tailor.config import Recipe
    from tailor.contract import PromptedStrategy
    from tailor.data.settings import DataConfig, ExampleSet
    from tailor.eval.settings import CostConfig
    from tailor.workspace import Workspace

    prices = CostConfig(
        cpu_hour_usd=0.36, gpu_hour_usd=0.36, input_usd_per_1k_tokens=0.01, output_usd_per_1k_tokens=0.02
    )
    recipe = Recipe(data=DataConfig(examples=[ExampleSet(path="qa.jsonl")]), cost=prices)
    ws = Workspace(recipe, (QA,), (), scripted(lambda _: ""))

    class Local:  # local weights: a real torch module of 1,001,000 parameters
        model, tokenizer = torch.nn.Linear(1000, 1000), object()

    remote = scripted(lambda _: "")
    remote.remote = True  # as OpenAIGenerator declares: it bills by token
    endpoint = PromptedStrategy("endpoint", remote, lambda q, u: None)
    local = PromptedStrategy("local", Local(), lambda q, u: None)
    gguf = PromptedStrategy("gguf", scripted(lambda _: ""), lambda q, u: None)  # run here, no torch weights
    texts = ["a", "b", "c", "d"]
    tuned = StrategyRun("local", _run("local", texts).answers, 3.6, 0, 36.0, {"method": "lora", "tokens_seen": 10**6})
    runs = (_run("endpoint", texts), tuned, _run("gguf", texts))
    rows = cost_suite(SuiteInput(QA, QA.examples, runs, (endpoint, local, gguf), 0, ws))
    got = {(r.strategy, r.metric): r.value for r in rows}
    # Endpoint: billed by token only. Prompt tokens 10, 20, 30, 40 (mean 25), answers 2 tokens.
    assert got[("endpoint", "usd_per_1k_answers")] == pytest.approx((25 * 0.01 + 2 * 0.02) / 1000 * 1000)
    assert got[("endpoint", "build_usd")] == pytest.approx(1.5 / 3600 * 0.36)
    assert ("endpoint", "answer_gflops") not in got
    # Local weights: 3.6 s for 4 answers at $0.36/h; FLOPs 2·N per token answered, 4·N per token trained (LoRA).
    assert got[("local", "usd_per_1k_answers")] == pytest.approx(1000 * (3.6 / 4 / 3600 * 0.36 + 0.00029))
    assert got[("local", "answer_gflops")] == pytest.approx(2 * 1_001_000 * 27 / 1e9, rel=1e-4)
    assert got[("local", "train_tflops")] == pytest.approx(4 * 1_001_000 * 10**6 / 1e12)
    # A model run here without torch weights (llama.cpp): the machine's time, tokens priced, no FLOPs estimate.
    assert got[("gguf", "usd_per_1k_answers")] == pytest.approx(1000 * (3.0 / 4 / 3600 * 0.36 + 0.00029))
    assert ("gguf", "answer_gflops") not in got
    # The same 3.6 s spent on 4 answers and 2 unanswerable questions: machine time per answer is over all 6.
    declined = replace(tuned, unanswerable=_run("local", ["x", "y"]).answers)
    rows = cost_suite(SuiteInput(QA, QA.examples, (declined,), (local,), 0, ws))
    per_answer = {r.metric: r.value for r in rows}["usd_per_1k_answers"]
    assert per_answer == pytest.approx(1000 * (3.6 / 6 / 3600 * 0.36 + 0.00029))
