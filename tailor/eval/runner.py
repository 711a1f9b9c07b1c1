"""`tailor eval`: every strategy answers every evaluated example once; every suite scores the answers.

Writes ``OUT/predictions.jsonl`` (one line per strategy × example) and ``OUT/results.json`` (one
row per figure), both atomically. Each strategy's answers and each suite's rows are checkpointed as
they finish (see :mod:`tailor.eval.checkpoint`): a run that is killed, or stopped by a failing
endpoint, keeps what it finished, and the next run reuses it and says so. ``fresh`` recomputes all.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tailor import plugins
from tailor.artifacts import write_jsonl_atomic
from tailor.config import model_label
from tailor.contract import Answer, Strategy, asker
from tailor.data.examples import Example, TaskDataset
from tailor.eval.base import NEEDS, NoRows, Noted, StrategyRun, SuiteInput
from tailor.eval.checkpoint import Checkpoints, digest
from tailor.eval.measure import measure
from tailor.eval.results import ResultRow, environment, write_results
from tailor.eval.scoring import answer_scores, primary_metric
from tailor.eval.until_decided import Ask, run_until_decided
from tailor.strategies import BuiltStrategy, build_strategy
from tailor.workspace import Workspace


def evaluated_examples(ws: Workspace, dataset: TaskDataset, *, unanswerable: bool = False) -> list[Example]:
    """The split's answerable examples, which every suite scores; with ``unanswerable``, its questions nothing
    answers instead (``kind: unanswerable``, from tailor synth), which only the abstention metrics read:
    token F1 against "the documents do not say" would score them as facts. ``eval.limit`` caps each."""
    examples = [e for e in dataset.split(ws.recipe.eval.split) if (e.kind == "unanswerable") == unanswerable]
    return examples[: ws.recipe.eval.limit] if ws.recipe.eval.limit else examples


def _inputs_key(ws: Workspace, dataset: TaskDataset, examples: list[Example]) -> str:
    """What every answer on ``dataset`` depends on: model, decoding, examples, documents, split and seed."""
    r = ws.recipe
    return digest(
        ws.generator.name,
        ws.model_identity(),
        r.generation.model_dump(mode="json"),
        r.data.model_dump(mode="json"),
        r.seed,
        dataset.name,
        [e.model_dump(mode="json") for e in dataset.examples],
        [e.id for e in examples],
        [(d.doc_id, d.content_hash or digest(d.text), sorted(d.groups)) for d in ws.corpus],
    )


def _model_facts(ws: Workspace) -> dict[str, Any]:
    """The model a run answered with, how its tokens were counted, and (an endpoint) what it retried."""
    facts: dict[str, Any] = {"model": model_label(ws.recipe.model)}  # as the recipe names it, not a cache path
    if ws.generator.name != facts["model"]:
        facts["loaded_as"] = ws.generator.name
    if getattr(ws.generator, "dtype", None):
        facts["dtype"] = ws.generator.dtype
    counter = getattr(ws.generator, "token_counter", None)
    if counter is not None:
        facts["token_counter"] = counter
    retries = getattr(ws.generator, "retries", None)
    if retries is not None:
        facts["endpoint_retries"] = dict(sorted(retries.items()))
        if retries:
            said = ", ".join(f"{cause} {n}" for cause, n in sorted(retries.items()))
            ws.reporter.log(f"endpoint: {sum(retries.values())} requests tried again ({said})")
    return facts


def _answers_key(ws: Workspace, inputs: str, built: BuiltStrategy, name: str) -> str:
    """An answer set's key: the inputs, the recipe sections the strategy reads, and what its build reported."""
    spec = plugins.strategy(name)
    sections = {s: getattr(ws.recipe, s).model_dump(mode="json") for s in spec.sections}
    return digest(inputs, name, sections, built.build.to_json())


@dataclass
class _Run:
    """What one `tailor eval` gathers as it goes, dataset by dataset, for results.json."""

    checkpoints: Checkpoints
    rows: list[ResultRow] = field(default_factory=list)
    predictions: list[dict[str, Any]] = field(default_factory=list)
    builds: dict[str, dict[str, Any]] = field(default_factory=dict)
    reused: list[str] = field(default_factory=list)
    timings: dict[str, dict[str, float]] = field(default_factory=dict)  # dataset → step → seconds (0 when reused)
    not_applicable: dict[str, dict[str, str]] = field(default_factory=dict)  # dataset → suite with no rows → why
    notes: dict[str, dict[str, str]] = field(default_factory=dict)  # dataset → suite → what its rows measured
    sequential: dict[str, dict[str, Any]] = field(default_factory=dict)  # dataset → what --until-decided did

    def took(self, dataset: TaskDataset, step: str, seconds: float) -> None:
        self.timings.setdefault(dataset.name, {})[step] = round(seconds, 3)


