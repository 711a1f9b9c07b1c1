"""bench/common.py: the command line a record names, the A B B A order, the topics corpus, a pair's direction."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent.parent
if str(ROOT / "bench") not in sys.path:
    sys.path.append(str(ROOT / "bench"))  # as when a script runs: bench/ on the path

import common  # noqa: E402


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser()
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--steps", type=int, nargs="*")
    parser.add_argument("--results", type=Path, default=Path("results/x.json"))
    return parser


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        ([], "python bench/x_bench.py"),
        (["--rounds", "2"], "python bench/x_bench.py"),
        (["--rounds", "3", "--smoke"], "python bench/x_bench.py --smoke --rounds 3"),
        (["--steps", "40", "120"], "python bench/x_bench.py --steps 40 120"),
        (["--steps"], "python bench/x_bench.py"),
        (["--results", "/tmp/elsewhere.json"], "python bench/x_bench.py"),
    ],
)
def test_the_command_names_each_flag_off_its_default_in_the_parser_s_order(argv, expected):
    parser = _parser()
    assert common.command("/anywhere/bench/x_bench.py", parser.parse_args(argv), parser) == expected


def test_the_command_names_only_the_flags_a_script_lists():
    args = _parser().parse_args(["--rounds", "5", "--smoke"])
    assert common.command("x_bench.py", args, {"rounds": 2}) == "python bench/x_bench.py --rounds 5"


def test_sides_run_in_a_b_b_a_order():
    order: list[str] = []
    runs = common.abba(("a", "b"), 3, lambda side: order.append(side) or len(order))
    assert order == ["a", "b", "b", "a", "a", "b"]
    assert runs == {"a": [1, 4, 5], "b": [2, 3, 6]}


def test_topics_are_written_first_by_name(tmp_path):
    from pydoc_data.topics import topics

    names = common.write_topics(tmp_path / "docs", 3)
    assert names == sorted(topics)[:3]
    assert sorted(p.name for p in (tmp_path / "docs").iterdir()) == [f"{n}.txt" for n in names]
    assert (tmp_path / "docs" / f"{names[0]}.txt").read_text(encoding="utf-8") == topics[names[0]]


def test_a_pair_recorded_the_other_way_round_is_turned_and_its_interval_kept_in_order():
    deltas = {("rag", "finetune"): {"value": 0.25, "ci_low": 0.1, "ci_high": 0.4, "p": 0.01}}
    assert common.pair(deltas, "finetune", "rag") == {"delta": -0.25, "ci": [-0.4, -0.1], "p": 0.01}
    assert common.pair(deltas, "rag", "finetune") == {"delta": 0.25, "ci": [0.1, 0.4], "p": 0.01}
    assert common.pair(deltas, "rag", "baseline") is None


def test_spearman_ranks_the_strategies_two_sets_share() -> None:
    real = {"baseline": 0.05, "prompt": 0.25, "rag": 0.53}
    assert common.spearman(real, {"baseline": 0.1, "prompt": 0.2, "rag": 0.6, "extra": 0.9}) == 1.0
    assert common.spearman(real, {"baseline": 0.6, "prompt": 0.2, "rag": 0.1}) == -1.0
    assert common.spearman(real, {"baseline": 0.3, "prompt": 0.3, "rag": 0.3}) is None  # no ranking on one side
    assert common.spearman(real, {"baseline": 0.1, "rag": 0.2}) is None  # fewer than 3 in common


def test_task_scores_and_pair_agreement_read_paired_rows_as_the_task_suite_writes_them() -> None:
    def row(strategy, value, vs=None, p=None, metric="token_f1", suite="task", dataset="qa"):
        out = {"strategy": strategy, "dataset": dataset, "suite": suite, "metric": metric, "value": value}
        return out | ({"vs": vs, "metric": metric + "_delta", "p": p} if vs else {})

    real = {
        "results": [
            row("rag", 0.7),
            row("baseline", 0.1),
            row("rag", 0.6, vs="baseline", p=0.001),
            row("rag", 0.2, suite="cost", metric="wall_s"),
            row("rag", 0.5, dataset="routing"),
        ]
    }
    scores, pairs = common.task_scores(real, "qa")
    assert scores == {"rag": 0.7, "baseline": 0.1} and list(pairs) == [("rag", "baseline")]
    flipped = {("rag", "baseline"): row("rag", -0.3, vs="baseline", p=0.01)}
    [agreed] = common.pair_agreement(pairs, flipped)
    assert agreed["pair"] == "rag vs baseline" and agreed["real"] == {"delta": 0.6, "p": 0.001}
    assert not agreed["same_sign"] and agreed["significant_on_both_or_neither"]
    assert agreed["sign_flip_among_significant"]
    [untested] = common.pair_agreement(pairs, {("rag", "baseline"): row("rag", 0.1, vs="baseline", p=None)})
    assert untested["same_sign"] and not untested["significant_on_both_or_neither"]
    assert not untested["sign_flip_among_significant"]
    assert common.pair_agreement(pairs, {}) == []
    # of the pairs significant on the real questions, those whose sign the other set keeps
    unsure = {"pair": "prompt vs baseline", "real": {"delta": 0.1, "p": 0.4}, "same_sign": True}
    assert common.kept_sign([agreed, untested, unsure]) == "1/2"
