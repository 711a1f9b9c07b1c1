"""The report's plots: matplotlib figures rendered to inline SVG, so report.html needs nothing at view time.

Each function takes measured rows (through :class:`Measured`) and returns an SVG string, or None when
the run has nothing to plot for it.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from tailor import plugins
from tailor.report.measured import Measured
from tailor.report.table import label

COLORS = ("#4063d8", "#d9544d", "#389826", "#9558b2", "#e69f00", "#56b4e9", "#777777")
# A bar stands for a mean over its row's n answers. From one answer it is that answer's 0 or 1 (a rate of
# 0 draws nothing at all) and its bootstrap interval is the value itself: such a bar is left out and named.
MIN_PER_BAR = 2


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # no display: render to files only
    import matplotlib.pyplot as plt

    plt.rcParams.update({"font.size": 9, "svg.fonttype": "none", "axes.spines.top": False, "axes.spines.right": False})
    return plt


def _svg(fig: Any) -> str:
    plt = _pyplot()
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight")
    plt.close(fig)
    text = buf.getvalue()
    return text[text.index("<svg") :]  # drop the XML prolog and doctype: the SVG sits inside HTML


def quality_vs_cost(m: Measured, dataset: str) -> str | None:
    """One point per strategy: primary score (95% interval) against $ per 1,000 answers."""
    metric = m.primary(dataset)
    points = [(s, m.row(dataset, s, metric), m.value(dataset, s, "usd_per_1k_answers")) for s in m.strategies(dataset)]
    points = [(s, row, usd) for s, row, usd in points if row is not None and usd is not None]
    if not points:
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(4.6, 3.0))
    for i, (s, row, usd) in enumerate(points):
        low, high = row.get("ci_low", row["value"]), row.get("ci_high", row["value"])
        ax.errorbar(
            usd,
            row["value"],
            yerr=[[row["value"] - low], [high - row["value"]]],
            fmt="o",
            color=COLORS[i % len(COLORS)],
            capsize=3,
        )
        ax.annotate(s, (usd, row["value"]), textcoords="offset points", xytext=(6, 4))
    ax.set_xlabel("$ per 1,000 answers (this machine)")
    ax.set_ylabel(f"{label(metric)} (95% CI)")
    ax.set_title(f"{dataset}: quality vs cost")
    ax.set_xlim(left=0)
    return _svg(fig)


def metric_bars(m: Measured, dataset: str, title: str, metrics: Sequence[str]) -> str | None:
    """Grouped bars: strategies on the x axis, one bar per metric, 95% intervals where recorded.

    Bars over fewer than MIN_PER_BAR answers are not drawn; None when no bar is left."""
    present = [x for x in metrics if any(_plotted(m.row(dataset, s, x)) for s in m.strategies(dataset))]
    strategies = [s for s in m.strategies(dataset) if any(_plotted(m.row(dataset, s, x)) for x in present)]
    if not present or not strategies:
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(max(3.2, 0.55 * len(strategies) * len(present) + 1.6), 2.5))
    width = 0.8 / len(present)
    for j, metric in enumerate(present):
        xs, ys, errs = [], [], [[], []]
        for i, s in enumerate(strategies):
            row = m.row(dataset, s, metric)
            if not _plotted(row):
                continue
            xs.append(i + (j - (len(present) - 1) / 2) * width)
            ys.append(row["value"])
            errs[0].append(row["value"] - row.get("ci_low", row["value"]))
            errs[1].append(row.get("ci_high", row["value"]) - row["value"])
        name = label(metric) + (" *" if _any_significant(m, dataset, metric) else "")
        ax.bar(xs, ys, width, yerr=errs, capsize=2, label=name, color=COLORS[j % len(COLORS)])
    ax.axhline(0, color="#333", linewidth=0.6)
    ax.set_xticks(range(len(strategies)), strategies)
    ax.set_title(f"{dataset}: {title}")
    ax.tick_params(axis="x", labelsize=8)
    if sum(map(len, strategies)) > 60:  # candidates (strategy@model) overlap side by side
        plt.setp(ax.get_xticklabels(), rotation=30, ha="right")
    if len(present) > 1:
        ax.legend(fontsize=7, frameon=False)
    return _svg(fig)


def _plotted(row: dict | None) -> bool:
    return row is not None and row["n"] >= MIN_PER_BAR


def too_few(m: Measured, dataset: str, title: str, metrics: Sequence[str]) -> str | None:
    """The page's line for a panel's bars left out as resting on fewer than MIN_PER_BAR answers, None if none was."""
    short = [
        f"{s} {label(x)} (n={row['n']})"
        for x in metrics
        for s in m.strategies(dataset)
        if (row := m.row(dataset, s, x)) is not None and not _plotted(row)
    ]
    if not short:
        return None
    return (
        f"{dataset} · {title}: too few to plot {', '.join(short)}; "
        f"a bar needs at least {MIN_PER_BAR} answers for a mean with a 95% interval."
    )


def _any_significant(m: Measured, dataset: str, metric: str) -> bool:
    rows = (m.row(dataset, s, metric) for s in m.strategies(dataset))
    return any(r is not None and r.get("p") is not None and r["p"] < 0.05 for r in rows)


@dataclass(frozen=True)
class SuitePanel:
    """One panel of the page: its bars (None when every bar had too few answers) and what was left out."""

    suite: str
    svg: str | None
    too_few: str | None = None


def suite_panels(m: Measured, dataset: str) -> list[SuitePanel]:
    """Every panel this dataset has rows for: the primary metric, then each suite's declared panels in
    report order."""
    wanted = []
    metric = m.primary(dataset)
    if metric:
        wanted.append(("task", f"task: {label(metric)}", (metric,)))
    for suite, spec in plugins.suites().items():
        wanted += [(suite, panel.title, panel.metrics) for panel in spec.panels]
    out = []
    for suite, title, metrics in wanted:
        svg, short = metric_bars(m, dataset, title, metrics), too_few(m, dataset, title, metrics)
        if svg or short:
            out.append(SuitePanel(suite, svg, short))
    return out


def freshness_timeline(m: Measured, dataset: str) -> str | None:
    """Per strategy: F1 on the changed facts before and after its update, with the update's time in the legend."""
    strategies = [s for s in m.strategies(dataset) if m.row(dataset, s, "changed_f1_after") is not None]
    if not strategies:
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5.2, 3.2))
    for i, s in enumerate(strategies):
        before, after = m.value(dataset, s, "changed_f1_before"), m.value(dataset, s, "changed_f1_after")
        update = m.value(dataset, s, "update_s") or 0.0
        ax.plot(
            [0, 1], [before, after], marker="o", color=COLORS[i % len(COLORS)], label=f"{s} (update {update:.2f} s)"
        )
    ax.set_xticks([0, 1], ["documents change\n(before update)", "after update"])
    ax.set_xlim(-0.3, 1.3)
    ax.set_ylabel("F1 on changed facts")
    ax.set_title(f"{dataset}: freshness")
    ax.legend(fontsize=7, frameon=False, loc="center left", bbox_to_anchor=(1.0, 0.5))
    return _svg(fig)


