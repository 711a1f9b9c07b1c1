"""The optional judge: a model behind a real OpenAI-compatible endpoint on 127.0.0.1 grades answers; replies
that are not the JSON asked for are asked again, then counted as ungradable; kappa says whether to trust it."""

from __future__ import annotations

import json

import pytest

from tailor.config import Recipe
from tailor.contract import Answer
from tailor.data.examples import Example, TaskDataset
from tailor.data.settings import DataConfig, ExampleSet
from tailor.eval.base import StrategyRun, SuiteInput
from tailor.eval.settings import EvalConfig
from tailor.eval.suites.judge import TRIES, cohen_kappa, judge_suite, verdict
from tailor.models.settings import OpenAIModel
from tailor.workspace import Workspace

QA = TaskDataset(
    "qa",
    "qa",
    (
        Example(id="1", question="Who signed the contract?", answer="Lina Okafor"),
        Example(id="2", question="Where is the office?", answer="Porto"),
        Example(id="3", question="What does the X200 cost?", answer="$149"),
        Example(id="4", question="When did the office move?", answer="2021"),
    ),
)


def test_only_the_json_asked_for_is_a_verdict() -> None:
    assert verdict('{"correct": true}') is True
    assert verdict('Sure. {"correct": false} Hope that helps.') is False
    assert verdict('{"correct": "yes"}') is None and verdict("correct") is None and verdict("{correct: true}") is None


def test_kappa_corrects_agreement_for_chance_and_is_absent_where_undefined() -> None:
    # Observed agreement 3/4; chance 0.5·0.25 + 0.5·0.75 = 0.5; kappa = (0.75 − 0.5) / (1 − 0.5).
    assert cohen_kappa([True, True, False, False], [True, False, False, False]) == 0.5
    assert cohen_kappa([True, True], [True, True]) is None and cohen_kappa([], []) is None


def grader(messages) -> str:
    """A judge: accepts an answer that contains the reference. It wraps its first reply about the office in
    prose with no JSON, and never gives one about the move (that answer is ungradable)."""
    grading = messages[1]["content"]
    reference = grading.split("Reference answer: ")[1].split("\n")[0]
    answer = grading.split("Answer to grade: ")[1]
    if "move" in grading or ("office" in grading and len(messages) == 2):
        return "I think this answer is probably right."
    return json.dumps({"correct": reference.lower() in answer.lower()})


def test_a_judge_behind_an_endpoint_grades_retries_and_says_how_far_to_trust_it(openai_endpoint, scripted) -> None:
    texts = ["It was signed by Lina Okafor.", "The office is in Porto.", "It costs 149 dollars.", "In 2021."]
    run = StrategyRun("rag", tuple(Answer(t, (), 10, 2, 0.1) for t in texts), 1.0, 1)
    with openai_endpoint(grader) as (url, seen):
        judge = OpenAIModel(kind="openai", base_url=url, model="judge", concurrency=1)
        recipe = Recipe(data=DataConfig(examples=[ExampleSet(path="qa.jsonl")]), eval=EvalConfig(judge=judge))
        ws = Workspace(recipe, (QA,), (), scripted(lambda _: ""))
        rows = {r.metric: r for r in judge_suite(SuiteInput(QA, QA.examples, (run,), (), 0, ws))}
    # Graded: Okafor and Porto right; "149 dollars" wrong to this judge, which wants "$149" verbatim.
    assert rows["judge_correct"].value == pytest.approx(2 / 3) and rows["judge_correct"].n == 3
    assert rows["judge_ungradable_rate"].value == 0.25 and rows["judge_ungradable_rate"].n == 4
    # contains (SQuAD normalisation drops the "$") accepts all three: they agree on 2 of 3, and kappa says
    # that is no better than chance, since contains said yes to everything.
    assert rows["judge_agreement"].value == pytest.approx(2 / 3) and rows["judge_kappa"].value == 0.0
    # The office answer was asked twice (the second time with the reply it gave); the move answer TRIES times.
    conversations = [body["messages"] for body in seen]
    asked = [m[1]["content"] for m in conversations]
    assert sum("Where is the office" in a for a in asked) == 2 and sum("move" in a for a in asked) == TRIES
    retry = next(m for m in conversations if "Where is the office" in m[1]["content"] and len(m) > 2)
    assert (
        retry[2]["content"] == "I think this answer is probably right." and '{"correct": true}' in retry[3]["content"]
    )


def test_a_judge_that_cannot_be_loaded_is_an_error_located_at_eval_judge(tmp_path, scripted, monkeypatch) -> None:
    from tailor.errors import ModelError
    from tailor.recipe_file import load_recipe

    (tmp_path / "tailor.yaml").write_text(
        "data:\n  examples: [{path: qa.jsonl}]\neval:\n"
        "  judge: {kind: openai, base_url: 'http://127.0.0.1:9/v1', model: m, api_key_env: TAILOR_TEST_UNSET}\n"
    )
    monkeypatch.delenv("TAILOR_TEST_UNSET", raising=False)
    ws = Workspace(load_recipe(tmp_path / "tailor.yaml", check_files=False), (QA,), (), scripted(lambda _: ""))
    run = StrategyRun("rag", tuple(Answer("x", (), 1, 1, 0.1) for _ in QA.examples), 1.0, 1)
    with pytest.raises(ModelError, match=r"tailor\.yaml:4: eval\.judge\.api_key_env: the environment variable"):
        judge_suite(SuiteInput(QA, QA.examples, (run,), (), 0, ws))


def test_without_a_judge_the_suite_has_nothing_to_say(scripted) -> None:
    ws = Workspace(Recipe(data=DataConfig(examples=[ExampleSet(path="qa.jsonl")])), (QA,), (), scripted(lambda _: ""))
    run = StrategyRun("rag", tuple(Answer("x", (), 1, 1, 0.1) for _ in QA.examples), 1.0, 1)
    assert judge_suite(SuiteInput(QA, QA.examples, (run,), (), 0, ws)) == []
