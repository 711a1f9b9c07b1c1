"""Fine-tuning's learning-rate search on dev (full mode): which rates train, which is kept, and reuse."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

from tailor.errors import RecipeError
from tailor.finetune.rate_search import learning_rates
from tailor.progress import SilentReporter
from tailor.recipe_file import load_recipe
from tailor.scaffold import init_project
from tailor.workspace import open_workspace


def _recipe(root: Path, mode: str = "full", **finetune) -> Path:
    path = init_project(root, size="tiny")
    recipe = yaml.safe_load(path.read_text())
    recipe["strategies"] = ["baseline", "finetune"]
    recipe["data"]["examples"] = recipe["data"]["examples"][:1]  # qa
    recipe["eval"] = {"mode": mode}
    recipe["finetune"] = finetune
    path.write_text(yaml.safe_dump(recipe))
    return path


def test_full_mode_with_dev_examples_trains_each_factor_and_quick_mode_one_rate(tmp_path: Path) -> None:
    made = iter(range(100))

    def rates(mode: str, has_dev: bool = True, **finetune) -> list[float]:
        recipe = load_recipe(_recipe(tmp_path / str(next(made)), mode, **finetune))
        return learning_rates(SimpleNamespace(recipe=recipe), has_dev)

    assert rates("full", learning_rate=2e-4) == pytest.approx([1e-4, 2e-4, 4e-4])  # the default factors
    assert rates("full", learning_rate=1e-3, learning_rate_factors=[3, 1, 1]) == pytest.approx([1e-3, 3e-3])
    assert rates("quick", learning_rate=2e-4) == [2e-4]
    assert rates("full", has_dev=False, learning_rate=2e-4) == [2e-4]  # nothing to choose on
    assert rates("full", learning_rate=2e-4, learning_rate_factors=[1]) == [2e-4]


def test_a_factor_of_zero_is_a_recipe_error_naming_the_field(tmp_path: Path) -> None:
    with pytest.raises(RecipeError, match=r"finetune\.learning_rate_factors.*above 0"):
        load_recipe(_recipe(tmp_path, learning_rate_factors=[0, 1]))


class _Lines(SilentReporter):
    def __init__(self) -> None:
        self.lines: list[str] = []

    def log(self, message: str) -> None:
        self.lines.append(message)


@pytest.mark.slow
def test_the_lowest_dev_loss_is_installed_with_every_trial_recorded_and_a_rerun_trains_nothing(tmp_path: Path) -> None:
    from tailor.finetune.train import ensure_finetuned

    settings = {"max_steps": 10, "dev_every": 2, "patience": 2, "warmup_steps": 0, "batch_size": 2}
    settings |= {"max_seq_tokens": 64, "lora_r": 4, "knowledge": False, "knowledge_qa": 0, "save_steps": 100}
    path = _recipe(tmp_path, learning_rate=2e-4, learning_rate_factors=[1, 25], **settings)
    reporter = _Lines()
    trained = ensure_finetuned(open_workspace(load_recipe(path), reporter))
    search = trained.manifest["rate_search"]
    trials = {t["learning_rate"]: t for t in search["learning_rates"]}
    assert sorted(trials) == pytest.approx([2e-4, 5e-3])
    assert search["chosen"] == min(trials, key=lambda r: trials[r]["dev_loss"])
    assert trained.manifest["dev"]["best_loss"] == trials[search["chosen"]]["dev_loss"]
    assert trained.manifest["train_s"] == pytest.approx(sum(t["train_s"] for t in trials.values()), abs=0.02)
    # The kept model is the chosen trial's, byte for byte, at OUT/finetune/model.
    out = tmp_path / "runs" / "latest" / "finetune"
    chosen = out / "search" / f"lr-{search['chosen']:.2e}" / "model" / "adapter_model.safetensors"
    assert trained.model_dir == out / "model"
    assert (out / "model" / "adapter_model.safetensors").read_bytes() == chosen.read_bytes()
    assert (out / "loss_curve.json").read_text() == (chosen.parent.parent / "loss_curve.json").read_text()
    assert any("learning rates tried" in line for line in reporter.lines)
    # Run again: every trial and the installed model are reused, nothing is trained.
    again_log = _Lines()
    again = ensure_finetuned(open_workspace(load_recipe(path), again_log))
    assert {k: v for k, v in again.manifest.items() if k != "tailor_version"} == trained.manifest
    assert not any("steps in" in line for line in again_log.lines)