def loss_curve(curves: dict[str, Sequence[dict[str, Any]]]) -> str | None:
    """Training loss by optimizer step, a line per strategy that trained (its STRATEGY/loss_curve.json rows)."""
    lines = {
        name: [(r["step"], r["loss"]) for r in rows if "loss" in r and "step" in r] for name, rows in curves.items()
    }
    lines = {name: points for name, points in lines.items() if points}
    if not lines:
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5.2, 3.0))
    for i, (name, points) in enumerate(lines.items()):
        ax.plot([p[0] for p in points], [p[1] for p in points], color=COLORS[i % len(COLORS)], label=name)
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("training loss")
    ax.set_title("fine-tuning loss")
    if len(lines) > 1:
        ax.legend(fontsize=7, frameon=False)
    return _svg(fig)


def compression_frontier(m: Measured, dataset: str) -> str | None:
    """Per strategy, one point per model variant: decode tokens/s against the score on the same questions."""
    points: dict[str, list[tuple[str, float, dict]]] = {}
    for key in m.strategies(dataset):
        speed, score = m.value(dataset, key, "decode_tokens_per_s"), m.row(dataset, key, "compressed_score")
        if speed is not None and score is not None and "@" in key:
            strategy, variant = key.split("@", 1)
            points.setdefault(strategy, []).append((variant, speed, score))
    if not points:
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(4.8, 3.2))
    for i, (strategy, variants) in enumerate(points.items()):
        variants.sort(key=lambda v: v[1])
        color = COLORS[i % len(COLORS)]
        ax.plot([v[1] for v in variants], [v[2]["value"] for v in variants], marker="o", color=color, label=strategy)
        for variant, speed, score in variants:
            ax.annotate(variant, (speed, score["value"]), textcoords="offset points", xytext=(4, 3), fontsize=7)
    ax.set_xlabel("decode tokens/s (batch 1, this machine)")
    ax.set_ylabel("score on the same questions")
    ax.set_title(f"{dataset}: speed vs quality by model variant")
    ax.legend(fontsize=7, frameon=False)
    return _svg(fig)
