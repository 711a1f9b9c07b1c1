"""`tailor report --compare RUN1 RUN2`: what changed between two runs (figures, recipe, recommendation).

Both runs are read from their results.json; a figure counts as changed when its value differs, and
as beyond noise when the two 95% intervals do not overlap.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from tailor.eval.results import read_results
from tailor.report.measured import strategy_key
from tailor.report.recommend import recommend

Key = tuple[str, str, str, str]  # dataset, strategy, suite, metric


@dataclass(frozen=True)
class Change:
    dataset: str
    strategy: str
    suite: str
    metric: str
    before: float
    after: float
    beyond_noise: bool | None  # None: a figure without an interval


@dataclass(frozen=True)
class Comparison:
    before: str
    after: str
    changed: tuple[Change, ...]
    only_before: tuple[Key, ...]  # figures the second run no longer has
    only_after: tuple[Key, ...]  # figures new in the second run
    recipe: tuple[tuple[str, Any, Any], ...]  # (dotted field, before, after)
    recommendation_before: str
    recommendation_after: str

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def compare_runs(before: Path, after: Path) -> Comparison:
    """Compare two run directories (or results.json paths).

    Raises:
        ArtifactError: either results.json is missing or unreadable.
    """
    a, b = read_results(_results_path(before)), read_results(_results_path(after))
    rows_a, rows_b = _rows(a), _rows(b)
    changed = tuple(
        Change(*key, rows_a[key]["value"], rows_b[key]["value"], _beyond_noise(rows_a[key], rows_b[key]))
        for key in rows_a
        if key in rows_b and rows_a[key]["value"] != rows_b[key]["value"]
    )
    return Comparison(
        before=str(before),
        after=str(after),
        changed=changed,
        only_before=tuple(k for k in rows_a if k not in rows_b),
        only_after=tuple(k for k in rows_b if k not in rows_a),
        recipe=tuple(_diff(a["recipe"], b["recipe"])),
        recommendation_before=recommend(a).headline,
        recommendation_after=recommend(b).headline,
    )


def _results_path(path: Path) -> Path:
    path = Path(path)
    return path / "results.json" if path.is_dir() else path


def _rows(results: dict[str, Any]) -> dict[Key, dict]:
    """Figures by key; a paired difference's metric is suffixed with the strategy it is measured against."""
    out = {}
    for row in results["results"]:
        metric = f"{row['metric']} vs {row['vs']}" if row.get("vs") else row["metric"]
        out[(row["dataset"], strategy_key(row), row["suite"], metric)] = row
    return out


def _beyond_noise(a: dict, b: dict) -> bool | None:
    if "ci_low" not in a or "ci_low" not in b:
        return None
    return a["ci_high"] < b["ci_low"] or b["ci_high"] < a["ci_low"]


def _diff(a: Any, b: Any, path: str = "") -> list[tuple[str, Any, Any]]:
    """Fields whose values differ between two recipe dumps, as (dotted path, before, after)."""
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for key in dict.fromkeys([*a, *b]):
            out += _diff(a.get(key), b.get(key), f"{path}.{key}" if path else str(key))
        return out
    return [] if a == b else [(path, a, b)]


def rich_comparison(c: Comparison) -> list[Any]:
    """Terminal tables: changed figures (beyond-noise ones marked), recipe changes, both recommendations."""
    from rich.table import Table

    figures = Table(title=f"figures that changed: {c.before} → {c.after}", title_justify="left")
    for name in ("dataset", "strategy", "suite", "metric", "before", "after", "change", "beyond noise"):
        figures.add_column(name, justify="right" if name in ("before", "after", "change") else "left")
    for ch in c.changed:
        noise = {True: "yes", False: "no", None: "–"}[ch.beyond_noise]
        figures.add_row(
            ch.dataset,
            ch.strategy,
            ch.suite,
            ch.metric,
            f"{ch.before:.4g}",
            f"{ch.after:.4g}",
            f"{ch.after - ch.before:+.4g}",
            noise,
        )
    tables = [figures]
    if c.only_before or c.only_after:
        gone = Table(title="figures in only one run", title_justify="left")
        gone.add_column("run")
        gone.add_column("figure")
        for key in c.only_before:
            gone.add_row("before only", " · ".join(key))
        for key in c.only_after:
            gone.add_row("after only", " · ".join(key))
        tables.append(gone)
    recipe = Table(title="recipe changes", title_justify="left")
    for name in ("field", "before", "after"):
        recipe.add_column(name)
    for field, before, after in c.recipe:
        recipe.add_row(field, repr(before), repr(after))
    tables.append(recipe)
    verdict = Table(title="recommendation", title_justify="left")
    verdict.add_column("run")
    verdict.add_column("recommendation")
    verdict.add_row("before", c.recommendation_before)
    verdict.add_row("after", c.recommendation_after)
    tables.append(verdict)
    return tables
