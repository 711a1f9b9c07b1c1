"""Fine-tuning with transformers' Trainer (+ peft LoRA): checks first, atomic checkpoints, exact resume.

    tailor tune train --strategy finetune   # → OUT/finetune/model/ (adapter or full model), loss_curve.json

Resume is the part that must be boring. A checkpoint directory appears only when complete (written
beside, then renamed), so a kill at any moment leaves the last whole checkpoint. Rerunning the same
command resumes from it: weights, optimizer, scheduler, RNG states and data position come from the
checkpoint; batch size and every other setting come from the recipe, and checkpoints made under
other settings or data are discarded instead of resumed (their data position would be wrong).

With dev examples, the step kept is chosen by their loss, and training stops once it no longer
improves (:mod:`tailor.finetune.selection`).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import shutil
import time
import warnings
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tailor.allocator import keep_freed_memory
from tailor.artifacts import read_json_artifact, replace_dir, write_json_atomic, write_text_atomic
from tailor.errors import ModelError
from tailor.finetune.canaries import write_canaries
from tailor.finetune.checks import check_training_data
from tailor.finetune.data import (
    Sample,
    TrainingPlan,
    evaluation_examples,
    pack_batch,
    packed_loss,
    pad_batch,
    planted_canaries,
    task_samples,
    tokenize,
    training_samples,
)
from tailor.finetune.rate_search import learning_rates, search_rates
from tailor.finetune.selection import DevWatch
from tailor.finetune.settings import FinetuneConfig
from tailor.workspace import Shared, Workspace

MANIFEST = "train.json"
# Every key the manifest is written with: a reused model reports its training cost (train_s) too.
MANIFEST_KEYS = (
    "fingerprint",
    "method",
    "base_model",
    "steps",
    "final_loss",
    "train_loss",
    "resumed_from_step",
    "train_s",
    "tokens_seen",
    "tokens_per_s",
    "sequences",
    "processes",
    "settings",
    "continued_from",
    "epochs",
    "steps_per_epoch",
    "dev",
    "rate_search",
)
KEEP_CHECKPOINTS = 2  # the newest two: one may be mid-rename in another process's view, never both


@dataclass(frozen=True)
class TrainedModel:
    """A finished training run: ``model_dir`` holds a peft adapter (lora) or a full model directory."""

    model_dir: Path
    manifest: dict[str, Any]

    @property
    def build_s(self) -> float:
        return float(self.manifest.get("train_s", 0.0))


TUNED: Shared[TrainedModel] = Shared("finetune")  # the workspace's fine-tuned model, trained once


def finetune_dir(ws: Workspace) -> Path:
    return ws.recipe.out_dir / "finetune"


def base_model_dir(ws: Workspace) -> Path:
    """The local model directory the workspace generator was loaded from.

    Raises:
        ModelError: the generator is an endpoint; there are no weights here to train.
    """
    model = getattr(ws.generator, "model", None)
    path = Path(getattr(getattr(model, "config", None), "_name_or_path", "") or "")
    if model is None or not (path / "config.json").is_file():
        raise ModelError(
            ws.recipe.problem(
                "finetune needs local weights: use model kind packaged, hf or gguf (an endpoint cannot be trained)",
                "model",
            )
        )
    return path


def world_size() -> int:
    """Processes training together (``accelerate launch`` / ``torchrun`` set WORLD_SIZE; 1 otherwise)."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def lora_config(cfg: FinetuneConfig):
    """peft's LoraConfig for the recipe's adapter settings.

    Raises:
        ModelError: peft is not installed.
    """
    try:
        from peft import LoraConfig
    except ImportError:
        raise ModelError("LoRA needs peft: pip install 'llm-tailor[finetune]'") from None
    return LoraConfig(
        r=cfg.lora_r,
        lora_alpha=cfg.lora_alpha,
        lora_dropout=cfg.lora_dropout,
        target_modules=cfg.target_modules,
        task_type="CAUSAL_LM",
    )


