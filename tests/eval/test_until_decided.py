"""`tailor eval --until-decided`: the batch loop's stops (decided, examples, time, budget) with strategies
whose answers are set per example, and the command end to end with the real model, killed with kill -9
after its first batch and resumed. The test itself is checked by simulation in test_sequential.py."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import zlib
from pathlib import Path

import pytest

from tailor.contract import Answer
from tailor.eval.base import StrategyRun
from tailor.eval.sequential import threshold
from tailor.eval.until_decided import ordered, run_until_decided


def _workspace(tmp_path: Path, world: Path, until: str, scripted, cost: str = ""):
    from tailor.recipe_file import load_recipe
    from tailor.workspace import open_workspace

    recipe = tmp_path / "tailor.yaml"
    recipe.write_text(
        f"data:\n  corpus: ['{world}/docs/**/*.md']\n  examples: [{{path: '{world}/qa.jsonl'}}]\n"
        f"strategies: [baseline, prompt, rag]\neval: {{until_decided: {until}}}\n{cost}out: run\n"
    )
    return open_workspace(load_recipe(recipe), generator=scripted(lambda messages: ""))


def _asker(right: dict[str, float], wall_s: float = 0.0, tokens: int = 0):
    """Strategies answering the gold answer on a fixed share of examples (by a hash of the id), nothing otherwise."""
    asked: list[tuple[str, str, int]] = []

    def ask(name, part, batch):
        asked.append((name, part, len(batch)))
        answers = tuple(
            Answer(
                e.answer if zlib.crc32(e.id.encode()) % 1000 / 1000 < right[name] else "no idea",
                (),
                tokens,
                tokens,
                0.01,
            )
            for e in batch
        )
        return StrategyRun(name, answers, wall_s, 1000)

    return ask, asked


def test_a_clearly_better_strategy_stops_answering_early(tmp_path, tiny_world_dir, scripted):
    ws = _workspace(tmp_path, tiny_world_dir, "{batch: 2}", scripted)
    examples = [e for e in ws.datasets[0].split("test") if e.kind != "unanswerable"]
    ask, asked = _asker({"baseline": 0.0, "prompt": 0.0, "rag": 1.0})
    done = run_until_decided(ws, ws.datasets[0], examples, ["baseline", "prompt", "rag"], ask)
    record = done.record
    assert record["stopped"] == "decided" and record["winner"] == "rag"
    assert record["n"] < len(examples) == record["available"]
    assert record["threshold"] == threshold(3) == 120
    assert [look["n"] for look in record["looks"]] == list(range(2, record["n"] + 1, 2))
    last = record["looks"][-1]
    assert {(p["better"], p["separated"]) for p in last["pairs"] if "rag" in (p["better"], p["worse"])} == {
        ("rag", True)
    }
    assert all(look["winner"] is None for look in record["looks"][:-1])
    # Every strategy answered the same first n examples of the seeded order, and nothing more.
    assert done.examples == ordered(ws, ws.datasets[0], examples)[: record["n"]]
    assert all(len(run.answers) == record["n"] for run in done.runs.values())
    assert len(asked) == 3 * len(record["looks"])


def test_equal_strategies_run_out_of_examples(tmp_path, tiny_world_dir, scripted):
    ws = _workspace(tmp_path, tiny_world_dir, "{batch: 4, max_examples: 12}", scripted)
    examples = [e for e in ws.datasets[0].split("test") if e.kind != "unanswerable"]
    ask, _ = _asker({"baseline": 0.5, "prompt": 0.5, "rag": 0.5})
    done = run_until_decided(ws, ws.datasets[0], examples, ["baseline", "prompt", "rag"], ask)
    assert done.record["stopped"] == "examples" and done.record["winner"] is None
    assert done.record["n"] == done.record["available"] == 12 and len(done.record["looks"]) == 3
    assert all(p["evidence"] == 1.0 for look in done.record["looks"] for p in look["pairs"])


def test_time_and_budget_limits_stop_answering(tmp_path, tiny_world_dir, scripted):
    ws = _workspace(tmp_path, tiny_world_dir, "{batch: 4, max_seconds: 5}", scripted)
    examples = [e for e in ws.datasets[0].split("test") if e.kind != "unanswerable"]
    ask, _ = _asker({"baseline": 0.5, "prompt": 0.5, "rag": 0.5}, wall_s=1.0)  # 3 s of answering per look
    done = run_until_decided(ws, ws.datasets[0], examples, ["baseline", "prompt", "rag"], ask)
    assert (done.record["stopped"], done.record["n"], done.record["answer_s"]) == ("time", 8, 6.0)

    prices = "cost: {input_usd_per_1k_tokens: 1.0, output_usd_per_1k_tokens: 1.0}\n"
    ws = _workspace(tmp_path, tiny_world_dir, "{batch: 4, max_usd: 0.5}", scripted, prices)
    ask, _ = _asker({"baseline": 0.5, "prompt": 0.5, "rag": 0.5}, tokens=10)  # $0.02 per answer, $0.24 per look
    done = run_until_decided(ws, ws.datasets[0], examples, ["baseline", "prompt", "rag"], ask)
    assert (done.record["stopped"], done.record["n"]) == ("budget", 12)
    assert done.record["answer_usd"] == pytest.approx(0.72)


RECIPE = """\
data:
  corpus: [world/docs/**/*.md]
  examples: [{path: world/qa.jsonl}]
