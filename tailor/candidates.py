"""The model as an axis of the decision: a recipe's ``models:`` × ``strategies:``, each pair a candidate
named ``strategy@model``.

Each model is run as a recipe of its own (the same recipe with that ``model:``, its outputs under
``OUT/models/NAME/``), so everything a run saves — answers, prompt searches, the index, adapters,
suite rows — is keyed per model and resumes per model; models are loaded one at a time. A strategy
that cannot be built on a model (training needs local weights) is left out with its reason. The runs'
results are then merged into one ``OUT/results.json`` whose rows name candidates, plus what only the
merge can measure: every candidate against every candidate of another model, paired on the same
questions, on the dataset's primary metric.
"""

from __future__ import annotations

import gc
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tailor import plugins
from tailor.artifacts import write_jsonl_atomic
from tailor.config import Recipe
from tailor.errors import ArtifactError, Problem, RecipeError
from tailor.eval.results import paired_row, read_results, write_results
from tailor.models.settings import ModelConfig, OpenAIModel
from tailor.progress import Reporter, SilentReporter

SEP = "@"  # strategy@model, as compressed variants are strategy@variant


@dataclass(frozen=True)
class ModelRun:
    """One base model of the recipe: the recipe run on it alone, and the strategies it cannot have."""

    name: str
    recipe: Recipe
    skipped: dict[str, str] = field(default_factory=dict)  # strategy → why it is not built on this model

    @property
    def out_dir(self) -> Path:
        return self.recipe.out_dir


def candidate(strategy: str, model: str) -> str:
    return f"{strategy}{SEP}{model}"


def unbuildable(strategy: str, model: ModelConfig, name: str) -> str | None:
    """Why ``strategy`` cannot be built on ``model`` (None: it can)."""
    spec = plugins.strategy(strategy)
    if not spec.trains:
        return None
    if isinstance(model, OpenAIModel):
        return f"{strategy} trains weights, and {name} is an endpoint (training needs local weights)"
    if getattr(model, "backend", "transformers") == "llamacpp":
        return f"{strategy} trains weights, and {name} runs on llama.cpp (training needs backend: transformers)"
    return None


def model_runs(recipe: Recipe) -> list[ModelRun]:
    """One run per model of ``models:`` (a recipe with ``model:`` alone: none; it runs as it always has).

    Raises:
        RecipeError: on some model no strategy of the recipe can be built.
    """
    if recipe.models is None:
        return []
    runs = []
    for name, model in recipe.models.items():
        skipped = {s: why for s in recipe.strategies if (why := unbuildable(s, model, name))}
        keep = [s for s in recipe.strategies if s not in skipped]
        if not keep:
            raise RecipeError(
                recipe.problem(
                    f"no strategy of the recipe can run on it: {'; '.join(skipped.values())}", "models", name
                )
            )
        runs.append(ModelRun(name, _recipe_on(recipe, name, model, keep), skipped))
    return runs


def _recipe_on(recipe: Recipe, name: str, model: ModelConfig, strategies: list[str]) -> Recipe:
    """``recipe`` with ``model`` alone, ``strategies`` only, and every output under OUT/models/NAME/."""
    examples = [
        e if e.strategies is None else e.model_copy(update={"strategies": [s for s in e.strategies if s in strategies]})
        for e in recipe.data.examples
    ]
    rag = recipe.rag
    if rag.index_dir is not None:  # the index is chunked in each model's tokens: one per model
        rag = rag.model_copy(update={"index_dir": str(recipe.index_dir / name)})
    return recipe.model_copy(
        update={
            "model": model,
            "models": None,
            "strategies": strategies,
            "data": recipe.data.model_copy(update={"examples": examples}),
            "rag": rag,
            "out": str(recipe.out_dir / "models" / name),
        }
    )


def workspaces(recipe: Recipe, reporter: Reporter | None = None) -> Iterator[tuple[ModelRun | None, Any]]:
    """The recipe's workspaces, one model loaded at a time: ``(None, ws)`` for a one-model recipe, else
    ``(run, ws)`` per model; the model is released before the next is loaded."""
    from tailor.workspace import open_workspace

    reporter = reporter or SilentReporter()
    runs = model_runs(recipe)
    if not runs:
        yield None, open_workspace(recipe, reporter)
        return
    for i, run in enumerate(runs, 1):
        reporter.log(f"models: {run.name} ({i} of {len(runs)})")
        for strategy, why in run.skipped.items():
            reporter.log(f"models: {candidate(strategy, run.name)} is not built: {why}")
        ws = open_workspace(run.recipe, reporter, model_at=("models", run.name))
        yield run, ws
        del ws
        gc.collect()


def evaluate_models(recipe: Recipe, reporter: Reporter | None = None, *, fresh: bool = False) -> dict[str, Any]:
    """``tailor eval`` over every model: each evaluated as its own run, then merged into OUT/results.json."""
    from tailor.eval.runner import evaluate

    done: list[ModelRun] = []
    for run, ws in workspaces(recipe, reporter):
        if run is None:
            return evaluate(ws, fresh=fresh)
        evaluate(ws, fresh=fresh)
        done.append(run)
        del ws  # the next model loads only once this one can be freed
    payload = merge(recipe, done)
    (reporter or SilentReporter()).log(f"wrote {recipe.out_dir / 'results.json'}: {len(done)} models merged")
    return payload


