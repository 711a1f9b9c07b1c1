"""The cost suite: wall time, tokens, per-answer latency percentiles, peak memory, build time, FLOPs and $.

Latency is what a caller waited: with batched generation, every answer of a batch waited for the
whole batch. Peak memory is the process's resident set size, sampled while the strategy ran.

Dollars use the recipe's ``cost:`` prices: the machine's hourly price (GPU when one did the work,
else CPU) times the measured seconds, plus an endpoint's per-token prices. FLOPs are the standard
estimates for a dense transformer of N parameters: answering costs 2·N per token of prompt and
answer; training costs 6·N per trained token for full fine-tuning and 4·N with LoRA (the frozen
weights need no weight gradients, only activation gradients).
"""

from __future__ import annotations

from tailor.eval.base import Column, Panel, StrategyRun, SuiteInput, SuiteSpec, strategy_weights
from tailor.eval.measure import hour_price
from tailor.eval.metrics import percentile
from tailor.eval.results import ResultRow, mean_row
from tailor.models.base import remote
from tailor.records import Build


def cost_suite(inp: SuiteInput) -> list[ResultRow]:
    rows: list[ResultRow] = []
    ds = inp.dataset.name
    hour_usd = _hour_price(inp)
    models = {s.name: strategy_weights(s) for s in inp.strategies}
    strategies = {s.name: s for s in inp.strategies}
    for run in inp.runs:
        n = len(run.answers)
        latencies = [a.latency_s for a in run.answers]

        def row(metric: str, value: float, run=run, n=n) -> ResultRow:
            return ResultRow(run.strategy, ds, "cost", metric, round(value, 6), n)

        rows += [
            row("wall_s", run.wall_s),
            row("build_s", run.build_s),
            row("latency_p50_s", percentile(latencies, 50)),
            row("latency_p95_s", percentile(latencies, 95)),
            mean_row(run.strategy, ds, "cost", "prompt_tokens", [a.prompt_tokens for a in run.answers], inp.seed),
            mean_row(
                run.strategy,
                ds,
                "cost",
                "completion_tokens",
                [a.completion_tokens for a in run.answers],
                inp.seed,
            ),
            row("tokens_total", sum(a.prompt_tokens + a.completion_tokens for a in run.answers)),
            row("peak_rss_mb", run.peak_rss_bytes / 2**20),
            row("build_usd", run.build_s / 3600 * hour_usd),
        ]
        model = models.get(run.strategy)
        # An endpoint bills by token; a model run here (transformers or llama.cpp) costs the machine's time.
        here = not remote(getattr(strategies.get(run.strategy), "generator", None))
        rows.append(row("usd_per_1k_answers", _usd_per_1k_answers(inp, run, hour_usd if here else 0.0)))
        if model is not None:
            params = sum(p.numel() for p in model[0].parameters())
            per_answer = [2 * params * (a.prompt_tokens + a.completion_tokens) / 1e9 for a in run.answers]
            rows.append(mean_row(run.strategy, ds, "cost", "answer_gflops", per_answer, inp.seed))
            trained = Build.from_json(run.info).training
            if trained is not None and trained.tokens_seen:
                per_token = 6 if trained.method == "full" else 4
                rows.append(row("train_tflops", per_token * params * trained.tokens_seen / 1e12))
    return rows


def _hour_price(inp: SuiteInput) -> float:
    return 0.0 if inp.workspace is None else hour_price(inp.workspace.recipe.cost)


def _usd_per_1k_answers(inp: SuiteInput, run: StrategyRun, hour_usd: float) -> float:
    """Machine time per answer at ``hour_usd``, plus the recipe's token prices, times 1,000."""
    if not run.answers:
        return 0.0
    n = len(run.answers)
    machine = run.wall_s / (n + len(run.unanswerable)) / 3600 * hour_usd  # wall_s: unanswerable ones asked too
    tokens = 0.0
    if inp.workspace is not None:
        cfg = inp.workspace.recipe.cost
        prompt = sum(a.prompt_tokens for a in run.answers) / n
        completion = sum(a.completion_tokens for a in run.answers) / n
        tokens = (prompt * cfg.input_usd_per_1k_tokens + completion * cfg.output_usd_per_1k_tokens) / 1000
    return 1000 * (machine + tokens)


def _evidence(m, ds: str, s: str, c) -> list[str]:
    usd, p95 = m.value(ds, s, "usd_per_1k_answers"), m.value(ds, s, "latency_p95_s")
    if usd is None or p95 is None:
        return []
    return [f"Running it costs ${usd:.4f} per 1,000 answers at p95 latency {p95:.2f} s on this machine."]


SUITE = SuiteSpec(
    name="cost",
    run=cost_suite,
    summary="wall time, tokens, p50/p95 latency, peak memory, build time, FLOPs and $ at the recipe's prices",
    order=100,
    columns=(
        Column("latency_p50_s", "p50 s"),
        Column("latency_p95_s", "p95 s"),
        Column("prompt_tokens", "prompt tok"),
        Column("completion_tokens", "answer tok"),
        Column("build_s", "build s"),
        Column("peak_rss_mb", "peak MB"),
        Column("usd_per_1k_answers", "$/1k answers"),
    ),
    panels=(
        Panel("cost: $ per 1,000 answers", ("usd_per_1k_answers",)),
        Panel("cost: latency per answer (s)", ("latency_p50_s", "latency_p95_s")),
    ),
    note="per answer; build s is one-off",
    intervals=False,
    evidence=_evidence,
)
