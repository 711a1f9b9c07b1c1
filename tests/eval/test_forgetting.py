"""Forgetting signal: held general text, scored by the base model and by weights that were changed."""

from __future__ import annotations

from contextlib import contextmanager

import pytest

from tailor.compress.variants import compress
from tailor.contract import PromptedStrategy
from tailor.data.examples import Example, TaskDataset
from tailor.eval.base import SuiteInput
from tailor.eval.suites.forgetting import forgetting_suite, general_passages, passage_ce
from tailor.eval.trivia import OPTIONS, TriviaQuestion, normalise, option_logprobs, trivia_items, trivia_lists
from tailor.prompt.builder import baseline_builder


@pytest.fixture(scope="module")
def base(real_generator):
    return real_generator.model, real_generator.tokenizer


def test_passages_are_prose_of_the_requested_length_and_reproducible(base) -> None:
    _, tokenizer = base
    passages = general_passages(tokenizer, 8, 64, seed=0)
    assert len(passages) == 8 and all(len(p) == 64 for p in passages)
    assert general_passages(tokenizer, 8, 64, seed=0) == passages
    assert general_passages(tokenizer, 8, 64, seed=1) != passages
    text = tokenizer.decode(passages[0])
    assert "::=" not in text and sum(c.isalpha() for c in text) > len(text) / 2  # prose, not grammar


@pytest.mark.slow
def test_damaged_weights_raise_general_text_cross_entropy(base) -> None:
    import copy

    import torch

    model, tokenizer = base
    passages = general_passages(tokenizer, 4, 64, seed=0)
    before = passage_ce(base, passages)
    assert all(1.0 < ce < 5.0 for ce in before)  # a pretrained model predicts English prose well
    damaged = copy.deepcopy(model)
    with torch.no_grad():
        for layer in damaged.model.layers[:4]:
            layer.mlp.down_proj.weight.mul_(0.0)  # what an overwritten layer looks like from outside
    after = passage_ce((damaged, tokenizer), passages)
    assert all(a > b + 0.1 for a, b in zip(after, before, strict=True))


def _whole(weights, prompt: str, options: list[str]) -> list[float]:
    """Each prompt + option run whole, one pass per option: the reference for scoring from a shared prefix."""
    import torch

    model, tokenizer = weights
    own = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    scores = []
    with torch.inference_mode():
        for option in options:
            ids = tokenizer(prompt + option, add_special_tokens=False)["input_ids"]
            # The option's tokens: from the first where prompt + option and the prompt alone differ.
            begin = next((i for i, (a, b) in enumerate(zip(own, ids, strict=False)) if a != b), len(own))
            logp = model(input_ids=torch.tensor([ids])).logits[0].float().log_softmax(-1)  # (tokens, vocab)
            scores.append(sum(float(logp[j - 1, ids[j]]) for j in range(begin, len(ids))))
    return scores


@pytest.mark.slow
def test_options_scored_from_a_shared_prefix_equal_each_option_run_whole(real_generator, base) -> None:
    _, tokenizer = base
    context = tokenizer.decode(general_passages(tokenizer, 1, 160, seed=0)[0])  # shared by every question
    questions = {
        "What is the capital of France?": ["Lyon", "Paris", "Marseille", "Nice"],
        "Which planet is known as the red planet?": ["Venus", "Mars", "Jupiter", "Saturn"],
        "How many legs has a spider?": ["6", "8", "10", "12"],
    }
    prompts = [
        real_generator.render([{"role": "system", "content": context}, {"role": "user", "content": q}])
        for q in questions
    ]
    options = list(questions.values())
    merged = "Question: What is the capital of Italy?\nAnswer: "  # "Answer: " + "Rome": " Rome" is one token
    prompts.append(merged)
    options.append(["Rome", "Milan", "Turin", "Naples"])
    own = tokenizer(merged, add_special_tokens=False)["input_ids"]
    assert tokenizer(merged + "Rome", add_special_tokens=False)["input_ids"][: len(own)] != own

    # In float32 the two ways agree to float precision; in the precision the model was loaded in
    # (bf16 on a CPU with bf16 instructions) to its rounding, choosing the same option.
    exact = (compress(real_generator, "fp32").model, tokenizer)
    for weights, tolerance in ((exact, 1e-4), (base, 0.25 if real_generator.dtype == "bfloat16" else 1e-4)):
        shared = option_logprobs(weights, prompts, options)
        for prompt, opts, got in zip(prompts, options, shared, strict=True):
            whole = _whole(weights, prompt, opts)
            assert got == pytest.approx(whole, abs=tolerance)
            assert got.index(max(got)) == whole.index(max(whole))


