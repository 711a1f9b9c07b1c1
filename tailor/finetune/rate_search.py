"""Fine-tuning's learning rate, chosen on dev (full mode): a small search whose budget the recipe sets.

A fine-tune judged at one learning rate may be judged at a bad one. In ``eval.mode: full``, each
factor in ``finetune.learning_rate_factors`` times ``finetune.learning_rate`` is trained (each with
dev-loss early stopping, so the step count is searched too: ``max_steps`` is the ceiling) under
``OUT/finetune/search/lr-RATE/``; the run with the lowest dev loss is copied to ``OUT/finetune/model``
(its loss curve to ``OUT/finetune/loss_curve.json``), whose manifest records every trial
(``rate_search``) and the time all of them took (``train_s``). Under ``accelerate launch`` every
process trains each trial together and the main process installs the choice. Quick
mode, a single factor, or no dev examples train ``learning_rate`` alone. Every trial is an ordinary
training run keyed by its own settings, so a killed search resumes at the trial it was in, and a
trial at the recipe's own rate is the run a recipe without the search would train.
"""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tailor.artifacts import replace_dir, write_json_atomic, write_text_atomic
from tailor.workspace import Workspace

MANIFEST = "train.json"


def learning_rates(ws: Workspace, has_dev: bool) -> list[float]:
    """The learning rates to train: the recipe's alone unless the search applies (see the module docstring)."""
    cfg = ws.recipe.finetune
    factors = sorted(set(cfg.learning_rate_factors))
    if ws.recipe.eval.mode != "full" or len(factors) < 2 or not has_dev:
        return [cfg.learning_rate]
    return [cfg.learning_rate * f for f in factors]


def at_rate(ws: Workspace, rate: float) -> Workspace:
    """``ws`` whose recipe trains at ``rate`` alone: a trial is the run a recipe without the search would train."""
    cfg = ws.recipe.finetune.model_copy(update={"learning_rate": rate, "learning_rate_factors": [1.0]})
    return ws.derive(recipe=ws.recipe.model_copy(update={"finetune": cfg}))


def search_rates(
    ws: Workspace,
    rates: list[float],
    out: Path,
    train: Callable[[Workspace, Path], Any],
    current: Callable[[str], Any],
):
    """Train at each of ``rates`` (``train(workspace, directory)`` → a TrainedModel, reused when current)
    and keep the lowest dev loss in ``out/model`` (``current(fingerprint)``: that model, if installed)."""
    trials = []
    for i, rate in enumerate(rates, 1):
        ws.reporter.log(f"finetune: learning rate {i} of {len(rates)}: {rate:.2e}")
        trials.append((rate, train(at_rate(ws, rate), out / "search" / f"lr-{rate:.2e}")))
    fingerprint = hashlib.sha256("|".join(t.manifest["fingerprint"] for _, t in trials).encode()).hexdigest()[:16]
    installed = current(fingerprint)
    if installed is not None:
        return installed
    rate, best = min(trials, key=lambda t: t[1].manifest["dev"]["best_loss"])
    record = [
        {
            "learning_rate": r,
            "dev_loss": t.manifest["dev"]["best_loss"],
            "best_step": t.manifest["dev"]["best_step"],
            "steps": t.manifest["steps"],
            "stopped_early": t.manifest["dev"]["stopped_early"],
            "still_improving": t.manifest["dev"]["still_improving"],
            "train_s": t.manifest["train_s"],
        }
        for r, t in trials
    ]
    manifest = {
        **best.manifest,
        "fingerprint": fingerprint,
        "train_s": round(sum(t.manifest["train_s"] for _, t in trials), 2),
        "rate_search": {"learning_rates": record, "chosen": rate},
    }
    ws.reporter.log(
        "finetune: learning rates tried: "
        + ", ".join(f"{r['learning_rate']:.2e} → dev loss {r['dev_loss']:.3f}" for r in record)
        + f"; keeping {rate:.2e}"
    )
    from accelerate import PartialState  # under accelerate launch / torchrun: every process got here

    state = PartialState()
    if state.is_main_process:  # one process writes, as training itself does
        _install(best.model_dir, out / "model", manifest)
        curve = best.model_dir.parent / "loss_curve.json"  # the report's loss curve: the kept run's
        if curve.is_file():
            write_text_atomic(out / "loss_curve.json", curve.read_text(encoding="utf-8"))
    state.wait_for_everyone()
    return type(best)(out / "model", manifest)


def _install(source: Path, target: Path, manifest: dict) -> None:
    """Copy the chosen trial's model to ``target`` with ``manifest``, swapped in with renames."""
    staging = target.with_name(target.name + ".staging")
    shutil.rmtree(staging, ignore_errors=True)
    shutil.copytree(source, staging)
    write_json_atomic(staging / MANIFEST, manifest)
    replace_dir(staging, target)
