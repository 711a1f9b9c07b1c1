"""Interpret suite with the real small model: base answers, log-prob shifts, nearest training texts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tailor import plugins
from tailor.contract import Answer, BuiltPrompt, PromptedStrategy
from tailor.data.examples import Example, TaskDataset
from tailor.eval.base import StrategyRun, SuiteInput
from tailor.eval.suites.interpret import interpret_path, interpret_suite
from tailor.models.base import GenerationSettings
from tailor.prompt.builder import baseline_builder

SETTINGS = GenerationSettings(max_new_tokens=12)
QA = TaskDataset(
    "qa",
    "qa",
    (
        Example(id="t1", question="What does the Kestrel Nine cost?", answer="$249", split="train"),
        Example(id="t2", question="Who leads the Porto office?", answer="Lina Okafor", split="train"),
        Example(id="t3", question="When did the Halden plant open?", answer="12 March 2023", split="train"),
        # e1 asks exactly what t1 taught: its nearest training text must be t1
        Example(id="e1", question="What does the Kestrel Nine cost?", answer="$249", split="test"),
        Example(id="e2", question="How many seats has the Orla van?", answer="7", split="test"),
    ),
)
OTHER = TaskDataset(
    "other", "qa", (Example(id="o1", question="Which city hosts the Kestrel depot?", answer="Leeds", split="test"),)
)
LINE_KEYS = {
    "strategy",
    "dataset",
    "id",
    "question",
    "gold",
    "tuned_answer",
    "base_answer",
    "agree",
    "logprob_shift",
    "tokens",
    "nearest",
}
ROWS = {"base_agreement_rate", "answer_logprob_shift", "nearest_train_support_rate"}


class _Log:
    def __init__(self):
        self.lines: list[str] = []

    def log(self, message: str) -> None:
        self.lines.append(message)


def _workspace(generator, out: Path, log: _Log | None = None):
    from tailor.config import Recipe
    from tailor.data.settings import DataConfig, ExampleSet
    from tailor.eval.settings import EvalConfig
    from tailor.rag.settings import RagConfig
    from tailor.workspace import Workspace

    recipe = Recipe(
        data=DataConfig(examples=[ExampleSet(path="qa.jsonl")]),
        eval=EvalConfig(interpret_examples=8),
        rag=RagConfig(embedder="wordllama"),  # loads in 0.5 s; the suite embeds with whichever the recipe names
        out=str(out),
    )
    return Workspace(recipe, (QA, OTHER), (), generator, log or _Log())


def _evaluated(dataset: TaskDataset) -> tuple[Example, ...]:
    return tuple(e for e in dataset.examples if e.split == "test")


def _input(dataset: TaskDataset, ws, *strategies: PromptedStrategy, texts: list[str] | None = None) -> SuiteInput:
    """The suite's input as the runner builds it: each strategy's answers (generated, unless ``texts``)."""
    from tailor.contract import asker

    examples = _evaluated(dataset)
    runs = []
    for s in strategies:
        if texts is None:
            answers = s.answer_batch([e.question for e in examples], [asker(e) for e in examples])
        else:
            answers = [Answer(t) for t in texts]
        runs.append(StrategyRun(s.name, tuple(answers), 0.0, 0))
    return SuiteInput(dataset, examples, tuple(runs), strategies, 0, ws)


@pytest.fixture(scope="module")
def trained(real_generator):
    """A copy of the base model whose last layers learned t1 (baseline prompt → "$249") in a few steps."""
    import copy

    import torch

    from tailor.contract import asker
    from tailor.finetune.checks import TrainRecord
    from tailor.finetune.data import Sample, tokenize
    from tailor.models.local import TransformersGenerator

    t1 = QA.examples[0]
    messages = baseline_builder(QA)(t1.question, asker(t1)).messages
    (row,) = tokenize(
        [Sample(TrainRecord("qa/t1", t1.question, t1.answer, "task"), tuple(messages))], real_generator.tokenizer, 256
    )
    model = copy.deepcopy(real_generator.model)
    model.requires_grad_(False)
    learned = [p for n, p in model.named_parameters() if n.startswith(("model.layers.28.", "model.layers.29."))]
    for p in learned:
        p.requires_grad_(True)
    torch.manual_seed(0)
    optimizer = torch.optim.Adam(learned, lr=1e-3)
    ids, labels = torch.tensor([row["input_ids"]]), torch.tensor([row["labels"]])
    model.train()
    for _ in range(6):
        model(input_ids=ids, labels=labels).loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    model.eval().requires_grad_(False)
    return TransformersGenerator(model, real_generator.tokenizer, "trained")


def test_interpret_is_a_suite_run_before_cost() -> None:
    names = list(plugins.suites())
    assert plugins.suite("interpret").run is interpret_suite and names.index("interpret") < names.index("cost")


@pytest.mark.slow
def test_the_base_weights_under_another_name_agree_with_the_base_model_and_shift_nothing(
    real_generator, tmp_path: Path
) -> None:
    from tailor.models.local import TransformersGenerator

    same = TransformersGenerator(real_generator.model, real_generator.tokenizer, "same")
    strategy = PromptedStrategy("finetune", same, baseline_builder(QA), SETTINGS)
    ws = _workspace(real_generator, tmp_path)
    inp = _input(QA, ws, strategy)

    rows = {r.metric: r for r in interpret_suite(inp)}

    assert set(rows) == ROWS and all(
        r.strategy == "finetune" and r.suite == "interpret" and r.n == 2 for r in rows.values()
    )
    assert rows["base_agreement_rate"].value == 1.0
    assert rows["answer_logprob_shift"].value == pytest.approx(0.0, abs=1e-6)
    lines = [json.loads(line) for line in interpret_path(ws).read_text().splitlines()]
    assert [line["id"] for line in lines] == ["e1", "e2"] and all(set(line) == LINE_KEYS for line in lines)
    for line, answer in zip(lines, inp.runs[0].answers, strict=True):
        assert line["tuned_answer"] == line["base_answer"] == answer.text and line["agree"]
        assert "".join(t["token"] for t in line["tokens"]) == answer.text  # the answer's tokens, decoded one by one
        assert all(t["shift"] == 0.0 and t["logprob_tuned"] == t["logprob_base"] <= 0 for t in line["tokens"])
        assert [n["similarity"] for n in line["nearest"]] == sorted(
            (n["similarity"] for n in line["nearest"]), reverse=True
        )
        assert len(line["nearest"]) == 3 and all(
            set(n) == {"id", "kind", "text", "similarity", "contains_answer"} for n in line["nearest"]
        )


@pytest.mark.slow
def test_a_trained_answer_gains_log_probability_and_its_nearest_training_text_is_what_taught_it(
    real_generator, trained, tmp_path: Path
) -> None:
    # A finish step that appends a citation, as rag's does: the citation is not scored as the model's tokens.
    strategy = PromptedStrategy(
        "rag+finetune", trained, baseline_builder(QA), SETTINGS, finish=lambda text, _: f"{text} [kestrel-9]"
    )
    ws = _workspace(real_generator, tmp_path)

    found = interpret_suite(_input(QA, ws, strategy, texts=["$249 [kestrel-9]", ""]))

    rows = {r.metric: r for r in found}
    assert (
        rows["answer_logprob_shift"].n == 1 and rows["answer_logprob_shift"].value > 0.5
    )  # the empty answer has no tokens
    assert rows["nearest_train_support_rate"].value == 0.5 and rows["nearest_train_support_rate"].n == 2
    e1, e2 = (json.loads(line) for line in interpret_path(ws).read_text().splitlines())
    assert "".join(t["token"] for t in e1["tokens"]) == "$249"
    assert all(t["shift"] == pytest.approx(t["logprob_tuned"] - t["logprob_base"], abs=1e-4) for t in e1["tokens"])
    assert e1["logprob_shift"] > 0.5 and e1["base_answer"].endswith("[kestrel-9]")
    top = e1["nearest"][0]
    assert (top["id"], top["kind"], top["contains_answer"]) == ("qa/t1", "task", True)
    assert top["similarity"] == pytest.approx(1.0, abs=1e-4) and top["text"] == "What does the Kestrel Nine cost?\n$249"
    assert not any(n["contains_answer"] for n in e1["nearest"][1:])
    assert e2["tokens"] == [] and e2["logprob_shift"] is None and not any(n["contains_answer"] for n in e2["nearest"])


@pytest.mark.slow
def test_the_base_answers_are_an_evaluated_strategys_that_asked_the_base_weights_the_same_prompts(
    real_generator, trained, tmp_path: Path
) -> None:
    ws = _workspace(real_generator, tmp_path)

    def other_prompt(question, user):
        return BuiltPrompt([{"role": "user", "content": f"Answer in one word. {question}"}])

    strategies = (
        PromptedStrategy("prompt", real_generator, other_prompt, SETTINGS),  # base weights, another prompt
        PromptedStrategy("baseline", real_generator, baseline_builder(QA), SETTINGS),  # base weights, same prompt
        PromptedStrategy("finetune", trained, baseline_builder(QA), SETTINGS),
    )
    texts = {"prompt": ["Kestrel", "Orla"], "baseline": ["$249", "seven"], "finetune": ["$249", "7"]}
    runs = tuple(StrategyRun(name, tuple(map(Answer, t)), 0.0, 0) for name, t in texts.items())

    rows = interpret_suite(SuiteInput(QA, _evaluated(QA), runs, strategies, 0, ws))

    assert {r.strategy for r in rows} == {"finetune"}
    lines = [json.loads(line) for line in interpret_path(ws).read_text().splitlines()]
    assert [line["base_answer"] for line in lines] == ["$249", "seven"]  # baseline's evaluated answers, not generated
    assert [line["agree"] for line in lines] == [True, False]


@pytest.mark.slow
def test_interpret_jsonl_keeps_the_datasets_evaluated_before_and_drops_an_older_runs(
    real_generator, trained, tmp_path: Path
) -> None:
    ws = _workspace(real_generator, tmp_path)

    def run(dataset: TaskDataset) -> list[tuple[str, str]]:
        strategy = PromptedStrategy("finetune", trained, baseline_builder(dataset), SETTINGS)
        interpret_suite(_input(dataset, ws, strategy, texts=["$249"] * len(_evaluated(dataset))))
        return [(line["dataset"], line["id"]) for line in map(json.loads, interpret_path(ws).read_text().splitlines())]

    assert run(QA) == [("qa", "e1"), ("qa", "e2")]
    assert run(OTHER) == [("qa", "e1"), ("qa", "e2"), ("other", "o1")]  # the runner's next dataset: both kept
    assert run(QA) == [("qa", "e1"), ("qa", "e2")]  # a new run starts with the first dataset: the old "other" lines go


def test_without_a_tuned_strategy_or_local_weights_nothing_is_written(real_generator, scripted, tmp_path: Path) -> None:
    log = _Log()
    ws = _workspace(real_generator, tmp_path, log)
    baseline = PromptedStrategy("baseline", real_generator, baseline_builder(QA), SETTINGS)
    assert interpret_suite(_input(QA, ws, baseline, texts=["$249", "7"])) == []
    endpoint = PromptedStrategy("finetune", scripted(lambda _: "$249"), baseline_builder(QA), SETTINGS)
    assert interpret_suite(_input(QA, ws, endpoint, texts=["$249", "7"])) == []
    assert len(log.lines) == 1 and "finetune" in log.lines[0] and "no local weights" in log.lines[0]
    assert not interpret_path(ws).exists()
    no_workspace = _input(QA, ws, endpoint, texts=["$249", "7"])
    assert interpret_suite(SuiteInput(QA, no_workspace.examples, no_workspace.runs, no_workspace.strategies)) == []
