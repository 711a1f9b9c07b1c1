"""The cost suite: wall time, tokens, per-answer latency percentiles, peak memory, build time.

Latency is what a caller waited: with batched generation, every answer of a batch waited for the
whole batch. Peak memory is the process's resident set size, sampled while the strategy ran.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from tailor.eval.metrics import percentile
from tailor.eval.results import ResultRow, mean_row
from tailor.eval.suite import SuiteInput


@dataclass
class Measurement:
    wall_s: float = 0.0
    peak_rss_bytes: int = 0


@contextmanager
def measure(interval_s: float = 0.02) -> Iterator[Measurement]:
    """Measure wall time and peak RSS of the enclosed block (RSS sampled every ``interval_s``)."""
    import psutil

    proc = psutil.Process()
    m = Measurement(peak_rss_bytes=proc.memory_info().rss)
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(interval_s):
            m.peak_rss_bytes = max(m.peak_rss_bytes, proc.memory_info().rss)

    thread = threading.Thread(target=sample, daemon=True)
    start = time.perf_counter()
    thread.start()
    try:
        yield m
    finally:
        stop.set()
        thread.join()
        m.wall_s = time.perf_counter() - start
        m.peak_rss_bytes = max(m.peak_rss_bytes, proc.memory_info().rss)


def cost_suite(inp: SuiteInput) -> list[ResultRow]:
    rows: list[ResultRow] = []
    ds = inp.dataset.name
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
        ]
    return rows
