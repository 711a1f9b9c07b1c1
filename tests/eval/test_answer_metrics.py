"""Metrics for free-form answers and for "I don't know": semantic similarity, abstention, hallucination on
unanswerable questions, and the primary metric a recipe chooses. Real embedder, real index, real runner."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from tailor.contract import Answer
from tailor.data.examples import Example, TaskDataset, abstention_instruction
from tailor.errors import DataError
from tailor.eval.abstain import abstains
from tailor.eval.base import StrategyRun, SuiteInput
from tailor.eval.semantic import similarities
from tailor.eval.suites.task import SUITE, task_suite
from tailor.report.measured import Measured

DECLINES = [
    "I don't know.",
    "I do not know the answer.",
    "I\u2019m not sure.",
    "The documents do not say.",
    "The context doesn't mention the price.",
    "Unknown",
    "N/A",
    "I cannot answer that from the given documents.",
    "There is no information about Project Quilwick.",
    "That is not mentioned in the documents.",
    "Sorry, I can't find that in the provided text.",
    "The price is not specified.",
    "This cannot be determined from the passage.",
    "No idea.",
    "The passage does not contain that information.",
    "It is not in the documents.",
    "I am unable to answer this question.",
]
ANSWERS = [
    "$249",
    "The Kestrel Nine costs $249.",
    "Batteries are not included.",
    "The Kestrel does not include a charger.",
    "It is not available in red.",
    "It is mentioned in section 3 of the handbook.",
    "No, the office is closed on Sundays.",
    "None of the above options apply to the X200.",
    "They don't ship on weekends.",
    "break terminates the nearest enclosing loop.",
]


@pytest.mark.parametrize("text", DECLINES)
def test_declining_is_detected_in_any_wording(text: str) -> None:
    assert abstains(text)


@pytest.mark.parametrize("text", ANSWERS)
def test_an_answer_that_only_mentions_something_missing_is_not_an_abstention(text: str) -> None:
    assert not abstains(text)


def test_semantic_similarity_credits_a_right_answer_given_in_a_sentence() -> None:
    gold = "Lina Okafor"
    exact, sentence, wrong, wrong_sentence = similarities(
        ["Lina Okafor", "The contract was signed by Lina Okafor.", "Marcus Berg", "It was signed by Marcus Berg."],
        [gold] * 4,
    )
    assert exact == 1.0
    assert sentence > 0.5 > max(wrong, wrong_sentence)
    with pytest.raises(ValueError, match="2 predictions but 1 references"):
        similarities(["a", "b"], ["a"])


ASKED = (
    Example(id="1", question="Who signed the contract?", answer="Lina Okafor", split="test"),
    Example(id="2", question="Where is the office?", answer="Porto", split="test"),
)
NOTHING_SAYS = (
    Example(id="u1", question="Who signed the Quilwick deal?", answer="The documents do not say.", kind="unanswerable"),
    Example(id="u2", question="What does the Zarnex cost?", answer="The documents do not say.", kind="unanswerable"),
)
QA = TaskDataset("qa", "qa", ASKED + NOTHING_SAYS)


def _run(name: str, answered: list[str], declined: list[str]) -> StrategyRun:
    answers, unanswerable = ([Answer(t, (), 10, 2, 0.1) for t in texts] for texts in (answered, declined))
    return StrategyRun(name, tuple(answers), 1.0, 1, unanswerable=tuple(unanswerable))


def test_hallucination_on_unanswerable_questions_and_false_abstention_on_answerable_ones() -> None:
    runs = (
        _run("careful", ["The contract was signed by Lina Okafor.", "I don't know."], ["I don't know."] * 2),
        _run("inventive", ["Lina Okafor", "Porto"], ["Marcus Berg signed it.", "It costs $80."]),
    )
    rows = task_suite(SuiteInput(QA, ASKED, runs, unanswerable=NOTHING_SAYS))
    got = {(r.strategy, r.metric): r for r in rows}
    assert got[("careful", "hallucination_rate")].value == 0.0
    assert got[("inventive", "hallucination_rate")].value == 1.0 and got[("inventive", "hallucination_rate")].n == 2
    assert got[("careful", "false_abstention_rate")].value == 0.5
    assert got[("inventive", "false_abstention_rate")].value == 0.0
    assert (
        got[("careful", "semantic")].n == 2
        and got[("inventive", "semantic")].value > got[("careful", "semantic")].value
    )
    # The recommendation's explanation of a choice flags one that makes answers up, with the rate.
    measured = Measured({"results": [r.to_json() for r in rows]})
    flagged = SUITE.evidence(measured, "qa", "inventive", None)
    assert len(flagged) == 1 and "100% of 2 unanswerable questions" in flagged[0]
    assert SUITE.evidence(measured, "qa", "careful", None) == []


def test_strategies_are_told_how_to_abstain_only_where_abstention_is_measured() -> None:
    assert abstention_instruction("Answer.", QA) == (
        "Answer. If the answer is not in what you know or were given, reply exactly: The documents do not say."
    )
    answerable_only = TaskDataset("qa", "qa", ASKED)
    assert abstention_instruction("Answer.", answerable_only) == "Answer."


def test_the_recipe_chooses_the_primary_metric() -> None:
    chosen = TaskDataset("qa", "qa", ASKED, metric="semantic")
    runs = (_run("a", ["The contract was signed by Lina Okafor.", "Porto"], []), _run("b", ["Berg", "Lisbon"], []))
    rows = task_suite(SuiteInput(chosen, ASKED, runs))
    (pair,) = [r for r in rows if r.vs]
    assert pair.metric == "semantic_delta" and pair.value < 0  # b − a: a's answers mean what the gold says
    results = {"results": [r.to_json() for r in rows], "primary": {"qa": "semantic"}}
    assert Measured(results).primary("qa") == "semantic"
    assert Measured({"results": results["results"]}).primary("qa") == "token_f1"  # an older results.json


UNANSWERABLE = [
    {"id": "nothing-1", "question": "Who approved the Quilwick merger?", "answer": "The documents do not say.",
     "kind": "unanswerable", "split": "test"},
    {"id": "nothing-2", "question": "What is the Zarnex 9 warranty?", "answer": "The documents do not say.",
     "kind": "unanswerable", "split": "test"},
]  # fmt: skip


def _project(root: Path, world: Path, metric: str | None = None) -> Path:
    import shutil

    shutil.copytree(world, root / "world")
    with (root / "world" / "qa.jsonl").open("a") as f:
        f.writelines(json.dumps(e) + "\n" for e in UNANSWERABLE)
    examples = {"path": "world/qa.jsonl", **({"metric": metric} if metric else {})}
    recipe = {
        "data": {"corpus": ["world/docs/**/*.md"], "examples": [examples]},
        "strategies": ["baseline", "rag"],
        "suites": ["task"],
        "eval": {"limit": 3},
        "out": "run",
    }
    (root / "tailor.yaml").write_text(yaml.safe_dump(recipe))
    return root / "tailor.yaml"


def test_eval_asks_unanswerable_questions_apart_and_resumes_them(tmp_path: Path, tiny_world_dir, scripted) -> None:
    from tailor.eval.runner import evaluate
    from tailor.recipe_file import load_recipe
    from tailor.workspace import open_workspace

    def respond(messages) -> str:  # abstains only when told how, and only on what it cannot know
        told = "reply exactly: The documents do not say." in messages[0]["content"]
        return "The documents do not say." if told and "Quilwick" in messages[-1]["content"] else "Porto"

    path = _project(tmp_path, tiny_world_dir)
    generator = scripted(respond)
    payload = evaluate(open_workspace(load_recipe(path), generator=generator))
    rows = {(r["strategy"], r["metric"]): r for r in payload["results"]}
    for strategy in ("baseline", "rag"):  # every strategy is told, so each declines the Quilwick question
        assert (
            rows[(strategy, "hallucination_rate")]["value"] == 0.5 and rows[(strategy, "hallucination_rate")]["n"] == 2
        )
        assert rows[(strategy, "false_abstention_rate")]["n"] == 3
    assert payload["primary"] == {"qa": "token_f1"}
    predictions = [json.loads(line) for line in (tmp_path / "run" / "predictions.jsonl").read_text().splitlines()]
    declined = [p for p in predictions if p.get("kind") == "unanswerable"]
    assert len(predictions) == 2 * 5 and len(declined) == 4
    assert {p["scores"]["abstained"] for p in declined} == {0.0, 1.0} and all(
        "semantic" in p["scores"] for p in predictions
    )

    asked = len(generator.prompts)
    again = evaluate(open_workspace(load_recipe(path), generator=generator))
    assert len(generator.prompts) == asked  # the unanswerable answers were checkpointed with the rest
    assert again["results"] == payload["results"]


def test_a_metric_that_does_not_fit_the_dataset_is_a_located_error(tmp_path: Path, tiny_world_dir) -> None:
    from tailor.data.examples import load_datasets
    from tailor.recipe_file import load_recipe

    path = _project(tmp_path, tiny_world_dir, metric="accuracy")
    with pytest.raises(DataError, match=r"qa\.jsonl: metric: metric 'accuracy' does not fit a qa dataset"):
        load_datasets(load_recipe(path))


def test_answers_are_checked_against_the_documents_they_were_shown_and_the_ones_they_cite() -> None:
    from tailor.contract import Context
    from tailor.eval.suites.retrieval import retrieval_suite, support

    contract = Context("contract", "The supply contract was signed by Lina Okafor in Porto.")
    office = Context("office", "The office moved to Lisbon in 2021.")
    answers = (
        Answer("Lina Okafor signed it. [contract]", (contract, office), 10, 2, 0.1),  # supported, cited right
        Answer(
            "Marcus Berg signed it in Porto. [office]", (contract, office), 10, 2, 0.1
        ),  # 2 of its 4 words; cites wrong
        Answer("I don't know.", (contract,), 10, 2, 0.1),  # an abstention commits to nothing: not scored
    )
    run = StrategyRun("rag", answers, 1.0, 1)
    examples = (*ASKED, Example(id="3", question="When?", answer="2021", split="test"))
    rows = {r.metric: r for r in retrieval_suite(SuiteInput(QA, examples, (run,)))}
    assert support("Marcus Berg signed it in Porto.", contract.text) == pytest.approx(2 / 4)  # signed, porto
    assert rows["answer_support"].n == 2 and rows["answer_support"].value == pytest.approx((1.0 + 0.5) / 2)
    assert rows["citation_precision"].n == 2 and rows["citation_precision"].value == 0.5
    assert "recall_at_1" not in rows  # no example names its sources: nothing to recall against
