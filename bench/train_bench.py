"""LoRA fine-tuning throughput: tailor's trainer against a plain Hugging Face Trainer + peft, same everything.

    pip install -e '.[finetune]'
    python bench/train_bench.py             # → bench/results/train.json (about 12 minutes on 2 CPU cores)

Both sides train the same LoRA (r 16, alpha 32, dropout 0.05, every linear layer) on the same base
model (the packaged SmolLM2-135M-Instruct), from the same tokenized sequences (tailor's training set
for a small synthetic world: task examples in the chat template with the prompt masked out of the
loss, document chunks, and generated question/answer pairs), with the same sequence limit, batch
size, learning-rate schedule, seed and number of steps:

- tailor: ``ensure_finetuned`` with the recipe defaults: padding-free packed batches (sequences end
  to end, a block-diagonal causal mask), the prompt prefix the batch's chat examples share computed
  once, and logits only at the positions whose next token is learned; checkpoints every 20 steps,
  written atomically, included in its time.
- peer: ``transformers.Trainer`` with ``DataCollatorForSeq2Seq`` (pads each batch to its longest
  sequence, labels with -100) and otherwise default arguments, the peft LoRA made after
  ``set_seed`` as tailor does (so both start from the same adapter and see batches in the same order).

tokens/s counts the training sequences' tokens (no padding; a shared prefix counts once per
sequence, as it would alone) per second of ``trainer.train()`` (the Trainer's
``num_input_tokens_seen``), on both sides. "Equal loss" is checked per step: both sides see the same
batches, so their loss curves should agree up to dropout noise. Each side runs in a fresh process,
in two rounds (A B B A); the mean is reported. ``speedup`` = peer seconds / tailor seconds.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from common import abba, command, host, in_own_process, markdown_table

from tailor.artifacts import write_json_atomic
from tailor.finetune.data import tokenize, training_samples
from tailor.finetune.train import base_model_dir, ensure_finetuned, lora_config
from tailor.recipe_file import load_recipe
from tailor.scaffold import init_project
from tailor.workspace import open_workspace

STEPS, BATCH, SEQ = 40, 8, 256
RECIPE_FINETUNE = {"max_steps": STEPS, "batch_size": BATCH, "max_seq_tokens": SEQ}


def peak_rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)  # Linux: KiB


def run_tailor(root: Path) -> dict[str, Any]:
    import json

    shutil.rmtree(root / "runs", ignore_errors=True)  # train from scratch every round
    ws = open_workspace(load_recipe(root / "tailor.yaml"))
    trained = ensure_finetuned(ws)
    m = trained.manifest
    curve = json.loads((root / "runs" / "latest" / "finetune" / "loss_curve.json").read_text())["rows"]
    return {
        "train_s": m["train_s"],
        "tokens_seen": m["tokens_seen"],
        "tokens_per_s": m["tokens_per_s"],
        "losses": [r["loss"] for r in curve],
        "peak_rss_mb": peak_rss_mb(),
    }


def run_peer(root: Path) -> dict[str, Any]:
    import torch
    from peft import get_peft_model
    from transformers import (
        AutoModelForCausalLM,
        DataCollatorForSeq2Seq,
        Trainer,
        TrainingArguments,
        set_seed,
    )
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    ws = open_workspace(load_recipe(root / "tailor.yaml"))
    cfg = ws.recipe.finetune
    rows = tokenize(training_samples(ws), ws.generator.tokenizer, cfg.max_seq_tokens)
    dataset = [{**r, "attention_mask": [1] * len(r["input_ids"])} for r in rows]
    set_seed(ws.recipe.seed)
    model = AutoModelForCausalLM.from_pretrained(str(base_model_dir(ws)), dtype=torch.float32)
    model = get_peft_model(model, lora_config(cfg))  # the very adapter settings tailor's side uses
    args = TrainingArguments(
        output_dir=str(root / "peer-out"),
        max_steps=cfg.max_steps,
        per_device_train_batch_size=cfg.batch_size,
        learning_rate=cfg.learning_rate,
        warmup_steps=cfg.warmup_steps,
        logging_steps=1,
        save_strategy="no",
        report_to=[],
        disable_tqdm=True,
        seed=ws.recipe.seed,
        data_seed=ws.recipe.seed,
        use_cpu=True,
        include_num_input_tokens_seen="non_padding",
    )
    collator = DataCollatorForSeq2Seq(ws.generator.tokenizer, padding=True, label_pad_token_id=-100)
    trainer = Trainer(model=model, args=args, train_dataset=dataset, data_collator=collator)
    start = time.perf_counter()
    trainer.train()
    train_s = time.perf_counter() - start
    seen = int(trainer.state.num_input_tokens_seen)
    return {
        "train_s": round(train_s, 2),
        "tokens_seen": seen,
        "tokens_per_s": round(seen / train_s, 1),
        "losses": [r["loss"] for r in trainer.state.log_history if "loss" in r],
        "peak_rss_mb": peak_rss_mb(),
    }


SIDES = {"tailor": run_tailor, "peer": run_peer}


def run_side(name: str, root: Path) -> dict[str, Any]:
    """One side in a fresh process of its own, so neither inherits the other's warm caches or heap."""
    sys.stderr.write(f"{name} ...\n")
    return in_own_process(SIDES[name], root)


