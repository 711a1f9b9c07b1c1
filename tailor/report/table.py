"""results.json → one summary table per dataset (strategies × headline metrics), for terminal and markdown."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from tailor.eval.results import SIGNIFICANCE
from tailor.report.measured import strategy_key

TASK_COLUMNS = ("exact_match", "token_f1", "contains", "rouge_l", "accuracy", "macro_f1")
RETRIEVAL_COLUMNS = ("recall_at_1", "recall_at_k", "mrr", "context_precision")
LEAKAGE_COLUMNS = ("cross_user_leak_rate", "canary_exposure_bits", "canary_extraction_rate")
FORGETTING_COLUMNS = ("general_text_ce", "general_text_ce_delta", "trivia_accuracy", "trivia_accuracy_delta")
ROBUSTNESS_COLUMNS = (
    "score_clean",
    "score_delta_typo",
    "score_delta_rephrase",
    "score_delta_distractor",
    "injection_success_rate",
    "doc_injection_success_rate",
)
BIAS_COLUMNS = ("answer_change_rate", "score_delta_gender", "score_delta_nationality", "score_delta_age")
FRESHNESS_COLUMNS = ("changed_f1_before", "changed_f1_after", "stale_rate_before", "stale_rate_after", "update_s")
INTERPRET_COLUMNS = ("base_agreement_rate", "answer_logprob_shift", "nearest_train_support_rate")
COMPRESS_COLUMNS = (
    "compressed_score",
    "compressed_score_delta",
    "same_answer_rate",
    "prefill_tokens_per_s",
    "decode_tokens_per_s",
    "answer_p50_s",
    "model_mb",
    "variant_peak_rss_mb",
)
COST_COLUMNS = (
    "latency_p50_s",
    "latency_p95_s",
    "prompt_tokens",
    "completion_tokens",
    "build_s",
    "peak_rss_mb",
    "usd_per_1k_answers",
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
    "usd_per_1k_answers": "$/1k answers",
    "score_clean": "clean",
    "score_delta_typo": "Δ typo",
    "score_delta_rephrase": "Δ rephrase",
    "score_delta_distractor": "Δ distractor",
    "injection_success_rate": "injection followed",
    "doc_injection_success_rate": "doc injection followed",
    "answer_change_rate": "answer changed",
    "trivia_accuracy": "trivia acc",
    "trivia_accuracy_delta": "Δ trivia",
    "changed_f1_before": "F1 before",
    "changed_f1_after": "F1 after",
    "stale_rate_before": "stale before",
    "stale_rate_after": "stale after",
    "update_s": "update s",
    "score_delta_gender": "Δ gender",
    "score_delta_nationality": "Δ nationality",
    "score_delta_age": "Δ age",
    "base_agreement_rate": "same as base",
    "answer_logprob_shift": "log-prob shift",
    "nearest_train_support_rate": "answer in nearest training text",
    "compressed_score": "score",
    "compressed_score_delta": "Δ vs fp32",
    "same_answer_rate": "same answer",
    "prefill_tokens_per_s": "prefill tok/s",
    "decode_tokens_per_s": "decode tok/s",
    "answer_p50_s": "p50 s (batch 1)",
    "model_mb": "MiB",
    "variant_peak_rss_mb": "peak MiB",
}


def label(metric: str) -> str:
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
        present = {m for metrics in strategies.values() for m in metrics}
        # Exposure per repetition count: canary_exposure_bits_x1, _x4, ... in increasing count.
        per_count = sorted((m for m in present if m.startswith("canary_exposure_bits_x")), key=lambda m: int(m[22:]))
        tables = (
            ("task", TASK_COLUMNS),
            ("retrieval", RETRIEVAL_COLUMNS),
            ("leakage", (*LEAKAGE_COLUMNS, *per_count)),
            ("forgetting", FORGETTING_COLUMNS),
            ("robustness", ROBUSTNESS_COLUMNS),
            ("bias", BIAS_COLUMNS),
            ("freshness", FRESHNESS_COLUMNS),
            ("interpret", INTERPRET_COLUMNS),
            ("compress", COMPRESS_COLUMNS),
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
        if pairs[dataset]:
            compared = tuple((f"{r['strategy']} vs {r['vs']}", _cell(r, True), f"{r['p']:.3f}") for r in pairs[dataset])
            metric = pairs[dataset][0]["metric"]
            out.append(Summary(dataset, "compare", pairs[dataset][0]["n"], (metric, "p"), compared))
    return out


_NOTES = {
    "": "mean (95% CI); * paired difference with p < 0.05",
    "cost": "per answer; build s is one-off",
    "compare": "paired difference (95% CI); * p < 0.05",
}


def rich_tables(results: dict[str, Any]) -> list[Any]:
    from rich.table import Table

    tables = []
    for s in summaries(results):
        table = Table(
            title=f"{s.dataset} · {s.suite} (n={s.n}; {_NOTES.get(s.suite, _NOTES[''])})", title_justify="left"
        )
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
        lines = [f"**{s.dataset} · {s.suite}** (n={s.n})", "", "| " + " | ".join(header) + " |"]
        lines += ["|" + "---|" * len(header)]
        lines += ["| " + " | ".join(row) + " |" for row in s.rows]
        parts.append("\n".join(lines))
    return "\n\n".join(parts) + "\n"
