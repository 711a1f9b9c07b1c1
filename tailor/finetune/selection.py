"""Model selection on dev during training: the step kept is the one whose dev loss is lowest.

Every ``finetune.dev_every`` steps and at the end, the loss on the dev split's answers (asked as
baseline asks them, as training sees the train split) is measured; training stops once
``finetune.patience`` measurements bring no new best (at least ``MIN_IMPROVEMENT`` under it), and
the best measured step's weights are the ones saved. The training manifest's ``dev`` says how
training ended: the curve, the best step, whether it stopped early, and whether dev loss was still
falling at the end (the figures of a model stopped while still improving are a lower bound). After
a resume, the best is chosen among the steps trained since.
"""

from __future__ import annotations

import math
from typing import Any

from tailor.finetune.data import IGNORE, pad_batch
from tailor.workspace import Workspace

MIN_IMPROVEMENT = 0.002  # a dev loss at least 0.2% under the best so far is a new best
DEV_BATCH = 8


class DevWatch:
    """Dev loss during training: measured every ``every`` steps and at step ``total``; training stops after
    ``patience`` measurements without a new best; the best step's trainable weights are kept in memory."""

    def __init__(
        self, ws: Workspace, rows: list[dict], every: int, patience: int | None, pad: int, total: int, bf16: bool
    ):
        self.ws, self.rows, self.every, self.patience, self.pad, self.total = ws, rows, every, patience, pad, total
        self.bf16 = bf16  # measured as training steps run: autocast to bf16 when they do
        self.curve: list[dict[str, float]] = []
        self.best, self.best_step, self.since = math.inf, 0, 0
        self.best_weights: dict[str, Any] | None = None
        self.stopped_early = False

    def callback(self):
        from transformers import TrainerCallback

        watch = self

        class DevLoss(TrainerCallback):
            def on_step_end(self, args, state, control, model=None, **kwargs):
                step = state.global_step
                if step % watch.every == 0 or step >= watch.total:
                    control.should_training_stop |= watch.measure(model, step)

        return DevLoss()

    def measure(self, model: Any, step: int) -> bool:
        """Record the dev loss at ``step``; True when training should stop."""
        loss = dev_loss(model, self.rows, self.pad, self.bf16)
        self.curve.append({"step": step, "dev_loss": round(loss, 5)})
        if loss < self.best * (1 - MIN_IMPROVEMENT):
            self.best, self.best_step, self.since = loss, step, 0
            self.best_weights = {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}
        else:
            self.since += 1
        stop = self.patience is not None and self.since >= self.patience and step < self.total
        self.stopped_early |= stop
        best = "" if self.best_step == step else f" (best {self.best:.3f} at step {self.best_step})"
        self.ws.reporter.log(
            f"finetune: step {step} dev loss {loss:.3f}{best}" + ("; no longer improving, stopping" if stop else "")
        )
        return stop

    def keep_best(self, model: Any, last: int) -> None:
        """Put the best measured step's weights back into ``model`` when training went past it."""
        if self.best_weights is None or self.best_step == last:
            return
        params = dict(model.named_parameters())
        for name, weights in self.best_weights.items():
            params[name].data.copy_(weights)
        self.ws.reporter.log(f"finetune: keeping step {self.best_step}'s weights (dev loss {self.best:.3f})")

    def summary(self, last: int) -> dict[str, Any]:
        """How training ended, for the manifest and the report."""
        falling = len(self.curve) >= 2 and self.best_step == self.curve[-1]["step"] == last
        return {
            "curve": self.curve,
            "examples": len(self.rows),
            "best_step": self.best_step,
            "best_loss": round(self.best, 5) if self.curve else None,
            "stopped_early": self.stopped_early,
            "still_improving": falling,
        }


def dev_loss(model: Any, rows: list[dict[str, list[int]]], pad: int, bf16: bool = False) -> float:
    """Mean loss per answer token of ``rows`` (``input_ids`` and ``labels``), the model in eval mode; with
    ``bf16``, its matrix products autocast to bfloat16."""
    import torch

    training = model.training
    model.eval()
    total, tokens = 0.0, 0
    try:
        with torch.no_grad(), torch.autocast(model.device.type, dtype=torch.bfloat16, enabled=bf16):
            for start in range(0, len(rows), DEV_BATCH):
                batch = {k: v.to(model.device) for k, v in pad_batch(rows[start : start + DEV_BATCH], pad).items()}
                n = int((batch["labels"][:, 1:] != IGNORE).sum())
                total += float(model(**batch, use_cache=False).loss) * n
                tokens += n
    finally:
        model.train(training)
    return total / max(tokens, 1)