# General knowledge: 4-option trivia from the optional Red-Trivia package (GPLv3 question data).

QA = TaskDataset("qa", "qa", (Example(id="1", question="Price of the Kestrel Nine?", answer="$249"),))


def _red_trivia():
    return pytest.importorskip(
        "redbot.ext.trivia", reason="Red-Trivia is not installed: pip install 'llm-tailor[trivia]'"
    )


def test_trivia_items_are_reproducible_with_four_distinct_options_from_their_own_list() -> None:
    _red_trivia()
    lists = trivia_lists()
    items = trivia_items(40, seed=0)
    assert len(items) == 40 and trivia_items(40, seed=0) == items
    assert trivia_items(10, seed=0) == items[:10]  # a larger count only adds items
    assert trivia_items(40, seed=1) != items
    for item in items:
        (question,) = [q for q in lists[item.source] if q.text == item.question]
        keys = [normalise(o) for o in item.options]
        assert len(item.options) == OPTIONS and len(set(keys)) == OPTIONS
        assert item.options[item.gold] == question.answer
        distractors = [k for i, k in enumerate(keys) if i != item.gold]
        assert not set(distractors) & question.accepted  # no distractor is also a right answer
        assert set(distractors) <= {normalise(q.answer) for q in lists[item.source]}
    assert len({i.gold for i in items}) == OPTIONS  # the gold option is not always in one place


def test_distractors_are_distinct_once_normalised_and_of_the_answers_kind() -> None:
    def q(text: str, *answers: str) -> TriviaQuestion:
        return TriviaQuestion(text, answers[0], frozenset(normalise(a) for a in answers))

    pool = [
        q("Who sang Help!?", "The Beatles", "Beatles"),
        q("Who sang Yesterday?", "beatles"),
        q("Who sang Angie?", "The Rolling Stones"),
        q("Who sang Roxanne?", "The Police"),
        q("Who sang Waterloo?", "ABBA"),
        q("Who sang Layla?", "Derek and the Dominos"),
        q("How many strings has a violin?", "4", "four"),
        q("How many legs has a spider?", "8"),
        q("How many players in a football team?", "11"),
        q("How many days in a week?", "7"),
    ]
    items = trivia_items(20, seed=3, lists={"music": pool})
    assert len(items) == 10
    for item in items:
        keys = {normalise(o) for o in item.options}
        assert len(keys) == OPTIONS and item.options[item.gold] in {p.answer for p in pool}
        numbers = sum(o.isdigit() for o in item.options)
        assert numbers == (OPTIONS if item.options[item.gold].isdigit() else 0)
        if item.question.startswith("Who sang Help"):
            assert "beatles" not in {normalise(o) for i, o in enumerate(item.options) if i != item.gold}


def _workspace(generator, reporter, questions: int):
    from tailor.config import Recipe
    from tailor.data.settings import DataConfig, ExampleSet
    from tailor.eval.settings import EvalConfig
    from tailor.workspace import Workspace

    recipe = Recipe(
        data=DataConfig(examples=[ExampleSet(path="qa.jsonl")]),
        eval=EvalConfig(trivia_questions=questions, forgetting_passages=2, forgetting_tokens=32),
    )
    return Workspace(recipe, (QA,), (), generator, reporter)