@dataclass
class _Asked:
    """A dataset's examples as eval asks them, and what --until-decided already did with them."""

    examples: list[Example]
    unanswerable: list[Example]
    built: dict[str, BuiltStrategy] = field(default_factory=dict)  # --until-decided: every strategy built first
    answered: dict[str, StrategyRun] = field(default_factory=dict)  # and its answers to the examples
    spent: dict[str, float] = field(default_factory=dict)  # seconds spent answering batches, per strategy


def evaluate(ws: Workspace, *, fresh: bool = False) -> dict[str, Any]:
    """Run every strategy through every suite; write predictions and results; return results.json's content.

    Finished pieces of an earlier run on the same recipe and data are reused (``fresh``: never).
    """
    started = datetime.now(UTC).isoformat(timespec="seconds")
    run = _Run(Checkpoints(ws.recipe.out_dir, fresh))
    for dataset in ws.datasets:
        asked = _asked(ws, dataset, run)
        runs, strategies, keys = _answer_all(ws, dataset, asked, run)
        examples, unanswerable = tuple(asked.examples), tuple(asked.unanswerable)
        inp = SuiteInput(dataset, examples, tuple(runs), tuple(strategies), ws.recipe.seed, ws, unanswerable)
        _score_all(ws, inp, keys, run)
    if run.reused:
        ws.reporter.log(f"reused from an earlier run ({len(run.reused)}): {', '.join(run.reused)}; --fresh recomputes")
    payload = _payload(ws, run, started)
    out = ws.recipe.out_dir
    write_jsonl_atomic(out / "predictions.jsonl", run.predictions)
    write_results(out / "results.json", payload)
    ws.reporter.log(f"wrote {out / 'results.json'} and {out / 'predictions.jsonl'}")
    return payload


def _asked(ws: Workspace, dataset: TaskDataset, run: _Run) -> _Asked:
    """The examples to answer on ``dataset``; with --until-decided, every strategy built and the examples
    answered batch by batch until the sequential test stops (the examples then end where it stopped)."""
    asked = _Asked(evaluated_examples(ws, dataset), evaluated_examples(ws, dataset, unanswerable=True))
    if ws.recipe.eval.until_decided is None:
        return asked
    names = ws.strategies_for(dataset)
    asked.built = {name: build_strategy(name, ws, dataset) for name in names}
    ask = _batch_asker(ws, dataset, asked.built, run.checkpoints, run.reused, asked.spent)
    decided = run_until_decided(ws, dataset, asked.examples, names, ask)
    asked.examples, asked.answered, run.sequential[dataset.name] = decided.examples, decided.runs, decided.record
    return asked


def _answer_all(
    ws: Workspace, dataset: TaskDataset, asked: _Asked, run: _Run
) -> tuple[list[StrategyRun], list[Strategy], list[str]]:
    """Every strategy's answers on ``dataset`` (saved ones reused), its build recorded, its predictions scored."""
    questions = [*asked.examples, *asked.unanswerable]
    inputs = _inputs_key(ws, dataset, questions)
    runs, strategies, keys = [], [], []
    for name in ws.strategies_for(dataset):
        built = asked.built.get(name) or build_strategy(name, ws, dataset)
        strategies.append(built.strategy)
        run.builds.setdefault(dataset.name, {})[name] = {"build_s": round(built.build_s, 3), **built.build.to_json()}
        key = _answers_key(ws, inputs, built, name)
        keys.append(key)
        start = time.perf_counter()
        answered = run.checkpoints.load_run(dataset.name, name, key)
        if answered is None:
            answered = _answer(ws, dataset, asked.examples, asked.unanswerable, built, asked.answered.get(name))
            run.checkpoints.save_run(dataset.name, answered, key)
        else:
            run.reused.append(f"{dataset.name} · {name} answers")
        run.took(dataset, f"answers/{name}", time.perf_counter() - start + asked.spent.get(name, 0.0))
        runs.append(answered)
        answers = [*answered.answers, *answered.unanswerable]
        scores = answer_scores([a.text for a in answers], questions, dataset)
        run.predictions += [
            _prediction(name, dataset, e, a, s) for e, a, s in zip(questions, answers, scores, strict=True)
        ]
    return runs, strategies, keys


def _score_all(ws: Workspace, inp: SuiteInput, keys: list[str], run: _Run) -> None:
    """Every suite's rows on one dataset's answers (saved ones reused), with why a suite had none."""
    # A suite's rows depend on the answers (and so the strategies' builds) and on how suites are sized and priced.
    settings = (ws.recipe.eval.model_dump(mode="json"), ws.recipe.cost.model_dump(mode="json"))
    name = inp.dataset.name
    for suite in ws.recipe.suites:
        start = time.perf_counter()
        found = _suite_rows(ws, inp, suite, digest(keys, suite, settings), run.checkpoints, run.reused)
        run.rows += found
        if isinstance(found, NoRows):
            run.not_applicable.setdefault(name, {})[suite] = found.reason
        if isinstance(found, Noted):
            run.notes.setdefault(name, {})[suite] = found.note
        run.took(inp.dataset, f"suite/{suite}", time.perf_counter() - start)