def _fingerprint(
    ws: Workspace, rows: list[dict[str, list[int]]], base: Path, start: str = "", dev: list[dict] = ()
) -> str:
    """What a trained model depends on; ``start``: the fingerprint of the model training continues from;
    ``dev``: the rows whose loss chooses the step kept."""
    h = hashlib.sha256()
    h.update(json.dumps(ws.recipe.finetune.model_dump(), sort_keys=True).encode())
    # The data position in a checkpoint means something only for the same number of processes.
    h.update(f"{base.resolve()}|seed={ws.recipe.seed}|processes={world_size()}".encode())
    h.update(f"|precision={getattr(ws.generator, 'dtype', 'float32')}".encode())  # bf16 steps: not float32's
    if start:
        h.update(f"|continues={start}".encode())
    for r in rows:
        h.update(json.dumps(r, separators=(",", ":")).encode())
    for r in dev:
        h.update(b"|dev=" + json.dumps(r, separators=(",", ":")).encode())
    return h.hexdigest()[:16]


def finetune_plan(ws: Workspace) -> TrainingPlan:
    """What finetune's adapter learns from: :func:`training_samples`, dev asked as baseline asks, under OUT/finetune."""
    cfg = ws.recipe.finetune
    dev = task_samples(ws, "dev") if cfg.dev_every else []
    return TrainingPlan(training_samples(ws), dev, finetune_dir(ws), cfg.max_seq_tokens)


def ensure_finetuned(ws: Workspace, *, strict: bool | None = None, plan: TrainingPlan | None = None) -> TrainedModel:
    """The trained model for the recipe: reused when current, else checked, trained (or resumed) and saved.
    ``plan``: what to train on and where (default: finetune's, :func:`finetune_plan`).

    Raises:
        DataError: an evaluation example is in the training data, or (strict) any data-check finding.
        ModelError: the recipe's model cannot be trained (an endpoint).
    """
    cfg = ws.recipe.finetune
    base = base_model_dir(ws)
    plan = plan or finetune_plan(ws)
    samples, out = plan.samples, plan.out
    canaries = planted_canaries(ws)
    if canaries:
        write_canaries(out / "canaries.json", canaries)
    else:
        (out / "canaries.json").unlink(missing_ok=True)
    strict = cfg.strict if strict is None else strict
    rows = _checked_rows(ws, samples, evaluation_examples(ws), out, strict, plan.max_tokens)
    dev = tokenize(plan.dev, ws.generator.tokenizer, plan.max_tokens) if cfg.dev_every else []

    def train(at: Workspace, where: Path) -> TrainedModel:
        fingerprint = _fingerprint(at, rows, base, dev=dev)
        return _current(at, where, fingerprint) or _train(at, rows, base, fingerprint, where, samples=samples, dev=dev)

    rates = learning_rates(ws, bool(dev))
    if len(rates) == 1:
        return train(ws, out)
    return search_rates(ws, rates, out, train, lambda fingerprint: _current(ws, out, fingerprint))


def continue_finetuned(
    ws: Workspace, start: TrainedModel, samples: list[Sample], out: Path, eval_examples, max_tokens: int | None = None
) -> TrainedModel:
    """``start``'s model trained further on ``samples`` (``ws.recipe.finetune``'s steps and settings), saved
    under ``out/model``; ``start`` is never modified. Reused when ``out`` holds the same continuation.
    ``max_tokens``: the longest sequence (default ``finetune.max_seq_tokens``).

    Raises:
        DataError: a training record repeats one of ``eval_examples`` (or, strict, any data-check finding).
    """
    base = base_model_dir(ws)
    cfg = ws.recipe.finetune
    rows = _checked_rows(ws, samples, eval_examples, out, cfg.strict, max_tokens or cfg.max_seq_tokens)
    fingerprint = _fingerprint(ws, rows, base, start.manifest["fingerprint"])
    return _current(ws, out, fingerprint) or _train(ws, rows, base, fingerprint, out, samples=samples, init=start)


