"""Saved searches: files written by earlier versions still load, fingerprints and build info stay as they were
(answer-cache keys digest the build info), and a file that is unreadable or stale is searched again."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tailor.progress import SilentReporter
from tailor.prompt.search import TunedPrompt, ensure_tuned, prompt_path, saved_prompt
from tailor.prompt.search import fingerprint as prompt_fingerprint
from tailor.rag.search import TunedRag, ensure_rag_tuned, saved_rag, tuned_path
from tailor.rag.search import fingerprint as rag_fingerprint
from tailor.recipe_file import load_recipe
from tailor.strategies.prompt import build
from tailor.workspace import Workspace, open_workspace

# Written by `ensure_tuned` and `ensure_rag_tuned` (commit 3da6f1e) on the fixed project (tests/conftest.py),
# with a model that answers every question right.
SAVED = Path(__file__).parent / "saved_searches"


class _Lines(SilentReporter):
    def __init__(self) -> None:
        self.lines: list[str] = []

    def log(self, message: str) -> None:
        self.lines.append(message)


@pytest.fixture
def ws(tmp_path, scripted, fixed_project) -> Workspace:
    """The fixed project, with a model that fails the test if a search asks it anything."""
    never = scripted(lambda messages: pytest.fail(f"searched again: {messages[-1]['content']!r}"))
    ws = open_workspace(load_recipe(fixed_project(tmp_path / "proj")), reporter=_Lines(), generator=never)
    ws.reporter.lines.clear()  # what opening it said
    return ws


def _saved(name: str) -> dict:
    return json.loads((SAVED / name).read_text())


def test_fingerprints_of_a_fixed_project_are_unchanged(ws) -> None:
    """Computed before the saved-search mechanism was shared; another value would make every saved search
    stale (a recipe section that gains a field changes them too, and rightly)."""
    qa = ws.datasets[0]
    assert prompt_fingerprint(ws, qa) == "86b30a292614abcf"
    assert rag_fingerprint(ws, "rag", qa) == "967185f18ac7d724"
    assert rag_fingerprint(ws, "rag+finetune", qa) == "fbf4b42347d9df0b"
    assert saved_prompt(ws, qa).fingerprint == _saved("prompt_qa.json")["fingerprint"]
    assert saved_rag(ws, "rag", qa).fingerprint == _saved("rag_qa.json")["fingerprint"]


def test_a_saved_prompt_from_before_loads_and_builds_the_same_info(ws) -> None:
    qa = ws.datasets[0]
    path = prompt_path(ws, qa)
    assert path == ws.recipe.out_dir / "prompt" / "qa.json"
    path.parent.mkdir(parents=True)
    shutil.copy(SAVED / "prompt_qa.json", path)
    tuned = ensure_tuned(ws, qa)
    assert ws.reporter.lines == [f"qa: using the tuned prompt in {path} (dev token_f1 1.000)"]
    written = _saved("prompt_qa.json")
    del written["tailor_version"]
    assert tuned.to_json() == written
    assert tuned.bootstrapped == ("t0", "t1") and tuned.leaderboard[1]["spec"]["shots"] == 2
    # What the build reports, in order (results.json) and value (the answer cache's key digests it).
    assert list(build(ws, qa).build.to_json().items()) == [
        ("spec", "instruction in system turn, 0 shots, no context; 'Answer the question.'"),
        ("dev_metric", "token_f1"),
        ("dev_score", 1.0),
        ("n_dev", 2),
        ("confirm_score", 1.0),
        ("n_confirm", 1),
        ("context_coverage", written["coverage"]),
        ("search", {"variants": 2, "calls": 6, "seconds": 0.676}),
    ]


def test_a_saved_rag_prompt_from_before_loads_and_reports_the_same_info(ws) -> None:
    qa = ws.datasets[0]
    path = tuned_path(ws, "rag", qa)
    assert path == ws.recipe.out_dir / "prompt" / "rag" / "qa.json"
    path.parent.mkdir(parents=True)
    shutil.copy(SAVED / "rag_qa.json", path)
    tuned = ensure_rag_tuned(ws, qa, "rag", ws.generator, index=None)  # loaded: no search, no index needed
    assert ws.reporter.lines == [f"qa: rag uses the prompt in {path} (dev 1.000)"]
    written = _saved("rag_qa.json")
    del written["tailor_version"]
    assert tuned.to_json() == written
    assert tuned.spec.k == 3 and tuned.bootstrapped == ("t0", "t1")
    assert list(tuned.choice().to_json().items()) == [
        ("spec", f"k=3, 768 context tokens, 0 shots; {written['spec']['instruction']!r}"),
        ("dev_metric", "token_f1"),
        ("dev_score", 1.0),
        ("n_dev", 2),
        ("confirm_score", 1.0),
        ("n_confirm", 1),
        ("search", {"variants": 2, "calls": 6, "seconds": 0.077}),
    ]


def test_a_prompt_saved_before_held_out_confirmation_still_loads(ws) -> None:
    qa = ws.datasets[0]
    old = _saved("prompt_qa.json")
    for key in ("confirm_score", "n_confirm", "confirmed", "calls", "bootstrapped"):
        del old[key]
    prompt_path(ws, qa).parent.mkdir(parents=True)
    prompt_path(ws, qa).write_text(json.dumps(old))
    tuned = saved_prompt(ws, qa).load(ws.reporter)
    assert tuned is not None and (tuned.confirm_score, tuned.n_confirm, tuned.confirmed) == (None, 0, True)
    assert tuned.bootstrapped == () and tuned.held_out().startswith("no dev examples held out")


def test_saving_writes_every_field_and_reads_back_equal(ws) -> None:
    qa = ws.datasets[0]
    for saved, name, kind in (
        (saved_prompt(ws, qa), "prompt_qa.json", TunedPrompt),
        (saved_rag(ws, "rag", qa), "rag_qa.json", TunedRag),
    ):
        tuned = kind.from_json(_saved(name))
        saved.save(tuned, ws.reporter)
        on_disk = json.loads(saved.path.read_text())
        assert set(on_disk) == set(_saved(name)) and saved.load(ws.reporter) == tuned
    assert ws.reporter.lines[0].startswith("qa: best token_f1 1.000 on dev with instruction in system turn")
    assert "qa: rag's best token_f1 1.000 on dev with k=3" in ws.reporter.lines[-2]
    assert ws.reporter.lines[-1] == "  on 1 held-out dev examples it scores 1.000"


@pytest.mark.parametrize("text", ["{not json", '["a list"]', '{"dataset": "qa"}'])
def test_an_unreadable_saved_search_is_searched_again_with_a_plain_line(ws, text) -> None:
    qa = ws.datasets[0]
    for saved in (saved_prompt(ws, qa), saved_rag(ws, "rag+finetune", qa)):
        saved.path.parent.mkdir(parents=True, exist_ok=True)
        saved.path.write_text(text)
        assert saved.load(ws.reporter) is None
    assert ws.reporter.lines == [
        f"ignoring unreadable tuned prompt {prompt_path(ws, qa)}; tuning again",
        f"ignoring unreadable rag+finetune prompt {tuned_path(ws, 'rag+finetune', qa)}; tuning again",
    ]


def test_a_saved_search_with_another_fingerprint_is_stale(ws) -> None:
    qa = ws.datasets[0]
    path = tuned_path(ws, "rag", qa)
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(_saved("rag_qa.json") | {"fingerprint": "0" * 16}))
    assert saved_rag(ws, "rag", qa).load(ws.reporter) is None
    assert ws.reporter.lines == [f"{path}: data, model or search settings changed since it was tuned; tuning again"]
