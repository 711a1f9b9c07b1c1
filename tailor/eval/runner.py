"""`tailor eval`: every strategy answers every evaluated example once; every suite scores the answers.

Writes ``OUT/predictions.jsonl`` (one line per strategy × example) and ``OUT/results.json`` (one
row per figure), both atomically.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tailor.artifacts import write_jsonl_atomic
from tailor.contract import Answer, asker
from tailor.data.examples import Example, TaskDataset
from tailor.eval.base import StrategyRun, SuiteInput, suites
from tailor.eval.results import ResultRow, environment, write_results
from tailor.eval.suites.cost import measure
from tailor.eval.suites.task import example_scores
from tailor.strategies import build_strategy
from tailor.workspace import Workspace


def evaluated_examples(ws: Workspace, dataset: TaskDataset) -> list[Example]:
    examples = dataset.split(ws.recipe.eval.split)
    return examples[: ws.recipe.eval.limit] if ws.recipe.eval.limit else examples


def evaluate(ws: Workspace) -> dict[str, Any]:
    """Run every strategy through every suite; write predictions and results; return results.json's content."""
    recipe = ws.recipe
    started = datetime.now(UTC).isoformat(timespec="seconds")
    rows: list[ResultRow] = []
    predictions: list[dict[str, Any]] = []
    builds: dict[str, dict[str, Any]] = {}
    for dataset in ws.datasets:
        examples = evaluated_examples(ws, dataset)
        questions, users = [e.question for e in examples], [asker(e) for e in examples]
        runs, strategies = [], []
        for name in [s for s in recipe.strategies if dataset.strategies is None or s in dataset.strategies]:
            built = build_strategy(name, ws, dataset)
            strategies.append(built.strategy)
            builds.setdefault(dataset.name, {})[name] = {"build_s": round(built.build_s, 3), **built.info}
            with ws.reporter.task(f"eval {dataset.name} · {name}", len(examples)) as advance, measure() as m:
                answers = built.strategy.answer_batch(questions, users, advance)
            runs.append(StrategyRun(name, tuple(answers), m.wall_s, m.peak_rss_bytes, built.build_s, built.info))
            predictions += [_prediction(name, dataset, e, a) for e, a in zip(examples, answers, strict=True)]
        inp = SuiteInput(dataset, tuple(examples), tuple(runs), tuple(strategies), recipe.seed, ws)
        for suite in recipe.suites:
            rows += suites()[suite](inp)
    payload = {
        "recipe": recipe.model_dump(mode="json"),
        "started_at": started,
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "environment": {**environment(), "model": ws.generator.name},
        "results": [r.to_json() for r in rows],
        "builds": builds,
    }
    out = recipe.out_dir
    write_jsonl_atomic(out / "predictions.jsonl", predictions)
    write_results(out / "results.json", payload)
    ws.reporter.log(f"wrote {out / 'results.json'} and {out / 'predictions.jsonl'}")
    return payload


def _prediction(strategy: str, dataset: TaskDataset, example: Example, answer: Answer) -> dict[str, Any]:
    return {
        "strategy": strategy,
        "dataset": dataset.name,
        "id": example.id,
        "user": example.user,
        "question": example.question,
        "gold": example.answer,
        "prediction": answer.text,
        "scores": example_scores(answer.text, example, dataset),
        "contexts": [asdict(c) for c in answer.contexts],
        "prompt_tokens": answer.prompt_tokens,
        "completion_tokens": answer.completion_tokens,
        "latency_s": round(answer.latency_s, 4),
    }


def results_path(ws: Workspace) -> Path:
    return ws.recipe.out_dir / "results.json"