def _checked_rows(
    ws: Workspace, samples: list[Sample], eval_examples, out: Path, strict: bool, max_tokens: int
) -> list[dict]:
    """Check the training data against the evaluated examples (report in ``out/checks.json``), then tokenize
    (cut to ``max_tokens``)."""
    records = [s.record for s in samples]
    report = check_training_data(records, eval_examples, max_tokens=max_tokens, count_tokens=ws.generator.count_tokens)
    write_json_atomic(out / "checks.json", report.to_dict())
    for f in report.findings:
        ws.reporter.log(f"data check {f.severity}: {f.check}: {f.message}")
    report.raise_if(strict)
    return tokenize(samples, ws.generator.tokenizer, max_tokens)


def _current(ws: Workspace, out: Path, fingerprint: str) -> TrainedModel | None:
    """The model saved in ``out/model`` if it was trained from exactly this fingerprint."""
    manifest_path = out / "model" / MANIFEST
    if manifest_path.is_file():
        manifest = read_json_artifact(manifest_path, MANIFEST_KEYS, "training manifest")
        if manifest["fingerprint"] == fingerprint:
            ws.reporter.log(f"finetune: using the trained model in {manifest_path.parent} ({manifest['steps']} steps)")
            return TrainedModel(manifest_path.parent, manifest)
    return None


def _last_checkpoint(directory: Path) -> Path | None:
    found = [
        (int(m.group(1)), p) for p in directory.glob("checkpoint-*") if (m := re.fullmatch(r"checkpoint-(\d+)", p.name))
    ]
    return max(found)[1] if found else None


def _trainer_class():
    import torch
    from transformers import Trainer

    class AtomicTrainer(Trainer):
        """Writes each checkpoint under ``.staging`` and renames it into place once complete."""

        _staging = False

        def compute_loss(self, model, inputs, *args, **kwargs):
            # A packed batch says how many tokens it stands for; the model takes no such argument.
            inputs = {k: v for k, v in inputs.items() if k != "sequence_tokens"}
            return super().compute_loss(model, inputs, *args, **kwargs)

        def _track_num_input_tokens(self, inputs) -> None:
            # Packed rows hold a shared prefix once: count the tokens of the sequences, as padded batches do.
            if "sequence_tokens" not in inputs:
                return super()._track_num_input_tokens(inputs)
            tokens = torch.as_tensor(inputs["sequence_tokens"], device=self.args.device, dtype=torch.int64)
            self.state.num_input_tokens_seen += self.accelerator.gather(tokens).sum().item()

        def _get_output_dir(self, trial):
            final = super()._get_output_dir(trial)
            return os.path.join(final, ".staging") if self._staging else final

        def _save_checkpoint(self, model, trial) -> None:
            # Several processes write one checkpoint (rank 0 the weights and optimizer, each its RNG
            # state): rank 0 alone clears the staging area and renames, with every process in step.
            final = Path(super()._get_output_dir(trial))
            main, sync = self.args.should_save, self.accelerator.wait_for_everyone
            if main:
                shutil.rmtree(final / ".staging", ignore_errors=True)
            sync()
            self._staging = True
            try:
                super()._save_checkpoint(model, trial)
            finally:
                self._staging = False
            sync()
            if main:
                name = f"checkpoint-{self.state.global_step}"
                shutil.rmtree(final / name, ignore_errors=True)  # a rerun past the same step replaces it
                os.replace(final / ".staging" / name, final / name)
                shutil.rmtree(final / ".staging", ignore_errors=True)
                kept = sorted((int(p.name.split("-")[1]), p) for p in final.glob("checkpoint-*"))
                for _, old in kept[:-KEEP_CHECKPOINTS]:
                    shutil.rmtree(old, ignore_errors=True)
            sync()

    return AtomicTrainer


