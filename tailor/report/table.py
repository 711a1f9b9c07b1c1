"""results.json → one summary table per dataset (strategies × headline metrics), for terminal and markdown."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

TASK_COLUMNS = ("exact_match", "token_f1", "contains", "rouge_l", "accuracy", "macro_f1")
RETRIEVAL_COLUMNS = ("recall_at_1", "recall_at_k", "mrr", "context_precision")
LEAKAGE_COLUMNS = ("cross_user_leak_rate", "canary_exposure_bits", "canary_extraction_rate")
FORGETTING_COLUMNS = ("general_text_ce", "general_text_ce_delta")
COST_COLUMNS = (
    "latency_p50_s",
    "latency_p95_s",
    "prompt_tokens",
    "completion_tokens",
    "build_s",
    "peak_rss_mb",
)
LABELS = {
    "exact_match": "EM",
    "token_f1": "F1",
    "contains": "contains",
    "rouge_l": "ROUGE-L",
    "accuracy": "accuracy",
    "macro_f1": "macro F1",
    "recall_at_1": "recall@1",
    "recall_at_k": "recall@k",
    "mrr": "MRR",
    "context_precision": "ctx precision",
    "cross_user_leak_rate": "cross-user leaks",
    "canary_exposure_bits": "canary exposure bits",
    "canary_extraction_rate": "canary extracted",
    "general_text_ce": "general-text CE",
    "general_text_ce_delta": "Δ vs base",
    "latency_p50_s": "p50 s",
    "latency_p95_s": "p95 s",
    "prompt_tokens": "prompt tok",
    "completion_tokens": "answer tok",
    "build_s": "build s",
    "peak_rss_mb": "peak MB",
}


def _label(metric: str) -> str:
    if metric.startswith("canary_exposure_bits_x"):
        return f"bits, planted ×{metric.removeprefix('canary_exposure_bits_x')}"
    return LABELS.get(metric, metric)


@dataclass(frozen=True)
class Summary:
    dataset: str
    suite: str
    n: int
    columns: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]  # (strategy, formatted cells...)


def _number(value: float) -> str:
    return f"{value:.3f}" if abs(value) < 10 else f"{value:.1f}" if abs(value) < 1000 else f"{value:,.0f}"


def _cell(row: dict[str, Any], with_ci: bool) -> str:
    text = _number(row["value"])
    if with_ci and "ci_low" in row:
        text += f" ({row['ci_low']:.2f}–{row['ci_high']:.2f})"
    return text


def summaries(results: dict[str, Any]) -> list[Summary]:
    """Per dataset: task, retrieval and leakage tables (means with 95% CI), then a cost table; strategies × metrics.

    A strategy with none of a table's metrics (baseline retrieves nothing) gets no row in that table.
    """
    by: dict[str, dict[str, dict[str, dict]]] = defaultdict(lambda: defaultdict(dict))
    for row in results["results"]:
        by[row["dataset"]][row["strategy"]][row["metric"]] = row
    out = []
    for dataset, strategies in by.items():
        present = {m for metrics in strategies.values() for m in metrics}
        # Exposure per repetition count: canary_exposure_bits_x1, _x4, ... in increasing count.
        per_count = sorted((m for m in present if m.startswith("canary_exposure_bits_x")), key=lambda m: int(m[22:]))
        tables = (
            ("task", TASK_COLUMNS),
            ("retrieval", RETRIEVAL_COLUMNS),
            ("leakage", (*LEAKAGE_COLUMNS, *per_count)),
            ("forgetting", FORGETTING_COLUMNS),
            ("cost", COST_COLUMNS),
        )
        for suite, wanted in tables:
            columns = tuple(c for c in wanted if c in present)
            if not columns:
                continue
            n = max(metrics[c]["n"] for metrics in strategies.values() for c in columns if c in metrics)
            rows = tuple(
                (name, *(_cell(metrics[c], suite != "cost") if c in metrics else "–" for c in columns))
                for name, metrics in strategies.items()
                if any(c in metrics for c in columns)
            )
            out.append(Summary(dataset, suite, n, columns, rows))
    return out


def rich_tables(results: dict[str, Any]) -> list[Any]:
    from rich.table import Table

    tables = []
    for s in summaries(results):
        note = "mean (95% CI)" if s.suite != "cost" else "per answer; build s is one-off"
        table = Table(title=f"{s.dataset} · {s.suite} (n={s.n}; {note})", title_justify="left")
        table.add_column("strategy", style="bold")
        for c in s.columns:
            table.add_column(_label(c), justify="right")
        for row in s.rows:
            table.add_row(*row)
        tables.append(table)
    return tables


def markdown(results: dict[str, Any]) -> str:
    parts = []
    for s in summaries(results):
        header = ["strategy", *(_label(c) for c in s.columns)]
        lines = [f"**{s.dataset} · {s.suite}** (n={s.n})", "", "| " + " | ".join(header) + " |"]
        lines += ["|" + "---|" * len(header)]
        lines += ["| " + " | ".join(row) + " |" for row in s.rows]
        parts.append("\n".join(lines))
    return "\n\n".join(parts) + "\n"