def merge(recipe: Recipe, runs: list[ModelRun]) -> dict[str, Any]:
    """One results.json (and predictions.jsonl, interpret.jsonl) over the models' runs, rows named by candidate,
    with every candidate paired against every candidate of another model on each dataset's primary metric.

    Raises:
        ArtifactError: a model's run has no results.json (run tailor eval).
    """
    parts = [(run, _read_run(run)) for run in runs]
    rows, predictions, interpret, builds, timings = [], [], [], {}, {}
    not_applicable: dict[str, dict[str, str]] = {}
    notes: dict[str, dict[str, str]] = {}
    for run, results in parts:
        rows += [_rename(row, run.name) for row in results["results"]]
        predictions += _renamed(_jsonl(run.out_dir / "predictions.jsonl"), run.name)
        interpret += _renamed(_jsonl(run.out_dir / "interpret.jsonl"), run.name)
        for ds, by_strategy in (results.get("builds") or {}).items():
            for s, build in by_strategy.items():
                builds.setdefault(ds, {})[candidate(s, run.name)] = {**build, "model": run.name}
        for ds, steps in (results.get("timings") or {}).items():
            timings.setdefault(ds, {}).update({f"{run.name}/{k}": v for k, v in steps.items()})
        for target, key in ((not_applicable, "not_applicable"), (notes, "notes")):
            for ds, by_suite in (results.get(key) or {}).items():
                for suite, why in by_suite.items():
                    said = target.setdefault(ds, {}).get(suite)
                    target[ds][suite] = f"{said}; {run.name}: {why}" if said else f"{run.name}: {why}"
    first = parts[0][1]
    primary = first.get("primary") or {}
    rows += _across_models(predictions, primary, recipe.seed)
    payload = {
        "recipe": recipe.model_dump(mode="json"),
        "started_at": min(r.get("started_at", "") for _, r in parts),
        "finished_at": max(r.get("finished_at", "") for _, r in parts),
        "environment": {
            **{k: v for k, v in first.get("environment", {}).items() if k not in ("model", "dtype")},
            "model": ", ".join(run.name for run in runs),
        },
        "results": rows,
        "builds": builds,
        "timings": timings,
        "strategies": {s: plugins.strategy(s).properties() for s in recipe.strategies},
        "primary": primary,
        "not_applicable": not_applicable,
        "notes": notes,
        "models": {run.name: _model_record(run, results) for run, results in parts},
    }
    write_jsonl_atomic(recipe.out_dir / "predictions.jsonl", predictions)
    if interpret:
        write_jsonl_atomic(recipe.out_dir / "interpret.jsonl", interpret)
    write_results(recipe.out_dir / "results.json", payload)
    return payload


def _read_run(run: ModelRun) -> dict[str, Any]:
    path = run.out_dir / "results.json"
    if not path.is_file():
        raise ArtifactError(Problem(f"model {run.name} has no results yet; run tailor eval", file=path))
    return read_results(path)


def _jsonl(path: Path) -> list[dict[str, Any]]:
    """A model run's JSONL artifact (predictions, interpret); [] when the run wrote none."""
    if not path.is_file():
        return []
    out = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError as e:
            raise ArtifactError(Problem(f"not valid JSON ({e.msg})", file=path, line=n)) from None
    return out


def _renamed(lines: list[dict[str, Any]], model: str) -> list[dict[str, Any]]:
    return [{**line, "strategy": candidate(line["strategy"], model), "model": model} for line in lines]


def _rename(row: dict[str, Any], model: str) -> dict[str, Any]:
    """A model's row named by candidate: its strategy (and what it was compared with) on that model."""
    out = {**row, "strategy": candidate(row["strategy"], model), "model": model}
    if row.get("vs"):
        out["vs"] = candidate(row["vs"], model)
    return out


def _model_record(run: ModelRun, results: dict[str, Any]) -> dict[str, Any]:
    """What results.json keeps about one model: its recipe section, what ran on it, and what did not."""
    env = results.get("environment") or {}
    record = {
        "model": run.recipe.model.model_dump(mode="json"),
        "loaded_as": env.get("loaded_as", env.get("model")),
        "dtype": env.get("dtype"),
        "strategies": list(run.recipe.strategies),
        "skipped": dict(run.skipped),
        "run_dir": str(run.out_dir),
    }
    if results.get("sequential"):  # --until-decided compares within a model; its record stays per model
        record["sequential"] = results["sequential"]
    return record


def _across_models(predictions: list[dict[str, Any]], primary: dict[str, str], seed: int) -> list[dict[str, Any]]:
    """Every candidate minus every candidate of another model, on the questions both answered, on the
    dataset's primary metric (within one model the run has paired them already)."""
    scores: dict[str, dict[str, dict[str, float]]] = {}  # dataset → candidate → example id → score
    model_of: dict[str, str] = {}
    for p in predictions:
        metric = primary.get(p["dataset"])
        if p.get("kind") == "unanswerable" or metric is None or metric not in p.get("scores", {}):
            continue
        scores.setdefault(p["dataset"], {}).setdefault(p["strategy"], {})[p["id"]] = p["scores"][metric]
        model_of[p["strategy"]] = p["model"]
    rows = []
    for ds, by_candidate in scores.items():
        names = list(by_candidate)
        for i, a in enumerate(names):
            for b in names[:i]:
                if model_of[a] == model_of[b]:
                    continue
                ids = [k for k in by_candidate[a] if k in by_candidate[b]]
                if len(ids) < 2:
                    continue
                row = paired_row(
                    a,
                    ds,
                    "task",
                    f"{primary[ds]}_delta",
                    [by_candidate[a][k] for k in ids],
                    [by_candidate[b][k] for k in ids],
                    seed,
                    vs=b,
                )
                rows.append({**row.to_json(), "model": model_of[a]})
    return rows
