"""Serving under load: `tailor serve` batched against the same server unbatched, same model, same requests.

    pip install -e '.[serve,dev]'
    python bench/serve_bench.py             # → bench/results/serve.json (about 4 minutes on 2 CPU cores)

The server runs on 127.0.0.1 with the packaged SmolLM2-135M-Instruct behind the ``baseline`` strategy
of the tiny synthetic world (answers capped at ``--max-new-tokens``). ``--clients`` concurrent
clients (asyncio + httpx, in this process; nothing leaves 127.0.0.1) send ``--requests`` chat
completions in total, each with its own API key check, and wait for each answer before sending the
next. Both runs are preceded by a warm-up. Measured per run: throughput (answers/s), latency p50 /
p95 (s, client side), errors (any non-200; target 0) and generator calls. The ratio:
``throughput_ratio`` = batched / unbatched answers per second (above 1: batching helps).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from tailor.artifacts import write_json_atomic
from tailor.config import ServeConfig
from tailor.eval.results import environment
from tailor.recipe_file import load_recipe
from tailor.scaffold import init_project
from tailor.serve.keys import add_key, load_keys
from tailor.serve.server import build_state, running
from tailor.workspace import open_workspace


async def _load(base_url: str, key: str, questions: list[str], clients: int) -> dict[str, Any]:
    import httpx

    pending = list(enumerate(questions))
    latencies: list[float] = []
    errors: dict[int, int] = {}

    async def client(http: httpx.AsyncClient) -> None:
        while pending:
            _, question = pending.pop()
            body = {"model": "tailor-baseline", "messages": [{"role": "user", "content": question}]}
            start = time.perf_counter()
            response = await http.post("/chat/completions", json=body)
            latencies.append(time.perf_counter() - start)
            if response.status_code != 200:
                errors[response.status_code] = errors.get(response.status_code, 0) + 1

    headers = {"Authorization": f"Bearer {key}"}
    limits = httpx.Limits(max_connections=clients)
    async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=600, limits=limits) as http:
        start = time.perf_counter()
        await asyncio.gather(*(client(http) for _ in range(clients)))
        wall = time.perf_counter() - start
    latencies.sort()
    return {
        "requests": len(questions),
        "wall_s": round(wall, 2),
        "answers_per_s": round(len(questions) / wall, 3),
        "latency_p50_s": round(statistics.median(latencies), 3),
        "latency_p95_s": round(latencies[int(0.95 * (len(latencies) - 1))], 3),
        "errors": sum(errors.values()),
        "errors_by_status": errors,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--requests", type=int, default=100)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--max-new-tokens", type=int, default=8)
    parser.add_argument("--results", type=Path, default=Path(__file__).parent / "results" / "serve.json")
    args = parser.parse_args()

    root = Path(tempfile.mkdtemp(prefix="tailor-serve-bench-"))
    recipe_path = init_project(root, size="tiny")
    recipe = load_recipe(recipe_path)
    recipe = recipe.model_copy(
        update={"generation": recipe.generation.model_copy(update={"max_new_tokens": args.max_new_tokens})}
    )
    ws = open_workspace(recipe)
    key, _ = add_key(root / "keys.yaml", "bench", ["everyone"])
    examples = [e for d in ws.datasets for e in d.examples]
    questions = [examples[i % len(examples)].question for i in range(args.requests)]
    runs = {}
    for name, batch in (("unbatched", 1), ("batched", args.batch_size)):
        config = ServeConfig(strategies=["baseline"], batch_size=batch, batch_wait_ms=20, max_queue=4 * args.clients)
        state = build_state(ws, load_keys(root / "keys.yaml"), config)
        with running(state) as base_url:
            asyncio.run(_load(base_url, key, questions[: max(4, args.clients // 10)], min(4, args.clients)))  # warm-up
            calls = state.batcher.batches
            runs[name] = asyncio.run(_load(base_url, key, questions, args.clients))
            runs[name]["generator_calls"] = state.batcher.batches - calls
            runs[name]["batch_size"] = batch
        state.batcher.close()
        sys.stderr.write(f"{name}: {runs[name]}\n")
    record = {
        "command": "python bench/serve_bench.py"
        + "".join(
            f" --{k.replace('_', '-')} {v}"
            for k, v in vars(args).items()
            if k != "results" and v != parser.get_default(k)
        ),
        "what": f"{args.clients} concurrent clients, {args.requests} chat completions against tailor serve "
        f"(baseline strategy, SmolLM2-135M, answers up to {args.max_new_tokens} tokens), batched "
        f"(batch {args.batch_size}) vs unbatched, on 127.0.0.1",
        "environment": environment(),
        "runs": runs,
        "throughput_ratio": round(runs["batched"]["answers_per_s"] / runs["unbatched"]["answers_per_s"], 2),
        "p95_latency_ratio": round(runs["batched"]["latency_p95_s"] / runs["unbatched"]["latency_p95_s"], 2),
    }
    write_json_atomic(args.results, record)
    sys.stdout.write(f"throughput ratio batched/unbatched: {record['throughput_ratio']} → {args.results}\n")


if __name__ == "__main__":
    main()
