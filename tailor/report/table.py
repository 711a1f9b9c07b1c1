"""results.json → one summary table per dataset (strategies × headline metrics), for terminal and markdown."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from tailor import plugins
from tailor.eval.base import SuiteSpec
from tailor.eval.metrics import detectable_difference
from tailor.eval.results import SIGNIFICANCE
from tailor.report.measured import strategy_key


def columns_of(spec: SuiteSpec, present: set[str]) -> tuple[str, ...]:
    """The suite's declared columns that the run measured, in declared order (prefix columns expanded)."""
    out: list[str] = []
    for column in spec.columns:
        if column.prefix:
            found = [m for m in present if m.startswith(column.metric) and m[len(column.metric) :].isdigit()]
            out += sorted(found, key=lambda m: int(m[len(column.metric) :]))
        elif column.metric in present:
            out.append(column.metric)
    return tuple(out)


def label(metric: str) -> str:
    """A metric's column label, as its suite declares it (the metric's own name if none does)."""
    for spec in plugins.suites().values():
        for column in spec.columns:
            if column.metric == metric:
                return column.label
            if column.prefix and metric.startswith(column.metric) and metric[len(column.metric) :].isdigit():
                return column.label.format(metric[len(column.metric) :])
    return metric


@dataclass(frozen=True)
class Summary:
    dataset: str
    suite: str
    n: str  # the sample size(s) behind the section's figures, as shown: "40", or "12/16"
    columns: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]  # (strategy, formatted cells...)
    detectable: float | None = None  # the smallest difference between strategies its n can detect

    @property
    def sized(self) -> str:
        """The sample size as titles show it: "n=6; detects differences ≥ 0.81"."""
        if self.detectable is None:
            return f"n={self.n}"
        if self.detectable >= 1:  # wider than the whole scale
            return f"n={self.n}; too few to detect any difference"
        return f"n={self.n}; detects differences ≥ {self.detectable:.2f}"


def _number(value: float) -> str:
    return f"{value:.3f}" if abs(value) < 10 else f"{value:.1f}" if abs(value) < 1000 else f"{value:,.0f}"


def cell(row: dict[str, Any], with_ci: bool) -> str:
    """The value, its interval, and a * where a paired difference is significant (p < 0.05)."""
    text = _number(row["value"])
    if with_ci and "ci_low" in row:
        text += f" ({row['ci_low']:.2f}–{row['ci_high']:.2f})"
    if row.get("p") is not None and row["p"] < SIGNIFICANCE:
        text += " *"
    return text


def summaries(results: dict[str, Any]) -> list[Summary]:
    """Per dataset: task, retrieval and leakage tables (means with 95% CI), then a cost table; strategies × metrics.

    A strategy with none of a table's metrics (baseline retrieves nothing) gets no row in that table.
    """
    by: dict[str, dict[str, dict[str, dict]]] = defaultdict(lambda: defaultdict(dict))
    pairs: dict[str, list[dict]] = defaultdict(list)  # comparisons between strategies, per dataset
    for row in results["results"]:
        if row.get("vs"):
            pairs[row["dataset"]].append(row)
        else:
            by[row["dataset"]][strategy_key(row)][row["metric"]] = row
    out = []
    for dataset, strategies in by.items():
        by_suite: dict[str, set[str]] = defaultdict(set)
        for metrics in strategies.values():
            for metric, row in metrics.items():
                by_suite[row["suite"]].add(metric)
        specs = plugins.suites()
        # Declared suites in report order, then any the run has that this installation does not declare
        # (a plug-in since removed): shown with their metrics as recorded, never dropped.
        for suite in [*specs, *sorted(set(by_suite) - set(specs))]:
            if suite not in by_suite:
                continue
            spec = specs.get(suite)
            columns = columns_of(spec, by_suite[suite]) if spec else tuple(sorted(by_suite[suite]))
            if not columns:
                continue
            intervals = spec.intervals if spec else True
            shown = [metrics[c] for metrics in strategies.values() for c in columns if c in metrics]
            # n: what the intervals rest on ("12/16" when columns differ), not a side figure such as peak
            # memory measured over a larger run; without intervals, the largest
            sampled = sorted({r["n"] for r in shown if r.get("ci_low") is not None})
            n = "/".join(map(str, sampled)) if sampled else str(max(r["n"] for r in shown))
            rows = tuple(
                (name, *(cell(metrics[c], intervals) if c in metrics else "–" for c in columns))
                for name, metrics in strategies.items()
                if any(c in metrics for c in columns)
            )
            out.append(Summary(dataset, suite, n, columns, rows, _detectable(shown)))
        if pairs[dataset]:
            compared = tuple((f"{r['strategy']} vs {r['vs']}", cell(r, True), f"{r['p']:.3f}") for r in pairs[dataset])
            metric = pairs[dataset][0]["metric"]
            n = pairs[dataset][0]["n"]
            out.append(Summary(dataset, "compare", str(n), (metric, "p"), compared, detectable_difference(n)))
    return out


def _detectable(shown: list[dict]) -> float | None:
    """The smallest difference between two strategies that the section's smallest sample could detect
    (80% power, p < 0.05; :func:`detectable_difference`), when its figures are scores between 0 and 1
    with intervals; None for anything else (seconds, dollars, cross-entropy)."""
    sampled = [r for r in shown if r.get("ci_low") is not None]
    if not sampled or not all(0 <= r["value"] <= 1 and 0 <= r["ci_low"] <= r["ci_high"] <= 1 for r in sampled):
        return None
    return detectable_difference(min(r["n"] for r in sampled))


_COMPARE_NOTE = "paired difference (95% CI); * p < 0.05"


def note(suite: str) -> str:
    """What a table's cells are, as the suite declares it."""
    if suite == "compare":
        return _COMPARE_NOTE
    spec = plugins.suites().get(suite)
    return spec.note if spec else SuiteSpec.note


def rich_tables(results: dict[str, Any]) -> list[Any]:
    from rich.table import Table

    tables = []
    for s in summaries(results):
        table = Table(title=f"{s.dataset} · {s.suite} ({s.sized}; {note(s.suite)})", title_justify="left")
        table.add_column("pair" if s.suite == "compare" else "strategy", style="bold")
        for c in s.columns:
            table.add_column(label(c), justify="right")
        for row in s.rows:
            table.add_row(*row)
        tables.append(table)
    return tables


def markdown(results: dict[str, Any]) -> str:
    parts = []
    for s in summaries(results):
        header = ["pair" if s.suite == "compare" else "strategy", *(label(c) for c in s.columns)]
        lines = [f"**{s.dataset} · {s.suite}** ({s.sized})", "", "| " + " | ".join(header) + " |"]
        lines += ["|" + "---|" * len(header)]
        lines += ["| " + " | ".join(row) + " |" for row in s.rows]
        parts.append("\n".join(lines))
    return "\n\n".join(parts) + "\n"
