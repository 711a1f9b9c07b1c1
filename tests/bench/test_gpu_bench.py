"""bench/gpu_bench.py: without a GPU it says so and exits 2; --smoke runs the whole benchmark's code with the
real packaged model at tiny sizes and writes a record of positive figures, where it was told to."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent.parent
SCRIPT = ROOT / "bench" / "gpu_bench.py"


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=600)


def test_without_a_gpu_it_says_one_is_needed_and_writes_nothing(tmp_path):
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU: the benchmark would run")
    out = tmp_path / "gpu.json"
    done = _run("--results", str(out))
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "needs a GPU" in done.stderr
    assert not out.exists()


def _positive(figures: list[float]) -> None:
    assert figures and all(f > 0 for f in figures), figures


@pytest.mark.slow
def test_smoke_run_records_both_sides_of_every_comparison(tmp_path):
    pytest.importorskip("peft", reason="the training comparison needs pip install -e '.[finetune]'")
    out = tmp_path / "gpu.json"
    committed = _committed()
    done = _run("--smoke", "--results", str(out))
    assert done.returncode == 0, done.stderr[-3000:]
    record = json.loads(out.read_text())
    assert record["command"] == "python bench/gpu_bench.py --smoke"
    assert record["device"]["name"]  # "cpu" here, the GPU's name on one
    assert record["environment"]["versions"]["torch"]
    assert record["skipped"] == []
    assert 0 < record["seconds"] <= record["budget_s"]
    settings = record["settings"]
    assert settings["dtype"] == "bfloat16"
    (name,) = record["models"]
    assert name == "smollm2-135m-instruct"
    model = record["models"][name]
    assert model["load_s"] > 0
    assert list(model["generate"]) == [str(b) for b in settings["batches"]]
    for batch, g in model["generate"].items():
        assert g["prompts"] >= int(batch)
        for side in ("tailor", "transformers"):
            assert len(g[side]["tokens_per_s_by_round"]) == settings["rounds"]
            _positive([g[side]["tokens"], g[side]["tokens_per_s"], *g[side]["tokens_per_s_by_round"]])
            assert g[side]["tokens"] <= g["prompts"] * settings["max_new_tokens"]
        ratio = g["tailor"]["tokens_per_s"] / g["transformers"]["tokens_per_s"]
        assert g["tokens_per_s_ratio"] == pytest.approx(ratio, rel=1e-2)
        assert 0 <= g["same_answers"] <= 1
    train = model["train"]
    assert train["sequences"] >= settings["steps"] * settings["batch"]
    for side in ("tailor", "peer"):
        _positive([train[side]["tokens_per_s"], train[side]["train_s"], train[side]["mean_loss"]])
        assert len(train[side]["tokens_per_s_by_round"]) == settings["rounds"]
    # Both sides trained on the same batches: the same tokens went through each.
    assert train["tailor"]["tokens_seen"] == train["peer"]["tokens_seen"] > 0
    _positive([train["tokens_per_s_ratio"]])
    assert _committed() == committed  # a smoke run never touches the recorded figures


def _committed() -> bytes | None:
    path = ROOT / "bench" / "results" / "gpu.json"
    return path.read_bytes() if path.exists() else None


@pytest.mark.slow
def test_a_run_out_of_budget_records_what_it_skipped_and_a_smoke_run_then_fails(tmp_path):
    out = tmp_path / "gpu.json"
    done = _run("--smoke", "--budget-s", "0", "--results", str(out))
    assert done.returncode == 1
    assert "skipped smollm2-135m-instruct" in done.stderr
    record = json.loads(out.read_text())
    assert record["command"] == "python bench/gpu_bench.py --smoke --budget-s 0"
    assert record["models"] == {}  # not even loaded: nothing would have been measured
    assert [s.split(":")[0] for s in record["skipped"]] == ["smollm2-135m-instruct"]
