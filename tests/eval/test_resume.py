"""`tailor eval` killed with kill -9 after some strategies answered: the rerun completes only what is
missing, and its results equal an uninterrupted run's. Real model, real index, real processes."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

RECIPE = """\
data:
  corpus: [world/docs/**/*.md]
  examples: [{path: world/qa.jsonl}]
strategies: [baseline, rag]
suites: [task, retrieval, cost]
eval: {limit: 6}
prompt: {candidates: 2, dev_size: 4, confirm_size: 2}  # rag searches its prompt: the least search there is
out: run
"""


def _project(root: Path, world: Path) -> Path:
    root.mkdir(parents=True)
    shutil.copytree(world, root / "world")
    (root / "tailor.yaml").write_text(RECIPE)
    return root


def _eval(root: Path, *extra: str) -> subprocess.Popen:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "tailor", "eval", "--recipe", str(root / "tailor.yaml"), "--json", *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def _finished(proc: subprocess.Popen) -> tuple[dict, str]:
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err
    return json.loads(out), err


def _figures(results: dict) -> list[dict]:
    """Every row but the cost suite's, whose timings differ from run to run by nature."""
    return [r for r in results["results"] if r["suite"] != "cost"]


@pytest.mark.slow
def test_eval_killed_after_one_strategy_resumes_and_matches_an_uninterrupted_run(tmp_path, tiny_world_dir):
    killed = _project(tmp_path / "killed", tiny_world_dir)
    baseline_done = killed / "run" / "eval-cache" / "answers" / "qa" / "baseline.json"
    proc = _eval(killed)
    deadline = time.monotonic() + 600
    while not baseline_done.exists():
        assert proc.poll() is None, "eval finished before it could be killed: " + proc.stderr.read()
        assert time.monotonic() < deadline
        time.sleep(0.05)
    proc.kill()  # SIGKILL: no cleanup, no finally blocks
    proc.wait()
    assert not (killed / "run" / "results.json").exists()
    assert not (killed / "run" / "index" / "index.json").exists()  # killed before rag's index was built
    saved = baseline_done.read_bytes()
    saved_mtime = baseline_done.stat().st_mtime_ns

    resumed, log = _finished(_eval(killed))
    assert "reused from an earlier run" in log and "qa · baseline answers" in log
    assert "eval qa · baseline" not in log  # baseline was not asked again
    assert baseline_done.stat().st_mtime_ns == saved_mtime and baseline_done.read_bytes() == saved

    predictions = killed / "run" / "predictions.jsonl"
    answered = [(p["strategy"], p["id"], p["prediction"]) for p in map(json.loads, predictions.open())]

    # A third run reuses everything.
    again, log = _finished(_eval(killed))
    assert "eval qa ·" not in log and "suite task · qa" not in log and _figures(again) == _figures(resumed)

    # --fresh recomputes every answer and suite: the uninterrupted run to compare with (it reuses the index,
    # which the resumed run built whole; a killed ingest is tests/rag/test_index.py's).
    whole, log = _finished(_eval(killed, "--fresh"))
    assert "reused" not in log and "eval qa · baseline" in log and "eval qa · rag" in log
    assert _figures(resumed) == _figures(whole)
    assert {r["metric"] for r in resumed["results"] if r["suite"] == "cost"} == {
        r["metric"] for r in whole["results"] if r["suite"] == "cost"
    }
    assert answered == [(p["strategy"], p["id"], p["prediction"]) for p in map(json.loads, predictions.open())]
