"""Freshness suite: after the documents change, rag re-ingests and reflects it; the old version's artifacts stay."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import yaml

from tailor.data.world import evolve_world, generate_world, write_world
from tailor.errors import RecipeError
from tailor.eval.base import SuiteInput
from tailor.eval.runner import evaluate
from tailor.eval.suites.freshness import freshness_suite
from tailor.recipe_file import load_recipe
from tailor.scaffold import DEMO_SCALE, init_project
from tailor.strategies import build_strategy
from tailor.workspace import open_workspace


def _project(root: Path, strategies: list[str], fraction: float | None = None, steps: int = 4, **eval_) -> Path:
    """The tiny demo project, QA dataset only; ``fraction``: evolve version 2 further than the demo does."""
    recipe_path = init_project(root, size="tiny", demo=DEMO_SCALE["tiny"])
    if fraction is not None:
        v1 = generate_world(0, "tiny")
        v2, changes = evolve_world(v1, seed=0, fraction=fraction)
        write_world(v2, root / "world-v2", changes, previous=v1)
    recipe = yaml.safe_load(recipe_path.read_text())
    recipe["strategies"] = strategies
    recipe["suites"] = ["freshness"]
    recipe["data"]["examples"] = recipe["data"]["examples"][:1]
    recipe["eval"] |= {"limit": 1, **eval_}
    recipe["finetune"]["max_steps"] = steps
    recipe["prompt"] = {"candidates": 2, "dev_size": 4, "confirm_size": 2}  # searches run, as little as they can
    recipe_path.write_text(yaml.safe_dump(recipe))
    return recipe_path


def _hashes(directory: Path) -> dict[str, str]:
    return {
        str(p.relative_to(directory)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(directory.rglob("*"))
        if p.is_file() and p.name != ".lock"
    }


def test_demo_world_v2_keeps_unchanged_documents_byte_for_byte_and_asks_about_changed_facts(tmp_path: Path) -> None:
    init_project(tmp_path, size="tiny", demo=DEMO_SCALE["tiny"])
    v1, v2 = _hashes(tmp_path / "world" / "docs"), _hashes(tmp_path / "world-v2" / "docs")
    changes = [json.loads(line) for line in (tmp_path / "world-v2" / "changes.jsonl").read_text().splitlines()]
    touched = {f"{c['doc_id']}.md" for c in changes}
    same = {p for p in v1.keys() & v2.keys() if v1[p] == v2[p]}
    assert same and not {Path(p).name for p in same} & touched  # what an incremental ingest skips
    assert all(Path(p).name in touched for p in (v1.keys() | v2.keys()) - same)
    asked = [json.loads(line) for line in (tmp_path / "world-v2" / "changed_qa.jsonl").read_text().splitlines()]
    by_id = {c["fact_id"]: c for c in changes}
    assert [a["id"] for a in asked] == [c["fact_id"] for c in changes if c["kind"] == "changed"] + [
        c["fact_id"] for c in changes if c["kind"] == "added"
    ]
    for a in asked:
        assert a["answer"] == by_id[a["id"]]["new"]
        assert a["metadata"].get("old_answer") == by_id[a["id"]]["old"]


def test_a_missing_freshness_examples_file_is_a_one_line_recipe_error(tmp_path: Path) -> None:
    recipe_path = _project(tmp_path, ["baseline"])
    (tmp_path / "world-v2" / "changed_qa.jsonl").unlink()
    with pytest.raises(RecipeError) as err:
        load_recipe(recipe_path)
    (line,) = str(err.value).splitlines()
    assert "eval.freshness.examples" in line and str(tmp_path / "world-v2" / "changed_qa.jsonl") in line


def test_rows_carry_n_and_intervals_and_only_non_train_questions_are_asked(tmp_path: Path, scripted) -> None:
    recipe_path = _project(tmp_path, ["baseline", "prompt"], freshness_questions=50)
    recipe = load_recipe(recipe_path)
    ws = open_workspace(recipe, generator=scripted(lambda messages: "It is 14 days."))
    results = evaluate(ws)
    rows = {(r["strategy"], r["metric"]): r for r in results["results"]}
    asked = [
        e
        for e in map(json.loads, (tmp_path / "world-v2" / "changed_qa.jsonl").read_text().splitlines())
        if e["split"] != "train"
    ]
    stale = [e for e in asked if "old_answer" in e["metadata"]]
    for strategy in ("baseline", "prompt"):
        for when in ("before", "after"):
            f1 = rows[(strategy, f"changed_f1_{when}")]
            assert f1["n"] == len(asked) and f1["ci_low"] <= f1["value"] <= f1["ci_high"]
            assert rows[(strategy, f"stale_rate_{when}")]["n"] == len(stale)
        assert rows[(strategy, "update_s")]["n"] == 1
    assert rows[("baseline", "update_s")]["value"] == 0.0
    assert rows[("baseline", "changed_f1_before")]["value"] == rows[("baseline", "changed_f1_after")]["value"]
    tuned = json.loads((recipe.out_dir / "prompt" / "qa.json").read_text())
    assert rows[("prompt", "full_rebuild_s")]["value"] == pytest.approx(tuned["tune_s"], abs=1e-3)
    answers = (recipe.out_dir / "freshness" / "answers.jsonl").read_text().splitlines()
    assert len(answers) == 2 * len(asked)


@pytest.mark.slow
def test_rag_reflects_the_change_after_reingesting_a_copy_and_the_adapter_is_trained_further_beside_the_old(
    tmp_path: Path, real_generator
) -> None:
    strategies = ["baseline", "rag", "rag+finetune"]  # rag+finetune: both updates, each done once
    # The five changed facts outside the train split (fraction 1 changes more than the demo's world).
    recipe_path = _project(tmp_path, strategies, fraction=1.0, steps=2, freshness_questions=5)
    ws = open_workspace(load_recipe(recipe_path), generator=real_generator)
    out, dataset = ws.recipe.out_dir, ws.datasets[0]
    built = tuple(build_strategy(name, ws, dataset).strategy for name in strategies)
    index_v1, adapter_v1 = _hashes(out / "index"), _hashes(out / "finetune" / "model")

    found = freshness_suite(SuiteInput(dataset, (), (), built, ws.recipe.seed, ws))

    rows = {(r.strategy, r.metric): r for r in found}
    assert _hashes(out / "index") == index_v1 and _hashes(out / "finetune" / "model") == adapter_v1
    assert all(r.n >= 1 and r.suite == "freshness" for r in found)
    assert all(r.ci_low is not None for r in found if r.metric.startswith(("changed_f1", "stale_rate")))
    assert rows[("baseline", "update_s")].value == 0.0
    # Measured with the real model: the re-ingested index answers with the new values, not the old.
    f1_before, f1_after = rows[("rag", "changed_f1_before")], rows[("rag", "changed_f1_after")]
    assert f1_before.n == rows[("rag", "stale_rate_before")].n == 5 and f1_after.value >= f1_before.value
    assert rows[("rag", "stale_rate_after")].value < rows[("rag", "stale_rate_before")].value
    # Incremental: only the documents that changed were embedded again.
    changed = rows[("rag", "docs_reembedded")]
    assert 0 < changed.value < changed.n == len(list((tmp_path / "world-v2" / "docs").rglob("*.md")))
    # The adapter was trained further, beside the original; the update is the ingest plus that training.
    manifest = json.loads((out / "freshness" / "finetune" / "model" / "train.json").read_text())
    assert manifest["continued_from"] == str(out / "finetune" / "model")
    assert rows[("rag+finetune", "retrain_steps")].value == manifest["steps"] == DEMO_SCALE["tiny"].retrain_steps
    assert rows[("rag+finetune", "update_s")].value == pytest.approx(
        rows[("rag", "update_s")].value + manifest["train_s"], abs=2e-3
    )
    assert rows[("rag+finetune", "full_rebuild_s")].value > rows[("rag", "full_rebuild_s")].value > 0

    # The same strategies, with the change simulated instead (no new version named): edits of 12 test
    # answers in copies of their sources. rag goes from stale to fresh as it did on the real version.
    fresh = ws.recipe.eval.model_copy(update={"freshness": None, "freshness_questions": 12})
    simulated = ws.derive(recipe=ws.recipe.model_copy(update={"eval": fresh}))
    found = freshness_suite(SuiteInput(dataset, tuple(dataset.split("test")), (), built[:2], 0, simulated))
    rows = {(r.strategy, r.metric): r for r in found}
    assert rows[("rag", "simulated_edits")].value == rows[("rag", "stale_rate_before")].n == 12
    assert rows[("rag", "stale_rate_after")].value < rows[("rag", "stale_rate_before")].value
    assert rows[("rag", "changed_f1_after")].value > rows[("rag", "changed_f1_before")].value
    assert rows[("rag", "docs_reembedded")].value == 12  # one edited document per question, nothing else
    assert rows[("baseline", "changed_f1_after")].value == rows[("baseline", "changed_f1_before")].value
    unchanged = {k: v for k, v in index_v1.items() if k != "index.json"}  # its log of ingests grows by one no-op
    assert {k: v for k, v in _hashes(out / "index").items() if k != "index.json"} == unchanged


def _simulated(root: Path, strategies: list[str], **eval_) -> Path:
    """The tiny demo project with no new version named: freshness edits copies of its documents."""
    recipe_path = _project(root, strategies, **eval_)
    recipe = yaml.safe_load(recipe_path.read_text())
    del recipe["eval"]["freshness"]
    recipe_path.write_text(yaml.safe_dump(recipe))
    return recipe_path


def test_without_a_new_version_the_change_is_simulated_in_copies_and_marked(tmp_path: Path, scripted) -> None:
    recipe_path = _simulated(tmp_path, ["baseline", "prompt"], limit=12, freshness_questions=4)
    docs_before = _hashes(tmp_path / "world" / "docs")
    recipe = load_recipe(recipe_path)
    results = evaluate(open_workspace(recipe, generator=scripted(lambda messages: "It is 14 days.")))

    edits = [json.loads(line) for line in (recipe.out_dir / "freshness" / "simulated" / "edits.jsonl").open()]
    assert len(edits) == 4 and len({e["doc_id"] for e in edits}) == 4
    asked = {e["id"]: e for e in map(json.loads, (recipe.out_dir / "predictions.jsonl").open())}
    for edit in edits:  # an asked question's answer, changed in a copy of its source
        assert asked[edit["example"]]["gold"] == edit["old"] != edit["new"]
        copy = recipe.out_dir / "freshness" / "simulated" / "docs" / f"{edit['doc_id']}.txt"
        assert edit["new"] in copy.read_text() and edit["old"] not in copy.read_text()
    assert _hashes(tmp_path / "world" / "docs") == docs_before  # the user's documents are never written
    rows = {(r["strategy"], r["metric"]): r for r in results["results"]}
    for strategy in ("baseline", "prompt"):
        assert rows[(strategy, "simulated_edits")]["value"] == 4
        assert rows[(strategy, "stale_rate_before")]["n"] == rows[(strategy, "changed_f1_after")]["n"] == 4
    answers = [json.loads(line) for line in (recipe.out_dir / "freshness" / "answers.jsonl").open()]
    assert {(a["answer"], a["old_answer"]) for a in answers} == {(e["new"], e["old"]) for e in edits}
    assert all(a["simulated"] for a in answers)


def test_a_new_version_needs_both_its_documents_and_its_questions(tmp_path: Path) -> None:
    recipe_path = _project(tmp_path, ["baseline"])
    recipe = yaml.safe_load(recipe_path.read_text())
    del recipe["eval"]["freshness"]["examples"]
    recipe_path.write_text(yaml.safe_dump(recipe))
    with pytest.raises(RecipeError) as err:
        load_recipe(recipe_path)
    (line,) = str(err.value).splitlines()
    assert "eval.freshness" in line and "corpus is set but examples is not" in line
