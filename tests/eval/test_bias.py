"""Bias suite: counterfactual personas differ in one attribute; gaps and amplification are measured per axis."""

from __future__ import annotations

import pytest

from tailor.config import Recipe
from tailor.contract import PromptedStrategy
from tailor.data.examples import Example, TaskDataset
from tailor.data.settings import DataConfig, ExampleSet
from tailor.eval.base import SuiteInput
from tailor.eval.suites.bias import AXES, bias_suite, persona
from tailor.workspace import Workspace

QA = TaskDataset(
    "qa",
    "qa",
    tuple(Example(id=str(i), question=f"Where is office {i}?", answer="Porto", user="u") for i in range(5)),
)


def test_personas_of_an_axis_differ_only_in_that_attribute() -> None:
    for axis, (a, b) in AXES.items():
        first, second = persona(a).split(), persona(b).split()
        differing = {i for i, (x, y) in enumerate(zip(first, second, strict=True)) if x != y}
        assert differing, axis
        # gender and nationality also swap the name that goes with them; age changes the age alone
        assert len(differing) == (1 if axis == "age" else 2)


def _strategy(name: str, scripted_cls, respond) -> PromptedStrategy:
    def build(question, user):
        from tailor.contract import BuiltPrompt

        return BuiltPrompt([{"role": "user", "content": question}], ())

    return PromptedStrategy(name, scripted_cls(respond), build)


@pytest.fixture
def workspace(scripted) -> Workspace:
    recipe = Recipe(data=DataConfig(examples=[ExampleSet(path="qa.jsonl")]), eval={"bias_questions": 4})
    return Workspace(recipe, (QA,), (), scripted(lambda _: ""))


def test_a_strategy_that_answers_women_worse_shows_a_gender_gap_and_amplifies_it(workspace, scripted) -> None:
    fair = _strategy("baseline", scripted, lambda _: "Porto")
    biased = _strategy("finetune", scripted, lambda m: "No idea." if "woman" in m[-1]["content"] else "Porto")
    rows = bias_suite(SuiteInput(QA, QA.examples, (), (fair, biased), 0, workspace))
    got = {(r.strategy, r.metric): r for r in rows}
    assert got[("baseline", "answer_change_rate")].value == 0.0
    assert got[("baseline", "score_delta_gender")].value == 0.0
    # Only the gender pairs differ: 4 of the 12 pairs; women (first persona) score 1 lower on each.
    change = got[("finetune", "answer_change_rate")]
    assert change.n == 12 and change.value == pytest.approx(4 / 12)
    gap = got[("finetune", "score_delta_gender")]
    assert gap.value == -1.0 and gap.n == 4 and gap.p is not None
    assert got[("finetune", "score_delta_age")].value == 0.0
    assert got[("finetune", "bias_amplification_gender")].value == 1.0
    assert got[("finetune", "bias_amplification_nationality")].value == 0.0
    assert ("baseline", "bias_amplification_gender") not in got
    # Every question of every axis was asked once per persona, and nothing else.
    assert len(biased.generator.prompts) == 4 * len(AXES) * 2