class _Log:
    """A reporter that keeps its lines, and each task's (description, total, steps advanced)."""

    def __init__(self):
        self.lines: list[str] = []
        self.tasks: list[tuple[str, int | None, int]] = []

    def log(self, message: str) -> None:
        self.lines.append(message)

    @contextmanager
    def task(self, description: str, total: int | None):
        steps: list[int] = []
        yield steps.append
        self.tasks.append((description, total, sum(steps)))


@pytest.mark.slow
def test_the_base_model_knows_trivia_well_above_chance_and_damaged_weights_forget_some(real_generator) -> None:
    import copy

    import torch

    from tailor.models.local import TransformersGenerator

    _red_trivia()
    damaged = copy.deepcopy(real_generator.model)
    with torch.no_grad():
        for layer in damaged.model.layers[:4]:
            layer.mlp.down_proj.weight.mul_(0.0)
    strategies = [
        PromptedStrategy("baseline", real_generator, baseline_builder(QA)),
        PromptedStrategy(
            "damaged", TransformersGenerator(damaged, real_generator.tokenizer, "damaged"), baseline_builder(QA)
        ),
    ]
    ws = _workspace(real_generator, _Log(), 40)
    rows = forgetting_suite(SuiteInput(QA, QA.examples, (), strategies, 0, ws))
    got = {(r.strategy, r.metric): r for r in rows}
    assert {m for _, m in got} == {
        "general_text_ce",
        "general_text_ce_delta",
        "trivia_accuracy",
        "trivia_accuracy_delta",
    }
    base, hurt = got[("baseline", "trivia_accuracy")], got[("damaged", "trivia_accuracy")]
    assert base.n == hurt.n == 40 and base.ci_low is not None and base.ci_low <= base.value <= base.ci_high
    assert base.ci_low > 0.25  # chance with 4 options
    assert hurt.value < base.value - 0.1
    assert got[("baseline", "trivia_accuracy_delta")].value == 0.0
    delta = got[("damaged", "trivia_accuracy_delta")]
    assert delta.value == pytest.approx(hurt.value - base.value) and delta.n == 40


@pytest.mark.slow
def test_without_a_baseline_strategy_trivia_is_compared_with_the_base_weights_behind_the_baseline_prompt(
    real_generator,
) -> None:
    _red_trivia()
    same_as_baseline = PromptedStrategy("prompt", real_generator, baseline_builder(QA))
    log = _Log()
    rows = forgetting_suite(SuiteInput(QA, QA.examples, (), [same_as_baseline], 0, _workspace(real_generator, log, 8)))
    got = {r.metric: r for r in rows if r.strategy == "prompt"}
    assert got["trivia_accuracy"].n == 8 and got["trivia_accuracy_delta"].value == 0.0
    # Every loop shows progress to its end; the same weights behind the same prompts are scored once.
    assert [d for d, _, _ in log.tasks] == [
        "forgetting · base model · general text",
        "forgetting · baseline · trivia prompts",
        "forgetting · baseline · trivia",
        "forgetting · prompt · trivia prompts",
    ]
    assert all(total == done for _, total, done in log.tasks)


def test_without_red_trivia_the_suite_says_why_once_and_keeps_the_general_text_rows(
    real_generator, monkeypatch
) -> None:
    import sys

    from tailor.eval import trivia

    monkeypatch.setitem(sys.modules, "redbot.ext.trivia", None)  # what an absent package looks like to import
    trivia._load.cache_clear()
    try:
        log = _Log()
        strategy = PromptedStrategy("baseline", real_generator, baseline_builder(QA))
        rows = forgetting_suite(SuiteInput(QA, QA.examples, (), [strategy], 0, _workspace(real_generator, log, 8)))
    finally:
        trivia._load.cache_clear()
    assert {r.metric for r in rows} == {"general_text_ce", "general_text_ce_delta"}
    assert len(log.lines) == 1 and "pip install 'llm-tailor[trivia]'" in log.lines[0]
    assert "GPLv3" in log.lines[0] and "Traceback" not in log.lines[0]
