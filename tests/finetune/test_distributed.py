"""Two processes train one model (DDP over gloo on this machine's CPUs); shipped accelerate configs load."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tailor.finetune.data import pack_batch, packed_loss, tokenize, training_samples
from tailor.recipe_file import load_recipe
from tailor.scaffold import init_project
from tailor.workspace import open_workspace

ACCELERATE_CONFIGS = sorted((Path(__file__).parents[2] / "configs" / "accelerate").glob("*.yaml"))
TINY = {"max_steps": 6, "save_steps": 3, "batch_size": 2, "max_seq_tokens": 64, "warmup_steps": 1, "lora_r": 4}
TINY_FAST = {**TINY, "learning_rate": 1e-3}  # six small steps must visibly move the loss


@pytest.mark.parametrize("path", ACCELERATE_CONFIGS, ids=lambda p: p.name)
def test_shipped_accelerate_configs_load_and_say_how_to_launch(path: Path) -> None:
    from accelerate.commands.config.config_args import load_config_from_file

    config = load_config_from_file(str(path))  # accelerate's own loader: unknown keys are an error
    assert config.num_processes >= 2
    assert f"accelerate launch --config_file configs/accelerate/{path.name} -m tailor tune train" in path.read_text()


def test_the_configs_cover_ddp_fsdp_and_zero2() -> None:
    kinds = {yaml.safe_load(p.read_text())["distributed_type"] for p in ACCELERATE_CONFIGS}
    assert kinds >= {"MULTI_GPU", "FSDP", "DEEPSPEED"}


@pytest.mark.slow
def test_accelerate_launch_with_two_processes_trains_one_adapter(tmp_path: Path) -> None:
    recipe_path = init_project(tmp_path, size="tiny")
    recipe = yaml.safe_load(recipe_path.read_text())
    recipe["finetune"] = {**TINY_FAST, "learning_rate_factors": [1, 2]}  # the search's trials, in both processes
    recipe_path.write_text(yaml.safe_dump(recipe))
    config = next(p for p in ACCELERATE_CONFIGS if p.name == "ddp-cpu.yaml")
    launcher = [sys.executable, "-m", "accelerate.commands.launch", "--config_file", str(config)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}  # one core per process on a 2-core machine
    cmd = [*launcher, "-m", "tailor", "tune", "train", "--recipe", str(recipe_path), "--json"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    manifest = json.loads(proc.stdout)  # one JSON document: only rank 0 prints
    assert manifest["processes"] == 2 and manifest["steps"] == TINY["max_steps"]
    trials = manifest["rate_search"]["learning_rates"]
    assert [t["learning_rate"] for t in trials] == pytest.approx([1e-3, 2e-3]) and manifest["rate_search"]["chosen"]
    out = tmp_path / "runs" / "latest" / "finetune"
    curve = json.loads((out / "loss_curve.json").read_text())["rows"]
    assert [r["step"] for r in curve] == list(range(1, TINY["max_steps"] + 1))
    assert not (out / "checkpoints").exists()
    from tailor.finetune.model import load_tuned_model
    from tailor.finetune.train import base_model_dir

    # Trained, not merely run: the adapter lowers the loss on the training data.
    ws = open_workspace(load_recipe(recipe_path))
    rows = tokenize(training_samples(ws), ws.generator.tokenizer, TINY["max_seq_tokens"])[:48]
    tuned = load_tuned_model(out / "model", base_model_dir(ws), ws.generator.tokenizer)
    assert _loss(tuned.model, rows) < _loss(ws.generator.model, rows) - 0.05


def _loss(model, rows) -> float:
    import torch

    batch = pack_batch(rows)
    labels, _ = batch.pop("labels"), batch.pop("sequence_tokens")
    with torch.no_grad():
        return float(packed_loss(model(**batch), labels))