def _progress_callback(ws: Workspace, total: int, curve: list[dict[str, float]]):
    from transformers import TrainerCallback

    every = max(1, total // 10)  # a loss line every tenth of the run, beside the bar

    class Progress(TrainerCallback):
        def on_train_begin(self, args, state, control, **kwargs):
            self.last, self.tokens = time.perf_counter(), int(state.num_input_tokens_seen or 0)
            self.task = ws.reporter.task("finetune", total)
            self.advance = self.task.__enter__()
            if state.global_step:
                ws.reporter.log(f"finetune: resuming at step {state.global_step} of {total}")
                self.advance(state.global_step)

        def on_step_end(self, args, state, control, **kwargs):
            self.advance(1)

        def on_log(self, args, state, control, logs=None, **kwargs):
            if logs and "loss" in logs:
                now = time.perf_counter()
                seen = int(state.num_input_tokens_seen or 0)
                rate = (seen - self.tokens) / max(now - self.last, 1e-9)  # this logging interval only
                self.last, self.tokens = now, seen
                if state.global_step % every == 0 or state.global_step == total:
                    ws.reporter.log(
                        f"finetune: step {state.global_step}/{total}  loss {logs['loss']:.3f}  "
                        f"lr {logs.get('learning_rate', 0.0):.2e}  {rate:.0f} tokens/s"
                    )
                curve.append(
                    {
                        "step": state.global_step,
                        "loss": round(float(logs["loss"]), 5),
                        "learning_rate": float(logs.get("learning_rate", 0.0)),
                        "tokens_seen": seen,
                        "tokens_per_s": round(rate, 1),
                    }
                )

        def on_train_end(self, args, state, control, **kwargs):
            self.task.__exit__(None, None, None)

    return Progress()


@dataclass(frozen=True)
class _Job:
    """One training run: the rows it trains on, the model it starts from, where it writes."""

    ws: Workspace
    rows: list[dict[str, list[int]]]
    base: Path
    fingerprint: str
    out: Path
    init: TrainedModel | None
    per_step: int  # sequences per optimizer step

    @property
    def checkpoints(self) -> Path:
        return self.out / "checkpoints"


def _train(
    ws: Workspace,
    rows: list[dict[str, list[int]]],
    base: Path,
    fingerprint: str,
    out: Path,
    *,
    samples: list[Sample],
    init: TrainedModel | None = None,
    dev: list[dict[str, list[int]]] = (),
) -> TrainedModel:
    """Train (``init``: continue training that model instead of a new adapter) and save under ``out``;
    with ``dev`` rows, choose the step kept by their loss (see the module docstring)."""
    import torch

    _quiet_transformers()
    cfg, cuda = ws.recipe.finetune, torch.cuda.is_available()
    # bf16 where the model runs in bf16 (model.dtype): on a GPU the weights too; on a CPU the weights stay
    # float32 and each step autocasts to bf16 (mixed precision), as AdamW's small updates need float32.
    bf16 = getattr(ws.generator, "dtype", "float32") == "bfloat16"
    job = _Job(ws, rows, base, fingerprint, out, init, cfg.batch_size * cfg.grad_accum * world_size())
    counts = Counter(s.record.source for s in samples)
    ws.reporter.log(f"finetune: {len(rows)} sequences ({', '.join(f'{n} {src}' for src, n in counts.items())})")
    keep_freed_memory()  # every step re-allocates activations: see tailor/allocator.py
    model = _trainable_model(ws, base, init, torch.bfloat16 if bf16 and cuda else torch.float32)
    total = cfg.max_steps if cfg.epochs is None else max(1, math.ceil(cfg.epochs * len(rows) / job.per_step))
    args = _training_args(ws, job.checkpoints, total, bf16=bf16, cuda=cuda)
    # Resolving the device sets up the processes: under accelerate launch / torchrun it joins the group
    # (gloo on CPU); alone, a single-process state whose barriers return at once.
    _ = args.device
    state = args.distributed_state
    _reset_stale_checkpoints(ws, state, job.checkpoints, fingerprint)
    pad = ws.generator.tokenizer.pad_token_id
    curve: list[dict[str, float]] = []
    watch = DevWatch(ws, list(dev), cfg.dev_every, cfg.patience, pad, total, bf16) if dev and cfg.dev_every else None
    callbacks = [_progress_callback(ws, total, curve), *([watch.callback()] if watch else [])]
    trainer = _trainer(ws, model, args, rows, pad, callbacks)
    resume = _last_checkpoint(job.checkpoints)
    start = time.perf_counter()
    result = trainer.train(resume_from_checkpoint=str(resume) if resume else None)
    train_s = time.perf_counter() - start
    if watch is not None:
        watch.keep_best(trainer.model, trainer.state.global_step)
    history = [r for r in trainer.state.log_history if "loss" in r]
    manifest = _manifest(job, trainer.state, result.training_loss, resume, train_s, state.num_processes, watch)
    _save_run(job, trainer.model, manifest, _curve(history, curve), state)
    ws.reporter.log(
        f"finetune: {manifest['steps']} steps in {train_s:.0f} s, final loss {manifest['final_loss']:.3f}, "
        f"{manifest['tokens_per_s']:.0f} tokens/s → {out / 'model'}"
    )
    return TrainedModel(out / "model", manifest)


def _quiet_transformers() -> None:
    """transformers' own progress bars and notices off: tailor's progress line and loss curve replace them."""
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    # transformers calls its own deprecated property while training; nothing a user can act on.
    warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)


