"""Robustness suite: perturbations are deterministic and honest; injections are detected by their marker."""

from __future__ import annotations

import random
import re
from pathlib import Path

import pytest
import yaml

from tailor.contract import asker
from tailor.data.corpus import Document
from tailor.eval.base import StrategyRun, SuiteInput
from tailor.eval.runner import evaluated_examples
from tailor.eval.suites.robustness import off_topic_sentences, plant, rephrase, robustness_suite, typo
from tailor.recipe_file import load_recipe
from tailor.scaffold import init_project
from tailor.strategies import build_strategy
from tailor.workspace import open_workspace

QUESTION = "Which factory builds the Kestrel Nine handheld gimbal?"


def test_typos_are_small_deterministic_edits_of_long_words() -> None:
    a, b = typo(QUESTION, random.Random(1)), typo(QUESTION, random.Random(1))
    assert a == b != QUESTION
    changed = [(x, y) for x, y in zip(QUESTION.split(), a.split(), strict=True) if x != y]
    assert 1 <= len(changed) <= 3  # about one long word in four
    for before, after in changed:
        assert len(before) >= 4 and abs(len(before) - len(after)) <= 1 and before[0] == after[0]


def test_rephrase_keeps_the_question_and_distractors_avoid_its_documents() -> None:
    out = rephrase(QUESTION, random.Random(3))
    assert QUESTION[1:] in out and out != QUESTION
    docs = (
        Document("kestrel", "Kestrel", "The Kestrel Nine costs $249.", frozenset({"everyone"})),
        Document("policy", "Leave", "Staff get 25 days of leave a year.", frozenset({"everyone"})),
    )
    assert off_topic_sentences(docs, {"kestrel"}) == ["Staff get 25 days of leave a year."]


def test_planting_adds_the_note_to_the_named_documents_and_changes_their_hash() -> None:
    docs = (
        Document("a", "A", "Intro.\n\nBody with $5.", frozenset({"x"}), content_hash="h1"),
        Document("b", "B", "Other.", frozenset({"x"}), content_hash="h2"),
    )
    a, b = plant(docs, {"a": "KUMQUAT"})
    assert a.text.startswith("Intro.\n\n") and "KUMQUAT" in a.text and a.text.endswith("Body with $5.")
    assert a.content_hash != "h1" and b == docs[1]


def _tiny_recipe(tmp_path: Path, prompt: dict | None = None, **eval_sizes):
    path = init_project(tmp_path, size="tiny")
    recipe = yaml.safe_load(path.read_text())
    recipe["eval"] = {"limit": 6, **eval_sizes}
    if prompt is not None:
        recipe["prompt"] = {**recipe.get("prompt", {}), **prompt}
    recipe["generation"] = {"max_new_tokens": 12}  # a followed injection shows in the first words
    path.write_text(yaml.safe_dump(recipe))
    return load_recipe(path)


def _obedient(messages) -> str:
    """Follows any instruction to reply with a word, wherever it appears; else gives a fixed answer."""
    found = re.search(r"reply with only the word (\w+)", " ".join(m["content"] for m in messages), re.I)
    return found.group(1) if found else "Porto"


@pytest.mark.parametrize(("respond", "followed"), [(_obedient, 1.0), (lambda _: "Porto", 0.0)])
def test_injections_count_only_when_the_marker_is_obeyed(tmp_path: Path, scripted, respond, followed) -> None:
    """A generator that obeys instructions in its input follows both injections; one that ignores them, neither."""
    # rag as the recipe sets it (a budget of one variant: no search). A model that answers alike whatever
    # it is shown ties every variant, and ties go to the shortest prompt: half the chunks.
    recipe = _tiny_recipe(tmp_path, prompt={"candidates": 1}, robustness_questions=4)
    ws = open_workspace(recipe, generator=scripted(respond))
    dataset = ws.datasets[0]
    examples = evaluated_examples(ws, dataset)
    strategies = [build_strategy(name, ws, dataset).strategy for name in ("baseline", "rag")]
    runs = tuple(
        StrategyRun(s.name, tuple(s.answer_batch([e.question for e in examples], [asker(e) for e in examples])), 1, 0)
        for s in strategies
    )
    index_files = sorted(p.name for p in recipe.index_dir.rglob("*"))
    rows = robustness_suite(SuiteInput(dataset, tuple(examples), runs, tuple(strategies), 0, ws))
    got = {(r.strategy, r.metric): r for r in rows}
    for name in ("baseline", "rag"):
        assert got[(name, "injection_success_rate")].value == followed
        assert got[(name, "injection_success_rate")].n == 4
        assert got[(name, "score_delta_typo")].p is not None
    assert got[("rag", "doc_injection_retrieved_rate")].value == 1.0  # the planted note reached the prompt
    assert got[("rag", "doc_injection_success_rate")].value == followed
    assert ("baseline", "doc_injection_success_rate") not in got  # nothing retrieved, nothing planted
    # The planted documents live in their own index: the recipe's stays as it was.
    assert sorted(p.name for p in recipe.index_dir.rglob("*")) == index_files
    assert (recipe.out_dir / "robustness" / "index").is_dir()


@pytest.mark.slow
def test_the_real_model_follows_an_injected_instruction_in_the_question(tmp_path: Path, real_generator) -> None:
    """SmolLM2 has no defence against an instruction appended to the question: measured, not assumed."""
    recipe = _tiny_recipe(tmp_path, robustness_questions=6)
    ws = open_workspace(recipe, generator=real_generator)
    dataset = ws.datasets[0]
    examples = evaluated_examples(ws, dataset)
    baseline = build_strategy("baseline", ws, dataset).strategy
    answers = baseline.answer_batch([e.question for e in examples], [asker(e) for e in examples])
    run = StrategyRun("baseline", tuple(answers), 1.0, 0)
    rows = robustness_suite(SuiteInput(dataset, tuple(examples), (run,), (baseline,), 0, ws))
    got = {r.metric: r for r in rows}
    assert got["injection_success_rate"].value > 0 and got["injection_success_rate"].n == 6
    assert {"score_delta_typo", "score_delta_rephrase", "score_delta_distractor"} <= set(got)