def _payload(ws: Workspace, run: _Run, started: str) -> dict[str, Any]:
    """results.json's content."""
    recipe = ws.recipe
    return {
        "recipe": recipe.model_dump(mode="json"),
        "started_at": started,
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "environment": {**environment(), **_model_facts(ws)},
        "results": [r.to_json() for r in run.rows],
        "builds": run.builds,
        "timings": run.timings,
        "strategies": {name: plugins.strategy(name).properties() for name in recipe.strategies},
        "primary": {dataset.name: primary_metric(dataset) for dataset in ws.datasets},
        "not_applicable": run.not_applicable,
        "notes": run.notes,
        **({"sequential": run.sequential} if run.sequential else {}),
    }


def _answer(
    ws: Workspace,
    dataset: TaskDataset,
    examples: list[Example],
    unanswerable: list[Example],
    built: BuiltStrategy,
    answered: StrategyRun | None = None,
    label: str = "",
) -> StrategyRun:
    """``built``'s answers to ``examples``, then to the ``unanswerable`` questions (asked apart, so the
    answerable ones are batched as they would be without them). ``answered``: its answers to ``examples``
    already (batch by batch, --until-decided), so only the unanswerable ones are asked."""
    if answered is not None and not unanswerable:
        return replace(answered, build_s=built.build_s, info=built.build.to_json())
    strategy: Strategy = built.strategy
    ask = examples if answered is None else []
    total = len(ask) + len(unanswerable)
    with ws.reporter.task(f"eval {dataset.name} · {strategy.name}{label}", total) as advance, measure() as m:
        answers, declined = [
            strategy.answer_batch([e.question for e in part], [asker(e) for e in part], advance) if part else []
            for part in (ask, unanswerable)
        ]
    if answered is not None:
        answers = answered.answers
        m.wall_s, m.peak_rss_bytes = m.wall_s + answered.wall_s, max(m.peak_rss_bytes, answered.peak_rss_bytes)
    return StrategyRun(
        strategy.name, tuple(answers), m.wall_s, m.peak_rss_bytes, built.build_s, built.build.to_json(), tuple(declined)
    )


def _batch_asker(
    ws: Workspace,
    dataset: TaskDataset,
    built: dict[str, BuiltStrategy],
    checkpoints: Checkpoints,
    reused: list[str],
    spent: dict[str, float],
) -> Ask:
    """How --until-decided asks a strategy one batch: its saved answers to it, else asked and saved at once."""

    def ask(name: str, part: str, batch: list[Example]) -> StrategyRun:
        key = _answers_key(ws, _inputs_key(ws, dataset, batch), built[name], name)
        start = time.perf_counter()
        run = checkpoints.load_run(dataset.name, name, key, part)
        if run is None:
            run = _answer(ws, dataset, batch, [], built[name], label=f" · {part}")
            checkpoints.save_run(dataset.name, run, key, part)
        else:
            reused.append(f"{dataset.name} · {name} {part}")
        spent[name] = spent.get(name, 0.0) + time.perf_counter() - start
        return run

    return ask


def _suite_rows(
    ws: Workspace, inp: SuiteInput, suite: str, key: str, checkpoints: Checkpoints, reused: list[str]
) -> list[ResultRow]:
    """The suite's rows, reused when saved with ``key``; a suite with none returns :class:`NoRows` saying why."""
    dataset = inp.dataset.name
    rows = checkpoints.load_rows(dataset, suite, key)
    if rows is not None:
        reused.append(f"{dataset} · {suite}")
    else:
        spec = plugins.suite(suite)
        with ws.reporter.task(f"suite {suite} · {dataset}", None):
            rows = spec.run(inp)
        if not rows and not isinstance(rows, NoRows):  # a suite that gave no reason: what it declares it needs
            needs = " and ".join(NEEDS[n] for n in spec.needs)
            rows = NoRows(f"it needs {needs}" if needs else "it does not apply to this dataset or run")
        checkpoints.save_rows(dataset, suite, rows, key)
    if isinstance(rows, NoRows):  # said, never silently nothing
        ws.reporter.log(f"suite {suite} · {dataset}: no rows: {rows.reason}")
    if isinstance(rows, Noted):
        ws.reporter.log(f"suite {suite} · {dataset}: {rows.note}")
    return rows


def _prediction(
    strategy: str, dataset: TaskDataset, example: Example, answer: Answer, scores: dict[str, float]
) -> dict[str, Any]:
    return {
        "strategy": strategy,
        "dataset": dataset.name,
        "id": example.id,
        "user": example.user,
        "question": example.question,
        "gold": example.answer,
        "prediction": answer.text,
        "scores": scores,
        **({"kind": example.kind} if example.kind else {}),
        "contexts": [asdict(c) for c in answer.contexts],
        "prompt_tokens": answer.prompt_tokens,
        "completion_tokens": answer.completion_tokens,
        "latency_s": round(answer.latency_s, 4),
    }


def results_path(ws: Workspace) -> Path:
    return ws.recipe.out_dir / "results.json"
