"""GPU throughput: tailor's LoRA training against Trainer + peft, and its batched generation against plain
``generate``, on the packaged Qwen2.5-Coder 0.5B and 1.5B models in bf16.

    pip install -e '.[finetune,ladder]'    # with a CUDA build of torch; the two models (491 MB and 1.1 GB)
    python bench/gpu_bench.py               # → bench/results/gpu.json (under 8 minutes on one GPU)
    python bench/gpu_bench.py --smoke       # the same code at tiny sizes, SmolLM2-135M (a CPU will do; a temp file)

Per model, in one process, generation first (so that CUDA is warm before anything is timed), then
training; each comparison runs its two sides in 2 rounds in the order A B B A and records every round
and the mean.

Generation at batch sizes 1, 8 and 32: tailor's ``TransformersGenerator.generate`` (prompts sorted by
length, left padding, its reserved key/value cache) against the same loaded model and tokenizer driven
as plain transformers is (the chat template, the batch left-padded in the order given, ``model.generate``
with its default cache); greedy, up to 128 new tokens, the synthetic world's questions (at least 4, so
batch 1 answers 4 one after another). tokens/s counts each answer's tokens up to its first stop token
per second of wall time, decoding the answers included on both sides; ``same_answers`` is the share of
answers the two sides agree on word for word.

Training, 30 steps of 8 sequences of at most 256 tokens: the same LoRA (the recipe's: r 16, alpha 32,
dropout 0.05, every linear layer), data (tailor's training sequences for the small synthetic world),
learning-rate schedule and seed, in bf16 (on a GPU bf16 weights and a float32 adapter; on a CPU float32
weights and bf16 autocast, as tailor does): tailor's ``ensure_finetuned`` (packed padding-free batches,
the shared prompt prefix once, logits only where learned; its checkpoints, every 20 steps and at the
end, inside its time) against ``transformers.Trainer`` + peft with ``DataCollatorForSeq2Seq`` padding
each batch and no checkpoints. tokens/s is the Trainer's ``num_input_tokens_seen`` (sequence tokens, no
padding) per second of ``trainer.train()`` on both sides; ``mean_loss``, the mean of each side's step
losses, shows that both trained alike. No dev loss is evaluated during training.

Budget: the whole run stays under ``--budget-s`` (420 s by default): a comparison starts only while
the time left is more than three times the longest one so far, and one that does not is listed
under ``skipped``. The record is rewritten after every comparison, so a stopped run keeps the ones
that finished. The packaged models are assembled and converted once, on first use (cached; see
tailor/models/gguf.py): that time counts against the budget, under ``load_s``.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from common import abba, command, mean_of, record_head, versions, what, write_json

RESULTS = Path(__file__).parent / "results" / "gpu.json"
NO_GPU = (
    "gpu_bench: no CUDA device here; this benchmark needs a GPU (python bench/gpu_bench.py --smoke runs its code "
    "on a CPU at tiny sizes)"
)


@dataclass(frozen=True)
class Scale:
    """What one run measures: the models, the world their data comes from, and the sizes."""

    models: tuple[str, ...]
    world: str  # synthetic world size: its documents and questions are the data
    steps: int  # optimizer steps per training run
    batch: int  # training sequences per step
    seq: int  # longest training sequence, in tokens
    batches: tuple[int, ...]  # generation batch sizes
    min_prompts: int  # a generation measurement answers at least this many prompts (batch 1: one at a time)
    max_new_tokens: int
    rounds: int  # rounds per comparison, A B B A
    budget_s: float
    dtype: str  # model.dtype of the recipes: bf16 weights on a GPU (training: bf16 mixed precision)


GPU = Scale(
    models=("qwen2.5-coder-0.5b-instruct", "qwen2.5-coder-1.5b-instruct"),
    world="small",
    steps=30,
    batch=8,
    seq=256,
    batches=(1, 8, 32),
    min_prompts=4,
    max_new_tokens=128,
    rounds=2,
    budget_s=420,
    dtype="bfloat16",
)
SMOKE = Scale(
    models=("smollm2-135m-instruct",),
    world="tiny",
    steps=2,
    batch=2,
    seq=64,
    batches=(1, 2),
    min_prompts=2,
    max_new_tokens=4,
    rounds=2,
    budget_s=600,  # never skips: a smoke run that skips a comparison has failed
    dtype="bfloat16",
)


@dataclass
class Budget:
    """Seconds left of the run, and whether another comparison fits in them."""

    seconds: float
    start: float = field(default_factory=time.perf_counter)
    longest: float = 0.0

    def elapsed(self) -> float:
        return time.perf_counter() - self.start

    def allows(self) -> bool:
        # Three times the longest so far: the next model's comparisons are bigger (1.5B after 0.5B).
        return self.seconds - self.elapsed() > 3 * self.longest

    def timed(self, measure: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        start = time.perf_counter()
        result = measure()
        seconds = time.perf_counter() - start
        self.longest = max(self.longest, seconds)
        return {**result, "seconds": round(seconds, 1)}


# ---- the device ----------------------------------------------------------------------------------


def cuda() -> bool:
    import torch

    return torch.cuda.is_available()


def sync() -> None:
    """Wait for the GPU's queued work, so that a timer read after it counts that work."""
    import torch

    if torch.cuda.is_available():
        torch.cuda.synchronize()