strategies: [baseline, rag]
suites: [task]
generation: {max_new_tokens: 8}
eval: {limit: 6, until_decided: {batch: 3}}
prompt: {candidates: 2, dev_size: 4, confirm_size: 2}  # rag searches its prompt: the least search there is
out: run
"""


def _eval(root: Path, *extra: str) -> subprocess.Popen:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "tailor", "eval", "--recipe", str(root / "tailor.yaml"), "--json", *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


@pytest.mark.slow
def test_until_decided_records_its_looks_and_resumes_after_kill_9(tmp_path, tiny_world_dir):
    root = tmp_path / "project"
    root.mkdir()
    shutil.copytree(tiny_world_dir, root / "world")
    (root / "tailor.yaml").write_text(RECIPE)
    answers = root / "run" / "eval-cache" / "answers" / "qa"
    proc = _eval(root, "--until-decided")
    deadline = time.monotonic() + 600
    while not (answers / "rag" / "batch-001.json").exists():
        assert proc.poll() is None, "eval finished before it could be killed: " + proc.stderr.read()
        assert time.monotonic() < deadline
        time.sleep(0.05)
    proc.kill()  # SIGKILL after the first batch: no cleanup, no finally blocks
    proc.wait()
    assert not (root / "run" / "results.json").exists()
    saved = {p: p.stat().st_mtime_ns for p in answers.rglob("batch-*.json")}
    assert {p.relative_to(answers).as_posix() for p in saved} == {"baseline/batch-001.json", "rag/batch-001.json"}

    out, log = _eval(root, "--until-decided").communicate(timeout=600)
    results = json.loads(out)
    assert "qa · baseline batch-001" in log and "qa · rag batch-001" in log  # reused, and said so
    assert "eval qa · baseline · batch-001" not in log and "eval qa · rag · batch-001" not in log
    assert all(p.stat().st_mtime_ns == mtime for p, mtime in saved.items())  # finished batches were not redone
    record = results["sequential"]["qa"]
    assert record["stopped"] in ("decided", "examples") and record["available"] == 6
    assert [look["n"] for look in record["looks"]] == [3, 6][: len(record["looks"])]
    assert record["n"] == record["looks"][-1]["n"]
    assert "until decided · qa · look 1 · n=3: " in log and "answering stopped at n=" in log
    assert {r["n"] for r in results["results"] if r["metric"] == "token_f1"} == {record["n"]}
    assert len((root / "run" / "predictions.jsonl").read_text().splitlines()) == 2 * record["n"]


@pytest.mark.slow
def test_a_crash_mid_batch_resumes_at_the_first_batch_not_saved(tmp_path, tiny_world_dir, scripted):
    """In process with a generator whose answers are set (a crash is its exception): the rerun asks only what
    the crash lost, and ends as a run never interrupted does."""
    from tailor.eval.runner import evaluate
    from tailor.recipe_file import load_recipe
    from tailor.workspace import open_workspace

    root = tmp_path / "project"
    root.mkdir()
    (root / "tailor.yaml").write_text(
        RECIPE.replace("world/", f"{tiny_world_dir}/").replace("{batch: 3}", "{batch: 2}")
    )
    recipe = load_recipe(root / "tailor.yaml")

    def crashing(after: int):
        def respond(messages) -> str:
            if len(generator.prompts) > after:
                raise RuntimeError("the endpoint went away")
            return "Porto"

        return respond

    # A first run tunes rag's prompt on dev (and saves it); its answers are dropped, so every later run
    # asks the model only for test answers.
    evaluate(open_workspace(recipe, generator=scripted(lambda messages: "Porto")))
    shutil.rmtree(recipe.out_dir / "eval-cache")
    generator = scripted(crashing(4))  # batch 1 of both strategies (2 + 2 answers), then the crash
    with pytest.raises(RuntimeError, match="went away"):
        evaluate(open_workspace(recipe, generator=generator))
    saved = sorted(p.relative_to(recipe.out_dir).as_posix() for p in recipe.out_dir.rglob("batch-*.json"))
    assert saved == ["eval-cache/answers/qa/baseline/batch-001.json", "eval-cache/answers/qa/rag/batch-001.json"]

    generator = scripted(lambda messages: "Porto")
    resumed = evaluate(open_workspace(recipe, generator=generator))
    assert len(generator.prompts) == 2 * (6 - 2)  # the 4 examples of batches 2 and 3, for both strategies
    record = resumed["sequential"]["qa"]
    assert (record["stopped"], record["n"], [look["n"] for look in record["looks"]]) == ("examples", 6, [2, 4, 6])

    generator = scripted(lambda messages: "Porto")
    whole = evaluate(open_workspace(recipe, generator=generator), fresh=True)
    assert len(generator.prompts) == 2 * 6
    assert [r for r in whole["results"] if r["suite"] == "task"] == [
        r for r in resumed["results"] if r["suite"] == "task"
    ]
    assert whole["sequential"]["qa"]["looks"] == record["looks"]