def _trainable_model(ws: Workspace, base: Path, init: TrainedModel | None, dtype):
    """The model to train in ``dtype``: ``init``'s (its adapter trainable again, or its full weights), else
    ``base`` with a new LoRA adapter (``finetune.method`` lora) or all its weights (full)."""
    from transformers import AutoModelForCausalLM, set_seed

    cfg = ws.recipe.finetune
    set_seed(ws.recipe.seed)  # before the adapter exists: LoRA's A matrices are drawn at random
    full = init is not None and not (init.model_dir / "adapter_config.json").is_file()
    model = AutoModelForCausalLM.from_pretrained(str(init.model_dir if full else base), dtype=dtype)
    if init is not None and not full:
        from peft import PeftModel

        return PeftModel.from_pretrained(model, str(init.model_dir), is_trainable=True)
    if cfg.method == "lora" and init is None:
        from peft import get_peft_model

        return get_peft_model(model, lora_config(cfg))
    return model


def _training_args(ws: Workspace, checkpoints: Path, total: int, *, bf16: bool, cuda: bool):
    """transformers' TrainingArguments for ``total`` optimizer steps of the recipe's ``finetune:`` settings."""
    from transformers import TrainingArguments

    cfg = ws.recipe.finetune
    return TrainingArguments(
        output_dir=str(checkpoints),
        max_steps=total,
        per_device_train_batch_size=cfg.batch_size,
        gradient_accumulation_steps=cfg.grad_accum,
        learning_rate=cfg.learning_rate,
        warmup_steps=cfg.warmup_steps,
        lr_scheduler_type="linear",
        logging_steps=1,
        save_strategy="steps",
        save_steps=cfg.save_steps,
        report_to=[],
        disable_tqdm=True,
        seed=ws.recipe.seed,
        data_seed=ws.recipe.seed,
        use_cpu=not cuda,
        bf16=bf16,
        activation_checkpointing=cfg.gradient_checkpointing,
        # Packed batches have no padding; padded ones pad least when their sequences are alike in length.
        train_sampling_strategy="random" if cfg.packing else "group_by_length",
        include_num_input_tokens_seen="all" if cfg.packing else "non_padding",  # packed rows have no padding
        remove_unused_columns=False,
        dataloader_num_workers=0,
    )


def _reset_stale_checkpoints(ws: Workspace, state, checkpoints: Path, fingerprint: str) -> None:
    """Checkpoints made under other settings or data are removed (their data position would be wrong), then
    ``checkpoints`` is stamped with ``fingerprint``; the main process does it while the others wait."""
    stamp = checkpoints / "fingerprint"
    if state.is_main_process:
        if checkpoints.exists() and (not stamp.is_file() or stamp.read_text() != fingerprint):
            ws.reporter.log("finetune: settings or data changed since the last checkpoints; starting over")
            shutil.rmtree(checkpoints)
        checkpoints.mkdir(parents=True, exist_ok=True)
        write_text_atomic(stamp, fingerprint)
    state.wait_for_everyone()