def reset_peak() -> None:
    import torch

    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()


def peak_gpu_mb() -> float | None:
    import torch

    return round(torch.cuda.max_memory_allocated() / 2**20, 1) if torch.cuda.is_available() else None


def free_memory() -> None:
    """Give back what the last run held, so that the next side starts from the same memory."""
    import torch

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def device_record() -> dict[str, Any]:
    import torch

    on_gpu = torch.cuda.is_available()
    return {
        "name": torch.cuda.get_device_name(0) if on_gpu else "cpu",
        "cuda": torch.version.cuda if on_gpu else None,
        "bf16": torch.cuda.is_bf16_supported() if on_gpu else None,
        "versions": versions("torch", "transformers", "peft", "accelerate"),
    }


# ---- the project ---------------------------------------------------------------------------------


def prepare(root: Path, scale: Scale) -> dict[str, Path]:
    """A synthetic world in ``root`` and one recipe per model beside it: the model in bf16, the training
    settings of ``scale``, each model's runs under its own folder. The recipe of each model by name."""
    import yaml

    from tailor.scaffold import init_project

    base = yaml.safe_load(init_project(root, size=scale.world).read_text())
    finetune = {
        "max_steps": scale.steps,
        "batch_size": scale.batch,
        "max_seq_tokens": scale.seq,
        "dev_every": 0,  # throughput alone: no dev loss evaluated between steps
    }
    recipes = {}
    for i, name in enumerate(scale.models):
        recipe = {**base, "model": {"kind": "packaged", "name": name, "dtype": scale.dtype}}
        recipe |= {"finetune": finetune, "out": f"runs/{i}"}
        recipes[name] = root / f"tailor-{i}.yaml"
        recipes[name].write_text(yaml.safe_dump(recipe))
    return recipes


def questions(scale: Scale) -> list[list[dict[str, str]]]:
    """The world's qa questions, each alone as a user message."""
    from tailor.data.world import generate_world
    from tailor.data.world_render import qa_examples

    return [[{"role": "user", "content": e["question"]}] for e in qa_examples(generate_world(0, scale.world))]


# ---- generation ----------------------------------------------------------------------------------


def generate_tailor(generator: Any, prompts: Sequence, batch: int, max_new_tokens: int) -> dict[str, Any]:
    """``prompts`` through tailor's generator in batches of ``batch``: answers, their tokens, seconds."""
    from tailor.models.base import GenerationSettings

    settings = GenerationSettings(max_new_tokens=max_new_tokens, temperature=0.0, batch_size=batch)
    sync()
    start = time.perf_counter()
    gens = generator.generate(prompts, settings)
    sync()
    seconds = time.perf_counter() - start
    return {"answers": [g.text for g in gens], "tokens": sum(g.completion_tokens for g in gens), "s": seconds}


def stop_ids(model: Any, tokenizer: Any) -> set[int]:
    """The tokens an answer ends at: the model's end-of-sequence ids, the tokenizer's and its padding."""
    eos = model.generation_config.eos_token_id
    ids = set(eos if isinstance(eos, list) else [eos] if eos is not None else [])
    return ids | {t for t in (tokenizer.eos_token_id, tokenizer.pad_token_id) if t is not None}


