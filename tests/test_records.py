"""What every strategy's build reports stays what it was: results.json's ``builds`` and the answer-cache key
(which digests the report) are pinned here, key order included, on a fixed project with saved searches
written by earlier versions, a real index and training manifests as training writes them."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from tailor.eval.checkpoint import digest
from tailor.finetune.train import TUNED, TrainedModel
from tailor.prompt.search import saved_prompt
from tailor.rag.search import saved_rag
from tailor.recipe_file import load_recipe
from tailor.records import Build, IndexInfo, PromptChoice, TrainingRecord
from tailor.strategies import build_strategy
from tailor.strategies.finetune import FINETUNE
from tailor.strategies.raft import RAFT
from tailor.workspace import Workspace, open_workspace

SAVED = Path(__file__).parent / "prompt" / "saved_searches"  # written by ensure_tuned and ensure_rag_tuned
DEV = {
    "curve": [{"step": 10, "dev_loss": 3.70601}, {"step": 20, "dev_loss": 2.78084}],
    "examples": 63,
    "best_step": 20,
    "best_loss": 2.78084,
    "stopped_early": False,
    "still_improving": True,
}
# As tailor.finetune.train writes a manifest (finetune's: a dev watch, no rate search; raft's: both)
FINETUNE_MANIFEST = {
    "fingerprint": "0123456789abcdef",
    "method": "lora",
    "base_model": "/cache/smollm2-135m-instruct",
    "steps": 20,
    "final_loss": 4.774843215942383,
    "train_loss": 5.01,
    "resumed_from_step": 0,
    "train_s": 108.5,
    "tokens_seen": 16637,
    "tokens_per_s": 153.3,
    "sequences": 688,
    "processes": 1,
    "settings": {"method": "lora", "max_steps": 20},
    "epochs": 0.465,
    "steps_per_epoch": 86.0,
    "dev": DEV,
}
RATES = {"learning_rates": [{"learning_rate": 2e-4, "dev_loss": 2.78084, "steps": 20}], "chosen": 2e-4}
RAFT_MANIFEST = FINETUNE_MANIFEST | {"steps": 12, "train_s": 64.25, "epochs": 1.0, "rate_search": RATES}


@pytest.fixture(scope="module")
def ws(tmp_path_factory, scripted, fixed_project) -> Workspace:
    """The fixed project with its searches saved and both adapters trained (as their manifests say)."""
    root = tmp_path_factory.mktemp("records")
    recipe = fixed_project(root)
    never = scripted(lambda messages: pytest.fail(f"asked: {messages[-1]['content']!r}"))
    ws = open_workspace(load_recipe(recipe), generator=never)
    qa = ws.datasets[0]
    _save(saved_prompt(ws, qa), "prompt_qa.json", {})
    for name in ("rag", "rag+finetune", "raft"):
        _save(saved_rag(ws, name, qa), "rag_qa.json", {"strategy": name})
    for adapter, manifest in ((FINETUNE, FINETUNE_MANIFEST), (RAFT, RAFT_MANIFEST)):
        ws.shared(adapter.trained, lambda m=manifest: TrainedModel(root / "model", m))
        ws.shared(adapter.generator, lambda: never)
    assert ws.shared(TUNED, lambda: None).manifest is FINETUNE_MANIFEST
    return ws


def _save(saved, name: str, changes: dict) -> None:
    """A search written by an earlier version, current for this project (its fingerprint)."""
    saved.path.parent.mkdir(parents=True, exist_ok=True)
    data = json.loads((SAVED / name).read_text()) | changes | {"fingerprint": saved.fingerprint}
    saved.path.write_text(json.dumps(data))


RAG_SPEC = (
    "k=3, 768 context tokens, 0 shots; "
    "'Reply with only the answer: a name, number, date or short phrase, taken from the documents.'"
)
INDEX = {"chunks": 3, "embedder": "wordllama-l2-supercat-256", "index_version": 2}
RAG_CHOICE = {
    "spec": RAG_SPEC,
    "dev_metric": "token_f1",
    "dev_score": 1.0,
    "n_dev": 2,
    "confirm_score": 1.0,
    "n_confirm": 1,
    "search": {"variants": 2, "calls": 6, "seconds": 0.077},
}
FINETUNED = {
    "method": "lora",
    "steps": 20,
    "final_loss": 4.774843215942383,
    "tokens_seen": 16637,
    "tokens_per_s": 153.3,
    "sequences": 688,
    "resumed_from_step": 0,
    "train_s": 108.5,
    "epochs": 0.465,
    "steps_per_epoch": 86.0,
    "dev": DEV,
    "rate_search": None,
}
RAFTED = FINETUNED | {"steps": 12, "train_s": 64.25, "epochs": 1.0, "rate_search": RATES}
# Printed by the code before builds were typed (built.info, and digest(built.info) as the answer-cache key
# takes it): another value here makes every saved answer of every run stale.
BEFORE = {
    "baseline": ({}, "e10808d43975dc400731"),
    "prompt": (
        {
            "spec": "instruction in system turn, 0 shots, no context; 'Answer the question.'",
            "dev_metric": "token_f1",
            "dev_score": 1.0,
            "n_dev": 2,
            "confirm_score": 1.0,
            "n_confirm": 1,
            "context_coverage": [
                {
                    "groups": ["everyone"],
                    "documents_visible": 3,
                    "documents_included": 3,
                    "tokens_visible": 55,
                    "tokens_included": 55,
                    "token_share": 1.0,
                }
            ],
            "search": {"variants": 2, "calls": 6, "seconds": 0.676},
        },
        "a2a300f341194ba2505e",
    ),
    "rag": (INDEX | RAG_CHOICE, "c092f0cd581054705ae2"),
    "finetune": (FINETUNED, "138fc5317c276f1efca2"),
    "rag+finetune": (INDEX | RAG_CHOICE | {"finetune": FINETUNED}, "7b98d6c0e528cbf1a955"),
    "raft": (INDEX | RAG_CHOICE | {"finetune": RAFTED}, "947c2ee014a4984eb000"),
}


@pytest.mark.parametrize("name", list(BEFORE))
def test_every_strategy_reports_its_build_as_before(ws, name) -> None:
    built = build_strategy(name, ws, ws.datasets[0])
    reported, key = BEFORE[name]
    got = built.build.to_json()
    assert json.dumps(got) == json.dumps(reported)  # keys, order, values and their types (86.0, not 86)
    assert digest(got) == key
    # read back as the cost and task suites and the recommendation read it: the same record
    assert Build.from_json({"build_s": round(built.build_s, 3), **got}) == replace(
        built.build, build_s=round(built.build_s, 3)
    )


def test_build_costs_add_up_as_before(ws) -> None:
    """prompt's build is its search; finetune's its training; rag's the index and its search; rag+finetune's
    and raft's rag's and their training."""
    cost = {name: build_strategy(name, ws, ws.datasets[0]).build_s for name in BEFORE}
    assert cost["baseline"] == 0.0 and cost["prompt"] == 0.676 and cost["finetune"] == 108.5
    assert cost["rag"] > 0.077
    assert cost["rag+finetune"] == pytest.approx(cost["rag"] + 108.5)
    assert cost["raft"] == pytest.approx(cost["rag"] + 64.25)


def test_a_build_is_read_where_its_training_is_kept() -> None:
    alone = Build.from_json({"build_s": 108.5, **FINETUNED})
    behind = Build.from_json({"build_s": 110.0, **INDEX, **RAG_CHOICE, "finetune": FINETUNED})
    assert alone.training == behind.training == TrainingRecord.from_manifest(FINETUNE_MANIFEST)
    assert alone.index is alone.prompt is None and not alone.extra
    assert behind.index == IndexInfo(3, "wordllama-l2-supercat-256", 2) and behind.prompt.search.calls == 6
    assert Build.from_json({"build_s": 0.0, **INDEX, **RAG_CHOICE}).training is None


def test_what_a_build_does_not_type_is_kept_and_written_last() -> None:
    """A plug-in's own figures, and a key a newer version wrote, survive a read and a write."""
    build = Build.from_json({"build_s": 0.25, "loud": True, **INDEX, "model": "qwen-0.5b"})
    assert build.extra == {"loud": True} and build.model == "qwen-0.5b"
    assert list(build.to_json()) == [*INDEX, "model", "loud"]
    assert Build(0.25, extra={"loud": True}).to_json() == {"loud": True}


def test_an_empty_static_block_is_reported_and_an_old_build_reads() -> None:
    """routing's prompt holds no documents: its coverage is an empty list, not left out. A build written
    before searches recorded their effort still reads, without one."""
    routed = replace(PromptChoice.from_json(RAG_CHOICE), context_coverage=())
    assert list(routed.to_json())[-2:] == ["context_coverage", "search"] and routed.to_json()["context_coverage"] == []
    old = PromptChoice.from_json({"spec": "s", "dev_metric": "accuracy", "dev_score": 0.5, "n_dev": 12})
    assert old.search is None and old.confirm_score is None and "search" not in old.to_json()