def _trainer(ws: Workspace, model, args, rows: list[dict[str, list[int]]], pad: int | None, callbacks: list):
    """The atomic-checkpoint trainer over ``rows``, packed or padded as ``finetune.packing`` says;
    ``callbacks`` report progress and watch dev loss in place of transformers' printed logs."""
    from transformers.trainer_callback import PrinterCallback

    cfg = ws.recipe.finetune
    trainer = _trainer_class()(
        model=model,
        args=args,
        train_dataset=rows,
        data_collator=pack_batch if cfg.packing else (lambda batch: pad_batch(batch, pad)),
        compute_loss_func=packed_loss if cfg.packing else None,
        callbacks=callbacks,
    )
    trainer.remove_callback(PrinterCallback)  # tailor's progress line and loss curve replace its dict prints
    return trainer


def _manifest(
    job: _Job,
    trained,
    training_loss: float,
    resume: Path | None,
    train_s: float,
    processes: int,
    watch: DevWatch | None,
) -> dict[str, Any]:
    """What a finished run writes beside its model (``MANIFEST_KEYS``, in that order); ``trained``: the
    trainer's state, ``resume``: the checkpoint it started from."""
    cfg, sequences = job.ws.recipe.finetune, len(job.rows)
    history = [r for r in trained.log_history if "loss" in r]
    return {
        "fingerprint": job.fingerprint,
        "method": cfg.method,
        "base_model": str(job.base),
        "steps": trained.global_step,
        "final_loss": history[-1]["loss"] if history else None,
        "train_loss": training_loss,
        "resumed_from_step": int(resume.name.split("-")[1]) if resume else 0,
        "train_s": round(train_s, 2),
        "tokens_seen": int(trained.num_input_tokens_seen or 0),
        "tokens_per_s": round((trained.num_input_tokens_seen or 0) / max(train_s, 1e-9), 1),
        "sequences": sequences,
        "processes": processes,
        "settings": cfg.model_dump(),
        **({"continued_from": str(job.init.model_dir)} if job.init is not None else {}),
        "epochs": round(trained.global_step * job.per_step / max(sequences, 1), 3),
        "steps_per_epoch": round(sequences / job.per_step, 2),
        **({"dev": watch.summary(trained.global_step)} if watch is not None else {}),
    }


def _save_run(job: _Job, model, manifest: dict[str, Any], curve: list[dict[str, float]], state) -> None:
    """The main process writes the model with its manifest and the loss curve, then drops the checkpoints;
    every process waits for it."""
    if state.is_main_process:
        tokenizer = job.ws.generator.tokenizer if job.ws.recipe.finetune.method == "full" else None
        _save_model(model, tokenizer, job.out / "model", manifest)
        # The whole curve: the trainer state carries the steps before a resume, this run's callback the rest.
        write_json_atomic(job.out / "loss_curve.json", {"rows": curve})
        shutil.rmtree(job.checkpoints, ignore_errors=True)
    state.wait_for_everyone()


def _curve(history: list[dict[str, Any]], live: list[dict[str, float]]) -> list[dict[str, float]]:
    rates = {r["step"]: r["tokens_per_s"] for r in live}
    return [
        {
            "step": r["step"],
            "loss": r["loss"],
            "learning_rate": r.get("learning_rate", 0.0),
            "tokens_per_s": rates.get(r["step"]),
        }
        for r in history
    ]


def _save_model(model, tokenizer, target: Path, manifest: dict[str, Any]) -> None:
    """Write the adapter (or full model and its tokenizer) beside ``target``; swap it in with renames."""
    staging = target.with_name(target.name + ".staging")
    shutil.rmtree(staging, ignore_errors=True)
    model.save_pretrained(str(staging))  # peft: adapter_config.json + adapter_model.safetensors
    if tokenizer is not None:
        tokenizer.save_pretrained(str(staging))
    write_json_atomic(staging / MANIFEST, manifest)
    replace_dir(staging, target)