def generate_plain(generator: Any, prompts: Sequence, batch: int, max_new_tokens: int) -> dict[str, Any]:
    """The same model and tokenizer as a plain transformers user drives them: chat template, a left-padded
    batch in the order given, ``model.generate`` with its default cache; answers cut at the first stop."""
    import torch

    model, tokenizer = generator.model, generator.tokenizer
    texts = [tokenizer.apply_chat_template(p, add_generation_prompt=True, tokenize=False) for p in prompts]
    stops, answers, tokens = stop_ids(model, tokenizer), [], 0
    sync()
    start = time.perf_counter()
    for at in range(0, len(texts), batch):
        enc = tokenizer(texts[at : at + batch], return_tensors="pt", padding=True, add_special_tokens=False)
        enc = enc.to(model.device)
        with torch.inference_mode():
            out = model.generate(
                **enc, max_new_tokens=max_new_tokens, do_sample=False, pad_token_id=tokenizer.pad_token_id
            )
        for row in out[:, enc["input_ids"].shape[1] :].tolist():  # (b, new tokens)
            n = next((k for k, t in enumerate(row) if t in stops), len(row))
            tokens += n
            answers.append(tokenizer.decode(row[:n], skip_special_tokens=True).strip())
    sync()
    return {"answers": answers, "tokens": tokens, "s": time.perf_counter() - start}


GENERATE = {"tailor": generate_tailor, "transformers": generate_plain}


def compare_generation(generator: Any, pool: list, batch: int, scale: Scale) -> dict[str, Any]:
    """Both sides on the same prompts at batch size ``batch``, A B B A: tokens/s per side and round."""
    count = max(batch, scale.min_prompts)
    prompts = [pool[i % len(pool)] for i in range(count)]

    def run(side: str) -> dict[str, Any]:
        done = GENERATE[side](generator, prompts, batch, scale.max_new_tokens)
        sys.stderr.write(f"  {side} batch {batch}: {done['tokens'] / done['s']:.1f} tokens/s\n")
        return done

    runs = abba(tuple(GENERATE), scale.rounds, run)
    first = {side: rs[0]["answers"] for side, rs in runs.items()}
    same = sum(a == b for a, b in zip(first["tailor"], first["transformers"], strict=True)) / count
    sides = {
        side: {
            "tokens": rs[0]["tokens"],
            "seconds_by_round": [round(r["s"], 3) for r in rs],
            "tokens_per_s_by_round": [round(r["tokens"] / r["s"], 1) for r in rs],
            "tokens_per_s": mean_of([round(r["tokens"] / r["s"], 1) for r in rs]),
        }
        for side, rs in runs.items()
    }
    ratio = sides["tailor"]["tokens_per_s"] / sides["transformers"]["tokens_per_s"]
    return {"prompts": count, **sides, "tokens_per_s_ratio": round(ratio, 3), "same_answers": round(same, 3)}


# ---- training ------------------------------------------------------------------------------------


def train_tailor(ws: Any, rows: list[dict]) -> dict[str, Any]:
    """tailor's training path from scratch (the runs folder cleared, so nothing is reused or resumed)."""
    from tailor.finetune.train import ensure_finetuned

    shutil.rmtree(ws.recipe.out_dir, ignore_errors=True)
    reset_peak()
    manifest = ensure_finetuned(ws).manifest
    curve = json.loads((ws.recipe.out_dir / "finetune" / "loss_curve.json").read_text())["rows"]
    return {
        "train_s": manifest["train_s"],
        "tokens_seen": manifest["tokens_seen"],
        "tokens_per_s": manifest["tokens_per_s"],
        "mean_loss": round(statistics.mean(r["loss"] for r in curve), 4),
        "peak_gpu_mb": peak_gpu_mb(),
    }


def peer_arguments(ws: Any, out: Path, bf16: bool) -> Any:
    """Trainer arguments with the recipe's settings, no checkpoints, defaults otherwise."""
    from transformers import TrainingArguments

    cfg = ws.recipe.finetune
    return TrainingArguments(
        output_dir=str(out),
        max_steps=cfg.max_steps,
        per_device_train_batch_size=cfg.batch_size,
        learning_rate=cfg.learning_rate,
        warmup_steps=cfg.warmup_steps,
        lr_scheduler_type="linear",
        logging_steps=1,
        save_strategy="no",
        report_to=[],
        disable_tqdm=True,
        seed=ws.recipe.seed,
        data_seed=ws.recipe.seed,
        use_cpu=not cuda(),
        bf16=bf16,
        include_num_input_tokens_seen="non_padding",
    )


