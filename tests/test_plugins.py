"""Each plug-in point, proven from outside tailor's source: a suite and a strategy defined in this test
module are registered, evaluated, and shown in results.json and report.html, with no edit to tailor."""

from __future__ import annotations

import json
import shutil

import pytest

from tailor import plugins
from tailor.contract import PromptedStrategy
from tailor.data.examples import TaskDataset
from tailor.errors import RecipeError
from tailor.eval.base import Column, Panel, Size, SuiteInput, SuiteSpec
from tailor.eval.results import ResultRow, mean_row
from tailor.eval.runner import evaluate
from tailor.prompt.builder import baseline_builder
from tailor.recipe_file import load_recipe
from tailor.records import Build
from tailor.report.html import write_report
from tailor.report.table import summaries
from tailor.strategies import BuiltStrategy
from tailor.strategies.base import StrategySpec
from tailor.workspace import Workspace, open_workspace


def answer_length(inp: SuiteInput) -> list[ResultRow]:
    """Words per answer, and how many answers the suite was asked to look at (its declared size)."""
    most = inp.workspace.recipe.eval.size("length_answers")
    return [
        mean_row(
            run.strategy,
            inp.dataset.name,
            "length",
            "answer_words",
            [len(a.text.split()) for a in run.answers[:most]],
            0,
        )
        for run in inp.runs
    ]


LENGTH = SuiteSpec(
    name="length",
    run=answer_length,
    summary="words per answer",
    order=15,
    sizes=(Size("length_answers", "length: answers measured", quick=2, full=5),),
    columns=(Column("answer_words", "words per answer"),),
    panels=(Panel("length: words per answer", ("answer_words",)),),
    evidence=lambda m, ds, s, c: [f"Length: {m.value(ds, s, 'answer_words'):.1f} words per answer."],
)


def shout(ws: Workspace, dataset: TaskDataset) -> BuiltStrategy:
    base = baseline_builder(dataset)
    strategy = PromptedStrategy("shout", ws.generator, base, ws.settings_for(dataset))
    return BuiltStrategy(strategy, Build(0.25, extra={"loud": True}))


SHOUT = StrategySpec(name="shout", build=shout, summary="the baseline, louder", simplicity=0, default=False)


@pytest.fixture
def workspace(tmp_path, tiny_world_dir, scripted):
    shutil.copytree(tiny_world_dir, tmp_path / "world")
    recipe = tmp_path / "tailor.yaml"
    recipe.write_text(
        "data:\n  corpus: [world/docs/**/*.md]\n  examples: [{path: world/qa.jsonl}]\n"
        "strategies: [baseline, shout]\nsuites: [task, length]\n"
        "eval: {limit: 4, mode: quick, length_answers: 3}\nout: run\n"
        # the scripted answers score 0: without a floor a strategy is still chosen, and its evidence said
        "constraints: {task_floor: 0}\n"
    )
    with plugins.registered(LENGTH, SHOUT):
        yield open_workspace(
            load_recipe(recipe), generator=scripted(lambda m: "SEVEN WORDS HERE, SAID VERY LOUDLY NOW")
        )


def test_a_registered_suite_and_strategy_run_and_show_in_results_and_report(workspace):
    results = evaluate(workspace)
    rows = [r for r in results["results"] if r["suite"] == "length"]
    assert {r["strategy"] for r in rows} == {"baseline", "shout"}
    assert all(r["metric"] == "answer_words" and r["value"] == 7 and r["n"] == 3 for r in rows)  # eval.length_answers
    assert results["strategies"]["shout"] == {"retrieves": False, "trains": False, "simplicity": 0, "updates": False}
    assert results["builds"]["qa"]["shout"] == {"build_s": 0.25, "loud": True}
    on_disk = json.loads((workspace.recipe.out_dir / "results.json").read_text())
    assert on_disk["strategies"] == results["strategies"]

    tables = {s.suite: s for s in summaries(results)}
    assert tables["length"].columns == ("answer_words",)
    html = write_report(workspace.recipe.out_dir).html.read_text()
    assert "words per answer" in html and "length: words per answer" in html  # its column label and panel
    assert "Length: 7.0 words per answer." in html  # what it adds to the recommendation
    assert "shout" in html


