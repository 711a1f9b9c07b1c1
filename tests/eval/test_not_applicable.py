"""A suite that cannot measure anything on a run says why, in words: in the log, in results.json, in the
report, and again when its empty result is reused. Never silently nothing."""

from __future__ import annotations

import shutil
from pathlib import Path

import yaml

from tailor.progress import SilentReporter


class Lines(SilentReporter):
    def __init__(self):
        self.lines: list[str] = []

    def log(self, message: str) -> None:
        self.lines.append(message)


def test_every_suite_without_rows_says_why_and_the_report_shows_it(tmp_path: Path, tiny_world_dir, scripted) -> None:
    from tailor.eval.runner import evaluate
    from tailor.recipe_file import load_recipe
    from tailor.report.html import write_report
    from tailor.workspace import open_workspace

    shutil.copytree(tiny_world_dir, tmp_path / "world")
    recipe = {
        "data": {"corpus": ["world/docs/**/*.md"], "examples": [{"path": "world/qa.jsonl"}]},
        "strategies": ["baseline"],
        "suites": ["task", "retrieval", "interpret", "compress", "judge"],
        "eval": {"limit": 3},
        "out": "run",
    }
    (tmp_path / "tailor.yaml").write_text(yaml.safe_dump(recipe))
    log = Lines()
    generator = scripted(lambda messages: "Porto")
    payload = evaluate(open_workspace(load_recipe(tmp_path / "tailor.yaml"), log, generator))
    why = payload["not_applicable"]["qa"]
    assert why == {
        "retrieval": "no strategy put documents in front of the model on this dataset",
        "interpret": "no fine-tuned strategy answered this dataset",
        "compress": "eval.compress lists no variant (bf16, int8, q8_0, q4_k_m) to compare",
        "judge": "eval.judge names no model to grade answers",
    }
    assert all(f"suite {suite} · qa: no rows: {reason}" in log.lines for suite, reason in why.items())
    page = write_report(tmp_path / "run").html.read_text()
    assert "Not measured here" in page and all(reason in page for reason in why.values())

    again = Lines()
    rerun = evaluate(open_workspace(load_recipe(tmp_path / "tailor.yaml"), again, generator))
    assert rerun["not_applicable"] == payload["not_applicable"]  # the reason is saved with the empty result
    assert all(f"suite {suite} · qa: no rows: {reason}" in again.lines for suite, reason in why.items())