def train_peer(ws: Any, rows: list[dict]) -> dict[str, Any]:
    """transformers' Trainer + peft on the same sequences, LoRA and schedule, padding each batch."""
    import torch
    from peft import get_peft_model
    from transformers import AutoModelForCausalLM, DataCollatorForSeq2Seq, Trainer, set_seed
    from transformers.trainer_callback import PrinterCallback

    from tailor.finetune.train import base_model_dir, lora_config

    dataset = [{**r, "attention_mask": [1] * len(r["input_ids"])} for r in rows]
    set_seed(ws.recipe.seed)  # before the adapter exists, as tailor does: the same LoRA A matrices
    bf16 = ws.generator.dtype == "bfloat16"
    dtype = torch.bfloat16 if bf16 and cuda() else torch.float32  # on a CPU, float32 weights (bf16 autocast)
    model = AutoModelForCausalLM.from_pretrained(str(base_model_dir(ws)), dtype=dtype)
    model = get_peft_model(model, lora_config(ws.recipe.finetune))
    collator = DataCollatorForSeq2Seq(ws.generator.tokenizer, padding=True, label_pad_token_id=-100)
    args = peer_arguments(ws, ws.recipe.out_dir / "peer", bf16)
    trainer = Trainer(model=model, args=args, train_dataset=dataset, data_collator=collator)
    trainer.remove_callback(PrinterCallback)  # its dict per step, not the peer's work
    reset_peak()
    start = time.perf_counter()
    trainer.train()
    sync()
    train_s = time.perf_counter() - start
    seen = int(trainer.state.num_input_tokens_seen)
    losses = [r["loss"] for r in trainer.state.log_history if "loss" in r]
    return {
        "train_s": round(train_s, 2),
        "tokens_seen": seen,
        "tokens_per_s": round(seen / train_s, 1),
        "mean_loss": round(statistics.mean(losses), 4),
        "peak_gpu_mb": peak_gpu_mb(),
    }


TRAIN = {"tailor": train_tailor, "peer": train_peer}


def compare_training(ws: Any, rounds: int) -> dict[str, Any]:
    """Both sides train the same LoRA on the same sequences, A B B A: tokens/s per side and round."""
    from transformers.utils import logging as hf_logging

    from tailor.finetune.data import tokenize, training_samples

    hf_logging.set_verbosity_error()
    cfg = ws.recipe.finetune
    rows = tokenize(training_samples(ws), ws.generator.tokenizer, cfg.max_seq_tokens)

    def run(side: str) -> dict[str, Any]:
        done = TRAIN[side](ws, rows)
        free_memory()
        sys.stderr.write(f"  train {side}: {done['tokens_per_s']:.1f} tokens/s\n")
        return done

    runs = abba(tuple(TRAIN), rounds, run)
    sides = {
        side: {**mean_of(rs), "tokens_per_s_by_round": [r["tokens_per_s"] for r in rs]} for side, rs in runs.items()
    }
    ratio = sides["tailor"]["tokens_per_s"] / sides["peer"]["tokens_per_s"]
    return {"sequences": len(rows), **sides, "tokens_per_s_ratio": round(ratio, 3)}


# ---- the run -------------------------------------------------------------------------------------


@dataclass
class Run:
    """The record being written, where it goes, and the run's budget."""

    path: Path
    record: dict[str, Any]
    budget: Budget

    def save(self) -> None:
        self.record["seconds"] = round(self.budget.elapsed(), 1)
        write_json(self.path, self.record)

    def measure(self, name: str, where: dict[str, Any], key: str, measure: Callable[[], dict[str, Any]]) -> None:
        """``where[key]`` = ``measure()`` with its seconds, if the budget allows it; else the run notes the skip."""
        if self.budget.allows():
            sys.stderr.write(f"{name} ...\n")
            where[key] = self.budget.timed(measure)
            self.save()
        else:
            self.skip(name)

    def skip(self, name: str) -> None:
        self.record["skipped"].append(f"{name}: {self.budget.seconds - self.budget.elapsed():.0f} s left")
        self.save()