def test_a_registered_size_is_a_recipe_field_and_an_unknown_one_is_an_error(workspace, tmp_path):
    assert workspace.recipe.eval.size("length_answers") == 3
    bad = tmp_path / "bad.yaml"
    bad.write_text((tmp_path / "tailor.yaml").read_text().replace("length_answers: 3", "length_answer: 3"))
    with pytest.raises(RecipeError) as e:
        load_recipe(bad)
    assert "eval.length_answer" in str(e.value) and "unknown field" in str(e.value)


def test_without_the_plugin_its_names_are_recipe_errors(tmp_path, tiny_world_dir):
    shutil.copytree(tiny_world_dir, tmp_path / "world")
    recipe = tmp_path / "tailor.yaml"
    recipe.write_text(
        "data:\n  corpus: [world/docs/**/*.md]\n  examples: [{path: world/qa.jsonl}]\n"
        "strategies: [baseline, shout]\nsuites: [task, length]\n"
    )
    with pytest.raises(RecipeError) as e:
        load_recipe(recipe)
    text = str(e.value)
    assert "unknown strategy 'shout'" in text and "unknown suite 'length'" in text
    assert f"{recipe}:4" in text  # file and line


def test_every_builtin_suite_declares_what_the_report_needs():
    for name, spec in plugins.suites().items():
        assert spec.columns, f"suite {name} declares no columns: the report could not show it"
        assert all(c.label for c in spec.columns)
        assert all(
            m in {c.metric for c in spec.columns} or m.startswith("score_delta") for p in spec.panels for m in p.metrics
        )


def test_a_suite_the_installation_does_not_declare_is_still_shown():
    row = {"strategy": "s", "dataset": "d", "suite": "gone", "metric": "odd_metric", "value": 0.5, "n": 3}
    tables = summaries({"results": [row]})
    assert [(t.suite, t.columns, t.rows) for t in tables] == [("gone", ("odd_metric",), (("s", "0.500"),))]


def test_every_builtin_strategy_declares_an_update_and_retrievers_an_index_swap():
    for name, spec in plugins.strategies().items():
        assert spec.update is not None, name
        assert (spec.over_index is not None) == spec.retrieves, name


def test_every_declared_settings_section_is_a_recipe_section():
    from tailor.config import Recipe
    from tailor.section import Section

    declared = {s.settings for s in plugins.strategies().values() if s.settings}
    assert {"finetune", "raft"} <= declared  # the strategies that train declare theirs
    for name, spec in plugins.strategies().items():
        for section in {spec.settings, *spec.sections} - {None}:
            field = Recipe.model_fields.get(section)
            assert field is not None, f"strategy {name} declares recipe section {section!r}, which Recipe lacks"
            assert issubclass(field.annotation, Section), (name, section)
        assert spec.settings is None or spec.settings in spec.sections, f"{name}'s answers depend on its settings"


def test_a_strategy_that_declares_training_trains():
    trainers = plugins.trainers()
    assert {"finetune", "raft"} <= set(trainers) and "rag+finetune" not in trainers  # it answers with finetune's
    for name, spec in plugins.strategies().items():
        assert spec.trains or spec.train is None, f"{name} declares a training but not trains=True"


def test_entry_point_plugins_are_type_checked(monkeypatch):
    class Entry:
        name, value = "bad", "somewhere:thing"

        def load(self):
            return object()

    monkeypatch.setattr(plugins.metadata, "entry_points", lambda group: [Entry()] if group == "tailor.suites" else [])
    monkeypatch.setattr(plugins._registry, "found", {})
    with pytest.raises(TypeError, match=r"entry point bad \(somewhere:thing\) is not a tailor.eval.base.SuiteSpec"):
        plugins.suites()
    monkeypatch.undo()
    assert "task" in plugins.suites()