def prepare(root: Path) -> int:
    import yaml

    recipe_path = init_project(root, size="small")
    recipe = yaml.safe_load(recipe_path.read_text())
    recipe["finetune"] = RECIPE_FINETUNE
    recipe["model"]["dtype"] = "float32"  # the peer trains in float32: tailor does too (no bf16 autocast)
    recipe_path.write_text(yaml.safe_dump(recipe))
    ws = open_workspace(load_recipe(recipe_path))
    return len(tokenize(training_samples(ws), ws.generator.tokenizer, SEQ))


def main() -> None:
    import peft
    import transformers

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, default=Path(__file__).parent / "results" / "train.json")
    parser.add_argument("--rounds", type=int, default=2, help="rounds per side, in A B B A order (default: 2)")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="tailor-train-bench-"))
    try:
        sequences = prepare(root)
        sys.stderr.write(f"project in {root}: {sequences} training sequences\n")
        runs = abba(("tailor", "peer"), args.rounds, lambda name: run_side(name, root))
    finally:
        shutil.rmtree(root, ignore_errors=True)
    sides = {name: summarise(rs) for name, rs in runs.items()}
    ours, peer = sides["tailor"], sides["peer"]
    gaps = [abs(a - b) for a, b in zip(ours["losses"], peer["losses"], strict=True)]
    record = {
        "command": command(__file__, args, {"rounds": 2}),
        "what": "LoRA fine-tuning throughput: tailor (packed, shared prompt prefix once, logits only where learned) "
        "vs transformers Trainer + "
        "peft with a padding collator; same model, data, LoRA, batch, schedule, seed and steps",
        "peer_name": f"transformers {transformers.__version__} Trainer + peft {peft.__version__}",
        "settings": {"steps": STEPS, "batch_size": BATCH, "max_seq_tokens": SEQ, "sequences": sequences},
        "environment": host(device="cpu"),
        "rounds": args.rounds,
        "train_s_by_round": {name: [r["train_s"] for r in rs] for name, rs in runs.items()},
        "tailor": {k: v for k, v in ours.items() if k != "losses"},
        "peer": {k: v for k, v in peer.items() if k != "losses"},
        "loss": {
            "tailor_mean": round(statistics.mean(ours["losses"]), 4),
            "peer_mean": round(statistics.mean(peer["losses"]), 4),
            "tailor_last10": round(statistics.mean(ours["losses"][-10:]), 4),
            "peer_last10": round(statistics.mean(peer["losses"][-10:]), 4),
            "max_step_gap": round(max(gaps), 4),
            "mean_step_gap": round(statistics.mean(gaps), 4),
        },
        "ratios": {
            "speedup": round(peer["train_s"] / ours["train_s"], 2),
            "tokens_per_s_ratio": round(ours["tokens_per_s"] / peer["tokens_per_s"], 2),
            "peak_rss_ratio": round(ours["peak_rss_mb"] / peer["peak_rss_mb"], 3),
        },
    }
    write_json_atomic(args.results, record)
    sys.stdout.write(render(record) + f"→ {args.results}\n")


def summarise(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Mean over rounds; the loss curve is the first round's (the rounds train identically up to noise)."""
    return {
        "train_s": round(statistics.mean(r["train_s"] for r in runs), 2),
        "tokens_seen": runs[0]["tokens_seen"],
        "tokens_per_s": round(statistics.mean(r["tokens_per_s"] for r in runs), 1),
        "peak_rss_mb": round(max(r["peak_rss_mb"] for r in runs), 1),
        "losses": runs[0]["losses"],
    }


def render(record: dict[str, Any]) -> str:
    t, p, r, loss = record["tailor"], record["peer"], record["ratios"], record["loss"]
    rows = [
        (f"train s ({record['settings']['steps']} steps)", t["train_s"], p["train_s"], f"{r['speedup']}× faster"),
        ("tokens/s (non-padding)", t["tokens_per_s"], p["tokens_per_s"], f"{r['tokens_per_s_ratio']}×"),
        (
            "mean loss (last 10 steps)",
            loss["tailor_last10"],
            loss["peer_last10"],
            f"max step gap {loss['max_step_gap']}",
        ),
        ("peak RSS MB", t["peak_rss_mb"], p["peak_rss_mb"], f"{r['peak_rss_ratio']}×"),
    ]
    return markdown_table("| | tailor | Trainer + peft | ratio |", rows)


if __name__ == "__main__":
    main()