def bench_model(run: Run, name: str, recipe: Path, scale: Scale) -> None:
    """One model: loaded (converted once, on first use), its generation at each batch size, then training."""
    from tailor.recipe_file import load_recipe
    from tailor.workspace import open_workspace

    if not run.budget.allows():  # loading is not worth it: nothing would be measured
        return run.skip(name)
    entry: dict[str, Any] = {"generate": {}}
    run.record["models"][name] = entry
    start = time.perf_counter()
    ws = open_workspace(load_recipe(recipe))
    entry |= {"load_s": round(time.perf_counter() - start, 1), "dtype": ws.generator.dtype}
    pool = questions(scale)
    GENERATE["tailor"](ws.generator, pool[:1], 1, 2)  # first-call costs (CUDA kernels, caches) belong to no side
    GENERATE["transformers"](ws.generator, pool[:1], 1, 2)
    for batch in scale.batches:
        run.measure(
            f"{name} generate batch {batch}",
            entry["generate"],
            str(batch),
            lambda batch=batch: compare_generation(ws.generator, pool, batch, scale),
        )
    run.measure(f"{name} train", entry, "train", lambda: compare_training(ws, scale.rounds))


def settings_record(scale: Scale) -> dict[str, Any]:
    """The sizes of ``scale`` and the recipe's LoRA and schedule, which both training sides use."""
    from tailor.finetune.settings import FinetuneConfig

    cfg = FinetuneConfig()
    lora = {"r": cfg.lora_r, "alpha": cfg.lora_alpha, "dropout": cfg.lora_dropout, "targets": cfg.target_modules}
    schedule = {"learning_rate": cfg.learning_rate, "warmup_steps": cfg.warmup_steps, "decay": "linear"}
    sizes = {k: v for k, v in asdict(scale).items() if k not in ("models", "budget_s")}
    return {**sizes, "lora": lora, "schedule": schedule}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="the same code at tiny sizes, SmolLM2-135M (CPU or GPU)")
    parser.add_argument("--budget-s", type=int, help="seconds the run may take (default: 420; --smoke: 600)")
    parser.add_argument("--results", type=Path, help="where the record goes (default: gpu.json; --smoke: a temp file)")
    args = parser.parse_args()
    try:
        on_gpu = cuda()
    except ImportError:
        on_gpu = False
    if not on_gpu and not args.smoke:
        sys.stderr.write(NO_GPU + "\n")
        raise SystemExit(2)
    scale = SMOKE if args.smoke else GPU
    if not on_gpu:
        import torch

        # On a shared CPU torch's threads wait on each other, which made the smoke run several times slower
        # on 2 busy cores; one thread keeps its time its own.
        torch.set_num_threads(1)
    budget = Budget(scale.budget_s if args.budget_s is None else args.budget_s)
    path = args.results or (Path(tempfile.mkdtemp(prefix="tailor-gpu-smoke-")) / "gpu.json" if args.smoke else RESULTS)
    head = record_head(command(__file__, args, parser), what(__doc__, 2, 5))
    record = {**head, "device": device_record(), "settings": settings_record(scale), "budget_s": budget.seconds}
    run = Run(path, {**record, "models": {}, "skipped": []}, budget)
    root = Path(tempfile.mkdtemp(prefix="tailor-gpu-bench-"))
    try:
        for name, recipe in prepare(root, scale).items():
            bench_model(run, name, recipe, scale)
            free_memory()  # the model's weights, before the next model loads
    finally:
        shutil.rmtree(root, ignore_errors=True)
    run.save()
    sys.stdout.write(summary(run.record) + f"→ {path} ({run.record['seconds']} s)\n")
    if args.smoke and run.record["skipped"]:
        raise SystemExit(f"smoke run skipped {', '.join(run.record['skipped'])}")


def summary(record: dict[str, Any]) -> str:
    """One line per comparison: tailor's tokens/s, the peer's, and their ratio."""
    lines = []
    for name, entry in record["models"].items():
        compared = [(f"generate batch {b}", g, "transformers") for b, g in entry["generate"].items()]
        compared += [("LoRA train", entry["train"], "peer")] if "train" in entry else []
        for label, c, peer in compared:
            lines.append(
                f"{name} {label}: tailor {c['tailor']['tokens_per_s']} vs {peer} {c[peer]['tokens_per_s']} "
                f"tokens/s ({c['tokens_per_s_ratio']}×)"
            )
    lines.append(f"device {record['device']['name']}; skipped: {record['skipped'] or 'none'}")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
