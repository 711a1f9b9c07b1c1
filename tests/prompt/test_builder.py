"""Prompt building: per-user isolation, few-shot selection, the static context budget, instruction placement."""

from __future__ import annotations

from pathlib import Path

import pytest

from tailor.contract import User
from tailor.data.corpus import load_corpus
from tailor.data.examples import Example, TaskDataset, load_datasets
from tailor.prompt.builder import PromptSpec, ShotPool, StaticContext, baseline_builder, make_builder
from tailor.recipe_file import load_recipe
from tailor.scaffold import init_project


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> tuple[TaskDataset, TaskDataset, list]:
    recipe_path = init_project(tmp_path_factory.mktemp("proj"), size="small")
    recipe = load_recipe(recipe_path)
    qa, routing = load_datasets(recipe)
    return qa, routing, load_corpus(recipe)


def _words(n: str) -> int:
    return len(n.split())


def test_prompts_hold_only_what_the_user_may_see(project) -> None:
    """For every department user, neither demonstrations nor documents from other departments reach the prompt."""
    qa, _, corpus = project
    pool = ShotPool(qa.split("train"), seed=0)
    context = StaticContext(corpus, [e.question for e in qa.split("train")], 4000, _words)
    spec = PromptSpec("Answer.", shots=8, selection="similar", context=True)
    build = make_builder(spec, qa, pool, context)
    departments = ["support", "sales", "finance", "hr", "legal", "engineering"]
    restricted = {d.doc_id: d for d in corpus if "everyone" not in d.groups}
    assert restricted, "the world must have department-only documents for this test to mean anything"
    for dept in departments:
        user = User(f"{dept}-user", frozenset({"everyone", dept}))
        for question in [e.question for e in qa.split("test")]:
            built = build(question, user)
            text = "\n".join(m["content"] for m in built.messages)
            for doc in restricted.values():
                if dept not in doc.groups:
                    assert doc.doc_id not in {c.doc_id for c in built.contexts}
                    assert doc.text not in text
            shown = [ex for ex in pool.examples if ex.question in text and ex.question != question]
            assert all(set(ex.groups) <= user.groups for ex in shown)


def test_a_user_without_groups_gets_no_documents_and_only_public_examples(project) -> None:
    qa, _, corpus = project
    public = Example(id="p", question="Public question?", answer="yes")
    pool = ShotPool([*qa.split("train"), public], seed=0)
    context = StaticContext(corpus, ["anything"], 4000, _words)
    build = make_builder(PromptSpec("Answer.", shots=4, context=True), qa, pool, context)
    built = build("What is it?", User("nobody"))
    assert built.contexts == ()
    assert [m["content"] for m in built.messages if m["role"] == "assistant"] == ["yes"]


def test_similar_selection_puts_the_closest_example_last() -> None:
    examples = [
        Example(id="a", question="What is the price of the Veltro X200?", answer="$149"),
        Example(id="b", question="Who manages the legal team?", answer="Ana"),
        Example(id="c", question="When was the Quorix Air released?", answer="2021"),
    ]
    pool = ShotPool(examples, seed=0)
    chosen = pool.select("How much does the Veltro X200 cost, what price?", User("u"), 2, "similar")
    assert [e.id for e in chosen][-1] == "a"
    assert len(chosen) == 2


def test_random_selection_is_fixed_per_group_set_and_seed() -> None:
    examples = [Example(id=str(i), question=f"Question number {i}?", answer=str(i)) for i in range(20)]
    user = User("u", frozenset({"g"}))
    first = ShotPool(examples, seed=1).select("q1", user, 3, "random")
    assert first == ShotPool(examples, seed=1).select("another question", user, 3, "random")
    assert first != ShotPool(examples, seed=2).select("q1", user, 3, "random")


def test_static_context_respects_its_token_budget_and_reports_coverage(project) -> None:
    qa, _, corpus = project
    questions = [e.question for e in qa.split("train")]
    groups = frozenset({"everyone", "finance"})
    for budget in (0, 50, 300, 100_000):
        context = StaticContext(corpus, questions, budget, _words)
        blocks = context.for_groups(groups)
        assert sum(_words(c.text) for c in blocks) <= budget
        cov = context.coverage(groups)
        assert cov["documents_included"] == len(blocks)
        assert cov["documents_visible"] == sum(d.visible_to(groups) for d in corpus)
    assert cov["token_share"] == 1.0  # the largest budget holds everything visible


def test_instruction_placement_and_labels(project) -> None:
    _, routing, _ = project
    user = User("u", frozenset({"everyone"}))
    system = make_builder(PromptSpec("Pick one of: {labels}."), routing, None, None)("Hi", user).messages
    assert system[0] == {"role": "system", "content": "Pick one of: finance, hr, legal, sales, support."}
    in_user = make_builder(PromptSpec("Pick one of: {labels}.", placement="user"), routing, None, None)("Hi", user)
    assert in_user.messages == [{"role": "user", "content": "Pick one of: finance, hr, legal, sales, support.\n\nHi"}]


def test_baseline_uses_the_datasets_own_instruction_when_given(tmp_path: Path) -> None:
    ds = TaskDataset("d", "qa", (Example(id="1", question="Q?", answer="A"),), instruction="Be terse.")
    assert baseline_builder(ds)("Q?", User("u")).messages[0] == {"role": "system", "content": "Be terse."}
