"""`tailor report`: a run directory's results.json → OUT/report.html and OUT/recommendation.json.

Reads only what the run wrote (results.json, predictions.jsonl, interpret.jsonl, and the
STRATEGY/loss_curve.json of each strategy that trains its own weights); recomputes nothing. The page
is one self-contained file: plots are inline SVG, styles inline, no script and no network at view time.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tailor import plugins
from tailor.artifacts import write_json_atomic, write_text_atomic
from tailor.contract import citations
from tailor.errors import ArtifactError, Problem
from tailor.eval.results import read_results
from tailor.report import field, plots
from tailor.report.measured import Measured
from tailor.report.recommend import Recommendation, recommend
from tailor.report.table import label, summaries

EXAMPLES_SHOWN = 6  # examples side by side per dataset
TEMPLATE = "report.html.j2"


@dataclass(frozen=True)
class Report:
    html: Path
    recommendation_json: Path
    recommendation: Recommendation


def write_report(run_dir: Path) -> Report:
    """Render ``run_dir``/report.html and ``run_dir``/recommendation.json from the run's files.

    Raises:
        ArtifactError: results.json is missing or unreadable, or a JSONL file has a bad line.
    """
    run_dir = Path(run_dir)
    results = read_results(run_dir / "results.json")
    rec = recommend(results)
    m = Measured(results)
    predictions = _read_jsonl(run_dir / "predictions.jsonl")
    interpret = _read_jsonl(run_dir / "interpret.jsonl")
    datasets = [
        {
            "name": ds,
            "tables": [_table(s) for s in summaries(results) if s.dataset == ds],
            "scatter": plots.quality_vs_cost(m, ds),
            "panels": plots.suite_panels(m, ds),
            "freshness": plots.freshness_timeline(m, ds),
            "frontier": plots.compression_frontier(m, ds),
            "field": field_table(m, ds, rec.constraints.get("human_usd_per_answer")),
            "examples": _examples(predictions, ds, m.strategies(ds), m.primary(ds)),
            "not_applicable": sorted((results.get("not_applicable") or {}).get(ds, {}).items()),
            "notes": sorted((results.get("notes") or {}).get(ds, {}).items()),
            "interpret": [
                line
                for line in interpret
                if m.row(ds, line["strategy"], "base_agreement_rate") and line["dataset"] == ds
            ],
        }
        for ds in m.datasets
    ]
    page = _template().render(
        run_dir=str(run_dir.resolve()),
        results=results,
        rec=rec,
        datasets=datasets,
        loss_curve=plots.loss_curve(_loss_curves(run_dir)),
        recipe_yaml=yaml.safe_dump(results["recipe"], sort_keys=False, allow_unicode=True),
        environment=results.get("environment", {}),
        builds=results.get("builds", {}),
    )
    html = write_text_atomic(run_dir / "report.html", page)
    rec_json = write_json_atomic(run_dir / "recommendation.json", rec.to_json())
    return Report(html, rec_json, rec)


def _loss_curves(run_dir: Path) -> dict[str, list[dict[str, Any]]]:
    """Each strategy that trains its own weights → the rows of its OUT/STRATEGY/loss_curve.json, where written."""
    curves = {}
    for name in plugins.trainers():
        path = run_dir / name / "loss_curve.json"
        if path.is_file():
            curves[name] = json.loads(path.read_text(encoding="utf-8")).get("rows", [])
    return curves


def field_table(m: Measured, ds: str, human_usd: float | None = None) -> dict[str, Any] | None:
    """The models × strategies grid and the cost–quality table of ``ds`` as the page shows them."""
    found = field.candidates(m, ds)
    if not found:
        return None
    models, strategies, cells = field.grid(found)
    on_usd = {c.name for c in field.frontier(found, "usd_per_1k")}
    on_p95 = {c.name for c in field.frontier(found, "p95_s")}

    def score(c: field.Candidate) -> str:
        ci = f" ({c.ci_low:.2f}–{c.ci_high:.2f})" if c.ci_low is not None and c.ci_high is not None else ""
        return f"{c.score:.3f}{ci}"

    return {
        "metric": m.primary(ds),
        "n": m.row(ds, found[0].name, m.primary(ds))["n"],
        "strategies": strategies,
        "grid": [
            {"model": model, "cells": [score(cells[model, s]) if (model, s) in cells else "–" for s in strategies]}
            for model in models
        ],
        "candidates": [
            {
                "name": c.name,
                "score": score(c),
                "usd": "–" if c.usd_per_1k is None else f"{c.usd_per_1k:.4f}",
                "p95": "–" if c.p95_s is None else f"{c.p95_s:.2f}",
                "per_correct": field.usd(c.usd_per_correct),
                "frontier_usd": c.name in on_usd,
                "frontier_p95": c.name in on_p95,
            }
            for c in sorted(found, key=lambda c: -c.score)
        ],
        "human": None if human_usd is None else field.usd(human_usd),
    }


def _template():
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("tailor.report", "."),
        autoescape=jinja2.select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["label"] = label
    env.filters["shift_color"] = _shift_color
    return env.get_template(TEMPLATE)


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    """A JSONL artifact's lines; [] when the run did not write it."""
    if not path.is_file():
        return []
    rows = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError as e:
            raise ArtifactError(Problem(f"not valid JSON ({e.msg})", file=path, line=n)) from None
    return rows


def _table(s) -> dict[str, Any]:
    first = "pair" if s.suite == "compare" else "strategy"
    return {"title": f"{s.suite} ({s.sized})", "header": [first, *(label(c) for c in s.columns)], "rows": s.rows}


def _examples(
    predictions: list[dict], dataset: str, strategies: list[str], metric: str | None = None
) -> list[dict[str, Any]]:
    """Up to EXAMPLES_SHOWN examples where strategies disagree most, each with every strategy's answer.

    Retrieved contexts come along, marked ``cited`` when the answer cites their document.
    """
    by_id: dict[str, dict[str, dict]] = {}
    for p in predictions:
        if p["dataset"] == dataset:
            by_id.setdefault(p["id"], {})[p["strategy"]] = p
    if not by_id:
        return []

    def spread(answers: dict[str, dict]) -> float:
        values = [_primary_score(a, metric) for a in answers.values()]
        return max(values) - min(values)

    chosen = sorted(by_id, key=lambda i: (-spread(by_id[i]), i))[:EXAMPLES_SHOWN]
    out = []
    for example_id in chosen:
        answers = by_id[example_id]
        first = next(iter(answers.values()))
        rows = []
        for s in strategies:
            a = answers.get(s)
            if a is None:
                continue
            cited = set(citations(a["prediction"]))
            contexts = [{**c, "cited": c["doc_id"] in cited} for c in a.get("contexts", [])]
            rows.append(
                {"strategy": s, "prediction": a["prediction"], "score": _primary_score(a, metric), "contexts": contexts}
            )
        out.append({"id": example_id, "question": first["question"], "gold": first["gold"], "answers": rows})
    return out


def _primary_score(prediction: dict, metric: str | None = None) -> float:
    scores = prediction.get("scores", {})
    if metric in scores:
        return scores[metric]
    return scores.get("accuracy", scores.get("token_f1", 0.0))


def _shift_color(shift: float) -> str:
    """Background for a token whose log-probability the tuning raised (green) or lowered (red)."""
    alpha = min(abs(shift) / 4.0, 1.0) * 0.6
    return f"rgba(56,152,38,{alpha:.2f})" if shift >= 0 else f"rgba(217,84,77,{alpha:.2f})"
