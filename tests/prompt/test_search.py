"""Prompt search with a scripted generator: it finds what the data rewards and never looks at test examples."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from tailor.contract import User
from tailor.prompt.search import (
    build_prompt_strategy,
    ensure_tuned,
    prompt_path,
    saved_prompt,
    tune_prompt,
)
from tailor.recipe_file import load_recipe
from tailor.scaffold import init_project
from tailor.workspace import open_workspace


def _answer_key(ws) -> dict[str, str]:
    return {e.question: e.answer for ds in ws.datasets for e in ds.examples}


@pytest.fixture
def recipe(tmp_path):
    return load_recipe(init_project(tmp_path / "proj", size="tiny"))


def test_search_finds_the_variant_the_model_rewards(recipe, scripted) -> None:
    """Two independent effects: the instruction in the user turn helps half the questions, demonstrations the rest.

    Coordinate ascent finds additive effects one stage at a time (it cannot see pure interactions).
    """
    key: dict[str, str] = {}

    def respond(messages):
        question = messages[-1]["content"].split("\n\n")[-1]
        in_user_turn, with_shots = "\n\n" in messages[-1]["content"], len(messages) >= 5
        helped = in_user_turn if sorted(key).index(question) % 2 else with_shots
        return key[question] if helped else "I do not know"

    gen = scripted(respond)
    ws = open_workspace(recipe, generator=gen)
    key.update(_answer_key(ws))
    qa = ws.datasets[0]
    tuned = tune_prompt(ws, qa)
    assert tuned.spec.placement == "user"
    assert tuned.spec.shots >= 2
    assert tuned.dev_score == 1.0
    # The baseline's plain prompt is always scored, on every search example: it helps no question.
    plain = [r for r in tuned.leaderboard if r["spec"]["shots"] == 0 and r["spec"]["placement"] == "system"]
    assert [(r["score"], r["n"]) for r in plain] == [(0.0, tuned.n_dev)]
    assert len(tuned.leaderboard) <= recipe.prompt.candidates


def test_search_never_shows_the_model_a_test_example(recipe, scripted) -> None:
    gen = scripted(lambda messages: "x")
    ws = open_workspace(recipe, generator=gen)
    for dataset in ws.datasets:
        tune_prompt(ws, dataset)
        test = dataset.split("test")
        seen = "\n".join(m["content"] for p in gen.prompts for m in p)
        for ex in test:
            assert ex.question not in seen, ex.id
    asked = {p[-1]["content"].split("\n\n")[-1] for p in gen.prompts}
    # Dev questions are scored; train ones are asked to bootstrap demonstrations the model gets right.
    dev_and_train = {e.question for ds in ws.datasets for e in [*ds.split("dev"), *ds.split("train")]}
    assert asked <= dev_and_train


def test_ties_go_to_the_cheaper_prompt(recipe, scripted) -> None:
    ws = open_workspace(recipe, generator=scripted(lambda m: "constant"))
    tuned = tune_prompt(ws, ws.datasets[0])
    assert tuned.spec.shots == 0 and not tuned.spec.context  # every variant scores 0; the shortest wins


def test_saved_prompt_is_reused_until_data_changes(recipe, scripted, tmp_path) -> None:
    gen = scripted(lambda m: "x")
    ws = open_workspace(recipe, generator=gen)
    qa = ws.datasets[0]
    tuned = ensure_tuned(ws, qa)
    path = prompt_path(ws, qa)
    saved = json.loads(path.read_text())
    assert saved["tailor_version"] and saved["dataset"] == "qa" and saved["dev_score"] == tuned.dev_score
    calls = len(gen.prompts)
    assert ensure_tuned(ws, qa) == tuned
    assert len(gen.prompts) == calls  # loaded, not searched again

    changed = replace(qa, examples=qa.examples[:-1])
    assert saved_prompt(ws, changed).load(ws.reporter) is None  # fingerprint differs: stale

    saved["written_by_future_version"] = True
    path.write_text(json.dumps(saved))
    with pytest.warns(UserWarning, match="ignoring keys"):
        assert saved_prompt(ws, qa).load(ws.reporter) == tuned


def test_bootstrapped_demonstrations_are_ones_the_model_got_right(recipe, scripted) -> None:
    """A model that knows only some answers: bootstrapping keeps exactly those, and a prompt drawing
    bootstrapped demonstrations shows no other train example."""
    known: dict[str, str] = {}
    ws = open_workspace(recipe, generator=scripted(lambda m: known.get(m[-1]["content"], "no idea")))
    qa = ws.datasets[0]
    train = qa.split("train")
    known.update({e.question: e.answer for e in train[::2]} | {e.question: e.answer for e in qa.split("dev")})
    tuned = tune_prompt(ws, qa)
    tried = train[: tuned.n_dev]
    assert tuned.bootstrapped == tuple(e.id for e in tried[::2])
    strategy = build_prompt_strategy(ws, qa, replace(tuned.spec, shots=4, selection="bootstrapped"), tuned.bootstrapped)
    everything = User("u", frozenset(g for x in qa.examples for g in x.groups))
    messages = strategy.build(qa.split("test")[0].question, everything).messages
    demonstrations = [m["content"].split("\n\n")[-1] for m in messages[:-1] if m["role"] == "user"]
    assert len(demonstrations) == 4
    assert set(demonstrations) <= {x.question for x in tried[::2]}


def test_static_context_coverage_is_recorded(recipe, scripted) -> None:
    ws = open_workspace(recipe, generator=scripted(lambda m: "x"))
    tuned = tune_prompt(ws, ws.datasets[0])
    assert tuned.coverage, "qa over a corpus reports how much of it fits in the prompt"
    for row in tuned.coverage:
        assert 0 <= row["token_share"] <= 1
        assert row["tokens_included"] <= recipe.prompt.context_tokens
    saved_prompt(ws, ws.datasets[0]).save(tuned, ws.reporter)
