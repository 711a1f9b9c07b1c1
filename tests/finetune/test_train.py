"""Fine-tuning with the real model: training data, leakage guard, kill -9 and resume, reload and export."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from safetensors.numpy import load_file

from tailor.errors import DataError
from tailor.finetune.data import IGNORE, pack_batch, packed_loss, pad_batch, tokenize, training_samples
from tailor.recipe_file import load_recipe
from tailor.scaffold import init_project
from tailor.workspace import open_workspace

TINY = {
    "max_steps": 8,
    "save_steps": 2,
    "batch_size": 2,
    "max_seq_tokens": 64,
    "warmup_steps": 1,
    "lora_r": 4,
    "canaries": {"count": 1, "repetitions": [2]},
    "learning_rate_factors": [1],  # one training run: tests/finetune/test_rate_search.py tests the search
}


def _project(root: Path, **finetune) -> Path:
    recipe_path = init_project(root, size="tiny")
    recipe = yaml.safe_load(recipe_path.read_text())
    recipe["finetune"] = {**TINY, **finetune}
    recipe["strategies"] = ["baseline", "prompt", "finetune"]
    recipe_path.write_text(yaml.safe_dump(recipe))
    return recipe_path


def _samples(recipe: Path) -> list:
    return training_samples(open_workspace(load_recipe(recipe)))


def _tune(recipe: Path, *extra: str) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "tailor", "tune", "train", "--recipe", str(recipe), "--json", *extra]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _finish(proc: subprocess.Popen) -> dict:
    out, err = proc.communicate(timeout=900)
    assert proc.returncode == 0, err[-3000:]
    return json.loads(out)


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory) -> tuple[Path, dict]:
    recipe = _project(tmp_path_factory.mktemp("ft-straight"))
    return recipe, _finish(_tune(recipe))


def test_training_data_is_train_split_in_the_baseline_format_plus_corpus(tmp_path: Path) -> None:
    recipe = load_recipe(_project(tmp_path))
    ws = open_workspace(recipe)
    samples = training_samples(ws)
    task = [s for s in samples if s.record.source == "task"]
    knowledge = [s for s in samples if s.record.source == "knowledge"]
    train_ids = {f"{d.name}/{e.id}" for d in ws.datasets for e in d.split("train")}
    assert {s.record.record_id for s in task} == train_ids
    assert {s.record.record_id.split("#")[0] for s in knowledge} == {f"doc:{d.doc_id}" for d in ws.corpus}
    # Asked as baseline asks: the question is the last user turn, the answer is what is learned.
    first = task[0]
    assert first.messages[-1]["role"] == "user" and first.record.prompt in first.messages[-1]["content"]
    rows = tokenize(samples[:5] + knowledge[:2], ws.generator.tokenizer, 512)
    eos = ws.generator.tokenizer.eos_token_id
    for row, sample in zip(rows, samples[:5] + knowledge[:2], strict=True):
        learned = [t for t in row["labels"] if t != IGNORE]
        assert learned[-1] == eos  # the model learns to stop
        if sample.messages:
            answer = ws.generator.tokenizer.decode(learned, skip_special_tokens=True).strip()
            assert answer == sample.record.completion
            assert row["labels"][0] == IGNORE  # the prompt is not learned
        else:
            assert row["labels"] == row["input_ids"]


# The batch's first row: a chat example, text learned whole (a knowledge chunk), or a text row shorter than
# the shared prefix (it once made the packed mask one token wider than the row and stopped training).
@pytest.mark.parametrize("first", ["task", "knowledge", "short"])
def test_a_packed_batch_has_the_padded_batchs_loss_with_no_padding_and_fewer_logits(tmp_path: Path, first) -> None:
    import torch

    recipe_path = _project(tmp_path, canaries={"count": 2, "repetitions": [1, 3]})
    recipe = yaml.safe_load(recipe_path.read_text())
    recipe["model"]["dtype"] = "float32"  # the two losses are compared to float32's precision
    recipe_path.write_text(yaml.safe_dump(recipe))
    ws = open_workspace(load_recipe(recipe_path))
    samples = training_samples(ws)
    assert [s.record.record_id for s in samples if s.record.source == "canary"] == [
        "canary-0#0",
        "canary-1#0",
        "canary-1#1",
        "canary-1#2",
    ]
    rows = tokenize(samples, ws.generator.tokenizer, 256)
    by_source: dict[str, list] = {}
    for sample, row in zip(samples, rows, strict=True):
        by_source.setdefault(sample.record.source, []).append(row)
    batch = [*by_source["task"][:3], by_source["qa"][0], by_source["knowledge"][0], by_source["canary"][0]]
    if first == "knowledge":
        batch.insert(0, batch.pop(4))
    elif first == "short":
        short = by_source["knowledge"][1]["input_ids"][:5]  # text learned whole: labels are its tokens
        batch.insert(0, {"input_ids": short, "labels": list(short)})
    packed = pack_batch(batch)
    labels, sequence_tokens = packed.pop("labels"), packed.pop("sequence_tokens")
    assert int(sequence_tokens) == sum(len(r["input_ids"]) for r in batch)
    # The three task examples' common prompt prefix (the chat template's system turn with the
    # instruction, ~12 tokens) is laid down once; nothing is padding.
    assert packed["input_ids"].shape[1] <= int(sequence_tokens) - 2 * 10
    learned = sum(t != IGNORE for r in batch for t in r["labels"][1:])
    assert packed["logits_to_keep"].shape == (learned,) == labels.shape[1:]
    with torch.no_grad():
        padded = ws.generator.model(**pad_batch(batch, ws.generator.tokenizer.pad_token_id)).loss
        ours = packed_loss(ws.generator.model(**packed), labels)
    # Each sequence sees exactly what it would alone: the padded batch's loss, to float precision.
    assert float(ours) == pytest.approx(float(padded), rel=1e-4)


def test_an_evaluation_question_in_the_training_data_stops_the_run(tmp_path: Path) -> None:
    recipe_path = _project(tmp_path)
    qa = tmp_path / "world" / "qa.jsonl"
    rows = [json.loads(line) for line in qa.read_text().splitlines()]
    test_row = next(r for r in rows if r["split"] == "test")
    rows.append({**test_row, "id": "leaked-copy", "split": "train"})
    qa.write_text("".join(json.dumps(r) + "\n" for r in rows))
    from tailor.finetune.train import ensure_finetuned

    with pytest.raises(DataError, match="eval_overlap"):
        ensure_finetuned(open_workspace(load_recipe(recipe_path)))
    assert not (tmp_path / "runs" / "latest" / "finetune" / "model").exists()
    checks = json.loads((tmp_path / "runs" / "latest" / "finetune" / "checks.json").read_text())
    assert any(f["check"] == "eval_overlap" for f in checks["findings"])


@pytest.mark.slow
def test_training_writes_an_adapter_a_loss_curve_and_is_reused(uninterrupted) -> None:
    recipe, manifest = uninterrupted
    out = recipe.parent / "runs" / "latest" / "finetune"
    assert manifest["steps"] == TINY["max_steps"] and manifest["resumed_from_step"] == 0
    assert {p.name for p in (out / "model").iterdir()} >= {"adapter_config.json", "adapter_model.safetensors"}
    assert not (out / "checkpoints").exists()  # removed once the model is saved
    curve = json.loads((out / "loss_curve.json").read_text())["rows"]
    assert [r["step"] for r in curve] == list(range(1, TINY["max_steps"] + 1))
    # The planted canary is on record for the leakage suite: its secret, prefix and repetitions.
    planted = json.loads((out / "canaries.json").read_text())
    assert planted["space"] == 9000 * 9000 and [c["repetitions"] for c in planted["canaries"]] == [2]
    canary = planted["canaries"][0]
    assert canary["prefix"] + canary["secret"] + canary["suffix"] in {s.record.completion for s in _samples(recipe)}
    again = _tune(recipe)
    out_text, err = again.communicate(timeout=600)
    assert again.returncode == 0 and "using the trained model" in err
    assert json.loads(out_text)["fingerprint"] == manifest["fingerprint"]


@pytest.mark.slow
def test_kill_9_mid_training_then_rerun_resumes_to_the_same_result(uninterrupted, tmp_path: Path) -> None:
    straight_recipe, straight = uninterrupted
    recipe = _project(tmp_path)
    checkpoints = tmp_path / "runs" / "latest" / "finetune" / "checkpoints"
    proc = _tune(recipe)
    deadline = time.monotonic() + 600
    while not (checkpoints / "checkpoint-4").is_dir():
        assert proc.poll() is None, "training ended before it could be interrupted"
        assert time.monotonic() < deadline
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (tmp_path / "runs" / "latest" / "finetune" / "model").exists()
    resumed = _finish(_tune(recipe))
    assert resumed["resumed_from_step"] >= 4 and resumed["steps"] == TINY["max_steps"]
    # Same data order, same optimizer and RNG states: the same final loss and the same weights.
    assert resumed["final_loss"] == pytest.approx(straight["final_loss"], rel=1e-3)
    a = load_file(straight_recipe.parent / "runs/latest/finetune/model/adapter_model.safetensors")
    b = load_file(tmp_path / "runs/latest/finetune/model/adapter_model.safetensors")
    assert a.keys() == b.keys()
    for key in a:
        assert abs(a[key] - b[key]).max() < 1e-4, key
    curve = json.loads((tmp_path / "runs/latest/finetune/loss_curve.json").read_text())["rows"]
    assert [r["step"] for r in curve] == list(range(1, TINY["max_steps"] + 1))  # nothing skipped, nothing twice


@pytest.mark.slow
def test_the_tuned_model_reloads_merged_and_exports_as_a_plain_model(uninterrupted, tmp_path: Path) -> None:
    from tailor.finetune.model import export_merged, load_tuned_model
    from tailor.finetune.train import base_model_dir
    from tailor.models.base import GenerationSettings
    from tailor.models.local import TransformersGenerator

    recipe, _ = uninterrupted
    ws = open_workspace(load_recipe(recipe))
    model_dir = recipe.parent / "runs/latest/finetune/model"
    tuned = load_tuned_model(model_dir, base_model_dir(ws), ws.generator.tokenizer)
    exported = TransformersGenerator.load(
        export_merged(model_dir, base_model_dir(ws), ws.generator.tokenizer, tmp_path / "m")
    )
    prompts = [[{"role": "user", "content": "Who leads Finance?"}]]
    settings = GenerationSettings(max_new_tokens=12)
    tuned_text = tuned.generate(prompts, settings)[0].text
    assert exported.generate(prompts, settings)[0].text == tuned_text
    # The adapter changed the weights (LoRA's B starts at zero, so an untrained adapter is a no-op).
    import torch

    base_w = ws.generator.model.model.layers[0].self_attn.q_proj.weight
    tuned_w = tuned.model.model.layers[0].self_attn.q_proj.weight
    assert not torch.equal(base_w, tuned_w)


@pytest.mark.slow
def test_full_fine_tuning_saves_a_plain_model_that_loads(tmp_path: Path) -> None:
    from tailor.finetune.model import load_tuned_model
    from tailor.finetune.train import base_model_dir, ensure_finetuned
    from tailor.models.base import GenerationSettings

    recipe = _project(tmp_path, method="full", max_steps=2, save_steps=1, knowledge=False, learning_rate=2e-5)
    ws = open_workspace(load_recipe(recipe))
    trained = ensure_finetuned(ws)
    assert {"config.json", "model.safetensors", "tokenizer.json", "train.json"} <= {
        p.name for p in trained.model_dir.iterdir()
    }
    assert trained.manifest["method"] == "full" and trained.manifest["steps"] == 2
    tuned = load_tuned_model(trained.model_dir, base_model_dir(ws), ws.generator.tokenizer)
    text = tuned.generate([[{"role": "user", "content": "Who leads Finance?"}]], GenerationSettings(max_new_tokens=8))
    assert text[0].completion_tokens > 0


@pytest.mark.slow
def test_training_stops_when_dev_loss_turns_and_keeps_the_best_steps_weights(tmp_path: Path) -> None:
    """A high learning rate on 26 train sequences over-fits within a few steps: dev loss falls, then rises."""
    from tailor.finetune.data import task_samples
    from tailor.finetune.model import load_tuned_model
    from tailor.finetune.selection import dev_loss
    from tailor.finetune.train import base_model_dir, ensure_finetuned

    settings = {"max_steps": 30, "dev_every": 2, "patience": 2, "learning_rate": 5e-3, "warmup_steps": 0}
    recipe = _project(tmp_path, knowledge=False, save_steps=100, canaries={"count": 0}, **settings)
    ws = open_workspace(load_recipe(recipe))
    manifest = ensure_finetuned(ws).manifest
    dev = manifest["dev"]
    losses = {p["step"]: p["dev_loss"] for p in dev["curve"]}
    assert list(losses) == list(range(2, manifest["steps"] + 1, 2))  # every 2 steps until it stopped
    assert dev["stopped_early"] and manifest["steps"] < 30 and not dev["still_improving"]
    assert dev["best_step"] == min(losses, key=losses.get) < manifest["steps"]
    assert losses[manifest["steps"]] > dev["best_loss"]  # it had turned
    assert manifest["epochs"] == pytest.approx(manifest["steps"] * 2 / manifest["sequences"], abs=1e-3)
    # The saved weights are the best step's, not the last step's: the model scores the best dev loss.
    # Measured as training measured it: float32 weights, autocast to bf16 where the model runs in bf16.
    bf16 = ws.generator.dtype == "bfloat16"
    model_dir = recipe.parent / "runs/latest/finetune/model"
    tuned = load_tuned_model(model_dir, base_model_dir(ws), ws.generator.tokenizer, dtype="float32")
    rows = tokenize(task_samples(ws, "dev"), ws.generator.tokenizer, TINY["max_seq_tokens"])
    got = dev_loss(tuned.model, rows, ws.generator.tokenizer.pad_token_id, bf16)
    assert abs(got - dev["best_loss"]) < abs(got - losses[manifest["steps"]])
    assert got == pytest.approx(dev["best_loss"], rel=1e-2 if bf16 else 2e-3)  # merged: rounded otherwise
