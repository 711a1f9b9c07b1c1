"""raft: the fine-tuning questions shown as rag shows them, the chunk with the answer among distractors."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
import yaml

from tailor.eval.metrics import normalize_answer
from tailor.finetune.data import tokenize, training_samples
from tailor.finetune.raft import context, raft_plan, raft_samples
from tailor.progress import SilentReporter
from tailor.rag.index import Hit
from tailor.rag.pipeline import ensure_index
from tailor.rag.store import Chunk
from tailor.recipe_file import load_recipe
from tailor.scaffold import init_project
from tailor.workspace import open_workspace


def _hit(i: int, text: str) -> Hit:
    chunk = Chunk(f"d{i}#h#0", f"d{i}", f"Doc {i}", "", frozenset({"all"}), text, 0, 1, "h")
    return Hit(chunk, 1.0 / (i + 1))


HITS = [_hit(0, "Offices open at nine."), _hit(1, "The warranty runs 5 years."), _hit(2, "Parking is free.")]
HITS += [_hit(3, "Ask the front desk."), _hit(4, "A 5 years warranty, again.")]


def test_the_chunk_with_the_answer_is_shown_among_distractors_left_out_or_left_as_retrieved() -> None:
    shown, how = context(HITS, "5 years", True, 3, random.Random(0))
    assert how == "with the answer among distractors"
    # The best chunk holding the answer and the k - 1 best others, nothing else, in some order.
    assert sorted(h.chunk.doc_id for h in shown) == ["d0", "d1", "d2"]
    assert len({h.score for h in shown}) == 1  # an mmr rerank keeps all of them
    orders = {tuple(h.chunk.doc_id for h in context(HITS, "5 years", True, 3, random.Random(s))[0]) for s in range(20)}
    assert len(orders) > 1 and any(o[0] != "d1" for o in orders)  # not always first

    hidden, how = context(HITS, "5 years", False, 3, random.Random(0))
    assert how == "with distractors only"
    assert [h.chunk.doc_id for h in hidden] == ["d0", "d2", "d3"]  # rank order, every chunk with it dropped

    assert context(HITS, "12 days", True, 3, random.Random(0)) == (HITS, "with the answer in no retrieved chunk")
    assert context(HITS, "5 years", None, 3, random.Random(0)) == (HITS, "as retrieved")


class _Lines(SilentReporter):
    def __init__(self) -> None:
        self.lines: list[str] = []

    def log(self, message: str) -> None:
        self.lines.append(message)


def _recipe(root: Path, strategies: list[str], raft: dict | None = None, **finetune) -> Path:
    path = init_project(root, size="tiny")
    recipe = yaml.safe_load(path.read_text())
    recipe["strategies"] = strategies
    recipe["data"]["examples"] = recipe["data"]["examples"][:1]  # qa
    recipe["finetune"] = finetune
    recipe["raft"] = raft or {}
    path.write_text(yaml.safe_dump(recipe))
    return path


def _counts(lines: list[str], what: str) -> dict[str, int]:
    line = next(line for line in lines if line.startswith("raft: ") and what in line)
    return {how.split(" ", 1)[1]: int(how.split(" ", 1)[0]) for how in line.split(": ", 2)[2].split(", ")}


def test_raft_trains_on_finetunes_records_with_every_question_shown_with_the_chunks_its_asker_may_read(
    tmp_path: Path,
) -> None:
    ws = open_workspace(load_recipe(_recipe(tmp_path, ["rag", "raft"])), _Lines())
    index = ensure_index(ws).index
    plain, samples = training_samples(ws), raft_samples(ws, index)
    assert [s.record for s in samples] == [s.record for s in plain]  # the same records, in the same order
    questions = [(p, s) for p, s in zip(plain, samples, strict=True) if s.record.source in ("task", "qa")]
    assert questions and all(
        p.messages == s.messages
        for p, s in zip(plain, samples, strict=True)
        if p.record.source in ("knowledge", "canary")
    )
    by_doc = {d.doc_id: d for d in ws.corpus}
    qa = ws.datasets[0]
    askers = {f"qa/{ex.id}": frozenset(ex.groups) for ex in qa.examples}
    for p, s in questions:
        system, question = s.messages[0], s.messages[-1]
        assert system["role"] == "system" and "Documents:" in system["content"]
        assert question == {"role": "user", "content": p.record.prompt}  # asked as rag asks it, no demonstrations
        assert len(s.messages) == 2
        shown = [line.split("]", 1)[0][1:] for line in system["content"].split("\n") if line.startswith("[")]
        groups = askers.get(s.record.record_id)
        if groups is not None:  # a train question: only what its asker may read
            assert all(by_doc[d].visible_to(groups) for d in shown if d in by_doc)
    # Every question fits raft.seq_tokens whole: none loses its answer to the cut.
    rows = tokenize([s for _, s in questions], ws.generator.tokenizer, ws.recipe.raft.seq_tokens)
    assert len(rows) == len(questions)
    assert raft_samples(ws, index) == samples  # the draw is the seed's


def test_raft_oracle_sets_how_often_the_answer_is_among_the_chunks(tmp_path: Path) -> None:
    from tailor.finetune.settings import RaftConfig

    reporter = _Lines()
    ws = open_workspace(load_recipe(_recipe(tmp_path, ["rag", "raft"])), reporter)
    index = ensure_index(ws).index  # one index: only raft.oracle changes

    def answered(oracle: float) -> tuple[int, dict[str, int]]:
        reporter.lines.clear()
        at = ws.derive(recipe=ws.recipe.model_copy(update={"raft": RaftConfig(oracle=oracle)}))
        samples = [s for s in raft_samples(at, index) if s.record.source == "qa"]
        holding = sum(
            normalize_answer(s.record.completion) in normalize_answer(s.messages[0]["content"]) for s in samples
        )
        return holding, _counts(reporter.lines, "documents' facts")

    always, always_counts = answered(1.0)
    never, never_counts = answered(0.0)
    assert "with distractors only" not in always_counts and "with the answer among distractors" not in never_counts
    assert always >= always_counts["with the answer among distractors"] > 0
    assert never < always / 4  # a short answer may still turn up in a doc id or another chunk's words
    _, half_counts = answered(0.5)
    placed = half_counts["with the answer among distractors"]
    assert 0.35 < placed / (placed + half_counts["with distractors only"]) < 0.65


def test_raft_dev_examples_are_shown_with_their_chunks_as_retrieved(tmp_path: Path) -> None:
    reporter = _Lines()
    ws = open_workspace(load_recipe(_recipe(tmp_path, ["rag", "raft"], {"oracle": 0.0})), reporter)
    plan = raft_plan(ws, ensure_index(ws).index)
    dev = ws.datasets[0].split("dev")
    assert [s.record.prompt for s in plan.dev] == [ex.question for ex in dev]
    assert _counts(reporter.lines, "dev questions") == {"as retrieved": len(dev)}
    assert plan.out == tmp_path / "runs" / "latest" / "raft" and plan.max_tokens == ws.recipe.raft.seq_tokens


@pytest.mark.slow
def test_raft_is_a_strategy_with_its_own_adapter_beside_finetunes_and_an_update_trains_it_further(
    tmp_path: Path,
) -> None:
    from tailor.eval.runner import evaluate

    settings = {"max_steps": 2, "dev_every": 0, "warmup_steps": 0, "batch_size": 2, "lora_r": 4, "knowledge_qa": 1}
    path = _recipe(tmp_path, ["rag+finetune", "raft"], {"seq_tokens": 320}, **settings)
    recipe = yaml.safe_load(path.read_text())
    recipe["suites"] = ["task", "freshness"]
    recipe["eval"] = {"freshness": {"retrain_steps": 1}, "freshness_questions": 2, "limit": 4}
    recipe["prompt"] = {"candidates": 2, "dev_size": 2, "confirm_size": 1}  # each search runs, tries one variant
    path.write_text(yaml.safe_dump(recipe))
    from typer.testing import CliRunner

    from tailor.cli import app

    tuned = CliRunner().invoke(app, ["tune", "train", "--strategy", "raft", "--json", "--recipe", str(path)])
    assert tuned.exit_code == 0, tuned.output
    out = tmp_path / "runs" / "latest"
    assert json.loads(tuned.stdout)["model_dir"] == str(out / "raft" / "model")
    assert not (out / "finetune" / "model").exists()  # --strategy raft trains raft's adapter alone
    log = _Lines()
    results = evaluate(open_workspace(load_recipe(path), log))
    assert any(f"{out / 'raft' / 'model'} (2 steps)" in line for line in log.lines)  # what tune trained is used
    plain, raft = (json.loads((out / d / "model" / "train.json").read_text()) for d in ("finetune", "raft"))
    assert raft["steps"] == plain["steps"] == 2 and raft["sequences"] == plain["sequences"]
    assert raft["tokens_seen"] > 2 * plain["tokens_seen"]  # the same records, each question with its chunks
    assert results["builds"]["qa"]["raft"]["finetune"]["steps"] == 2
    scored = {(r["suite"], r["strategy"]) for r in results["results"] if r["dataset"] == "qa"}
    assert {("task", "raft"), ("task", "rag+finetune"), ("freshness", "raft")} <= scored
    assert (out / "prompt" / "raft" / "qa.json").is_file()  # its prompt searched on its own weights
    updated = [json.loads(p.read_text()) for p in out.glob("freshness/**/raft/model/train.json")]
    assert [u["steps"] for u in updated] == [1]  # the update trained raft's adapter further
    # Run again: both adapters are reused, nothing is trained.
    again = _Lines()
    evaluate(open_workspace(load_recipe(path), again))
    assert any(f"{out / 'raft' / 'model'} (2 steps)" in line for line in again.lines)
    assert not any(" steps in " in line for line in again.lines)
    # Any strategy that trains its own weights: its model compressed (merged), its loss curve in the report.
    packed = CliRunner().invoke(app, ["compress", "--to", "bf16", "--model", "raft", "--recipe", str(path)])
    assert packed.exit_code == 0, packed.output
    variant = json.loads((out / "compressed" / "raft-bf16" / "variant.json").read_text())
    assert variant["variant"] == "bf16" and variant["base"].endswith("+raft")
    from tailor.report.html import write_report

    page = write_report(out).html.read_text(encoding="utf-8")
    curve = page.split('data-plot="loss-curve"', 1)[1].split("</svg>", 1)[0]
    assert "finetune" in curve and "raft" in curve  # a labelled line for each trained adapter
